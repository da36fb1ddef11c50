"""One scanning configuration (scanner/command.py `ScanConfig`) for every entry point: `hullscan sbom`,
`hullscan scan IMAGE` (matching/service.py) and the runners (runner/scan.py), read from the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullscan.matching.service import ScanRequest, load_inventory
from hullscan.runner.scan import ScanSpec
from hullscan.scanner.command import DEFAULT_MAX_FILE_BYTES, ScanConfig
from tests.conftest import image_layout

JOB = {"registry": {"url": "http://127.0.0.1:5000", "host": "registry.test:5000"}, "repository": "group/app",
       "tag": "1.0", "digest": "sha256:" + "a" * 64}


def test_runners_honour_the_scanner_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HULLSCAN_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("HULLSCAN_SCANNER_MAX_FILE_BYTES", "65536")
    monkeypatch.setenv("HULLSCAN_SCANNER_MAX_LAYER_BYTES", "1048576")
    monkeypatch.setenv("HULLSCAN_SCANNER_MAX_LAYER_PACKAGES", "777")
    monkeypatch.setenv("HULLSCAN_SCANNER_MAX_SPOOL_BYTES", "0")
    spec = ScanSpec.from_job(JOB, tmp_path / "cache")
    limits = spec.config.limits()
    assert (limits.max_file_bytes, limits.max_layer_bytes, limits.max_layer_packages, limits.max_spool_bytes) == (
        65536, 1048576, 777, 0)
    assert spec.config.cache_dir == tmp_path / "cache" and not spec.config.no_cache
    assert ScanSpec.from_job(JOB, None).config.no_cache  # a runner without a cache directory caches nothing
    monkeypatch.delenv("HULLSCAN_SCANNER_MAX_FILE_BYTES")
    assert ScanSpec.from_job(JOB, None).config.max_file_bytes == DEFAULT_MAX_FILE_BYTES


def test_scan_config_from_settings_is_what_settings_say(tmp_path: Path) -> None:
    from hullscan.settings import Settings

    settings = Settings(data_dir=tmp_path, scanner_cache_dir=tmp_path / "c", scanner_max_file_bytes=1234,
                        scanner_max_layer_bytes=5678, scanner_max_layer_packages=9, scanner_max_spool_bytes=10)
    config = ScanConfig.from_raw(settings.model_dump())
    assert config == ScanConfig(cache_dir=tmp_path / "c", max_file_bytes=1234, max_layer_bytes=5678,
                                max_layer_packages=9, max_spool_bytes=10)
    with pytest.raises(ValueError):
        ScanConfig.from_raw({"scanner_max_file_bytes": "lots"})


def test_scan_image_reads_layers_within_the_limits(tmp_path: Path) -> None:
    """A layer over `max_layer_bytes` is not analysed (named in a warning), as in `hullscan sbom`."""
    image = f"oci-dir:{image_layout('debian-python-app')}"
    full = load_inventory(ScanRequest(target=image, scan_config=ScanConfig(cache_dir=tmp_path / "c")))
    capped = load_inventory(ScanRequest(target=image, scan_config=ScanConfig(no_cache=True, max_layer_bytes=4096)))
    assert len(capped.packages) < len(full.packages)
    assert any("inflates past the 4096 byte cap" in warning for warning in capped.warnings)
    again = load_inventory(ScanRequest(target=image, scan_config=ScanConfig(cache_dir=tmp_path / "c")))
    assert [(p.name, p.version, p.path) for p in again.packages] == [(p.name, p.version, p.path)
                                                                     for p in full.packages]
