"""`hullscan scan --output` into a device or FIFO writes through it and never replaces the node (a rename onto
/dev/null once turned it into a regular file for the whole machine)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading

from tests.conftest import shared_path


def test_output_into_a_fifo_keeps_the_fifo(tmp_path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    env = {**os.environ, "HULLSCAN_DATA_DIR": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-m", "hullscan", "db", "upgrade"], env=env, check=True, capture_output=True)
    layout = shared_path("testdata", "images", "go-binary")
    r = subprocess.run([sys.executable, "-m", "hullscan", "scan", f"oci-dir:{layout}", "--offline", "--format",
                        "json", "--output", str(fifo)], env=env, capture_output=True, text=True, timeout=300)
    reader.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert not (tmp_path / "out.fifo.part").exists()
    assert received and received[0].lstrip().startswith(b"{")
