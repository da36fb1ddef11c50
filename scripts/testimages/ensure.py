#!/usr/bin/env python3
"""Make the five test images available and print the directory that holds them.

The images (~125 MB of OCI layouts) are too large for the repository, so they are built by this
directory's recipe (build-images.sh + ocipack.py + expected.py + src/) and cached outside the clone,
in a directory keyed by a hash of the recipe: a changed recipe gets a fresh build, an unchanged one
is built once per machine. Where a `../shared/testdata/images` sits beside the clone and was built by
the very same recipe (same hash), its layouts are copied instead of rebuilt, which keeps CI fast.

    python3 scripts/testimages/ensure.py            # build or copy when missing; prints the directory
    python3 scripts/testimages/ensure.py --path     # only print where the images are (or would be)
    python3 scripts/testimages/ensure.py --from-shared-only   # copy from ../shared if usable, never build

The directory looks like the shared one: `<dir>/<image>/` (OCI layouts) and `<dir>/expected/<image>.json`
(ground truth of expected.py for the images as built, so tests never depend on a mirror's exact state).
Environment: HULLSCAN_TESTDATA_CACHE overrides the cache root ($XDG_CACHE_HOME/hullscan-testdata or
~/.cache/hullscan-testdata); HULLSCAN_TESTDATA_NO_SHARED=1 ignores ../shared (to prove a real build).
Stdlib only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
IMAGES = ("debian-bookworm-minbase", "debian-python-app", "distroless-style", "multiarch-index", "go-binary")
RECIPE_FILES = ("build-images.sh", "ocipack.py", "expected.py")
RECIPE_DIRS = ("src",)
SHARED_IMAGES = REPO.parent / "shared" / "testdata" / "images"
DONE = ".complete.json"
# What _build adds to build-images.sh's output; part of the hash so a change here rebuilds the cache.
POSTBUILD = b"expected/multiarch-index.arm64.json from expected.py --platform linux/arm64"


def recipe_hash(recipe: Path = HERE) -> str:
    """Hash of every input of the build: the same hash means the same recipe (not always the same bytes,
    as the Debian mirror can move; tests read expectations from the built images' expected/ files)."""
    digest = hashlib.sha256(POSTBUILD + b"\0")
    files = [recipe / name for name in RECIPE_FILES]
    for folder in RECIPE_DIRS:
        files += sorted(p for p in (recipe / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(recipe).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Outside the clone, surviving between runs and clones."""
    if os.environ.get("HULLSCAN_TESTDATA_CACHE"):
        return Path(os.environ["HULLSCAN_TESTDATA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hullscan-testdata"


def images_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / f"images-{recipe_hash()}"


def _complete(target: Path) -> bool:
    return (target / DONE).is_file() and all((target / name / "index.json").is_file() for name in IMAGES) \
        and all((target / "expected" / f"{name}.json").is_file() for name in (*IMAGES, "multiarch-index.arm64"))


def _shared_usable() -> bool:
    if os.environ.get("HULLSCAN_TESTDATA_NO_SHARED"):
        return False
    if not all((SHARED_IMAGES / name / "index.json").is_file() for name in IMAGES):
        return False
    if not (SHARED_IMAGES / "expected" / "multiarch-index.arm64.json").is_file():
        return False
    return (SHARED_IMAGES / "build-images.sh").is_file() and recipe_hash(SHARED_IMAGES) == recipe_hash()


def _copy_shared(staging: Path) -> None:
    for name in (*IMAGES, "expected"):
        shutil.copytree(SHARED_IMAGES / name, staging / name)
    for path in staging.rglob("*"):  # ../shared is read-only; the cache must stay removable
        path.chmod(0o755 if path.is_dir() else 0o644)
    staging.chmod(0o755)


def _apt_update_if_stale() -> None:
    """The recipe's `apt-get download` pins need current package lists (security suite included)."""
    lists = Path("/var/lib/apt/lists")
    fresh = [p for p in lists.glob("*security*Packages*")] if lists.is_dir() else []
    if os.geteuid() == 0 and shutil.which("apt-get") and (not fresh or time.time() - max(p.stat().st_mtime for p in fresh) > 86400):
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=sys.stderr)


def _build(staging: Path, work: Path) -> None:
    _apt_update_if_stale()
    shutil.rmtree(work, ignore_errors=True)
    env = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(["bash", str(HERE / "build-images.sh"), str(work), *IMAGES], check=True, env=env,
                   stdout=sys.stderr)
    staging.mkdir(parents=True)
    for name in IMAGES:
        shutil.move(str(work / "layouts" / name), staging / name)
    shutil.move(str(work / "expected"), staging / "expected")
    # the recipe writes each image's default platform; the tests want the index's arm64 manifest too
    arm64 = subprocess.run([sys.executable, str(HERE / "expected.py"), str(staging / "multiarch-index"),
                            "--platform", "linux/arm64", "--json"], check=True, capture_output=True)
    (staging / "expected" / "multiarch-index.arm64.json").write_bytes(arm64.stdout)
    shutil.rmtree(work, ignore_errors=True)  # the tars and the rootfs trees are not needed by the tests


def ensure(root: Path | None = None) -> Path:
    """The images directory under `root` (default: cache_root()), complete; built or copied under a lock
    when missing (parallel test workers wait for one another)."""
    target = images_dir(root)
    if _complete(target):
        return target
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(target):
            return target
        staging = root / f"{target.name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        started = time.monotonic()
        if _shared_usable():
            print(f"test images: copying {SHARED_IMAGES} (same recipe {recipe_hash()})", file=sys.stderr)
            _copy_shared(staging)
            how = "copied from ../shared"
        else:
            print(f"test images: building recipe {recipe_hash()} into {target} (a few minutes)", file=sys.stderr)
            _build(staging, root / f"{target.name}.work")
            how = "built"
        (staging / DONE).write_text(json.dumps({"recipe": recipe_hash(), "how": how,
                                                "seconds": round(time.monotonic() - started, 1),
                                                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        print(f"test images: {how} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target


if __name__ == "__main__":
    if sys.argv[1:] == ["--path"]:
        print(images_dir())
    elif sys.argv[1:] == ["--from-shared-only"]:  # CI: fill the cache while ../shared is beside the checkout
        print(ensure() if _complete(images_dir()) or _shared_usable() else "no usable ../shared: make test builds")
    else:
        print(ensure())
