"""`hullscan sbom IMAGE [...]` (also `python -m hullscan.scanner`): the scanner's command line.

`hullscan sbom` runs here without the other parts, Typer or pydantic: their imports (~0.25 s) would be most
of a warm scan. Its five settings are read by `hullscan.config.raw_settings`, as `Settings` reads them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hullscan.config import raw_settings
from hullscan.scanner.command import FORMATS, run_sbom

SETTINGS = ("scanner_cache_dir", "scanner_max_file_bytes", "scanner_max_layer_bytes", "scanner_max_layer_packages",
            "scanner_max_spool_bytes")


def main(argv: list[str] | None = None, prog: str = "hullscan sbom") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Write the SBOM of an image (every installed package, by layer).")
    parser.add_argument("image", help="docker://HOST/REPO:TAG|@DIGEST, oci-dir:PATH[:TAG], oci-archive:PATH, "
                                      "docker-archive:PATH or dir:ROOTFS")
    parser.add_argument("-o", "--format", dest="output_format", choices=FORMATS, default="cyclonedx-json",
                        help="Output format (default: %(default)s).")
    parser.add_argument("-f", "--output", type=Path, help="Write here instead of stdout.")
    parser.add_argument("--platform", help="OS/ARCH[/VARIANT] of a multi-platform image.")
    parser.add_argument("--all-platforms", action="store_true", help="One SBOM per platform of an index.")
    parser.add_argument("--insecure", action="store_true", help="Plain HTTP (and no TLS verification) for the registry.")
    parser.add_argument("--username", default=os.environ.get("HULLSCAN_REGISTRY_USERNAME"),
                        help="Registry user (env HULLSCAN_REGISTRY_USERNAME).")
    parser.add_argument("--password", default=os.environ.get("HULLSCAN_REGISTRY_PASSWORD"),
                        help="Registry password (env HULLSCAN_REGISTRY_PASSWORD).")
    parser.add_argument("--no-cache", action="store_true", help="Do not read or write the layer cache.")
    parser.add_argument("--registry-triggered", action=argparse.BooleanOptionalAction, default=None,
                        help="Mark the SBOM as container_scanning_for_registry (default: $REGISTRY_TRIGGERED=true).")
    args = parser.parse_args(argv)
    try:
        settings = raw_settings(SETTINGS)
        cache_dir = Path(settings["scanner_cache_dir"]) if "scanner_cache_dir" in settings else None
        max_file = int(settings.get("scanner_max_file_bytes", 0)) or None
        max_layer = int(settings.get("scanner_max_layer_bytes", 0)) or None
        max_packages = int(settings.get("scanner_max_layer_packages", 0)) or None
        max_spool = int(settings["scanner_max_spool_bytes"]) if "scanner_max_spool_bytes" in settings else None
    except (ValueError, OSError) as exc:
        parser.error(f"invalid scanner setting: {exc}")
    from hullscan.scanner.cache import remove_scratch_on_signals

    remove_scratch_on_signals()  # SIGTERM/SIGHUP: no spooled layer files left behind
    return run_sbom(args.image, output_format=args.output_format, output=args.output, platform=args.platform,
                    all_platforms=args.all_platforms, insecure=args.insecure, username=args.username,
                    password=args.password, no_cache=args.no_cache, registry_triggered=args.registry_triggered,
                    cache_dir=cache_dir, max_file_bytes=max_file, max_layer_bytes=max_layer,
                    max_layer_packages=max_packages, max_spool_bytes=max_spool)


if __name__ == "__main__":
    sys.exit(main(prog="python -m hullscan.scanner"))
