"""deploy/hullscan.service and deploy/hullscan-runner.service: valid to systemd's own checker
(`systemd-analyze verify`, Debian's systemd package, installed by scripts/system-deps.sh), hardened, run as
their own unprivileged users with an EnvironmentFile, and starting commands this hullscan has."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ["hullscan.service", "hullscan-runner.service"]
INSTALLED = "/opt/hullscan/bin/hullscan"  # where the units expect hullscan (as the Dockerfile installs it)
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
             "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
             "RestrictNamespaces": "yes", "SystemCallArchitectures": "native", "LockPersonality": "yes"}


def _verify(directory: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed: run `make system-deps` (Debian package systemd)")
    return subprocess.run([tool, "verify", *(str(directory / n) for n in names)], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"})


def _as_installed_here(tmp_path: Path, name: str, text: str | None = None) -> Path:
    """The unit with ExecStart pointing at this checkout's hullscan (verify checks the command exists)."""
    here = Path(sys.executable).with_name("hullscan")
    assert here.is_file(), f"no hullscan entry point next to {sys.executable}"
    target = tmp_path / name
    target.write_text((text or (ROOT / "deploy" / name).read_text()).replace(INSTALLED, str(here)))
    return target


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / name).read_text())
    return parser


def test_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    for name in UNITS:
        _as_installed_here(tmp_path, name)
    run = _verify(tmp_path, UNITS)
    assert run.returncode == 0 and run.stderr.strip() == "" and run.stdout.strip() == "", run.stderr


def test_verify_catches_what_the_test_guards_against(tmp_path: Path) -> None:
    """The check can fail: a misspelt option is reported (a warning, which the test above refuses)."""
    broken = (ROOT / "deploy" / "hullscan.service").read_text().replace("ProtectSystem=", "ProtectSystm=")
    _as_installed_here(tmp_path, "hullscan.service", broken)
    run = _verify(tmp_path, ["hullscan.service"])
    assert "ProtectSystm" in run.stderr


@pytest.mark.parametrize("name", UNITS)
def test_units_are_unprivileged_hardened_and_configured_by_a_file(name: str) -> None:
    service = _unit(name)["Service"]
    assert service["User"] not in ("", "root", "0") and service["Group"] == service["User"]
    assert service["EnvironmentFile"].startswith("/etc/hullscan/")
    for option, value in HARDENING.items():
        assert service.get(option) == value, (name, option)
    assert service["ExecStart"].startswith(INSTALLED + " ")
    assert service.get("StateDirectory") or service.get("CacheDirectory")  # the one writable place


def test_exec_start_commands_exist_in_this_hullscan() -> None:
    for name, command in (("hullscan.service", "serve"), ("hullscan-runner.service", "runner")):
        words = _unit(name)["Service"]["ExecStart"].split()
        assert words[1] == command
        helped = subprocess.run([sys.executable, "-m", "hullscan", command, "--help"], capture_output=True,
                                text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
        assert helped.returncode == 0, helped.stderr
        for flag in (w for w in words[2:] if w.startswith("--")):
            assert flag in helped.stdout, (name, flag)
