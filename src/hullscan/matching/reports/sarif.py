"""SARIF 2.1.0: one rule per vulnerability id, one result per finding, located at the package's file."""

from __future__ import annotations

import json
from typing import TextIO

from hullscan import __version__
from hullscan.matching.reports.model import ScanReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "unknown": "note"}


def sarif_dict(report: ScanReport) -> dict[str, object]:
    rules: list[dict[str, object]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, object]] = []
    for f in report.findings:
        if f.vulnerability_id not in rule_index:
            rule_index[f.vulnerability_id] = len(rules)
            rule: dict[str, object] = {
                "id": f.vulnerability_id,
                "name": "OsPackageVulnerability" if f.package.type in ("deb", "apk", "rpm") else "LanguagePackageVulnerability",
                "shortDescription": {"text": (f.title or f.vulnerability_id)[:1000]},
                "fullDescription": {"text": (f.description or f.title or f.vulnerability_id)[:10000]},
                "defaultConfiguration": {"level": _LEVEL.get(f.severity, "note")},
                "properties": {
                    "security-severity": f"{f.cvss_score:.1f}" if f.cvss_score is not None else None,
                    "tags": ["vulnerability", "security", f.severity],
                    "identifiers": f.identifiers,
                },
            }
            links = [u for u in f.links if u.startswith(("http://", "https://"))]
            if links:
                rule["helpUri"] = links[0]
            rule["help"] = {"text": f"{f.vulnerability_id}: {f.solution}"}
            props = rule["properties"]
            assert isinstance(props, dict)
            if props["security-severity"] is None:
                del props["security-severity"]
            rules.append(rule)
        location_uri = (f.package.path or f.package.purl or f.package.name).lstrip("/")
        results.append(
            {
                "ruleId": f.vulnerability_id,
                "ruleIndex": rule_index[f.vulnerability_id],
                "level": _LEVEL.get(f.severity, "note"),
                "message": {
                    "text": (
                        f"Package: {f.package.name}\nInstalled version: {f.package.version}\n"
                        f"Vulnerability: {f.vulnerability_id}\nSeverity: {f.severity.upper()}\n"
                        f"Fixed version: {', '.join(f.fixed_versions) or 'none'}"
                    )
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": location_uri, "uriBaseId": "ROOTPATH"},
                            "region": {"startLine": 1},
                        },
                        "message": {"text": f"{location_uri}: {f.package.name}@{f.package.version}"},
                    }
                ],
                "partialFingerprints": {"hullscan/v1": f"{f.package.purl or f.package.name}|{f.vulnerability_id}"},
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hullscan",
                        "version": __version__,
                        "informationUri": "https://github.com/hullscan/hullscan",
                        "rules": rules,
                    }
                },
                "results": results,
                # what the scan could not check (no advisories loaded, no feed for the OS release), said where
                # SARIF viewers show tool notifications
                "invocations": [{
                    "executionSuccessful": True,
                    "toolExecutionNotifications": [
                        {"level": "warning", "message": {"text": w[:1000]}} for w in report.warnings],
                }],
                "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}},
                "properties": {
                    "imageName": report.image_label,
                    "operatingSystem": report.os_label,
                    "suppressedByVex": len(report.suppressed),
                    "uncheckedEcosystems": dict(report.stats.unchecked),
                },
            }
        ],
    }


def write_sarif(report: ScanReport, out: TextIO) -> None:
    json.dump(sarif_dict(report), out, indent=2)
    out.write("\n")
