"""hullscan's own JSON report: findings as `Finding.to_dict`, plus image, OS, counts and VEX suppressions."""

from __future__ import annotations

import json
from typing import TextIO

from hullscan import __version__
from hullscan.matching.reports.model import ScanReport

SCHEMA = "hullscan-scan/1"


def report_dict(report: ScanReport) -> dict[str, object]:
    img = report.inventory.image
    os = report.inventory.os
    return {
        "schema": SCHEMA,
        "tool": {"name": "hullscan", "version": __version__},
        "image": {"name": img.name, "tag": img.tag, "digest": img.digest, "platform": img.platform},
        "operating_system": {"family": os.family, "version": os.version} if os else None,
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat(),
        "summary": {
            "findings": len(report.findings),
            "by_severity": report.severity_counts(),
            "suppressed_by_vex": len(report.suppressed),
            "filtered": report.filtered,
            **report.stats.to_dict(),
        },
        "warnings": report.warnings,
        "findings": [f.to_dict() for f in report.findings],
        "suppressed": [
            {"vulnerability_id": f.vulnerability_id, "package": f.package.name, "version": f.package.version}
            for f in report.suppressed
        ],
    }


def write_json(report: ScanReport, out: TextIO) -> None:
    json.dump(report_dict(report), out, indent=2)
    out.write("\n")
