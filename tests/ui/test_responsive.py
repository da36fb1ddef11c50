"""Every page as an administrator, a developer and a reporter, in Debian's Chromium against a real `hullscan serve`, at
1366 px and 390 px: a crawl of every same-origin link answers 200 (nobody is offered a page that refuses
them) and no page is wider than the viewport (`scrollWidth <= innerWidth`); the report keeps its key columns
first, its table scrolling inside its container.

Screenshots of every page at 390 px go to `<pytest tmp dir>/screenshots/`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER
from tests.ui.browser import chromium_page, sign_in_as
from tests.ui.seed import finding, seed_basic

LONG_LINK = "https://security-tracker.example.org/advisories/" + "very-long-path-segment-" * 12 + "end"
REPORT = "/projects/group/app/-/security/vulnerability_report"


def _seed(server) -> int:  # type: ignore[no-untyped-def]
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    try:
        pid = seed_basic(db, image=f"{server.host}/group/app/web")
        with db.session() as s:
            vulns.record_findings(s, vulns.ImageScope(pid, f"{server.host}/group/app/web", "latest",
                                                      "sha256:" + "1" * 64, "debian 12"), [
                finding("libexpat1", "2.5.0-1", "CVE-2024-45491", "critical", links=[LONG_LINK],
                        description="x" * 300 + " " + LONG_LINK)])
            vid = s.scalars(vulns.select(vulns.Vulnerability.id)
                            .where(vulns.Vulnerability.package_name == "libexpat1")).one()
            auth.create_user(s, "rita", "rita-password-1")
            auth.add_member(s, "rita", "group/app", auth.Role.REPORTER)
            auth.create_user(s, "devon", "devon-password-1")
            auth.add_member(s, "devon", "group/app", auth.Role.DEVELOPER)
        return vid
    finally:
        db.dispose()


def _crawl(page, start: list[str], limit: int = 60) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Every same-origin page linked from `start` (downloads left out), with the status it answered."""
    seen: dict[str, int] = {}
    todo = list(start)
    while todo and len(seen) < limit:
        url = todo.pop(0)
        if url in seen:
            continue
        response = page.goto(url)
        seen[url] = response.status if response else 0
        hrefs = page.eval_on_selector_all(
            "a[href]:not([download])", "els => els.map(a => a.getAttribute('href'))")
        for href in hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("/static"):
                continue
            todo.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def _width(page) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


def test_every_page_fits_390px_and_offers_only_allowed_links(server, tmp_path: Path) -> None:
    vid = _seed(server)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    detail = f"/projects/group/app/-/security/vulnerabilities/{vid}"
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for user, password, role in ((ADMIN_USER, ADMIN_PASSWORD, "admin"), ("devon", "devon-password-1", "developer"),
                                     ("rita", "rita-password-1", "reporter")):
            page.set_viewport_size({"width": 1366, "height": 768})
            sign_in_as(page, user, password)
            extra = ["/admin", "/user_settings", detail] if role == "admin" else ["/user_settings"]
            wide = _crawl(page, ["/projects", *extra])
            assert wide and all(status == 200 for status in wide.values()), (role, wide)
            if role == "reporter":
                assert "/projects/group/app/-/images" in wide
                assert not any("/security/" in url or url.endswith("/-/overview") or url.endswith("/-/settings")
                               for url in wide), wide
                assert page.goto(REPORT).status == 403  # not offered, because the API refuses it too
            elif role == "developer":  # triages, but is offered neither settings nor administration
                assert REPORT + "?tab=CONTAINER_REGISTRY" in wide and detail in wide
                assert not any(url.endswith("/-/settings") or url.startswith("/admin") for url in wide), wide
            else:
                assert {REPORT + "?tab=CONTAINER_REGISTRY", "/admin/users", "/projects/group/app/-/settings"} <= set(wide)
            page.set_viewport_size({"width": 390, "height": 844})
            for n, url in enumerate(sorted(wide)):
                page.goto(url)
                scroll_width, inner = _width(page)
                assert scroll_width <= inner, (role, url, scroll_width, inner)
                page.screenshot(path=str(shots / f"{role}-{n:02d}.png"), full_page=True)
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")

        # the report at 390 px: key columns first, the table scrolls inside its container, the page does not
        sign_in_as(page, ADMIN_USER, ADMIN_PASSWORD)
        page.goto(REPORT)
        headers = page.locator("table.report thead th").all_inner_texts()
        assert [h.strip().rstrip("↓↑ ") for h in headers[1:5]] == ["Severity", "Vulnerability", "Identifier",
                                                                   "Image and tag"], headers
        assert page.locator("table.report thead th").nth(1).get_attribute("aria-sort") == "descending"
        box = page.locator("table.report").locator("xpath=..").bounding_box()
        assert box is not None and box["width"] <= 390
        assert _width(page)[0] <= 390
        # the detail page: the long link wraps instead of widening the page
        page.goto(detail)
        assert page.get_by_role("link", name=LONG_LINK).first.bounding_box()["width"] <= 390
        assert _width(page)[0] <= 390
        assert "CVE-2024-45491 in libexpat1 2.5.0-1 (deb)" == page.get_by_test_id("title").inner_text()
        # a destructive action asks first: the red button appears only after the first click
        page.goto("/admin/users")
        row = page.locator('tr[data-user="rita"]')
        assert not row.get_by_role("button", name="Block user").is_visible()
        row.locator("summary").click()
        assert row.get_by_role("button", name="Block user").is_visible()
        assert page.locator('tr[data-user="admin"] summary').count() == 0  # never on one's own account
        assert _width(page)[0] <= 390
        assert dialogs == []
