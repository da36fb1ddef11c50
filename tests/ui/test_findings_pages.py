"""Readable findings: comments rendered as safe Markdown, a history whose entries are detections, status changes or
comments, an issue link per finding (by hand or from the project's issue-tracker template) in the UI and
/api/v1, each checked (http/https only, escaped, developer and up, 404 for hidden projects). Then the flow in
Chromium as an administrator, a developer and a reporter at 1366 and 390 px."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hullscan.auth import projects
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from hullscan.web.ui.markdown import allowed_link, render_markdown
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER, sign_in
from tests.ui.browser import assert_inert, chromium_page, sign_in_as
from tests.ui.conftest import csrf_token
from tests.ui.seed import finding, seed_basic

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HREF = re.compile(r'href="([^"]*)"')
HOSTILE = ["<script>alert(1)</script>", "[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))",
           "[x]( javascript:alert(1))", "[x](java\tscript:alert(1))", "[x](&#106;avascript:alert(1))",
           "[x](vbscript:msgbox(1))", "[x](data:text/html;base64,PHNjcmlwdD4=)", "<javascript:alert(1)>",
           "![x](https://evil.example/p.png)", '<img src=x onerror="alert(1)">', "[x](/relative)",
           '[x](https://ok.example/"onmouseover="alert(1))', "<a href='javascript:x'>a</a>",
           "[ref]\n\n[ref]: javascript:alert(1)", "```\n</code><script>x</script>\n```"]


# --- the Markdown renderer ---------------------------------------------------------------------------------------

def _check_safe(html: str) -> None:
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<iframe" not in html.lower()
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html, re.I), html  # no event handler attribute
    for href in HREF.findall(html):
        assert allowed_link(href.replace("&amp;", "&")), href
    for tag in re.findall(r"<a [^>]*>", html):
        assert 'rel="nofollow noopener noreferrer"' in tag, tag


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text: str) -> None:
    html = render_markdown(text, 50_000)
    _check_safe(html)
    assert 'href="' not in html or "https://ok.example" in html or "https://evil.example" in html


def test_markdown_keeps_formatting_and_allowed_links() -> None:
    html = render_markdown("**bold** and `code`\n\n- one\n- [docs](https://docs.example/a?b=1&c=2)\n\n"
                           "<mailto:sec@example.org>", 50_000)
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html and "<li>one</li>" in html
    assert '<a href="https://docs.example/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">docs</a>' in html
    assert 'href="mailto:sec@example.org"' in html


def test_huge_markdown_is_cut_at_the_setting_in_bounded_time() -> None:
    for text in ("*a " * 200_000, "[" * 300_000, "> " * 100_000 + "x", "`" * 300_000, "<" * 300_000,
                 "a_" * 150_000 + "\n" * 1000):
        started = time.monotonic()
        html = render_markdown(text, 20_000)
        assert time.monotonic() - started < 5, text[:10]
        assert "longer than 20000 characters" in html
        assert len(html) < 400_000
        _check_safe(html)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["[", "]", "(", ")", "<", ">", "!", "*", "`", "\n", " ", "javascript:",
                                 "https://a.example/", "mailto:", "&#106;", "\"", "'", "onerror=", "script",
                                 "data:", "#", "|", "\\", ":", "x"]), max_size=60).map("".join))
def test_markdown_property_no_active_content(text: str) -> None:
    _check_safe(render_markdown(text, 50_000))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_markdown_property_any_text_is_safe(text: str) -> None:
    _check_safe(render_markdown(text, 50_000))


# --- the service ---------------------------------------------------------------------------------------------------

def _setup(db: Database) -> int:
    """group/app with findings; dave developer, rita reporter, mia maintainer, olga in another project only."""
    seed_basic(db)
    with db.session() as s:
        projects.create_project(s, "other/app")
        for name, path, role in (("dave", "group/app", auth.Role.DEVELOPER), ("rita", "group/app", auth.Role.REPORTER),
                                 ("mia", "group/app", auth.Role.MAINTAINER), ("olga", "other/app", auth.Role.OWNER)):
            auth.create_user(s, name, f"{name}-password-1")
            auth.add_member(s, name, path, role)
        return s.scalars(select(Vulnerability.id).where(Vulnerability.package_name == "openssl")).one()


def _as(client: TestClient, user: str) -> TestClient:
    other = TestClient(client.app, follow_redirects=False)
    assert sign_in(other, user, f"{user}-password-1").status_code == 303
    return other


def _token(db: Database, user: str) -> dict[str, str]:
    with db.session() as s:
        _row, token = auth.create_personal_access_token(s, auth.require_user(s, user), "t", ["api"])
    return {"Authorization": f"Bearer {token}"}


def test_history_kinds_comment_alone_is_not_a_status_change(db) -> None:
    vid = _setup(db)
    with db.session() as s:
        v = s.get(Vulnerability, vid)
        vulns.change_state(s, [vid], "detected", author="dave", comment="same state, a note")
        vulns.add_comment(s, v, "  **looked** at it  ", author="dave")
        vulns.change_state(s, [vid], "confirmed", author="dave", comment="real")
        with pytest.raises(vulns.VulnerabilityError):
            vulns.add_comment(s, v, "   ", author="dave")
        with pytest.raises(vulns.VulnerabilityError):
            vulns.add_comment(s, v, "x" * (vulns.MAX_COMMENT + 1), author="dave")
        entries = [(t.kind, t.from_state, t.to_state, t.comment) for t in vulns.history(s, vid)]
    assert entries == [("detected", None, "detected", "detected by scan"),
                       ("comment", "detected", "detected", "same state, a note"),
                       ("comment", "detected", "detected", "**looked** at it"),
                       ("state_change", "detected", "confirmed", "real")]


def test_issue_urls_and_templates_are_checked_and_encoded(db) -> None:
    vid = _setup(db)
    for bad in ("javascript:alert(1)", "JavaScript://x.example/%0aalert(1)", "data:text/html,x", "ftp://x.example/",
                "https://", "https://x.example/a b", "https://x.example/\nx", "//x.example/1", "", "h" * 3000,
                "https://[::1"):
        with pytest.raises(vulns.VulnerabilityError):
            vulns.check_issue_url(bad)
    assert vulns.check_issue_url(" https://tracker.example/i/1 ") == "https://tracker.example/i/1"
    for bad in ("https://t.example/new?t={title.__class__}", "https://t.example/{0}", "javascript:{title}",
                "https://t.example/new?x={nope}", "{title}"):
        with pytest.raises(vulns.VulnerabilityError):
            vulns.check_issue_template(bad)
    with db.session() as s:
        v = s.get(Vulnerability, vid)
        pid = v.project_id
        vulns.set_issue_tracker_template(s, pid, "https://tracker.example/new?title={title}&id={identifier}")
        url = vulns.fill_issue_template(vulns.issue_tracker_template(s, pid), v)
        query = parse_qs(urlsplit(url).query)
        assert query == {"title": ["CVE-2024-0727 in openssl 3.0.11-1"], "id": ["CVE-2024-0727"]}
        assert "&id=CVE-2024-0727" in url and "title=CVE-2024-0727%20in%20openssl%203.0.11-1" in url
        hostile = s.scalars(select(Vulnerability).where(Vulnerability.package_name.like("<script>%"))).one()
        filled = vulns.fill_issue_template("https://tracker.example/new?title={title}&p={package}", hostile)
        assert "<" not in filled and '"' not in filled and " " not in filled and filled.count("&") == 1
        assert vulns.set_issue_tracker_template(s, pid, "  ") is None
        assert vulns.issue_tracker_template(s, pid) is None


# --- the pages and the API ------------------------------------------------------------------------------------------

def test_vulnerability_page_renders_markdown_history_kinds_and_issue_link(client, db) -> None:
    vid = _setup(db)
    page = f"/projects/group/app/-/security/vulnerabilities/{vid}"
    dave = _as(client, "dave")
    token = csrf_token(dave, page)
    r = dave.post(page + "/state", data={"csrf_token": token, "state": "detected",
                                         "comment": "See **this** [advisory](https://security.example/a) "
                                                    "and [x](javascript:alert(1)) <script>alert(2)</script>"})
    assert r.status_code == 303
    html = dave.get(page).text
    history = html[html.index('data-testid="history"'):]
    assert "from Needs triage to Needs triage" not in history
    assert re.search(r'data-kind="comment">.*?<strong>dave</strong>\s*commented', history, re.S)
    assert "<strong>this</strong>" in history
    assert ('<a href="https://security.example/a" rel="nofollow noopener noreferrer">advisory</a>' in history)
    assert "javascript:" not in re.sub(r"\[x\]\(javascript:alert\(1\)\)", "", history)  # only as plain text
    assert "<script>alert(2)" not in history and "&lt;script&gt;alert(2)" in history

    # an issue link by hand: a bad URL is refused in place with the input kept; a good one is shown escaped
    r = dave.post(page + "/issue_link", data={"csrf_token": token, "url": "javascript:alert(1)", "title": "T"})
    assert r.status_code == 400 and 'data-testid="error-url"' in r.text and 'value="javascript:alert(1)"' in r.text
    assert 'href="javascript' not in r.text
    r = dave.post(page + "/issue_link", data={"csrf_token": token, "url": "https://tracker.example/i/7",
                                              "title": '<b>"Fix</b> openssl'})
    assert r.status_code == 303 and r.headers["location"].endswith("#issue-link")
    html = dave.get(page).text
    assert re.search(r'data-testid="issue-link"><a href="https://tracker.example/i/7" rel="nofollow noopener '
                     r'noreferrer" target="_blank">&lt;b&gt;&#34;Fix&lt;/b&gt; openssl</a>', html), html
    assert "Remove issue link" in html  # behind a confirmation
    assert dave.post(page + "/issue_link/delete", data={"csrf_token": token}).status_code == 303
    assert 'data-testid="no-issue-link"' in dave.get(page).text

    # the template: maintainers set it in the settings (in place errors), developers link from it
    mia = _as(client, "mia")
    settings_token = csrf_token(mia, "/projects/group/app/-/settings")
    r = mia.post("/projects/group/app/-/settings/issue_tracker",
                 data={"csrf_token": settings_token, "url_template": "javascript:{title}"})
    assert r.status_code == 400 and 'data-testid="error-url_template"' in r.text and "javascript:{title}" in r.text
    assert dave.post("/projects/group/app/-/settings/issue_tracker",
                     data={"csrf_token": token, "url_template": "https://t.example/{title}"}).status_code == 403
    r = mia.post("/projects/group/app/-/settings/issue_tracker",
                 data={"csrf_token": settings_token,
                       "url_template": "https://tracker.example/new?title={title}&id={identifier}"})
    assert r.status_code == 303
    assert "https://tracker.example/new?title={title}&amp;id={identifier}" in mia.get(
        "/projects/group/app/-/settings").text
    assert 'data-testid="issue-from-template"' in dave.get(page).text
    assert dave.post(page + "/issue_link", data={"csrf_token": token, "from_template": "1"}).status_code == 303
    with db.session() as s:
        link = vulns.issue_link(s, vid)
        assert link.url == ("https://tracker.example/new?title=CVE-2024-0727%20in%20openssl%203.0.11-1"
                            "&id=CVE-2024-0727")
        assert link.title == "CVE-2024-0727 in openssl 3.0.11-1" and link.author == "dave"

    # who may: a reporter is refused (403, as the API), another project's owner learns nothing (404)
    rita, olga = _as(client, "rita"), _as(client, "olga")
    rita_token = csrf_token(rita, "/projects")
    assert rita.post(page + "/issue_link", data={"csrf_token": rita_token, "url": "https://t.example/1"}
                     ).status_code == 403
    olga_token = csrf_token(olga, "/projects")
    assert olga.post(page + "/issue_link", data={"csrf_token": olga_token, "url": "https://t.example/1"}
                     ).status_code == 404
    assert olga.get(page).status_code == 404
    with db.session() as s:
        assert vulns.issue_link(s, vid).author == "dave"  # unchanged by the refused requests


def test_api_issue_link_comment_and_history_kinds(client, db) -> None:
    vid = _setup(db)
    api = f"/api/v1/vulnerabilities/{vid}"
    dave, rita, olga = _token(db, "dave"), _token(db, "rita"), _token(db, "olga")
    assert client.put(api + "/issue_link", json={"url": "https://t.example/1"}, headers=rita).status_code == 403
    assert client.put(api + "/issue_link", json={"url": "https://t.example/1"}, headers=olga).status_code == 404
    r = client.put(api + "/issue_link", json={"url": "javascript:alert(1)"}, headers=dave)
    assert r.status_code == 400 and "http" in r.text
    r = client.put(api + "/issue_link", json={"url": "https://t.example/1", "title": "Fix it"}, headers=dave)
    assert r.status_code == 200 and r.json()["url"] == "https://t.example/1" and r.json()["title"] == "Fix it"
    v4 = "/api/v4/projects/group%2Fapp/vulnerabilities"
    assert [v["id"] for v in client.get(v4, params={"have_issues": "true"}, headers=dave).json()] == [vid]
    assert vid not in [v["id"] for v in client.get(v4, params={"have_issues": "false"}, headers=dave).json()]
    r = client.post(api + "/comments", json={"comment": "**noted**"}, headers=dave)
    assert r.status_code == 201 and r.json()["kind"] == "comment"
    assert client.post(api + "/comments", json={"comment": "  "}, headers=dave).status_code == 400
    assert client.post(api + "/comments", json={"comment": "x"}, headers=olga).status_code == 404
    body = client.get(api, headers=dave).json()
    assert body["issue_link"]["title"] == "Fix it"
    assert [h["kind"] for h in body["history"]] == ["detected", "comment"]
    assert client.delete(api + "/issue_link", headers=dave).status_code == 204
    assert client.delete(api + "/issue_link", headers=dave).status_code == 204  # idempotent
    assert client.get(api, headers=dave).json()["issue_link"] is None
    tracker = "/api/v1/projects/group%2Fapp/issue_tracker"
    mia = _token(db, "mia")
    assert client.put(tracker, json={"url_template": "https://t.example/{title}"}, headers=dave).status_code == 403
    assert client.get(tracker, headers=olga).status_code == 404
    assert client.put(tracker, json={"url_template": "javascript:{title}"}, headers=mia).status_code == 400
    r = client.put(tracker, json={"url_template": "https://t.example/new?t={title}"}, headers=mia)
    assert r.status_code == 200 and r.json() == {"url_template": "https://t.example/new?t={title}"}
    assert client.get(tracker, headers=dave).json() == {"url_template": "https://t.example/new?t={title}"}
    assert client.put(tracker, json={"url_template": None}, headers=mia).json() == {"url_template": None}


def test_migration_0020_matches_the_models(migrated_settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hullscan.db import Base

    db = Database(migrated_settings)
    try:
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        db.dispose()
    mine = {"vulnerability_issue_links", "vulnerability_issue_trackers", "vulnerability_state_transitions"}
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    assert [d for d in flat if any(name in repr(d) for name in mine)] == []


# --- in Chromium -----------------------------------------------------------------------------------------------------

def test_browser_comment_issue_link_as_each_role_fits_390px(server, tmp_path: Path) -> None:
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    try:
        vid = _setup(db)
        with db.session() as s:
            pid = projects.get_project(s, "group/app").id
            vulns.record_findings(s, vulns.ImageScope(pid, f"{server.host}/group/app/web", "latest",
                                                      "sha256:" + "1" * 64, "debian 12"), [
                finding("urllib3", "1.24.1", "CVE-2023-43804", "high",
                        title="Cookie request header isn't stripped during cross-origin redirects")])
            vulns.set_issue_tracker_template(s, pid, "https://tracker.example/new?title={title}&id={identifier}")
            urllib3 = s.scalars(select(Vulnerability.id).where(Vulnerability.package_name == "urllib3")).one()
    finally:
        db.dispose()
    page_url = f"/projects/group/app/-/security/vulnerabilities/{vid}"
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for user, password in ((ADMIN_USER, ADMIN_PASSWORD), ("dave", "dave-password-1"), ("rita", "rita-password-1")):
            page.set_viewport_size({"width": 1366, "height": 768})
            sign_in_as(page, user, password)
            response = page.goto(page_url)
            if user == "rita":  # a reporter may not read vulnerabilities: refused, and never offered the link
                assert response.status == 403
            else:
                assert response.status == 200
                page.locator("form.state-form textarea[name=comment]").fill(
                    f"Checked by **{user}**: see [the advisory](https://security.example/{user}) "
                    "<script>window.__xss=1</script> [bad](javascript:alert(1))")
                page.locator("form.state-form").get_by_role("button", name="Save").click()
                page.wait_for_url(f"**{page_url}")
                comment = page.get_by_test_id("comment").last
                assert comment.locator("strong").inner_text() == user
                assert comment.get_by_role("link", name="the advisory").get_attribute("rel") == \
                    "nofollow noopener noreferrer"
                assert comment.locator("a").count() == 1  # the javascript: one stayed text
                assert page.locator('li[data-kind="comment"]').count() >= 1
                assert "from Needs triage to Needs triage" not in page.get_by_test_id("history").inner_text()
                assert_inert(page)
                if user == "dave":
                    page.get_by_label("Issue URL").fill("javascript:alert(1)")
                    page.evaluate("() => document.querySelector('input[name=url]').type = 'text'")  # past the browser
                    page.get_by_role("button", name="Link issue").click()
                    assert page.get_by_test_id("error-url").is_visible()
                    page.get_by_label("Issue URL").fill("https://tracker.example/issues/42")
                    page.get_by_label("Title").fill("Upgrade openssl")
                    page.get_by_role("button", name="Link issue").click()
                    page.wait_for_url(f"**{page_url}#issue-link")
                    assert page.get_by_test_id("issue-link").get_by_role("link").inner_text() == "Upgrade openssl"
                    page.goto(f"/projects/group/app/-/security/vulnerabilities/{urllib3}")
                    assert page.get_by_test_id("subtitle").inner_text().startswith("Cookie request header")
                    page.get_by_test_id("issue-from-template").click()
                    link = page.get_by_test_id("issue-link").get_by_role("link")
                    assert link.get_attribute("href") == ("https://tracker.example/new?title=CVE-2023-43804%20in%20"
                                                          "urllib3%201.24.1&id=CVE-2023-43804")
                    page.goto(page_url)
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 844})
                assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (user, width)
            page.goto("/projects")  # (an error page's Sign out carries no CSRF token: not this test's subject)
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        assert dialogs == []
