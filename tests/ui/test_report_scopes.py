"""One report, three scopes, in-process on SQLite and PostgreSQL: a group's and the instance's reports (Security
centre) list exactly the rows of the projects the viewer may read, with the project report's filters, sorting,
numbered pages, CSV and bulk triage; the group overview; the trend's axis and legend; the default sort's plan."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from hullscan.auth import projects
from hullscan.auth import service as auth
from hullscan.db.base import utcnow
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.vulnerabilities import service as vulns
from hullscan.web.ui.chart import nice_axis, trend_chart
from hullscan.web.ui.report_pages import page_numbers
from tests.support.auth import sign_in
from tests.ui.conftest import TestClient, csrf_token
from tests.ui.seed import finding

GROUP = "/groups/acme/-/security/vulnerabilities"
CENTRE = "/-/security/vulnerabilities"
SEVS = ("critical", "high", "medium", "low")


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-vulnerability="(\d+)"', html)]


def total(html: str) -> int:
    return int(re.search(r'data-testid="total">(\d+)', html).group(1))


def counter(html: str, severity: str) -> int:
    m = re.search(rf'data-severity="{severity}">(?:<a [^>]*>)?<span class="n">(\d+)</span>', html)
    assert m, severity
    return int(m.group(1))


def _seed(db) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """acme/web (5 rows), acme/api (3 rows), other/app (2 rows); dana develops acme/web and reports on
    acme/api; rita reports on acme/api only; olga is in nothing."""
    ids: dict[str, list[int]] = {}
    with db.session() as s:
        for path, n in (("acme/web", 5), ("acme/api", 3), ("other/app", 2)):
            pid = projects.create_project(s, path, cs4r_enabled=True).id
            image = f"reg.example/{path}/svc"
            res = vulns.record_findings(s, vulns.ImageScope(pid, image, "latest", "sha256:" + "a" * 64, "debian 12"), [
                finding(f"{path.split('/')[1]}-lib{i}", "1.0", f"CVE-2024-{pid}{i:03d}", SEVS[i % 4]) for i in range(n)])
            ids[path] = res.new_ids
        for name in ("dana", "rita", "olga"):
            auth.create_user(s, name, f"{name}-password-1")
        auth.add_member(s, "dana", "acme/web", auth.Role.DEVELOPER)
        auth.add_member(s, "dana", "acme/api", auth.Role.REPORTER)
        auth.add_member(s, "rita", "acme/api", auth.Role.REPORTER)
    return ids


def _as(client, name: str) -> TestClient:  # type: ignore[no-untyped-def]
    other = TestClient(client.app, follow_redirects=False)
    assert sign_in(other, name, f"{name}-password-1").status_code == 303
    return other


def test_group_and_instance_reports_list_only_readable_projects(client, db) -> None:
    ids = _seed(db)
    acme = client.get(GROUP)
    assert acme.status_code == 200 and "Group vulnerability report" in acme.text
    assert sorted(row_ids(acme.text)) == sorted(ids["acme/web"] + ids["acme/api"]) and total(acme.text) == 8
    assert 'href="/projects/acme/api/-/security/vulnerability_report"' in acme.text  # the Project column
    centre = client.get(CENTRE).text
    assert total(centre) == 10 and "Security centre" in centre
    # a developer of one project of the group: only that project's rows, counts and images
    dana = _as(client, "dana")
    page = dana.get(GROUP).text
    assert sorted(row_ids(page)) == sorted(ids["acme/web"]) and total(page) == 5
    assert "acme/api" not in page and "reg.example/acme/api/svc" not in page
    assert sorted(row_ids(dana.get(CENTRE).text)) == sorted(ids["acme/web"])
    # what one may not see is not there (404, as a missing group); what one sees but may not read is refused
    assert dana.get("/groups/other/-/security/vulnerabilities").status_code == 404
    assert dana.get("/groups/nope/-/security/vulnerabilities").status_code == 404
    assert 'data-testid="security-centre"' in dana.get("/projects").text  # offered to who may read some project
    rita = _as(client, "rita")
    assert 'data-testid="security-centre"' not in rita.get("/projects").text  # not to a reporter (nothing to read)
    assert rita.get(GROUP).status_code == 403
    assert rita.get("/groups/acme").status_code == 403
    assert row_ids(rita.get(CENTRE).text) == []  # the centre is hers too, empty
    olga = _as(client, "olga")
    assert olga.get(GROUP).status_code == 404 and olga.get("/groups/acme").status_code == 404
    # the export repeats the scope and the filter
    r = dana.get(GROUP + "/export.csv", params={"severity": "critical"})
    assert r.status_code == 200 and 'filename="vulnerabilities-acme-container-registry.csv"' in r.headers[
        "content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(int(x["id"]) for x in rows) == sorted(
        i for i in ids["acme/web"] if i in row_ids(dana.get(GROUP + "?severity=critical").text))
    assert {x["project_id"] for x in rows} == {str(db_project_id(db, "acme/web"))}
    everything = list(csv.DictReader(io.StringIO(client.get(CENTRE + "/export.csv").text)))
    assert len(everything) == 10
    anonymous = TestClient(client.app, follow_redirects=False)
    assert anonymous.get(CENTRE).status_code == 303 and anonymous.get(GROUP).status_code == 303


def db_project_id(db, path: str) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return projects.get_project(s, path).id


def test_group_bulk_triage_changes_only_triageable_rows(client, db) -> None:
    ids = _seed(db)
    # dana may read acme/web (developer) only: a row of acme/api (reporter there) is not hers, nothing changes
    dana = _as(client, "dana")
    token = csrf_token(dana, GROUP)
    r = dana.post(GROUP + "/bulk", data={"csrf_token": token, "state": "confirmed", "comment": "mine",
                                         "ids": [ids["acme/web"][0], ids["acme/api"][0]], "return_to": GROUP})
    assert r.status_code == 404 and "no such vulnerability" in r.text
    r = dana.post(GROUP + "/bulk", data={"csrf_token": token, "state": "dismissed", "comment": "mine",
                                         "ids": [ids["acme/web"][0]], "return_to": GROUP})
    assert r.status_code == 400 and 'data-testid="error-dismissal_reason"' in r.text and 'value="mine"' in r.text
    with db.session() as s:
        assert {s.get(vulns.Vulnerability, i).state for i in (ids["acme/web"][0], ids["acme/api"][0])} == {"detected"}
    back = GROUP + "?severity=critical&severity=high"
    r = dana.post(GROUP + "/bulk", data={"csrf_token": token, "state": "dismissed", "dismissal_reason": "used_in_tests",
                                         "ids": ids["acme/web"][:2], "return_to": back})
    assert r.status_code == 303 and r.headers["location"].startswith(GROUP + "?") and "updated=2" in r.headers["location"]
    with db.session() as s:
        assert [s.get(vulns.Vulnerability, i).state for i in ids["acme/web"][:2]] == ["dismissed", "dismissed"]
        assert vulns.history(s, ids["acme/web"][0])[-1].author == "dana"
    # a return address elsewhere is not followed
    r = dana.post(GROUP + "/bulk", data={"csrf_token": token, "state": "confirmed", "ids": ids["acme/web"][2:3],
                                         "return_to": "https://evil.example/" + GROUP})
    assert r.headers["location"].startswith(GROUP + "?")
    # the administrator triages across projects from the Security centre (a form like any other: CSRF-checked)
    assert client.post(CENTRE + "/bulk", data={"state": "confirmed", "ids": ids["other/app"][:1]}).status_code == 403
    token = csrf_token(client, CENTRE)
    r = client.post(CENTRE + "/bulk", data={"csrf_token": token, "state": "confirmed",
                                            "ids": [ids["other/app"][0], ids["acme/api"][0]], "return_to": CENTRE})
    assert r.status_code == 303
    with db.session() as s:
        assert {s.get(vulns.Vulnerability, i).state for i in (ids["other/app"][0], ids["acme/api"][0])} == {"confirmed"}
    # rita (reporter) is offered no triage at all in the centre
    rita = _as(client, "rita")
    assert 'name="ids"' not in rita.get(CENTRE).text


def test_group_overview_counts_trend_and_oldest_criticals(client, db) -> None:
    ids = _seed(db)
    with db.session() as s:
        old = s.get(vulns.Vulnerability, ids["acme/api"][0])  # critical (i == 0)
        old.detected_at = utcnow() - timedelta(days=20)
    page = client.get("/groups/acme")
    assert page.status_code == 200 and client.get("/groups/acme/-/security/dashboard").status_code == 200
    html = page.text
    assert re.findall(r'data-project="([^"]+)"', html) == ["acme/api", "acme/web"]
    assert (counter(html, "critical"), counter(html, "high"), counter(html, "medium")) == (3, 2, 2)
    oldest = re.search(r'data-testid="oldest-criticals".*?</table>', html, re.S).group(0)
    assert row_ids(oldest) == [ids["acme/api"][0], ids["acme/web"][0], ids["acme/web"][4]]
    # the legend says what the badges say, after triage too; the overview of a project links its group
    client_token = csrf_token(client, GROUP)
    client.post(GROUP + "/bulk", data={"csrf_token": client_token, "state": "dismissed", "return_to": GROUP,
                                       "dismissal_reason": "false_positive", "ids": [ids["acme/web"][2]]})  # medium
    for url in ("/groups/acme", "/projects/acme/web/-/overview"):
        html = client.get(url).text
        legend = dict(re.findall(r'data-severity="(\w+)">\w+ \((\d+)\)</li>', html))
        assert {sev: int(n) for sev, n in legend.items()} == {sev: counter(html, sev) for sev in legend}, url
    assert counter(client.get("/groups/acme").text, "medium") == 1
    assert 'href="/groups/acme"' in client.get("/projects/acme/web/-/overview").text


def test_sorting_numbered_pages_page_size_and_search(client, db) -> None:
    with db.session() as s:
        pid = projects.create_project(s, "acme/big", cs4r_enabled=True).id
        found = [Finding(package=FindingPackage(name=f"{('libssl', 'openssl', 'zlib')[i % 3]}{i}", version="1",
                                                type="deb"),
                         vulnerability_id=f"CVE-2024-{1000 + i}", identifiers=[f"CVE-2024-{1000 + i}", f"GHSA-ab{i:02d}-cdef-gh"],
                         advisory_ids=[], ecosystem="Debian:12", severity=SEVS[i % 4], fixed_versions=[],
                         known_exploited=i == 7, epss_score=(i % 10) / 10)
                 for i in range(45)]
        vulns.record_findings(s, vulns.ImageScope(pid, "reg.example/acme/big/a", "v1", "sha256:" + "b" * 64), found[:25])
        vulns.record_findings(s, vulns.ImageScope(pid, "reg.example/acme/big/b", "v1", "sha256:" + "c" * 64), found[25:])
    report = "/projects/acme/big/-/security/vulnerability_report"
    # numbered pages walk every row once; page size 20/50/100 only
    seen: list[int] = []
    for n in (1, 2, 3):
        html = client.get(report, params={"page": n}).text
        assert re.search(rf'aria-current="page" data-testid="current-page">{n}<', html)
        seen += row_ids(html)
    assert len(seen) == 45 == len(set(seen))
    first = client.get(report).text
    assert re.findall(r'data-testid="page-link" aria-label="Page (\d+)"', first) == ["2", "3"]
    assert len(row_ids(client.get(report, params={"per_page": 50}).text)) == 45
    assert client.get(report, params={"per_page": 7}).status_code == 400
    assert row_ids(client.get(report, params={"page": 99}).text) == row_ids(client.get(report, params={"page": 3}).text)
    # every column sorts both ways, its header says so (aria-sort), and the order is the column's
    with db.session() as s:
        rows = {v.id: v for v in s.scalars(vulns.select(vulns.Vulnerability).where(vulns.Vulnerability.project_id == pid))}
    keys = {"package": lambda v: v.package_name, "identifier": lambda v: v.primary_identifier,
            "image": lambda v: v.image, "severity": lambda v: v.severity_rank,
            "risk": lambda v: (v.known_exploited, v.epss_score or 0)}
    for key, of in keys.items():
        for direction in ("asc", "desc"):
            html = client.get(report, params={"sort": f"{key}_{direction}", "per_page": 100}).text
            got = [of(rows[i]) for i in row_ids(html)]
            assert got == sorted(got, reverse=direction == "desc"), (key, direction)
            aria = "descending" if direction == "desc" else "ascending"
            assert re.search(rf'<th scope="col" aria-sort="{aria}"><a [^>]*data-testid="sort-{key}"', html), key
            assert html.count("aria-sort=") == 1
    # identifier: any alias, any case; package: by prefix
    assert len(row_ids(client.get(report, params={"identifier": "ghsa-AB07-cdef-gh"}).text)) == 1
    assert len(row_ids(client.get(report, params={"identifier": "cve-2024-1007"}).text)) == 1
    assert row_ids(client.get(report, params={"identifier": "GHSA-ab0"}).text) == []  # whole ids only
    assert total(client.get(report, params={"package": "openssl"}).text) == 15
    assert total(client.get(report, params={"package": "lib"}).text) == 15
    assert total(client.get(report, params={"package": "%"}).text) == 0  # a wildcard is a character
    assert page_numbers(1, 1) == [1] and page_numbers(7, 20) == [1, None, 5, 6, 7, 8, 9, None, 20]


def test_chart_axis_is_round_just_above_the_peak() -> None:
    assert nice_axis(123) == (125, 25) and nice_axis(400) == (400, 100) and nice_axis(0) == (1, 1)
    for peak in range(0, 3000, 7):
        top, step = nice_axis(peak)
        assert top >= peak and top // step <= 5 and top % step == 0 and top - step < max(peak, 1)
    trend = vulns.Trend(days=[utcnow().date()] * 2, series={s: [0, 0] for s in (*SEVS, "unknown")})
    trend.series["high"] = [100, 123]
    assert [v for _, v in trend_chart(trend).y_ticks] == [0, 25, 50, 75, 100, 125]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_default_sort_reads_the_severity_index_on_postgresql(client, db) -> None:
    """The project report's first page under its default filter and sort walks the (project, report type,
    severity rank, id) index: it reads 20 entries, whatever the size of the project."""
    with db.session() as s:
        pid = projects.create_project(s, "acme/idx", cs4r_enabled=True).id
        vulns.record_findings(s, vulns.ImageScope(pid, "reg.example/acme/idx/a", "v1", "sha256:" + "d" * 64),
                              [finding(f"p{i}", "1", f"CVE-2024-{i}", SEVS[i % 4]) for i in range(3000)])
        s.execute(text("ANALYZE vulnerabilities"))
    flt = vulns.VulnerabilityFilter(project_id=pid, report_types=["container_scanning_for_registry"],
                                    states=["detected", "confirmed"])
    with db.session() as s:
        statement = vulns.report_select(flt)  # what the report page runs
        compiled = statement.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(s.scalars(text(f"EXPLAIN {compiled}")))
        assert "Index Scan Backward using ix_vulnerabilities_report_severity" in plan, plan
        assert "Sort" not in plan and "Seq Scan" not in plan, plan
        assert len(vulns.report_page(s, flt)) == 20
