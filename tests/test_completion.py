"""`hullscan completion bash|zsh|fish`: scripts that complete every command and option (also those of the light
`sbom` and `scan` entries, which Typer cannot see) in the real shells (Debian's bash, zsh and fish, installed by
scripts/system-deps.sh), running no Python when TAB is pressed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (scripts/system-deps.sh installs {name})")
    return path


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for shell in ("bash", "zsh", "fish"):
        run = subprocess.run([sys.executable, "-m", "hullscan", "completion", shell], capture_output=True, text=True,
                             timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        out[shell] = tmp_path_factory.mktemp("completion") / f"hullscan.{shell}"
        out[shell].write_text(run.stdout)
    return out


def _bash(script: Path, *words: str, shell: str = "bash") -> list[str]:
    """The candidates the completion function gives for `words` (the last one being completed)."""
    array = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    setup = "setopt ksharrays; " if shell == "zsh" else ""  # bashcompinit calls it with ksharrays set
    code = (f"source {script}; {setup}COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; _hullscan; "
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    run = subprocess.run([_shell(shell), "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=script.parent, env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0 and run.stderr == "", run.stderr
    return [line for line in run.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_values(scripts: dict[str, Path]) -> None:
    script = scripts["bash"]
    top = _bash(script, "hullscan", "")
    assert {"sbom", "scan", "serve", "advisories", "db", "completion", "runner"} <= set(top)
    assert _bash(script, "hullscan", "sb") == ["sbom"]
    assert _bash(script, "hullscan", "sbom", "--fo") == ["--format"]  # an argparse entry's option
    assert _bash(script, "hullscan", "sbom", "-f", "") == ["cyclonedx-json", "spdx-json", "table", "cyclonedx"]
    assert _bash(script, "hullscan", "scan", "--format", "s") == ["sarif"]
    assert _bash(script, "hullscan", "sbom", "pod") == ["podman:"]  # image transports
    assert _bash(script, "hullscan", "scan", "--ignore") == ["--ignore-unfixed", "--ignorefile"]
    assert _bash(script, "hullscan", "db", "") == ["upgrade"]
    assert _bash(script, "hullscan", "completion", "") == ["bash", "zsh", "fish"]
    assert _bash(script, "hullscan", "advisories", "import", "--q") == ["--quiet"]
    assert _bash(script, "hullscan", "-q", "advisories", "sy") == ["sync"]  # options do not break the path
    (script.parent / "sbom.cdx.json").write_text("{}")
    assert "sbom.cdx.json" in _bash(script, "hullscan", "scan", "sbom.")  # files too
    assert "sbom.cdx.json" in _bash(script, "hullscan", "sbom", "-o", "sbom.")


def test_zsh_loads_the_same_completion(scripts: dict[str, Path]) -> None:
    candidates = _bash(scripts["zsh"], "hullscan", "scan", "--format", "", shell="zsh")
    assert {"table", "json", "sarif", "gitlab"} <= set(candidates)
    assert {"sbom", "scan"} <= set(_bash(scripts["zsh"], "hullscan", "", shell="zsh"))


def test_fish_completes_the_command_line(scripts: dict[str, Path]) -> None:
    def complete(line: str) -> list[str]:
        run = subprocess.run([_shell("fish"), "-c", f"source {scripts['fish']}; complete -C '{line}'"],
                             capture_output=True, text=True, timeout=60, cwd=scripts["fish"].parent)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        return [line.split("\t")[0] for line in run.stdout.splitlines()]

    assert complete("hullscan sb") == ["sbom"]
    assert complete("hullscan sbom --fo") == ["--format"]
    assert complete("hullscan sbom -f cy") == ["cyclonedx", "cyclonedx-json"]
    assert complete("hullscan scan --only") == ["--only-fixed"]
    assert complete("hullscan db ") == ["upgrade"]
    assert complete("hullscan completion f") == ["fish"]
    assert "podman:" in complete("hullscan scan pod")


def test_tab_runs_no_python_and_unknown_shells_are_refused(scripts: dict[str, Path]) -> None:
    for script in scripts.values():
        code = [line for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
        assert not any("hullscan " in line and ("$(" in line or "(hullscan" in line) for line in code)
        assert "python" not in "\n".join(code)
    refused = subprocess.run([sys.executable, "-m", "hullscan", "completion", "tcsh"], capture_output=True,
                             text=True, timeout=120, check=False)
    assert refused.returncode == 2 and "bash, zsh, fish" in refused.stderr
