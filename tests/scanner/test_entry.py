"""`hullscan sbom` runs the scanner's own entry: the same options and settings, without the CLI framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.scanner.conftest import image_layout


def test_hullscan_sbom_loads_neither_typer_nor_pydantic(tmp_path: Path, scan_home: Path) -> None:
    out = tmp_path / "sbom.json"
    probe = (
        "import sys\n"
        f"sys.argv = ['hullscan', 'sbom', 'oci-dir:{image_layout('go-binary')}', '--output', '{out}']\n"
        "from hullscan.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "heavy = sorted(m for m in ('typer', 'pydantic', 'pydantic_settings', 'sqlalchemy', 'fastapi', 'rich') if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "0 []", result.stderr
    assert json.loads(out.read_text())["specVersion"] == "1.6"


def test_invalid_setting_is_a_clear_error(scan_home: Path) -> None:
    env = {**os.environ, "HULLSCAN_SCANNER_MAX_FILE_BYTES": "lots"}
    result = subprocess.run([sys.executable, "-m", "hullscan", "sbom", f"oci-dir:{image_layout('go-binary')}"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert "invalid scanner setting" in result.stderr and "lots" in result.stderr


def test_help_lists_the_options(scan_home: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hullscan", "sbom", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    for option in ("--format", "--output", "--platform", "--all-platforms", "--insecure", "--no-cache"):
        assert option in result.stdout
