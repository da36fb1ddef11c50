"""`hullscan sbom` runs the scanner's own entry: the same options and settings, without the CLI framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hullscan.scanner.__main__ import SETTINGS, scanner_settings
from hullscan.settings import Settings
from tests.scanner.conftest import image_layout

DEFAULTS = {"scanner_cache_dir": None, "scanner_max_file_bytes": 512 << 20, "scanner_max_layer_bytes": 16 << 30}


def _light() -> dict[str, object]:
    found = scanner_settings()
    return {
        "scanner_cache_dir": Path(found["scanner_cache_dir"]) if "scanner_cache_dir" in found else None,
        "scanner_max_file_bytes": int(found.get("scanner_max_file_bytes", DEFAULTS["scanner_max_file_bytes"])),
        "scanner_max_layer_bytes": int(found.get("scanner_max_layer_bytes", DEFAULTS["scanner_max_layer_bytes"])),
    }


@pytest.mark.parametrize("env,toml", [
    ({}, ""),
    ({"HULLSCAN_SCANNER_CACHE_DIR": "/tmp/from-env", "hullscan_scanner_max_file_bytes": "1234"}, ""),
    ({}, 'scanner_cache_dir = "/tmp/from-toml"\nscanner_max_layer_bytes = 99\nport = 1\n'),
    ({"HULLSCAN_SCANNER_MAX_LAYER_BYTES": "7"}, 'scanner_max_layer_bytes = 99\nscanner_max_file_bytes = 5\n'),
])
def test_settings_are_read_as_settings_reads_them(env: dict[str, str], toml: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("HULLSCAN_SCANNER_") or key == "HULLSCAN_CONFIG":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    if toml:
        (tmp_path / "hullscan.toml").write_text(toml)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reference = Settings()
    assert _light() == {name: getattr(reference, name) for name in SETTINGS}
    assert Settings.model_fields["scanner_max_file_bytes"].default == DEFAULTS["scanner_max_file_bytes"]
    assert Settings.model_fields["scanner_max_layer_bytes"].default == DEFAULTS["scanner_max_layer_bytes"]


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
