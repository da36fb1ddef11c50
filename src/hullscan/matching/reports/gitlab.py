"""GitLab's container scanning report (schema 15.x): what GitLab's security widgets and CI ingest."""

from __future__ import annotations

import json
import uuid
from typing import TextIO

from hullscan import __version__
from hullscan.matching.finding import Finding
from hullscan.matching.reports.model import ScanReport

SCHEMA_VERSION = "15.0.7"
_SEVERITY = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "unknown": "Unknown"}
_NAMESPACE = uuid.UUID("6f0b1bbf-8a2a-4e8e-9b0e-7b3f2f6a4c11")  # hullscan's own UUIDv5 namespace for report ids
_TIME = "%Y-%m-%dT%H:%M:%S"


def _identifier(ident: str) -> dict[str, str]:
    kind = ident.split("-", 1)[0].lower() if "-" in ident else "hullscan"
    entry = {"type": kind, "name": ident, "value": ident}
    if kind == "cve":
        entry["url"] = f"https://nvd.nist.gov/vuln/detail/{ident}"
    elif kind == "ghsa":
        entry["url"] = f"https://github.com/advisories/{ident}"
    return entry


def vulnerability_dict(f: Finding, report: ScanReport, paths: list[str] | None = None) -> dict[str, object]:
    """One GitLab vulnerability; `paths` are every file the same package version was found in (one entry
    per (vulnerability, package, version), the locations listed in its details)."""
    image = report.image_label
    os_label = report.os_label or "Unknown"
    vid = uuid.uuid5(_NAMESPACE, f"{image}|{f.package.name}|{f.package.version}|{f.vulnerability_id}")
    links = [{"url": u} for u in f.links if u.startswith(("http://", "https://"))]
    vuln: dict[str, object] = {
        "id": str(vid),
        "name": f.display_title(report.os_label)[:255],
        "description": (f.description or f.display_title(report.os_label))[:1048576],
        "severity": _SEVERITY.get(f.severity, "Unknown"),
        "solution": f.solution[:7000],
        "identifiers": [_identifier(i) for i in f.identifiers],
        "links": links,
        "location": {
            "dependency": {"package": {"name": f.package.name}, "version": f.package.version},
            "operating_system": os_label,
            "image": image,
        },
    }
    details: dict[str, object] = {}
    if paths:
        details["locations"] = {"name": "Found in", "type": "list",
                                "items": [{"type": "text", "value": path} for path in paths]}
    if f.cvss_vector or f.known_exploited:
        if f.cvss_vector:
            details["cvss_vector"] = {"name": "CVSS vector", "type": "text", "value": f.cvss_vector}
        if f.known_exploited:
            details["known_exploited"] = {"name": "Known exploited (CISA KEV)", "type": "text", "value": "true"}
    if details:
        vuln["details"] = details
    return vuln


def _grouped(findings: list[Finding]) -> list[tuple[Finding, list[str]]]:
    """Findings of one (vulnerability, package, version) as one, with the paths of all of them (a module
    version built into many binaries is one vulnerability to GitLab, in many places)."""
    groups: dict[tuple[str, str, str], tuple[Finding, list[str]]] = {}
    for f in findings:
        key = (f.vulnerability_id, f.package.name, f.package.version)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (f, [])
        if f.package.path and f.package.path not in group[1]:
            group[1].append(f.package.path)
    return list(groups.values())


def gitlab_dict(report: ScanReport) -> dict[str, object]:
    tool = {"id": "hullscan", "name": "hullscan", "version": __version__, "vendor": {"name": "hullscan"}}
    return {
        "version": SCHEMA_VERSION,
        "scan": {
            "analyzer": tool,
            "scanner": tool,
            "type": "container_scanning",
            "start_time": report.started.strftime(_TIME),
            "end_time": report.finished.strftime(_TIME),
            "status": "success",
            "messages": [{"level": "warn", "value": w[:1000]} for w in report.warnings],
        },
        "vulnerabilities": [vulnerability_dict(f, report, paths) for f, paths in _grouped(report.findings)],
        "remediations": [],
    }


def write_gitlab(report: ScanReport, out: TextIO) -> None:
    json.dump(gitlab_dict(report), out, indent=2)
    out.write("\n")
