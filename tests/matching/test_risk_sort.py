"""`hullscan scan --sort risk`: known exploited first, then EPSS percentile, CVSS score, fix available."""

from __future__ import annotations

import json

from hullscan.matching.finding import Finding, FindingPackage
from tests.matching.test_cli import _hullscan, app_sbom, imported  # noqa: F401 - fixtures used below


def _f(vid: str, *, kev: bool = False, epss: float | None = None, cvss: float | None = None,
       fixed: bool = False, severity: str = "medium") -> Finding:
    return Finding(package=FindingPackage(name="p", version="1", type="deb"), vulnerability_id=vid,
                   identifiers=[vid], advisory_ids=[vid], ecosystem="Debian:12", severity=severity,
                   known_exploited=kev, epss_percentile=epss, cvss_score=cvss, fixed_versions=["2"] if fixed else [])


def test_risk_key_orders_kev_then_epss_then_cvss_then_fix() -> None:
    findings = [
        _f("critical-unknowns", severity="critical"),
        _f("cvss-9.8", cvss=9.8),
        _f("cvss-9.8-fixed", cvss=9.8, fixed=True),
        _f("epss-0.2", epss=0.2, cvss=5.0),
        _f("epss-0.9", epss=0.9, cvss=3.1),
        _f("kev-low", kev=True, severity="low"),
        _f("kev-epss", kev=True, epss=0.5),
        _f("epss-0.0", epss=0.0),
    ]
    ordered = [f.vulnerability_id for f in sorted(findings, key=Finding.risk_key)]
    assert ordered == ["kev-epss", "kev-low", "epss-0.9", "epss-0.2", "epss-0.0", "cvss-9.8-fixed", "cvss-9.8",
                       "critical-unknowns"]


def _risk(d: dict) -> tuple:
    epss = d["epss_percentile"] if d["epss_percentile"] is not None else d["epss_score"]
    return (not d["known_exploited"], -(epss if epss is not None else -1.0),
            -(d["cvss_score"] if d["cvss_score"] is not None else -1.0), not d["fixed_versions"])


def test_scan_sort_risk_orders_json_and_table(imported, app_sbom, tmp_path) -> None:  # noqa: F811
    default = _hullscan(imported, str(app_sbom), "--format", "json", "--offline")
    risk = _hullscan(imported, str(app_sbom), "--format", "json", "--offline", "--sort", "risk")
    assert default.returncode == 0 and risk.returncode == 0, risk.stderr
    by_default = json.loads(default.stdout)["findings"]
    by_risk = json.loads(risk.stdout)["findings"]
    assert len(by_risk) == len(by_default) > 30
    assert [_risk(d) for d in by_risk] == sorted(_risk(d) for d in by_risk)
    assert [d["vulnerability_id"] for d in by_risk] != [d["vulnerability_id"] for d in by_default]
    table = _hullscan(imported, str(app_sbom), "--offline", "--sort", "risk")
    assert table.returncode == 0, table.stderr
    first = by_risk[0]["vulnerability_id"]
    rows = [line for line in table.stdout.splitlines() if "│" in line or "|" in line]
    assert any(first in line for line in rows[:6]), table.stdout[:2000]
    bad = _hullscan(imported, str(app_sbom), "--sort", "bogus")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
