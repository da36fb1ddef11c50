"""Lint and types are part of `make test`: ruff and mypy run with pyproject's configuration, and a failure
names every error, so a change that breaks either fails the suite like a broken behaviour would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", "--output-format", "concise", "src", "tests", "bench", "scripts")
    assert result.returncode == 0, f"ruff reports:\n{result.stdout}{result.stderr}"


def test_mypy_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null")
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 0 and not errors, "mypy reports:\n" + "\n".join(errors or [result.stdout,
                                                                                          result.stderr])
