"""Shared by the benchmarks."""

from __future__ import annotations

import subprocess
import sys


def byte_compile_hullscan() -> None:
    """Measure hullscan as installed: a (non-editable) pip install compiles every module to bytecode. This
    environment sets PYTHONDONTWRITEBYTECODE and installs hullscan editable, so without this every process
    would compile hullscan's own modules again (~0.1-0.3 s each)."""
    package = subprocess.run([sys.executable, "-c", "import hullscan, os; print(os.path.dirname(hullscan.__file__))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
