"""UI pages in-process on SQLite and PostgreSQL: report filters, sorting, paging, triage, CSRF, export,
escaping, error pages and settings."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from datetime import date, timedelta

from hullscan.auth import projects
from hullscan.auth import service as auth
from hullscan.db.base import utcnow
from hullscan.vulnerabilities import service as vulns
from tests.support.auth import sign_in
from tests.ui.conftest import TestClient, csrf_token
from tests.ui.seed import XSS_NAME, XSS_TITLE, finding, seed_basic

class HtmlTags(HTMLParser):
    """Collects what a CSP-safe page must not have: inline scripts and on* handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.scripts: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            if names.get("src"):
                self.scripts.append(names["src"])
            else:
                self.inline_scripts += 1
        self.handlers += [f"{tag}.{k}" for k, _ in attrs if k.startswith("on")]


REPORT = "/projects/group/app/-/security/vulnerability_report"
REGISTRY = REPORT + "?tab=CONTAINER_REGISTRY"


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-vulnerability="(\d+)"', html)]


def counter(html: str, severity: str) -> int:
    m = re.search(rf'data-severity="{severity}">(?:<a [^>]*>)?<span class="n">(\d+)</span>', html)
    assert m, severity
    return int(m.group(1))


def test_registry_tab_counts_filters_and_sorting(client, db) -> None:
    seed_basic(db)
    html = client.get(REGISTRY).text
    assert "Container registry vulnerabilities" in html
    assert "Development vulnerabilities" not in html  # the only tab: the project has no development findings
    assert len(row_ids(html)) == 4
    assert (counter(html, "critical"), counter(html, "high"), counter(html, "medium"), counter(html, "low")) == (1, 1, 1, 1)
    # default sort is severity, highest first
    assert re.findall(r'class="sev sev-(\w+)"', html) == ["critical", "high", "medium", "low"]
    asc = client.get(REGISTRY + "&sort=severity_asc").text
    assert re.findall(r'class="sev sev-(\w+)"', asc) == ["low", "medium", "high", "critical"]

    only_critical = client.get(REGISTRY + "&severity=critical").text
    assert len(row_ids(only_critical)) == 1 and "CVE-2023-45853" in only_critical
    assert counter(only_critical, "high") == 0
    # the Image list keeps offering every image, whatever the severity filter
    assert '<option value="127.0.0.1:5000/group/app/worker:v1"' in only_critical
    # other filters are counted by the service's query: counters follow them too
    fixable = client.get(REGISTRY + "&has_fix=true").text
    assert (counter(fixable, "high"), counter(fixable, "critical")) == (1, 0)

    worker = client.get(REPORT, params={"tab": "CONTAINER_REGISTRY", "image": "127.0.0.1:5000/group/app/worker:v1"}).text
    assert len(row_ids(worker)) == 1 and "CVE-2023-38545" in worker
    assert len(row_ids(client.get(REGISTRY + "&kev=true").text)) == 1
    assert len(row_ids(client.get(REGISTRY + "&has_fix=true").text)) == 1
    assert len(row_ids(client.get(REGISTRY + "&package=openssl").text)) == 1
    assert len(row_ids(client.get(REGISTRY + "&identifier=CVE-2023-38545").text)) == 1
    # the development tab does not show registry findings
    dev = client.get(REPORT + "?tab=DEVELOPMENT").text
    assert row_ids(dev) == [] and "No vulnerabilities match" in dev


def test_pagination_walks_every_row_once(client, db) -> None:
    with db.session() as s:
        pid = projects.create_project(s, "group/app", cs4r_enabled=True).id
        vulns.record_findings(s, vulns.ImageScope(pid, "reg/group/app/big", "latest", "sha256:" + "3" * 64),
                              [finding(f"pkg{i}", "1", f"CVE-2024-{1000 + i}", ("high", "low")[i % 2])
                               for i in range(45)])
    seen: list[int] = []
    url = REGISTRY + "&sort=detected_desc"
    for _ in range(5):
        html = client.get(url).text
        seen += row_ids(html)
        nxt = re.search(r'data-testid="next-page" href="([^"]+)"', html)
        if not nxt:
            break
        url = nxt.group(1).replace("&amp;", "&")
    assert len(seen) == 45 and len(set(seen)) == 45


