"""`hullscan sbom IMAGE [...]` (also `python -m hullscan.scanner`): the scanner's command line.

`hullscan sbom` runs here without the other parts, Typer or pydantic: their imports (~0.25 s) would be most
of a warm scan. Its five settings are read by `hullscan.config.raw_settings`, as `Settings` reads them.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from hullscan.config import raw_settings
from hullscan.scanner.command import FORMATS, run_sbom

SETTINGS = ("scanner_cache_dir", "scanner_max_file_bytes", "scanner_max_layer_bytes", "scanner_max_layer_packages",
            "scanner_max_spool_bytes")
FORMAT_ALIASES = {"cyclonedx": "cyclonedx-json"}  # Trivy's name for the same format


def build_parser(prog: str = "hullscan sbom") -> argparse.ArgumentParser:
    """The options of `hullscan sbom` (also read by `hullscan completion`)."""
    from hullscan.scanner import options

    parser = argparse.ArgumentParser(
        prog=prog, description="Write the SBOM of an image (every installed package, by layer).",
        epilog="Until this release -o was the format and -f the file: `-o FORMAT` and `-f FILE` still work, with "
               "a warning, when the value tells which was meant (see docs/cli.md).")
    parser.add_argument("image", help="docker://HOST/REPO:TAG|@DIGEST, oci-dir:PATH[:TAG], oci-archive:PATH, "
                                      "docker-archive:PATH, docker-daemon:IMAGE, podman:IMAGE or dir:ROOTFS")
    parser.add_argument("-f", "--format", dest="output_format", choices=[*FORMATS, *FORMAT_ALIASES],
                        default="cyclonedx-json", help="Output format (default: %(default)s; cyclonedx is "
                                                       "cyclonedx-json).")
    parser.add_argument("-o", "--output", type=Path, help="Write here instead of stdout.")
    parser.add_argument("--all-platforms", action="store_true", help="One SBOM per platform of an index.")
    parser.add_argument("--no-cache", action="store_true", help="Do not read or write the layer cache.")
    parser.add_argument("--registry-triggered", action=argparse.BooleanOptionalAction, default=None,
                        help="Mark the SBOM as container_scanning_for_registry (default: $REGISTRY_TRIGGERED=true).")
    options.add_common(parser)
    return parser


def main(argv: list[str] | None = None, prog: str = "hullscan sbom") -> int:
    from hullscan.scanner import options

    parser = build_parser(prog)
    deprecations = io.StringIO()
    args = parser.parse_args(options.rewrite_deprecated(sys.argv[1:] if argv is None else argv,
                                                        [*FORMATS, *FORMAT_ALIASES], deprecations))
    if not args.quiet:
        sys.stderr.write(deprecations.getvalue())
    try:
        settings = raw_settings(SETTINGS)
        cache_dir = Path(settings["scanner_cache_dir"]) if "scanner_cache_dir" in settings else None
        cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else cache_dir
        max_file = int(settings.get("scanner_max_file_bytes", 0)) or None
        max_layer = int(settings.get("scanner_max_layer_bytes", 0)) or None
        max_packages = int(settings.get("scanner_max_layer_packages", 0)) or None
        max_spool = int(settings["scanner_max_spool_bytes"]) if "scanner_max_spool_bytes" in settings else None
    except (ValueError, OSError) as exc:
        parser.error(f"invalid scanner setting: {exc}")
    try:
        options.registry_credentials(args)
    except ValueError as exc:
        parser.error(str(exc))
    from hullscan.scanner.cache import remove_scratch_on_signals

    remove_scratch_on_signals()  # SIGTERM/SIGHUP: no spooled layer files left behind
    try:
        with options.quiet_and_timeout(args.quiet, args.timeout), options.progress(
                f"Analysing {args.image}", args.quiet, writes_terminal=args.output is None):
            return run_sbom(args.image, output_format=FORMAT_ALIASES.get(args.output_format, args.output_format),
                            output=args.output, platform=args.platform, all_platforms=args.all_platforms,
                            insecure=args.insecure, username=args.username, password=args.password,
                            no_cache=args.no_cache, registry_triggered=args.registry_triggered,
                            cache_dir=cache_dir, max_file_bytes=max_file, max_layer_bytes=max_layer,
                            max_layer_packages=max_packages, max_spool_bytes=max_spool)
    except options.ScanTimeout:
        print(options.describe_timeout(args.timeout), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(prog="python -m hullscan.scanner"))
