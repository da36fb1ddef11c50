"""axe-core, the accessibility rules the UI tests run inside Chromium: installed from npm (its ordinary client)
into the test-data cache outside the clone, once per machine and version. `make test` runs this; the tests call
`ensure()` too and fail naming npm when it is missing.

    python scripts/ensure_axe.py      # prints the path of axe.min.js
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

AXE_VERSION = "4.10.3"  # pinned: a new version brings new rules; bump it on purpose


def cache_root() -> Path:
    """The test images' cache (scripts/testimages/ensure.py decides where it is)."""
    spec = importlib.util.spec_from_file_location("hullscan_testimages",
                                                  Path(__file__).parent / "testimages" / "ensure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.cache_root())


def axe_script(root: Path | None = None) -> Path:
    return (root or cache_root()) / f"axe-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"


def ensure(root: Path | None = None) -> Path:
    """The path of axe.min.js, installing `axe-core@AXE_VERSION` with npm first when it is not there."""
    script = axe_script(root)
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is missing: install it (apt-get install npm) so that axe-core {AXE_VERSION} can be "
                           f"installed into {script.parents[2]} (scripts/ensure_axe.py)")
    prefix = script.parents[2]
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save",
                    "--ignore-scripts", f"axe-core@{AXE_VERSION}"], check=True, stdout=subprocess.DEVNULL)
    if not script.is_file():
        raise RuntimeError(f"npm installed axe-core {AXE_VERSION} but {script} is not there")
    return script


if __name__ == "__main__":
    try:
        print(ensure())
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(str(exc))
