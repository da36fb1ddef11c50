"""Human-readable table (rich), laid out to stay readable at 80 columns."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table

from hullscan.matching.reports.model import ScanReport

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "unknown": "dim"}


def write_table(report: ScanReport, out: TextIO, *, width: int = 80) -> None:
    console = Console(file=out, width=width, highlight=False, soft_wrap=False)
    counts = report.severity_counts()
    summary = ", ".join(f"{sev.upper()}: {n}" for sev, n in counts.items())
    os_part = f" ({report.os_label})" if report.os_label else ""
    console.print(f"[bold]{report.image_label}[/bold]{os_part}")
    console.print(f"Total: {len(report.findings)} ({summary})")
    if report.suppressed:
        console.print(f"Suppressed by VEX: {len(report.suppressed)}")
    if report.filtered:
        console.print(f"Filtered out: {report.filtered}")
    if report.findings:
        table = Table(show_lines=False, expand=False, pad_edge=False)
        table.add_column("Package", overflow="fold", ratio=3)
        table.add_column("Installed", overflow="fold", ratio=2)
        table.add_column("Vulnerability", overflow="fold", ratio=3)
        table.add_column("Severity", no_wrap=True)
        table.add_column("Fixed in", overflow="fold", ratio=2)
        for f in report.findings:
            fixed = ", ".join(f.fixed_versions) if f.fixed_versions else f.fix_state.replace("_", " ")
            kev = " KEV" if f.known_exploited else ""
            table.add_row(
                f.package.name,
                f.package.version,
                f.vulnerability_id + kev,
                f"[{_STYLE.get(f.severity, '')}]{f.severity.upper()}[/]",
                fixed,
            )
        console.print(table)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
