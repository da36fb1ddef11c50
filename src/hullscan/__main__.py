"""The `hullscan` command. `hullscan sbom` and `hullscan scan` go straight to their parts' own entries, which
load neither the CLI framework nor pydantic (a warm `sbom` is ~0.1 s; those imports alone are ~0.3 s)."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["sbom"]:
        from hullscan.scanner.__main__ import main as sbom

        sys.exit(sbom(sys.argv[2:]))
    if sys.argv[1:2] == ["scan"]:
        from hullscan.matching.__main__ import main as scan

        sys.exit(scan(sys.argv[2:]))
    from hullscan.cli import app

    app()


if __name__ == "__main__":
    main()
