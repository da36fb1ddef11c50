"""The "risk" order (docs/risk.md) in the service's keyset pages, the API (sort=risk), the report's sort option
and the overview's top-risks panel, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from hullscan.auth import projects
from hullscan.vulnerabilities import service as vulns
from tests.support.auth import ADMIN
from tests.ui.seed import finding

# (identifier, severity, kev, epss, cvss, fixed) in the expected risk order
SEEDED = [
    ("CVE-2024-0001", "low", True, 0.30, None, False),       # known exploited beats everything
    ("CVE-2024-0002", "medium", True, None, 5.0, True),
    ("CVE-2024-0003", "medium", False, 0.97, 4.0, False),    # then EPSS
    ("CVE-2024-0004", "critical", False, 0.10, 9.8, True),   # then CVSS among equal EPSS
    ("CVE-2024-0005", "critical", False, 0.10, 9.8, False),  # then fix available
    ("CVE-2024-0006", "high", False, 0.10, 7.5, True),
    ("CVE-2024-0007", "critical", False, None, 9.9, True),   # unknown EPSS after every known one
    ("CVE-2024-0008", "critical", False, None, None, False),
]
ORDER = [row[0] for row in SEEDED]


def _seed(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        pid = projects.create_project(s, "group/risky", cs4r_enabled=True).id
        found = []
        for i, (vid, severity, kev, epss, cvss, fixed) in enumerate(reversed(SEEDED)):  # ids not in risk order
            f = finding(f"pkg{i}", "1.0", vid, severity, ["2.0"] if fixed else None, kev=kev)
            f.epss_score, f.cvss_score = epss, cvss
            found.append(f)
        vulns.record_findings(s, vulns.ImageScope(pid, "127.0.0.1:5000/group/risky/web", "latest",
                                                  "sha256:" + "3" * 64, "debian 12"), found)
    return pid


def test_risk_order_in_service_api_report_and_overview(client, db) -> None:  # type: ignore[no-untyped-def]
    pid = _seed(db)
    with db.session() as s:
        flt = vulns.VulnerabilityFilter(project_id=pid)
        whole, cursor = vulns.query_vulnerabilities(s, flt, sort="risk", limit=100)
        assert [v.primary_identifier for v in whole] == ORDER and cursor is None
        paged, cursor = [], None
        while True:  # keyset pages of 3: every row once, in the same order
            rows, cursor = vulns.query_vulnerabilities(s, flt, sort="risk", cursor=cursor, limit=3)
            paged += [v.primary_identifier for v in rows]
            if cursor is None:
                break
        assert paged == ORDER

    api = f"/api/v1/projects/{pid}/vulnerabilities"
    first = client.get(api, params={"sort": "risk", "per_page": 5}, auth=ADMIN)
    assert first.status_code == 200, first.text
    body = first.json()
    rest = client.get(api, params={"sort": "risk", "per_page": 5, "cursor": body["next_cursor"]}, auth=ADMIN).json()
    assert [v["identifier"] for v in body["vulnerabilities"] + rest["vulnerabilities"]] == ORDER
    assert client.get(api, params={"sort": "risk", "cursor": "bm90LWEtY3Vyc29y"}, auth=ADMIN).status_code == 400
    assert client.get(api, params={"sort": "riskiest"}, auth=ADMIN).status_code == 400

    report = client.get("/projects/group/risky/-/security/vulnerability_report",
                        params={"tab": "CONTAINER_REGISTRY", "sort": "risk_desc"})
    assert report.status_code == 200 and '<option value="risk_desc" selected>' in report.text
    shown = re.findall(r"CVE-2024-000\d", report.text.split('data-testid="total"')[1])
    assert list(dict.fromkeys(shown)) == ORDER
    ascending = client.get("/projects/group/risky/-/security/vulnerability_report",
                           params={"tab": "CONTAINER_REGISTRY", "sort": "risk_asc"})
    shown = re.findall(r"CVE-2024-000\d", ascending.text.split('data-testid="total"')[1])
    assert list(dict.fromkeys(shown)) == ORDER[::-1]

    overview = client.get("/projects/group/risky/-/overview")
    assert overview.status_code == 200
    panel = overview.text.split('data-testid="top-risks"')[1].split("</table>")[0]
    assert re.findall(r'data-risk="([^"]+)"', panel) == ORDER[:5]
