"""`hullscan scan TARGET [...]` (also `python -m hullscan.matching`): the scan command line.

Like `hullscan sbom`, it runs without Typer, pydantic or, on the embedded default (the data directory's
SQLite file), SQLAlchemy: those imports were over a second of a cold scan. Its settings are read by
`hullscan.config.raw_settings`, as `Settings` reads them; the full settings are loaded only to use a database
URL or to sync an empty store.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hullscan.config import raw_settings, resolved_data_dir
from hullscan.matching.reports import FORMATS
from hullscan.scanner import options
from hullscan.scanner.command import SETTINGS as SCAN_SETTINGS

SETTINGS = ("data_dir", "database_url", "matching_max_sbom_components", *SCAN_SETTINGS)


def build_parser(prog: str = "hullscan scan") -> argparse.ArgumentParser:
    """The options of `hullscan scan` (also read by `hullscan completion`)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Scan an image or SBOM for known vulnerabilities, like `trivy image` / `grype`.")
    parser.add_argument("target", help="Image (docker://…, oci-dir:…, oci-archive:…, docker-archive:…, "
                                       "docker-daemon:…, podman:…) or an SBOM file.")
    parser.add_argument("-f", "--format", default="table", help=f"Report format: {', '.join(FORMATS)} (default: table).")
    parser.add_argument("-s", "--severity", help="Report only these severities, e.g. HIGH,CRITICAL.")
    parser.add_argument("--ignore-unfixed", "--only-fixed", action="store_true",
                        help="Leave out vulnerabilities with no fix yet.")
    parser.add_argument("--fail-on", help="Exit non-zero when a finding is at least this severe.")
    parser.add_argument("--exit-code", type=int, help="Exit code for --fail-on (or for any finding); default 1.")
    parser.add_argument("-o", "--output", type=Path, help="Write the report to this file instead of stdout.")
    parser.add_argument("--ignorefile", type=Path, metavar="FILE",
                        help="Vulnerabilities to leave out, in Trivy's .trivyignore format (ids, # comments, "
                             "exp:YYYY-MM-DD), .trivyignore.yaml or Grype's .grype.yaml `ignore:` rules "
                             "(default: ./.trivyignore, else ./.grype.yaml, when present).")
    parser.add_argument("--vex", type=Path, action="append", default=[],
                        help="OpenVEX file (repeatable): not_affected/fixed statements suppress findings.")
    parser.add_argument("--offline", action="store_true",
                        help="Use only the local advisories; never sync them, even when the store is empty.")
    parser.add_argument("--no-cache", action="store_true", help="Do not read or write the layer cache.")
    parser.add_argument("--sort", choices=("severity", "risk"), default="severity",
                        help="Order of the findings: severity (default) or risk (known exploited first, then EPSS "
                             "percentile, CVSS score, fix available).")
    options.add_common(parser)
    return parser


def main(argv: list[str] | None = None, prog: str = "hullscan scan") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        options.registry_credentials(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        with options.quiet_and_timeout(args.quiet, args.timeout):
            return _scan(args)
    except options.ScanTimeout:
        print(options.describe_timeout(args.timeout), file=sys.stderr)
        return 2


def _scan(args: argparse.Namespace) -> int:
    """The scan itself, once the options are settled."""
    if args.format not in FORMATS:
        return _die(f"unknown --format {args.format!r}; choose one of {', '.join(FORMATS)}")
    from hullscan.matching.ignorefile import IgnoreFileError, default_ignorefile, load_ignorefile
    from hullscan.matching.reports import write_report
    from hullscan.matching.sbom import SbomError
    from hullscan.matching.service import (ScanError, ScanRequest, StoreLocation, fails, parse_severities,
                                           scan_with_local_store)
    from hullscan.matching.vex import VexError
    from hullscan.scanner.command import ScanConfig

    try:
        raw = raw_settings(SETTINGS)
        if args.cache_dir:
            raw["scanner_cache_dir"] = args.cache_dir
        location = StoreLocation(resolved_data_dir(raw.get("data_dir")), raw.get("database_url"))
        limits: dict[str, Any] = {"max_sbom_components": int(raw["matching_max_sbom_components"])} if (
            "matching_max_sbom_components" in raw) else {}
        limits["scan_config"] = ScanConfig.from_raw(raw, no_cache=args.no_cache)
    except (ValueError, OSError) as exc:
        return _die(f"invalid setting: {exc}")
    try:
        severities = parse_severities(args.severity)
        if args.fail_on is not None:
            parse_severities(args.fail_on)
        request = ScanRequest(target=args.target, severities=severities, ignore_unfixed=args.ignore_unfixed,
                              vex_files=list(args.vex), platform=args.platform, insecure=args.insecure, **limits)
        ignore_path: Path | None = args.ignorefile
        if ignore_path is None:
            ignore_path = default_ignorefile()  # as Trivy and Grype read theirs from the working directory
        ignore = load_ignorefile(ignore_path) if ignore_path is not None else None
        with options.progress(f"Scanning {args.target}", args.quiet):  # ends before the report is written
            report = scan_with_local_store(request, location, offline=args.offline,
                                           notify=lambda message: print(message, file=sys.stderr))
    except (ScanError, SbomError, VexError, IgnoreFileError) as exc:
        return _die(str(exc))
    if ignore is not None:
        report.findings, ignored = ignore.apply(report.findings)
        report.filtered += len(ignored)
    if args.sort == "risk":  # stable: equal risks keep the severity order
        report.findings.sort(key=lambda f: f.risk_key())
    output: Path | None = args.output
    if output is not None and output.exists() and not output.is_file():
        # /dev/null, a FIFO, a terminal: write straight into it (a rename would replace the device node).
        try:
            with output.open("w", encoding="utf-8") as fh:
                write_report(args.format, report, fh)
        except OSError as exc:
            return _die(f"cannot write {output}: {exc.strerror or exc}")
    elif output is not None:
        tmp = output.with_name(output.name + ".part")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                write_report(args.format, report, fh)
            tmp.replace(output)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            return _die(f"cannot write {output}: {exc.strerror or exc}")
    else:
        write_report(args.format, report, sys.stdout)
    if args.format != "table" or output is not None or not sys.stdout.isatty():  # on screen once, not twice
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if (args.fail_on is not None or args.exit_code is not None) and fails(report, args.fail_on):
        return args.exit_code if args.exit_code is not None else 1
    return 0


def _die(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(prog="python -m hullscan.matching"))
