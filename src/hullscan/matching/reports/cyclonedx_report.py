"""CycloneDX 1.6 JSON: the inventory as components plus the findings as `vulnerabilities` (VEX-style BOM)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TextIO

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from hullscan import __version__
from hullscan.matching.finding import Finding
from hullscan.matching.reports.model import ScanReport

_SEVERITY = {
    "critical": VulnerabilitySeverity.CRITICAL,
    "high": VulnerabilitySeverity.HIGH,
    "medium": VulnerabilitySeverity.MEDIUM,
    "low": VulnerabilitySeverity.LOW,
    "unknown": VulnerabilitySeverity.UNKNOWN,
}
_URL = re.compile(r"^https?://[^\s]+$")


def _method(vector: str | None) -> VulnerabilityScoreSource | None:
    if not vector:
        return None
    if vector.startswith("CVSS:4"):
        return VulnerabilityScoreSource.CVSS_V4
    if vector.startswith("CVSS:3.1"):
        return VulnerabilityScoreSource.CVSS_V3_1
    if vector.startswith("CVSS:3"):
        return VulnerabilityScoreSource.CVSS_V3
    return VulnerabilityScoreSource.CVSS_V2


def _package_key(name: str, version: str, purl: str | None) -> str:
    return purl or f"{name}@{version}"


def build_bom(report: ScanReport) -> Bom:
    bom = Bom()
    img = report.inventory.image
    root = Component(name=img.name, version=img.tag or img.digest, type=ComponentType.CONTAINER, bom_ref="image")
    bom.metadata.component = root
    bom.metadata.properties.add(Property(name="hullscan:version", value=__version__))
    for eco, count in sorted(report.stats.unchecked.items()):  # no silent gaps: what had no advisories to check
        bom.metadata.properties.add(Property(name=f"hullscan:unchecked:{eco}", value=str(count)))
    refs: dict[str, str] = {}
    if report.inventory.os is not None:
        os = report.inventory.os
        bom.components.add(
            Component(name=os.family, version=os.version or None, type=ComponentType.OPERATING_SYSTEM, bom_ref="os")
        )
    for index, pkg in enumerate(report.inventory.packages):
        key = _package_key(pkg.name, pkg.version, pkg.purl)
        if key in refs:
            continue
        ref = f"pkg-{index}"
        refs[key] = ref
        purl = None
        if pkg.purl:
            try:
                purl = PackageURL.from_string(pkg.purl)
            except ValueError:
                purl = None
        props = [Property(name="hullscan:package:type", value=pkg.type)]
        if pkg.source_name:
            props.append(Property(name="aquasecurity:trivy:SrcName", value=pkg.source_name))
        if pkg.layer_digest:
            props.append(Property(name="aquasecurity:trivy:LayerDigest", value=pkg.layer_digest))
        if pkg.layer_diff_id:
            props.append(Property(name="aquasecurity:trivy:LayerDiffID", value=pkg.layer_diff_id))
        bom.components.add(
            Component(
                name=pkg.name, version=pkg.version, type=ComponentType.LIBRARY, purl=purl, bom_ref=ref,
                properties=props,
            )
        )
    bom.register_dependency(root, list(bom.components))
    for index, finding in enumerate(report.findings):
        key = _package_key(finding.package.name, finding.package.version, finding.package.purl)
        bom.vulnerabilities.add(_vulnerability(finding, index, refs.get(key)))
    return bom


def _vulnerability(f: Finding, index: int, component_ref: str | None) -> Vulnerability:
    rating = VulnerabilityRating(
        severity=_SEVERITY.get(f.severity, VulnerabilitySeverity.UNKNOWN),
        score=Decimal(str(f.cvss_score)) if f.cvss_score is not None else None,
        method=_method(f.cvss_vector),
        vector=f.cvss_vector,
    )
    refs = [
        VulnerabilityReference(id=alias, source=VulnerabilitySource(name=_source_name(alias)))
        for alias in f.identifiers[1:]
    ]
    links = [u for u in f.links if _URL.match(u)]
    source = VulnerabilitySource(name=_source_name(f.vulnerability_id), url=XsUri(links[0]) if links else None)
    props = [Property(name="hullscan:fix_state", value=f.fix_state)]
    if f.known_exploited:
        props.append(Property(name="hullscan:known_exploited", value="true"))
    if f.epss_score is not None:
        props.append(Property(name="hullscan:epss_score", value=str(f.epss_score)))
    affects = []
    if component_ref:
        affects.append(BomTarget(ref=component_ref, versions=[BomTargetVersionRange(version=f.package.version)]))
    return Vulnerability(
        bom_ref=f"vuln-{index}",
        id=f.vulnerability_id,
        source=source,
        references=refs,
        ratings=[rating],
        description=f.title or None,
        detail=f.description or None,
        recommendation=f.solution,
        published=f.published,
        affects=affects,
        properties=props,
    )


def _source_name(ident: str) -> str:
    prefix = ident.split("-", 1)[0].upper()
    return {
        "CVE": "NVD",
        "GHSA": "GitHub",
        "PYSEC": "PyPA",
        "GO": "Go",
        "DSA": "Debian",
        "DLA": "Debian",
        "USN": "Ubuntu",
        "ALSA": "AlmaLinux",
        "RLSA": "Rocky Linux",
    }.get(prefix, prefix or "unknown")


def write_cyclonedx(report: ScanReport, out: TextIO) -> None:
    out.write(JsonV1Dot6(build_bom(report)).output_as_string(indent=2))
    out.write("\n")
