"""The remediation panel in Chromium at 1366 and 390 px: from the images page to an image's hints (package
upgrade, base image by layers, rebuild on the base's moved tag), nothing wider than the viewport."""

from __future__ import annotations

from pathlib import Path

from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER
from tests.ui.browser import assert_inert, chromium_page, sign_in_as
from tests.vulnerabilities.test_remediation import seed_images


def test_remediation_panel_from_the_images_page(server, tmp_path: Path) -> None:
    _, app, old_base, new_base, _ = seed_images(server)
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        sign_in_as(page, ADMIN_USER, ADMIN_PASSWORD)
        for width, height in ((1366, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.goto("/projects/group/rem/-/images")
            page.locator('tr[data-image="group/rem/app:v1"]').get_by_test_id("remediation-link").click()
            page.wait_for_url("**/remediation")
            hints = page.get_by_test_id("package-hints").inner_text()
            assert "Upgrading openssl 3.0.11-1 to 3.0.13-1 fixes 2 vulnerabilities (1 critical)" in hints, hints
            assert "group/rem/base@" in page.get_by_test_id("base-image").inner_text()
            assert "Rebuilding on group/rem/base:12" in page.get_by_test_id("rebuild-hints").inner_text()
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            assert_inert(page)
        assert page.goto(f"/projects/group/rem/-/images/sha256:{'0' * 64}/remediation").status == 404
        assert dialogs == []
