"""`hullscan advisories import|sync` draw a progress bar only on a terminal (stderr a pty here), never into a
pipe, and `-q` leaves only errors."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from tests.conftest import data_path



def _dsa_list(tmp_path: Path) -> str:
    """The newest entries of Debian's real DSA list (an advisory source: its import reports progress)."""
    dsa = data_path("advisories", "debian", "DSA", "list").read_text()
    target = tmp_path / "DSA" / "list"
    target.parent.mkdir()
    target.write_text(dsa[: dsa.index("[01 Mar 2023]")])
    return str(target)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(tmp_path / "data"), "HULLSCAN_ADVISORIES_SYNC_INTERVAL": "0",
                "HULLSCAN_LOG_JSON": "false", "TERM": "xterm-256color", "COLUMNS": "120"})
    return env


def _on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `hullscan advisories ARGS` with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hullscan", "advisories", *args], env=env, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    return proc.wait(60), out, seen.decode("utf-8", "replace")


def test_a_bar_on_a_terminal_none_in_a_pipe_and_none_with_quiet(tmp_path: Path) -> None:
    env = _env(tmp_path)
    dsa = _dsa_list(tmp_path)
    code, out, terminal = _on_a_terminal(env, "import", dsa)
    assert code == 0, terminal
    assert "\x1b[" in terminal and "debian-dsa" in terminal  # rich drew a bar for the source (its last frame stays)
    assert "records" in out and "\x1b[" not in out  # the summary table, on stdout

    piped = subprocess.run([sys.executable, "-m", "hullscan", "advisories", "import", dsa], env=env,
                           capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr + piped.stdout and piped.stderr == ""  # no bar, no last frame
    assert "records" in piped.stdout

    code, out, terminal = _on_a_terminal(env, "import", "-q", dsa)
    assert code == 0 and out == "" and "\x1b[" not in terminal and terminal.strip() == "", terminal

    code, out, terminal = _on_a_terminal(env, "import", "-q", str(tmp_path / "missing.json"))
    assert code == 2 and "error:" in terminal and out == ""
