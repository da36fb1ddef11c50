"""The VEX import form on the project's VEX page in Chromium, at 1366 and 390 px. Importing is bulk triage, so it
needs the triage permission there as in the API and the CLI: a developer's pasted OpenVEX document dismisses the
finding it names, a bad one changes nothing and says why, the export downloads; a reporter reads the page without
a form and her crafted POST is refused (403); a project she is no member of answers 404."""

from __future__ import annotations

import json
from pathlib import Path

from hullscan.auth import Role
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.settings import Settings
from tests.support.auth import ADMIN_HTTP, ADMIN_PASSWORD, ADMIN_USER
from tests.ui.browser import assert_inert, chromium_page, sign_in_as
from tests.vex.test_vex_roundtrip import openvex, seed, states

PROJECT = "group/vexui"
HIDDEN = "other/vexui"


def _members(server) -> None:  # type: ignore[no-untyped-def]
    """devi (developer) and rex (reporter) of PROJECT; neither is a member of HIDDEN."""
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    with db.session() as s:
        for name, role in (("devi", Role.DEVELOPER), ("rex", Role.REPORTER)):
            auth.create_user(s, name, f"{name}-password-1")
            auth.add_member(s, name, PROJECT, role)
    db.dispose()


def _post_as_page(page, url: str, document: str) -> int:  # type: ignore[no-untyped-def]
    """A crafted form POST from the signed-in page, with the session's CSRF token (from the sign-out form)."""
    return page.evaluate("""async ([url, doc]) => {
        const csrf = document.querySelector('form.sign-out input[name=csrf_token]').value;
        const body = new URLSearchParams({document: doc, csrf_token: csrf});
        const r = await fetch(url, {method: 'POST', body, redirect: 'manual'});
        return r.status;
    }""", [url, document])


def test_vex_form_imports_and_exports(server, tmp_path: Path) -> None:
    pid = seed(server, PROJECT)
    hidden = seed(server, HIDDEN)
    _members(server)
    good = openvex({"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:deb/openssl"}],
                    "status": "not_affected", "justification": "component_not_present",
                    "impact_statement": "<img src=x onerror=window.__xss=1>"}).decode()
    bad = openvex({"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib"}],
                   "status": "fixed"}, {"status": "nonsense"}).decode()
    fixed = openvex({"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib"}],
                     "status": "fixed"}).decode()
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for width, height in ((1366, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            sign_in_as(page, "devi", "devi-password-1")
            page.goto(f"/projects/{PROJECT}/-/images")
            page.get_by_role("navigation", name="Project").get_by_role("link", name="VEX").click()
            page.wait_for_url("**/-/vex")
            page.get_by_role("textbox", name="VEX document").fill(bad)
            page.get_by_role("button", name="Import VEX").click()
            assert "Nothing was imported" in page.locator("#vex-error").inner_text()
            assert states(server, pid)["CVE-2024-0002"] == ("detected", None)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.get_by_role("textbox", name="VEX document").fill(good)
            page.get_by_role("button", name="Import VEX").click()
            result = page.locator("#vex-result").inner_text()
            assert "vex:https://example.com/vex/app-1" in result, result
            assert ("1 dismissed" in result) == (width == 1366), result  # the second time, nothing is left to change
            # the stored document is listed on the same page the import answered with
            assert "vex:https://example.com/vex/app-1" in page.locator('[data-testid="vex-documents"]').inner_text()
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            assert_inert(page)
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        assert states(server, pid)["CVE-2024-0001"] == ("dismissed", "not_applicable")
        sign_in_as(page, "devi", "devi-password-1")
        page.goto(f"/projects/{PROJECT}/-/vex")
        with page.expect_download() as info:
            page.get_by_role("link", name="Export the triage decisions as OpenVEX").click()
        exported = json.loads(Path(info.value.path()).read_text())
        assert [s["status"] for s in exported["statements"]] == ["not_affected"]
        assert exported["statements"][0]["justification"] == "component_not_present"
        # a project she is no member of: the page and the import answer as a missing project does
        assert page.goto(f"/projects/{HIDDEN}/-/vex").status == 404
        assert _post_as_page(page, f"/projects/{HIDDEN}/-/vex/import", fixed) == 404
        assert _post_as_page(page, "/projects/other/nope/-/vex/import", fixed) == 404
        page.locator("form.sign-out button").click()
        page.wait_for_url("**/users/sign_in")

        # a reporter reads the page, is offered no form, and her crafted POST changes nothing
        sign_in_as(page, "rex", "rex-password-1")
        assert page.goto(f"/projects/{PROJECT}/-/vex").status == 200
        assert "vex:https://example.com/vex/app-1" in page.locator('[data-testid="vex-documents"]').inner_text()
        assert page.locator("#vex-import").count() == 0 and page.locator("textarea").count() == 0
        assert page.get_by_role("link", name="Export the triage decisions as OpenVEX").count() == 0
        assert _post_as_page(page, f"/projects/{PROJECT}/-/vex/import", fixed) == 403
        page.locator("form.sign-out button").click()
        page.wait_for_url("**/users/sign_in")

        # the settings page no longer imports; it points to the VEX page
        sign_in_as(page, ADMIN_USER, ADMIN_PASSWORD)
        page.goto(f"/projects/{PROJECT}/-/settings")
        assert page.locator("#vex textarea").count() == 0
        page.locator("#vex").get_by_role("link", name="VEX page").click()
        page.wait_for_url(f"**/projects/{PROJECT}/-/vex")
        assert dialogs == []
    assert states(server, pid)["CVE-2024-0002"] == ("detected", None)
    assert states(server, hidden)["CVE-2024-0002"] == ("detected", None)
    assert ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{pid}/vex").json()["statements"][0]["vulnerability"][
        "name"] == "CVE-2024-0001"