def test_disabled_setting_shows_empty_state_with_link(client, db) -> None:
    seed_basic(db, enabled=False)
    r = client.get(REGISTRY)
    assert r.status_code == 200
    assert "Container scanning for registry is not enabled" in r.text
    assert 'href="/projects/group/app/-/settings#cs4r"' in r.text
    assert row_ids(r.text) == []


def test_bulk_dismiss_needs_csrf_and_reason_and_lands_in_history(client, db) -> None:
    seed_basic(db)
    ids = row_ids(client.get(REGISTRY).text)[:2]
    form = {"ids": [str(i) for i in ids], "state": "dismissed", "dismissal_reason": "false_positive",
            "comment": "not reachable", "return_to": REGISTRY}
    # no token: refused, nothing changed
    r = client.post(REPORT + "/bulk", data=form)
    assert r.status_code == 403 and "CSRF" in r.text
    # a forged token: refused
    r = client.post(REPORT + "/bulk", data={**form, "csrf_token": "forged"})
    assert r.status_code == 403
    with db.session() as s:
        assert {s.get(vulns.Vulnerability, i).state for i in ids} == {"detected"}
    token = csrf_token(client, REGISTRY)
    # dismissing without a reason is a clear 400 page, nothing written
    r = client.post(REPORT + "/bulk", data={**form, "dismissal_reason": "", "csrf_token": token})
    assert r.status_code == 400 and "reason" in r.text and "Traceback" not in r.text
    with db.session() as s:
        assert {s.get(vulns.Vulnerability, i).state for i in ids} == {"detected"}
    r = client.post(REPORT + "/bulk", data={**form, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith(REPORT + "?tab=CONTAINER_REGISTRY")
    assert "updated=2" in r.headers["location"]
    after = client.get(r.headers["location"]).text
    assert "2 vulnerabilities updated" in after and not set(ids) & set(row_ids(after))  # dismissed are hidden
    dismissed = client.get(REGISTRY + "&state=dismissed").text
    assert sorted(row_ids(dismissed)) == sorted(ids)
    page = client.get(f"/projects/group/app/-/security/vulnerabilities/{ids[0]}").text
    assert "False positive" in page and "not reachable" in page and "changed the status from Needs triage to Dismissed" in page
    # an open redirect is not possible through return_to
    r = client.post(REPORT + "/bulk", data={**form, "state": "confirmed", "dismissal_reason": "",
                                            "return_to": "https://evil.example/", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith(REPORT + "?")


def test_vulnerability_page_details_state_and_comment(client, db) -> None:
    seed_basic(db)
    with db.session() as s:
        v = s.scalars(vulns.select(vulns.Vulnerability).where(vulns.Vulnerability.package_name == "openssl")).one()
        vid = v.id
    url = f"/projects/group/app/-/security/vulnerabilities/{vid}"
    html = client.get(url).text
    for text in ("CVE-2024-0727", "https://nvd.nist.gov/vuln/detail/CVE-2024-0727", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                 "7.5", "Known exploited (CISA KEV)", "12.00%", "127.0.0.1:5000/group/app/web", "debian 12",
                 "3.0.11-1", "3.0.13-1", "Upgrade to version 3.0.13-1 or above", "sha256:" + "ab" * 32,
                 "sha256:" + "1" * 64):
        assert text in html, text
    assert 'data-testid="fix-state">Fixed</dd>' in html  # the distro's fix state (issue 15)
    token = csrf_token(client, url)
    r = client.post(url + "/state", data={"state": "confirmed", "comment": "real", "csrf_token": token})
    assert r.status_code == 303
    r = client.post(url + "/state", data={"state": "confirmed", "comment": "patch Monday", "csrf_token": token})
    html = client.get(url).text
    assert "Confirmed" in html and "real" in html and "patch Monday" in html
    with db.session() as s:
        assert [t.to_state for t in vulns.history(s, vid)] == ["detected", "confirmed", "confirmed"]
    assert client.post(url + "/state", data={"state": "bogus", "csrf_token": token}).status_code == 400


def test_untrusted_strings_are_escaped_everywhere(client, db) -> None:
    seed_basic(db)
    with db.session() as s:
        vid = s.scalars(vulns.select(vulns.Vulnerability.id).where(vulns.Vulnerability.package_name == XSS_NAME)).one()
    pages = [REGISTRY, f"/projects/group/app/-/security/vulnerabilities/{vid}", "/projects",
             "/projects/group/app/-/overview"]
    for page in pages:
        html = client.get(page).text
        assert "<script>alert" not in html and "<img src=x" not in html and XSS_TITLE not in html, page
        assert 'href="javascript:' not in html
    detail = client.get(pages[1]).text
    assert "&lt;script&gt;window.__xss=1" in detail and "&#34;onerror=alert(2)" in detail
    assert "javascript:alert(5)" in detail  # shown as text, never as a link


def test_security_headers_and_no_inline_script(client, db) -> None:
    seed_basic(db)
    r = client.get(REGISTRY)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    tags = HtmlTags()
    tags.feed(r.text)
    assert tags.inline_scripts == 0 and tags.handlers == [] and tags.scripts == ["/static/app.js"]
    cookie = TestClient(client.app).get("/users/sign_in").headers["set-cookie"]  # a first visit gets the cookie
    assert "hullscan_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/static/app.js").status_code == 200


def test_export_csv_follows_filter(client, db) -> None:
    seed_basic(db)
    r = client.get(REPORT + "/export.csv", params={"tab": "CONTAINER_REGISTRY", "severity": ["critical", "high"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["identifier"] for row in rows) == ["CVE-2023-45853", "CVE-2024-0727"]
    assert all(row["report_type"] == "container_scanning_for_registry" for row in rows)
    assert client.get(REPORT + "/export.csv", params={"tab": "CONTAINER_REGISTRY", "state": "bogus"}).status_code == 400


def test_errors_and_denials_are_clear_pages(client, db) -> None:
    seed_basic(db)
    for url, status in [("/projects/no/such/-/overview", 404), ("/projects/group/app/-/security/vulnerabilities/999999", 404),
                        ("/projects/group/app/-/security/vulnerabilities/abc", 400), (REGISTRY + "&sort=evil", 400),
                        (REGISTRY + "&page=abc", 400), (REGISTRY + "&activity=nope", 400),
                        ("/projects/group/app/-/images/sbom?job=12345", 404), ("/projects/group/app/-/nope", 404),
                        ("/admin/nope", 404)]:
        r = client.get(url)
        assert r.status_code == status, (url, r.text)
        assert r.headers["content-type"].startswith("text/html") and "Traceback" not in r.text
        assert "<h1>" in r.text
    with db.session() as s:
        auth.create_user(s, "outsider", "outsider-password")
    other = TestClient(client.app, follow_redirects=False)
    assert sign_in(other, "outsider", "outsider-password").status_code == 303
    for url in ["/admin/advisories", "/admin/runners"]:
        r = other.get(url)
        assert r.status_code == 403 and "not allowed" in r.text and "outsider" in r.text, url
    # a project one is not a member of is not there at all (GitLab's 404), exactly as a missing one
    for url in [REGISTRY, "/projects/group/app/-/settings", "/projects/group/app/-/images",
                "/projects/group/app/-/pipelines"]:
        r = other.get(url)
        assert r.status_code == 404 and "There is no project &#39;group/app&#39;" in r.text, url
        assert "outsider" in r.text, url
    listing = other.get("/projects")
    assert listing.status_code == 200 and "group/app" not in listing.text  # only the projects one is a member of
    anonymous = TestClient(client.app, follow_redirects=False)
    r = anonymous.get(REGISTRY)
    assert r.status_code == 303 and r.headers["location"].startswith("/users/sign_in?return_to=")


def test_settings_toggle_patterns_limit_auto_resolve(client, db) -> None:
    seed_basic(db, enabled=False)
    url = "/projects/group/app/-/settings"
    token = csrf_token(client, url)
    r = client.post(url, data={"csrf_token": token, "cs4r_enabled": "on", "tag_patterns": "latest\nv*, release-*",
                               "daily_limit": "7", "auto_resolve": "on"})
    assert r.status_code == 303
    with db.session() as s:
        p = projects.get_project(s, "group/app")
        assert p.container_scanning_for_registry_enabled and p.cs4r_tag_patterns == ["latest", "v*", "release-*"]
        assert p.cs4r_daily_limit == 7 and p.auto_resolve_no_longer_detected
    r = client.post(url, data={"csrf_token": token, "tag_patterns": "", "daily_limit": "3"})
    assert r.status_code == 400 and "at least one tag pattern" in r.text
    r = client.post(url, data={"csrf_token": token, "tag_patterns": "x", "daily_limit": "-1"})
    assert r.status_code == 400
    # the service refuses a 200-character pattern after it has applied the (unchecked) toggle: rolled back
    r = client.post(url, data={"csrf_token": token, "tag_patterns": "x" * 200, "daily_limit": "3"})
    assert r.status_code == 400 and "128" in r.text
    with db.session() as s:
        p = projects.get_project(s, "group/app")
        assert p.container_scanning_for_registry_enabled and p.cs4r_daily_limit == 7  # nothing half-written
    assert "Settings saved" in client.get(url + "?saved=1").text


def test_overview_trend_counts_open_per_day(client, db) -> None:
    now = utcnow()
    with db.session() as s:
        pid = projects.create_project(s, "group/app", cs4r_enabled=True).id
        scope = vulns.ImageScope(pid, "reg/group/app/t", "latest", "sha256:" + "4" * 64)
        vulns.record_findings(s, scope, [finding("a", "1", "CVE-1-1", "high")], now=now - timedelta(days=5))
        res = vulns.record_findings(s, scope, [finding("b", "1", "CVE-1-2", "high"), finding("a", "1", "CVE-1-1", "high")],
                                    now=now - timedelta(days=2))
        b = [i for i in res.seen_ids if i not in res.new_ids] and res.new_ids[0]
        vulns.change_state(s, [b], "resolved", author="t", now=now - timedelta(days=1))
    with db.session() as s:
        trend = vulns.severity_trend(s, vulns.VulnerabilityFilter(project_id=pid), days=7, today=now.date())
    assert trend.days[-1] == now.date() and trend.days[0] == now.date() - timedelta(days=6)
    assert trend.series["high"] == [0, 1, 1, 1, 2, 1, 1]
    html = client.get("/projects/group/app/-/overview").text
    assert 'data-testid="trend-chart"' in html and "High: 1 open today" in html
    assert isinstance(date.today(), date)


def test_settings_webhooks_add_list_delete(client, db) -> None:
    from hullscan.vulnerabilities import notifications

    seed_basic(db)
    url = "/projects/group/app/-/settings"
    token = csrf_token(client, url)
    r = client.post(url + "/webhooks", data={"csrf_token": token, "url": "javascript:alert(1)",
                                              "events": ["new_vulnerability"], "min_severity": "critical"})
    assert r.status_code == 400 and "http(s)" in r.text and 'data-testid="error-url"' in r.text
    assert 'value="javascript:alert(1)"' in r.text and '<option value="critical" selected' in r.text  # kept
    assert 'href="javascript:' not in r.text
    r = client.post(url + "/webhooks", data={"csrf_token": token, "url": "https://chat.example/x"})
    assert r.status_code == 400 and 'data-testid="error-events"' in r.text and 'value="https://chat.example/x"' in r.text
    r = client.post(url + "/webhooks", data={"csrf_token": token, "url": "https://chat.example/hook?a=<b>",
                                              "events": ["new_vulnerability", "scan_failed"], "min_severity": "critical"})
    assert r.status_code == 200
    with db.session() as s:
        pid = projects.get_project(s, "group/app").id
        hooks = notifications.webhooks_of(s, pid)
        assert [(h.url, h.events, h.min_severity) for h in hooks] == [
            ("https://chat.example/hook?a=<b>", ["new_vulnerability", "scan_failed"], "critical")]
        hook_id, secret = hooks[0].id, hooks[0].secret
    assert secret in r.text and "a=&lt;b&gt;" in r.text  # the secret is shown once; the URL escaped
    page = client.get(url).text
    assert f'data-webhook="{hook_id}"' in page and secret not in page
    r = client.post(f"{url}/webhooks/{hook_id}/delete", data={"csrf_token": token})
    assert r.status_code == 303
    assert client.post(f"{url}/webhooks/{hook_id}/delete", data={"csrf_token": token}).status_code == 404
    with db.session() as s:
        assert notifications.webhooks_of(s, pid) == []


def test_report_opens_on_registry_tab_and_every_count_links_to_its_rows(client, db) -> None:
    pid = seed_basic(db)
    with db.session() as s:
        vulns.record_findings(s, vulns.ImageScope(pid, "reg/group/app/src", "main", "sha256:" + "5" * 64,
                                                  report_type="dependency_scanning"),
                              [finding("left-pad", "1.0", "CVE-2024-9999", "critical")])
        vid = s.scalars(vulns.select(vulns.Vulnerability.id).where(vulns.Vulnerability.package_name == "curl")).one()
        vulns.change_state(s, [vid], "dismissed", author="t", dismissal_reason="used_in_tests")
    overview = client.get("/projects/group/app/-/overview").text
    nav = re.search(r'href="([^"]+)">Vulnerability report</a>', overview).group(1).replace("&amp;", "&")
    default = client.get(nav).text
    assert re.search(r'tab=CONTAINER_REGISTRY" aria-current="page"', default)
    assert len(row_ids(default)) == 3  # the registry findings still open, not the development one
    assert len(row_ids(client.get(REPORT).text)) == 3  # no tab given: the registry tab too
    assert "Development vulnerabilities" in default  # it exists now, second
    assert "CVE-2024-9999" in client.get(REPORT + "?tab=DEVELOPMENT").text
    checked = 0
    for page in ("/projects", "/projects/group/app/-/overview", REGISTRY, REGISTRY + "&kev=true"):
        html = client.get(page).text
        links = re.findall(r'<a href="([^"]+)" data-testid="count-link"><span class="n">(\d+)</span>', html)
        assert len(links) == 5, page
        for href, n in links:
            target = client.get(href.replace("&amp;", "&"))
            assert target.status_code == 200, href
            total = int(re.search(r'data-testid="total">(\d+)', target.text).group(1))
            assert total == int(n) == min(len(row_ids(target.text)), 20), (page, href)
            checked += int(n)
    assert checked == 3 + 3 + 3 + 1


def _no_bare_error(html: str) -> None:
    assert "Bad request (400)" not in html and "<small>(400)</small>" not in html and "Traceback" not in html


def test_forms_refuse_in_place_keeping_the_input(client, db) -> None:
    seed_basic(db)
    ids = row_ids(client.get(REGISTRY).text)
    token = csrf_token(client, REGISTRY)
    # bulk change with nothing selected: the report again, the message next to the bar, the comment kept
    r = client.post(REPORT + "/bulk", data={"csrf_token": token, "state": "confirmed", "comment": "my words",
                                            "return_to": REGISTRY + "&severity=high"})
    assert r.status_code == 400 and 'data-testid="error-ids"' in r.text and 'value="my words"' in r.text
    assert len(row_ids(r.text)) == 1  # the filter the user was on (high only)
    _no_bare_error(r.text)
    # dismiss without a reason: the selection and the chosen status are kept
    r = client.post(REPORT + "/bulk", data={"csrf_token": token, "ids": [str(ids[0])], "state": "dismissed",
                                            "return_to": REGISTRY})
    assert r.status_code == 400 and 'data-testid="error-dismissal_reason"' in r.text
    assert f'value="{ids[0]}" checked' in r.text and '<option value="dismissed" selected' in r.text
    _no_bare_error(r.text)
    url = f"/projects/group/app/-/security/vulnerabilities/{ids[0]}"
    r = client.post(url + "/state", data={"csrf_token": token, "state": "dismissed", "comment": "why not"})
    assert r.status_code == 400 and 'data-testid="error-dismissal_reason"' in r.text and ">why not</textarea>" in r.text
    _no_bare_error(r.text)
    with db.session() as s:
        assert s.get(vulns.Vulnerability, ids[0]).state == "detected"
    # empty tag patterns and too long ones: the textarea keeps what was typed
    settings = "/projects/group/app/-/settings"
    r = client.post(settings, data={"csrf_token": token, "tag_patterns": " , ", "daily_limit": "3"})
    assert r.status_code == 400 and "at least one tag pattern" in r.text and 'data-testid="error-tag_patterns"' in r.text
    r = client.post(settings, data={"csrf_token": token, "tag_patterns": "v*\n" + "y" * 200, "daily_limit": "3"})
    assert r.status_code == 400 and "y" * 200 + "</textarea>" in r.text
    _no_bare_error(r.text)
    # a deploy token without a scope
    r = client.post(settings + "/deploy_tokens", data={"csrf_token": token, "name": "ci puller"})
    assert r.status_code == 400 and "Choose at least one scope." in r.text and 'value="ci puller"' in r.text
    # an unknown member
    members = "/projects/group/app/-/project_members"
    r = client.post(members, data={"csrf_token": token, "username": "nobody.here", "role": "maintainer"})
    assert r.status_code == 400 and "There is no user named" in r.text and 'value="nobody.here"' in r.text
    assert '<option value="maintainer" selected' in r.text
    _no_bare_error(r.text)
    # a personal access token without a scope, one that expired yesterday
    r = client.post("/user_settings/personal_access_tokens", data={"csrf_token": token, "name": "laptop"})
    assert r.status_code == 400 and 'data-testid="error-scopes"' in r.text and 'value="laptop"' in r.text
    r = client.post("/user_settings/personal_access_tokens", data={
        "csrf_token": token, "name": "laptop", "scopes": ["read_api"],
        "expires_at": (date.today() - timedelta(days=1)).isoformat()})
    assert r.status_code == 400 and 'data-testid="error-expires_at"' in r.text and 'value="read_api" checked' in r.text
    # a bad username
    r = client.post("/admin/users", data={"csrf_token": token, "username": "Bad Name!", "password": "long-enough-1",
                                          "is_admin": "on"})
    assert r.status_code == 400 and 'data-testid="error-username"' in r.text and 'value="Bad Name!"' in r.text
    assert 'name="is_admin" checked' in r.text
    _no_bare_error(r.text)


def test_destructive_actions_confirm_and_block_is_not_offered_on_oneself(client, db) -> None:
    seed_basic(db)
    with db.session() as s:
        auth.create_user(s, "rita", "rita-password-1")
        auth.add_member(s, "rita", "group/app", auth.Role.REPORTER)
    token = csrf_token(client, "/projects")
    client.post("/projects/group/app/-/settings/webhooks", data={"csrf_token": token, "url": "https://h.example/x",
                                                                  "events": ["scan_failed"]})
    client.post("/projects/group/app/-/settings/deploy_tokens", data={"csrf_token": token, "name": "ci",
                                                                       "scopes": ["read_registry"]})
    client.post("/user_settings/personal_access_tokens", data={"csrf_token": token, "name": "t", "scopes": ["api"]})
    for page, label in [("/projects/group/app/-/project_members", "Remove member"),
                        ("/projects/group/app/-/settings", "Delete webhook"),
                        ("/projects/group/app/-/settings", "Revoke token"),
                        ("/user_settings", "Revoke token"), ("/admin/users", "Block user")]:
        html = client.get(page).text
        # the first button only opens the question; the acting button is red and inside it
        assert re.search(rf'<details class="confirm"><summary class="button danger-outline">[^<]+</summary>\s*'
                         rf'<form method="post"[^>]*>.*?<p>[^<]+\?[^<]*</p><button type="submit" class="danger">'
                         rf'{label}</button>', html, re.S), (page, label)
    users = client.get("/admin/users").text
    assert re.search(r'data-user="rita">.*?Block user', users, re.S)
    assert not re.search(r'data-user="admin">[^\n]*?Block', users)  # not on one's own account


def test_a_reporter_is_offered_only_what_she_may_open(client, db) -> None:
    seed_basic(db)
    with db.session() as s:
        auth.create_user(s, "rita", "rita-password-1")
        auth.add_member(s, "rita", "group/app", auth.Role.REPORTER)
    rita = TestClient(client.app, follow_redirects=False)
    assert sign_in(rita, "rita", "rita-password-1").status_code == 303
    listing = rita.get("/projects").text
    assert "group/app" in listing and 'data-testid="count-link"' not in listing and 'class="n"' not in listing
    seen: set[str] = set()
    todo = ["/projects"]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        r = rita.get(page)
        assert r.status_code == 200, (page, r.status_code)
        assert 'class="counter' not in r.text, page  # she may not read vulnerability counts
        for href in re.findall(r'<a [^>]*href="(/[^"#]*)', r.text):
            href = href.replace("&amp;", "&")
            if not href.startswith("/static") and "/sbom" not in href:
                todo.append(href)
    assert "/projects/group/app/-/images" in seen and "/projects/group/app/-/pipelines" in seen
    assert not any("vulnerabilit" in p or "overview" in p or "settings" in p.split("?")[0].split("/-/")[-1]
                   for p in seen if p != "/user_settings"), seen
    # what she is not offered answers 403 (the API's answer), so not offering it was right
    assert rita.get(REGISTRY).status_code == 403


def test_partial_scans_titles_drop_reasons_and_severity_source(client, db, migrated_settings) -> None:
    from hullscan.db.models.pipelines import JobArtifact
    from hullscan.events import service as events
    from hullscan.pipelines import service as pipelines
    from hullscan.web.ui.pipelines_pages import explain_drop
    from tests.pipelines.helpers import add_event

    reason = "layer 2 (sha256:ab): unreadable, analysed up to the damage"
    pid = seed_basic(db, image="registry.test:5000/group/app")
    with db.session() as s:
        project = projects.get_project(s, "group/app")
        projects.update_project_settings(s, project, tag_patterns=["latest"])
        add_event(s, "group/app", "latest")
        add_event(s, "group/app", "dev")  # outside the patterns: dropped
        now = utcnow()
        assert len(events.process_pending_events(s, migrated_settings, now=now).jobs) == 1
        runner, _ = pipelines.register_runner(s, "r", now=now)
        claimed = pipelines.claim_job(s, runner, now=now, lease_seconds=30)
        s.add(JobArtifact(job_id=claimed.job_id, name="gl-sbom-report.cdx.json", file_type="cyclonedx",
                          sha256="0" * 64, size=1))
        s.flush()
        job = pipelines.authenticate_job(s, claimed.job_id, claimed.token)
        pipelines.finish_job(s, job, "success", now=now, partial_reasons=[reason])
        job_id, pipeline_id = job.id, job.pipeline_id
        vulns.record_findings(s, vulns.ImageScope(pid, "registry.test:5000/group/app", "latest", "sha256:" + "6" * 64),
                              [finding("urllib3", "1.24.1", "CVE-2023-43804", "high", title="Cookie leak on redirect")])
        v = s.scalars(vulns.select(vulns.Vulnerability).where(vulns.Vulnerability.package_name == "urllib3")).one()
        v.package_type, v.severity_source = "python", "nvd:secondary:security-advisories@github.com"
        vid = v.id
    # the report: readable titles, the summary under them, the partial scan marked in the image column
    report = client.get(REGISTRY + "&package=urllib3").text
    assert "CVE-2023-43804 in urllib3 1.24.1 (pip)</a><br><small>Cookie leak on redirect</small>" in report
    assert re.search(r'registry.test:5000/group/app:latest <span class="tag partial" data-testid="partial" '
                     rf'title="{re.escape(reason)}">partial scan</span>', report)
    assert 'data-testid="partial"' not in client.get(REGISTRY + "&package=curl").text  # other image: complete
    # generated titles are not repeated as a summary
    openssl = client.get(REGISTRY + "&package=openssl").text
    assert "CVE-2024-0727 in openssl 3.0.11-1 (deb)</a></td>" in openssl
    # pipelines and job pages say it was partial and why
    pipelines_page = client.get("/projects/group/app/-/pipelines").text
    assert f'id="pipeline-{pipeline_id}"' in pipelines_page and 'data-testid="partial"' in pipelines_page
    job_page = client.get(f"/projects/group/app/-/jobs/{job_id}").text
    assert "findings may be incomplete" in job_page and f"<li>{reason}</li>" in job_page
    # the dropped push in plain words: no setting names, no raw pattern list, a link to the settings
    drop = re.search(r'data-testid="drop-detail">(.*?)</td>', pipelines_page, re.S).group(1)
    assert "does not match any of the project&#39;s tag patterns" in drop and "/-/settings#cs4r" in drop
    assert "patterns latest" not in pipelines_page
    from hullscan.events import types as reasons

    limited = explain_drop(reasons.RATE_LIMITED, "50 scans per 24 h since 2026-12-06T05:01:02.123456+00:00")
    assert limited.text == "The project's limit of 50 scans a day was reached." and limited.pipeline_id is None
    dup = explain_drop(reasons.DUPLICATE, "superseded by sha256:ab: coalesced into pipeline 7")
    assert dup.pipeline_id == 7 and "sha256" not in dup.text
    assert "container_scanning_for_registry" not in explain_drop(reasons.SETTING_OFF, "container_scanning_for_registry_enabled is off").text
    # the vulnerability page: title, summary, severity source in words, score and vector
    page = client.get(f"/projects/group/app/-/security/vulnerabilities/{vid}").text
    assert '<h1 data-testid="title">CVE-2023-43804 in urllib3 1.24.1 (pip)</h1>' in page
    assert 'data-testid="subtitle">Cookie leak on redirect</p>' in page
    assert "NVD, the CVSS score from security-advisories@github.com" in page
    assert 'data-testid="cvss-score">7.5</dd>' in page and "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N" in page
