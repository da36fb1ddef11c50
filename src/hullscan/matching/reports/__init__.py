"""Report writers for `hullscan scan`: table, json, cyclonedx (SBOM + vulnerabilities), sarif, gitlab."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from hullscan.matching.reports.model import ScanReport

FORMATS = ("table", "json", "cyclonedx", "sarif", "gitlab")


def __getattr__(name: str) -> Any:
    # The report model pulls in the matching engine; the CLI imports this package for FORMATS at every command.
    if name == "ScanReport":
        from hullscan.matching.reports.model import ScanReport

        return ScanReport
    raise AttributeError(name)


def write_report(fmt: str, report: ScanReport, out: TextIO, *, width: int = 80) -> None:
    """Write the report in one of FORMATS to a text stream."""
    writers: dict[str, Callable[[ScanReport, TextIO], None]] = {}
    if fmt == "table":
        from hullscan.matching.reports.table import write_table

        write_table(report, out, width=width)
        return
    if fmt == "json":
        from hullscan.matching.reports.json_report import write_json as writer
    elif fmt == "cyclonedx":
        from hullscan.matching.reports.cyclonedx_report import write_cyclonedx as writer
    elif fmt == "sarif":
        from hullscan.matching.reports.sarif import write_sarif as writer
    elif fmt == "gitlab":
        from hullscan.matching.reports.gitlab import write_gitlab as writer
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writers[fmt] = writer
    writers[fmt](report, out)


__all__ = ["FORMATS", "ScanReport", "write_report"]
