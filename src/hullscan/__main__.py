"""The `hullscan` command. `hullscan sbom` goes straight to the scanner's own entry, which loads neither
the CLI framework nor the other parts (a warm scan is ~0.1 s; their imports alone are ~0.3 s)."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["sbom"]:
        from hullscan.scanner.__main__ import main as sbom

        sys.exit(sbom(sys.argv[2:]))
    from hullscan.cli import app

    app()


if __name__ == "__main__":
    main()
