"""The VEX form on the project settings page in Chromium, at 1366 and 390 px: a pasted OpenVEX document
dismisses the finding it names, a bad one changes nothing and says why, the export downloads."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.auth import ADMIN_HTTP, ADMIN_PASSWORD, ADMIN_USER
from tests.ui.browser import assert_inert, chromium_page, sign_in_as
from tests.vex.test_vex_roundtrip import openvex, seed, states

PROJECT = "group/vexui"


def test_vex_form_imports_and_exports(server, tmp_path: Path) -> None:
    pid = seed(server, PROJECT)
    good = openvex({"vulnerability": {"name": "CVE-2024-0001"}, "products": [{"@id": "pkg:deb/openssl"}],
                    "status": "not_affected", "justification": "component_not_present",
                    "impact_statement": "<img src=x onerror=window.__xss=1>"}).decode()
    bad = openvex({"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib"}],
                   "status": "fixed"}, {"status": "nonsense"}).decode()
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for width, height in ((1366, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            sign_in_as(page, ADMIN_USER, ADMIN_PASSWORD)
            page.goto(f"/projects/{PROJECT}/-/settings#vex")
            page.get_by_label("VEX document").fill(bad)
            page.get_by_role("button", name="Import VEX").click()
            assert "Nothing was imported" in page.locator("#vex-error").inner_text()
            assert states(server, pid)["CVE-2024-0002"] == ("detected", None)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.get_by_label("VEX document").fill(good)
            page.get_by_role("button", name="Import VEX").click()
            result = page.locator("#vex-result").inner_text()
            assert "vex:https://example.com/vex/app-1" in result, result
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            assert_inert(page)
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        assert states(server, pid)["CVE-2024-0001"] == ("dismissed", "not_applicable")
        sign_in_as(page, ADMIN_USER, ADMIN_PASSWORD)
        page.goto(f"/projects/{PROJECT}/-/settings")
        with page.expect_download() as info:
            page.get_by_role("link", name="Export the triage decisions as OpenVEX").click()
        exported = json.loads(Path(info.value.path()).read_text())
        assert [s["status"] for s in exported["statements"]] == ["not_affected"]
        assert exported["statements"][0]["justification"] == "component_not_present"
        assert dialogs == []
    assert ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{pid}/vex").json()["statements"][0]["vulnerability"][
        "name"] == "CVE-2024-0001"
