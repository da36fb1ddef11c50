"""Seed projects and vulnerabilities through the services (the same calls ingestion makes)."""

from __future__ import annotations

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.vulnerabilities import service as vulns

XSS_NAME = '<script>window.__xss=1;alert(1)</script>"onerror=alert(2) x="'
XSS_TITLE = '<img src=x onerror="window.__xss=2;alert(3)"><script>alert(4)</script>'
XSS_LINK = "javascript:alert(5)"


def finding(pkg: str, version: str, vid: str, severity: str = "high", fixed: list[str] | None = None,
            *, title: str | None = None, description: str | None = None, kev: bool = False,
            links: list[str] | None = None) -> Finding:
    return Finding(package=FindingPackage(name=pkg, version=version, type="deb", layer_digest="sha256:" + "ab" * 32),
                   vulnerability_id=vid, identifiers=[vid, f"DSA-{vid[-4:]}-1"], advisory_ids=[vid],
                   ecosystem="Debian:12", severity=severity, fixed_versions=fixed or [], title=title,
                   description=description, known_exploited=kev, cvss_score=7.5 if severity == "high" else None,
                   cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" if severity == "high" else None,
                   epss_score=0.12, links=links or [f"https://security-tracker.debian.org/tracker/{vid}"])


def seed_basic(db: Database, path: str = "group/app", *, enabled: bool = True,
               image: str = "127.0.0.1:5000/group/app/web") -> int:
    """A project with four registry vulnerabilities in two images, one of them hostile."""
    with db.session() as s:
        pid = projects.create_project(s, path, cs4r_enabled=enabled).id
        vulns.record_findings(s, vulns.ImageScope(pid, image, "latest", "sha256:" + "1" * 64, "debian 12"), [
            finding("openssl", "3.0.11-1", "CVE-2024-0727", "high", ["3.0.13-1"], kev=True),
            finding("zlib1g", "1:1.2.13", "CVE-2023-45853", "critical"),
            finding(XSS_NAME, "1.0", "CVE-2099-0001", "medium", title=XSS_TITLE,
                    description="<script>alert(6)</script> described \"onerror=alert(7)", links=[XSS_LINK]),
        ])
        vulns.record_findings(s, vulns.ImageScope(pid, image.rsplit("/", 1)[0] + "/worker", "v1",
                                                  "sha256:" + "2" * 64, "debian 12"), [
            finding("curl", "7.88.1", "CVE-2023-38545", "low"),
        ])
    return pid
