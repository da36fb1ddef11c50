"""`hullscan scan IMAGE|SBOM-FILE`: match an image or any CycloneDX/SPDX SBOM against the local advisories."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hullscan.matching.reports import FORMATS


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
    app.command("scan")(scan)


def scan(
    target: str = typer.Argument(..., help="Image (docker://…, oci-dir:…, oci-archive:…, docker-archive:…) or an SBOM file."),
    format: str = typer.Option("table", "--format", "-f", help=f"Report format: {', '.join(FORMATS)}."),
    severity: str = typer.Option(None, "--severity", "-s", help="Report only these severities, e.g. HIGH,CRITICAL."),
    ignore_unfixed: bool = typer.Option(False, "--ignore-unfixed", help="Leave out vulnerabilities with no fix yet."),
    fail_on: str = typer.Option(None, "--fail-on", help="Exit non-zero when a finding is at least this severe."),
    exit_code: int = typer.Option(None, "--exit-code", help="Exit code for --fail-on (or for any finding); default 1."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report to this file instead of stdout."),
    vex: list[Path] = typer.Option([], "--vex", help="OpenVEX file(s): not_affected/fixed statements suppress findings."),
    offline: bool = typer.Option(
        False, "--offline", help="Use only the local advisories; never sync them, even when the store is empty."
    ),
    platform: str = typer.Option(None, "--platform", help="Platform of a multi-arch image, e.g. linux/arm64."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plain-HTTP registries."),
) -> None:
    """Scan an image or SBOM for known vulnerabilities, like `trivy image` / `grype`."""
    from hullscan.matching.reports import write_report
    from hullscan.matching.sbom import SbomError
    from hullscan.matching.service import ScanError, ScanRequest, fails, parse_severities, scan_with_local_store
    from hullscan.matching.vex import VexError
    from hullscan.settings import get_settings

    if format not in FORMATS:
        _die(f"unknown --format {format!r}; choose one of {', '.join(FORMATS)}")
    try:
        severities = parse_severities(severity)
        if fail_on is not None:
            parse_severities(fail_on)
        settings = get_settings()
        request = ScanRequest(
            target=target, severities=severities, ignore_unfixed=ignore_unfixed, vex_files=list(vex),
            platform=platform, insecure=insecure, max_sbom_components=settings.matching_max_sbom_components,
        )
        report = scan_with_local_store(
            request, settings, offline=offline, notify=lambda message: typer.echo(message, err=True)
        )
    except (ScanError, SbomError, VexError) as exc:
        _die(str(exc))
    if output is not None and output.exists() and not output.is_file():
        # /dev/null, a FIFO, a terminal: write straight into it (a rename would replace the device node).
        try:
            with output.open("w", encoding="utf-8") as fh:
                write_report(format, report, fh)
        except OSError as exc:
            _die(f"cannot write {output}: {exc.strerror or exc}")
    elif output is not None:
        tmp = output.with_name(output.name + ".part")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                write_report(format, report, fh)
            tmp.replace(output)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            _die(f"cannot write {output}: {exc.strerror or exc}")
    else:
        write_report(format, report, sys.stdout)
    if format != "table":
        for warning in report.warnings:
            typer.echo(f"warning: {warning}", err=True)
    if (fail_on is not None or exit_code is not None) and fails(report, fail_on):
        raise typer.Exit(exit_code if exit_code is not None else 1)


def _die(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
