"""A/B of two hullscan source trees on the registry's upload path: skopeo push of every test image and a
streamed blob, alternating A and B on fresh servers, medians. Use it to measure a change to the upload code
alone (bench_registry.py compares hullscan with Distribution).

    git archive <rev-a> src | tar -x -C /tmp/a; git archive <rev-b> src | tar -x -C /tmp/b
    .venv/bin/python bench/registry/ab_upload.py /tmp/a/src /tmp/b/src [--rounds 3] [--blob-mib 512]

Prints a Markdown table; both trees must accept the same credentials (or both none).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_registry as b  # noqa: E402


def one(src: str, what: str, mib: int) -> tuple[float, float]:
    """(wall s or MB/s, server CPU s) of one push or streamed blob against a fresh server running `src`."""
    os.environ["PYTHONPATH"] = src  # the server subprocess imports hullscan from this tree
    work = Path(tempfile.mkdtemp(prefix="hullscan-ab-"))
    try:
        server = b.Hullscan(work / "h")
        server.start()
        b.settle(server)
        try:
            if what == "push":
                return b.push_all(server)
            cpu = b.cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
            r = b.push_big_blob(server, mib)
            return r["mb_per_s"], b.cpu_seconds(server.proc.pid) - cpu  # type: ignore[union-attr]
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blob-mib", type=int, default=512)
    args = parser.parse_args()
    subprocess.run(["skopeo", "--version"], check=True, capture_output=True)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for what in ("push", "blob"):
        for _ in range(args.rounds):
            for name, src in (("A", args.a), ("B", args.b)):
                results.setdefault((what, name), []).append(one(src, what, args.blob_mib))
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rounds} rounds, medians; A = {args.a}, B = {args.b}\n")
    print("| measure | A | B |\n|---|---|---|")
    for what, label in (("push", "skopeo push of all images, s"), ("blob", f"{args.blob_mib} MiB blob, MB/s")):
        values = {n: statistics.median(v[0] for v in results[(what, n)]) for n in ("A", "B")}
        cpus = {n: statistics.median(v[1] for v in results[(what, n)]) for n in ("A", "B")}
        print(f"| {label} | {values['A']:.2f} | {values['B']:.2f} |")
        print(f"| {what}: server CPU s | {cpus['A']:.2f} | {cpus['B']:.2f} |")


if __name__ == "__main__":
    main()
