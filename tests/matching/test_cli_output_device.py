"""`hullscan scan --output` into a device or FIFO writes through it and never replaces the node (a rename onto
/dev/null once turned it into a regular file for the whole machine)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

from tests.conftest import image_layout


def test_output_into_a_fifo_keeps_the_fifo(tmp_path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    env = {**os.environ, "HULLSCAN_DATA_DIR": str(tmp_path / "data")}
    env.pop("HULLSCAN_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "hullscan", "db", "upgrade"], env=env, check=True, capture_output=True)
    feed = tmp_path / "one.jsonl"
    feed.write_text('{"id": "GO-TEST-1", "modified": "2026-01-01T00:00:00Z", "affected": [{"package": '
                    '{"ecosystem": "Go", "name": "stdlib"}, "ranges": [{"type": "SEMVER", "events": '
                    '[{"introduced": "0"}, {"fixed": "1.20.0"}]}]}]}\n')
    subprocess.run([sys.executable, "-m", "hullscan", "advisories", "import", str(feed), "--format", "osv"],
                   env=env, check=True, capture_output=True)
    # a one-record store (an empty one is an error by design): a Go standard library advisory for go1.19.8
    record = {"id": "GO-TEST-0001", "modified": "2024-01-01T00:00:00Z", "summary": "test advisory",
              "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
                            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.19.9"}]}]}]}
    osv = tmp_path / "one.jsonl"
    osv.write_text(json.dumps(record) + "\n")
    subprocess.run([sys.executable, "-m", "hullscan", "advisories", "import", str(osv)], env=env, check=True,
                   capture_output=True)
    layout = image_layout("go-binary")
    r = subprocess.run([sys.executable, "-m", "hullscan", "scan", f"oci-dir:{layout}", "--offline", "--format",
                        "json", "--output", str(fifo)], env=env, capture_output=True, text=True, timeout=300)
    reader.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert not (tmp_path / "out.fifo.part").exists()
    assert received and json.loads(received[0])["findings"][0]["vulnerability_id"] == "GO-TEST-0001"
