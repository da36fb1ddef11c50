"""The generated references are current: docs/configuration.md lists every setting of `Settings` with its
environment name, default and description, docs/cli.md every command's `--help` (scripts/gen_docs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hullscan.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert missing == [], f"give these settings a Field(description=...): {missing}"


def test_configuration_and_cli_references_are_current() -> None:
    # a fresh process: the generator pins host-dependent defaults before the CLI is imported
    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                           capture_output=True, text=True, env=env, timeout=300, check=False)
    assert check.returncode == 0, check.stderr
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"| `{name}` | `HULLSCAN_{name.upper()}` |" in configuration
    cli = (ROOT / "docs" / "cli.md").read_text()
    for command in ("serve", "sbom", "scan", "runner", "advisories import", "admin create-user", "db upgrade"):
        assert f"\n## hullscan {command}\n" in cli
    assert "--fail-on" in cli and "spdx-json" in cli and "[default: <hostname>]" in cli
