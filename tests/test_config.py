"""`hullscan.config.raw_settings` (what `hullscan sbom` and `hullscan scan` read without pydantic) agrees with
`hullscan.settings.Settings` on every name those commands read, from the environment and from the TOML file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hullscan.config import raw_settings, resolved_data_dir
from hullscan.matching.__main__ import SETTINGS as SCAN_SETTINGS
from hullscan.scanner.__main__ import SETTINGS as SBOM_SETTINGS
from hullscan.settings import Settings

NAMES = tuple(dict.fromkeys(SBOM_SETTINGS + SCAN_SETTINGS))


def _as_settings_types(raw: dict[str, str]) -> dict[str, object]:
    """The raw strings as the commands convert them, with the defaults of `Settings` for what is unset."""
    out: dict[str, object] = {}
    for name in NAMES:
        default = Settings.model_fields[name].default
        if name not in raw:
            out[name] = default
        elif name == "data_dir" or name == "scanner_cache_dir":
            out[name] = Path(raw[name])
        elif isinstance(default, int):
            out[name] = int(raw[name])
        else:
            out[name] = raw[name]
    return out


@pytest.mark.parametrize("env,toml", [
    ({}, ""),
    ({"HULLSCAN_SCANNER_CACHE_DIR": "/tmp/from-env", "hullscan_scanner_max_file_bytes": "1234",
      "HULLSCAN_DATA_DIR": "/tmp/data-env", "HULLSCAN_MATCHING_MAX_SBOM_COMPONENTS": "10"}, ""),
    ({}, 'scanner_cache_dir = "/tmp/from-toml"\nscanner_max_layer_bytes = 99\nport = 1\ndata_dir = "rel/data"\n'
         'database_url = "postgresql+psycopg://u@h/db"\nmatching_max_sbom_components = 7\n'),
    ({"HULLSCAN_SCANNER_MAX_LAYER_BYTES": "7", "HULLSCAN_DATABASE_URL": "sqlite:////tmp/x.db"},
     'scanner_max_layer_bytes = 99\nscanner_max_file_bytes = 5\ndatabase_url = "ignored"\n'),
])
def test_raw_settings_agree_with_settings(env: dict[str, str], toml: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("HULLSCAN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    if toml:
        (tmp_path / "hullscan.toml").write_text(toml)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reference = Settings()
    raw = raw_settings(NAMES)
    assert _as_settings_types(raw) == {name: getattr(reference, name) for name in NAMES}
    assert resolved_data_dir(raw.get("data_dir")) == reference.resolved_data_dir


def test_config_file_named_by_hullscan_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('data_dir = "/srv/hullscan"\n')
    monkeypatch.delenv("HULLSCAN_DATA_DIR", raising=False)
    monkeypatch.setenv("HULLSCAN_CONFIG", str(config))
    assert raw_settings(("data_dir",)) == {"data_dir": "/srv/hullscan"} and Settings().data_dir == Path("/srv/hullscan")


def test_the_commands_defaults_are_the_settings_defaults() -> None:
    from hullscan.matching.service import ScanRequest
    from hullscan.scanner.command import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_LAYER_BYTES

    fields = Settings.model_fields
    assert ScanRequest("x").max_sbom_components == fields["matching_max_sbom_components"].default
    assert DEFAULT_MAX_FILE_BYTES == fields["scanner_max_file_bytes"].default
    assert DEFAULT_MAX_LAYER_BYTES == fields["scanner_max_layer_bytes"].default
