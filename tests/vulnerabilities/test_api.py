from __future__ import annotations

import csv
import io
from urllib.parse import quote


from hullscan.auth import projects
from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.vulnerabilities.test_service import finding
from tests.support.auth import ADMIN_HTTP


def seed(server) -> int:
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    with db.session() as s:
        pid = projects.create_project(s, "group/api").id
        scope = vulns.ImageScope(pid, "reg/group/api/app", "latest", "sha256:1", "debian 12")
        vulns.record_findings(s, scope, [
            finding("urllib3", "1.24.1", "CVE-2019-11324", "high", ["1.24.2"]),
            finding("jinja2", "2.10", "CVE-2019-10906", "medium"),
            finding("evil", "1.0", "CVE-2020-0001", "critical"),
        ])
        v = s.scalars(vulns.select(vulns.Vulnerability).where(vulns.Vulnerability.package_name == "evil")).one()
        v.title = "=HYPERLINK(\"http://x\")<script>alert(1)</script>"
    db.dispose()
    return pid


def test_list_counts_triage_export(server) -> None:
    pid = seed(server)
    base = server.url + "/api/v1"
    path = quote("group/api", safe="")
    for ref in (str(pid), path):
        r = ADMIN_HTTP.get(f"{base}/projects/{ref}/vulnerabilities", params={"per_page": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [v["severity"] for v in body["vulnerabilities"]] == ["critical", "high"]
        assert body["next_cursor"]
    r2 = ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities", params={"cursor": body["next_cursor"]}).json()
    assert [v["package"] for v in r2["vulnerabilities"]] == ["jinja2"] and r2["next_cursor"] is None
    assert ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerability_counts").json()["critical"] == 1
    fixable = ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities", params={"has_fix": "true"}).json()
    assert [v["identifier"] for v in fixable["vulnerabilities"]] == ["CVE-2019-11324"]
    assert fixable["vulnerabilities"][0]["report_type"] == "container_scanning_for_registry"
    assert fixable["vulnerabilities"][0]["location"]["image"] == "reg/group/api/app:latest"

    vid = fixable["vulnerabilities"][0]["id"]
    bad = ADMIN_HTTP.post(f"{base}/vulnerabilities/{vid}/state", json={"state": "dismissed"})
    assert bad.status_code == 400 and "reason" in bad.text
    ok = ADMIN_HTTP.post(f"{base}/vulnerabilities/{vid}/state",
                    json={"state": "dismissed", "dismissal_reason": "false_positive", "comment": "not used"})
    assert ok.status_code == 200 and ok.json()["state"] == "dismissed"
    detail = ADMIN_HTTP.get(f"{base}/vulnerabilities/{vid}").json()
    assert [(h["from"], h["to"]) for h in detail["history"]] == [(None, "detected"), ("detected", "dismissed")]
    assert detail["seen_in"][0]["tag"] == "latest"
    ids = [v["id"] for v in ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities").json()["vulnerabilities"]]
    bulk = ADMIN_HTTP.post(f"{base}/projects/{pid}/vulnerabilities/bulk_state", json={"ids": ids, "state": "confirmed"})
    assert bulk.json() == {"updated": 3}
    assert ADMIN_HTTP.post(f"{base}/projects/{pid}/vulnerabilities/bulk_state",
                      json={"ids": [10**9], "state": "confirmed"}).status_code == 400
    assert ADMIN_HTTP.get(f"{base}/vulnerabilities/999999").status_code == 404
    assert ADMIN_HTTP.get(f"{base}/projects/nope%2Fnope/vulnerabilities").status_code == 404
    assert ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities", params={"state": "bogus"}).status_code == 400
    assert ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities", params={"cursor": "x"}).status_code == 400

    text = ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities/export.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    evil = next(r for r in rows if r["package"] == "evil")
    assert evil["title"].startswith("'=")  # formula neutralised
    assert len(list(csv.DictReader(io.StringIO(ADMIN_HTTP.get(f"{base}/vulnerabilities/export.csv").text)))) == 3


def test_unknown_filter_values_are_a_400_in_the_one_error_body(server) -> None:
    pid = seed(server)
    base = server.url + "/api/v1"
    for endpoint in (f"projects/{pid}/vulnerabilities", f"projects/{pid}/vulnerability_counts",
                     f"projects/{pid}/vulnerabilities/export.csv", "vulnerabilities/export.csv"):
        for params in ({"state": "bogus"}, {"severity": "HIGH"}, {"report_type": "nope"}, {"activity": "all"},
                       {"has_fix": "maybe"}, {"detected_after": "yesterday"}):
            r = ADMIN_HTTP.get(f"{base}/{endpoint}", params=params)
            assert r.status_code == 400, (endpoint, params, r.text)
            body = r.json()
            assert body["error"] == "bad_request" and set(body) == {"error", "message", "details"}
            assert body["details"][0]["location"][:2] == ["query", next(iter(params))], body
    r = ADMIN_HTTP.get(f"{base}/projects/{pid}/vulnerabilities", params={"per_page": 0})
    assert r.status_code == 400 and "per_page" in r.json()["message"]
    # a body that breaks its schema is still a 422, in the same body
    r = ADMIN_HTTP.post(f"{base}/vulnerabilities/1/state", json={"state": "bogus"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and r.json()["details"]
