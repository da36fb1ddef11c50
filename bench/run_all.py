"""`make bench`: every benchmark under bench/, one after the other, each writing its results to bench/results/.

Each script compares hullscan side by side with its peer in the same run; see the script's --help for options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = sorted(BENCH.glob("*/bench_*.py"))


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"== {script.relative_to(BENCH.parent)}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=BENCH.parent).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
