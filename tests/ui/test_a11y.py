"""Accessibility: axe-core (npm, pinned in scripts/ensure_axe.py) injected by Playwright into every page a crawl
reaches, in Debian's Chromium against a real `hullscan serve`, as an administrator and as a reporter, at 1366 px
and 390 px: no serious or critical violation anywhere, every template visited.

The rules are WCAG 2.1 A/AA and axe's best practices (colour contrast, names of controls and links, table
headers, heading order, landmarks, `aria-*` validity...); besides every serious or critical violation, the few
rules of STRICT_RULES fail at any impact. A failure lists each violation with its page and nodes.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER
from tests.ui.browser import chromium_page, sign_in_as
from tests.ui.seed import finding, seed_basic

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "hullscan" / "web" / "ui" / "templates"
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
               "resultTypes": ["violations"]}
# rules of lesser impact that are fixed, and stay fixed: headers with text, a heading structure, one main
STRICT_RULES = {"empty-table-header", "heading-order", "page-has-heading-one", "landmark-one-main",
                "aria-allowed-attr", "aria-valid-attr-value", "th-has-data-cells"}


def _axe_source() -> str:
    spec = importlib.util.spec_from_file_location("hullscan_ensure_axe", ROOT / "scripts" / "ensure_axe.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.ensure().read_text()
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _seed(server) -> int:  # type: ignore[no-untyped-def]
    """group/app (seed_basic) and group/api, a dismissed finding, a reporter; the id of one vulnerability."""
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    try:
        pid = seed_basic(db, image=f"{server.host}/group/app/web")
        with db.session() as s:
            other = auth.create_project(s, "group/api", cs4r_enabled=True)
            res = vulns.record_findings(s, vulns.ImageScope(other.id, f"{server.host}/group/api/svc", "1.0",
                                                            "sha256:" + "9" * 64, "alpine 3.20"),
                                        [finding("musl", "1.2.4", "CVE-2025-26519", "medium", ["1.2.5-r1"]),
                                         finding("busybox", "1.36", "CVE-2023-42366", "unknown")])
            vulns.change_state(s, res.new_ids[:1], "dismissed", author="admin", dismissal_reason="not_applicable",
                               comment="not *reachable*")
            auth.create_user(s, "rita", "rita-password-1")
            auth.add_member(s, "rita", "group/app", auth.Role.REPORTER)
            return pid
    finally:
        db.dispose()


def _crawl(page, start: list[str], limit: int = 45) -> list[str]:  # type: ignore[no-untyped-def]
    """Same-origin pages linked from `start`, one per kind: a path with the same query keys (another sort, another
    severity) is the same template in the same state, checked once."""
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    todo = list(start)
    while todo and len(seen) < limit:
        url = todo.pop(0)
        parts = urlsplit(url)
        key = (parts.path, tuple(sorted({k for k, _ in parse_qsl(parts.query)})))
        if key in seen:
            continue
        seen[key] = url
        page.goto(url)
        for href in page.eval_on_selector_all("a[href]:not([download])", "els => els.map(a => a.getAttribute('href'))"):
            link = urlsplit(href)
            if not (link.scheme or link.netloc) and link.path.startswith("/") and not link.path.startswith("/static"):
                todo.append(link.path + (f"?{link.query}" if link.query else ""))
    return list(seen.values())


def _violations(page, source: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """axe's serious and critical violations on the current page, and any of STRICT_RULES (evaluated through the DevTools protocol: the
    page's Content-Security-Policy, which forbids inline scripts, stays as it is)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source + "\n;undefined")
    found = page.evaluate("options => axe.run(document, options).then(r => r.violations)", AXE_OPTIONS)
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"][0] if n["target"] else "" for n in v["nodes"]][:5]}
            for v in found if v["impact"] in ("serious", "critical") or v["id"] in STRICT_RULES]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_serious_or_critical_axe_violation_on_any_page(server, tmp_path: Path) -> None:
    source = _axe_source()
    _seed(server)
    found: dict[str, list[dict]] = {}
    visited: set[str] = set()
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        # signed out: the sign-in page and its error
        page.goto("/users/sign_in")
        found.update({f"anonymous /users/sign_in: {v['rule']}": [v] for v in _violations(page, source)})
        for user, password, role in ((ADMIN_USER, ADMIN_PASSWORD, "admin"), ("rita", "rita-password-1", "reporter")):
            page.set_viewport_size({"width": 1366, "height": 768})
            sign_in_as(page, user, password)
            start = ["/projects", "/user_settings", "/-/security/vulnerabilities", "/projects/no/such/-/overview"]
            if role == "admin":
                start += ["/admin", "/groups/group", "/projects/group/app/-/security/vulnerability_report?per_page=50"]
            urls = _crawl(page, start)
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 844})
                for url in urls:
                    page.goto(url)
                    template = page.evaluate("() => document.title")
                    visited.add(template.split(" · ")[0])
                    for v in _violations(page, source):
                        found.setdefault(f"{role} {width}px {v['rule']}", []).append({"url": url, **v})
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        assert dialogs == []
    assert not found, json.dumps({k: v[:3] for k, v in found.items()}, indent=1, ensure_ascii=False)
    # the crawl reached every kind of page: the report at its three scopes, the group, the detail, admin...
    for title in ("Projects", "Vulnerability report", "Group vulnerability report", "Security centre", "Not found",
                  "Images", "Pipelines", "Settings", "Admin"):
        assert title in visited, sorted(visited)
    assert len(list(TEMPLATES.glob("*.html"))) > 15
