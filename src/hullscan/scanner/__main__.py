"""`python -m hullscan.scanner IMAGE [...]`: `hullscan sbom` without loading the other parts or a CLI
framework, for scan jobs where start-up time counts. Settings come from the same HULLSCAN_* variables."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hullscan.scanner.command import FORMATS, run_sbom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hullscan.scanner", description="Write the SBOM of an image.")
    parser.add_argument("image")
    parser.add_argument("-o", "--format", dest="output_format", choices=FORMATS, default="cyclonedx-json")
    parser.add_argument("-f", "--output", type=Path)
    parser.add_argument("--platform")
    parser.add_argument("--all-platforms", action="store_true")
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--username", default=os.environ.get("HULLSCAN_REGISTRY_USERNAME"))
    parser.add_argument("--password", default=os.environ.get("HULLSCAN_REGISTRY_PASSWORD"))
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--registry-triggered", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    env = os.environ.get
    return run_sbom(args.image, output_format=args.output_format, output=args.output, platform=args.platform,
                    all_platforms=args.all_platforms, insecure=args.insecure, username=args.username,
                    password=args.password, no_cache=args.no_cache, registry_triggered=args.registry_triggered,
                    cache_dir=Path(env("HULLSCAN_SCANNER_CACHE_DIR")) if env("HULLSCAN_SCANNER_CACHE_DIR") else None,
                    max_file_bytes=int(env("HULLSCAN_SCANNER_MAX_FILE_BYTES", "0")) or None,
                    max_layer_bytes=int(env("HULLSCAN_SCANNER_MAX_LAYER_BYTES", "0")) or None)


if __name__ == "__main__":
    sys.exit(main())
