"""Error pages carry the request's CSRF token, so their Sign out form works like every other page's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER
from tests.ui.browser import chromium_page, sign_in_as


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sign_out_from_error_pages_in_chromium(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for missing in ("/projects/no/such/-/overview", "/projects/no/such/-/security/vulnerability_report"):
            sign_in_as(page, ADMIN_USER, ADMIN_PASSWORD)
            response = page.goto(missing)
            assert response is not None and response.status == 404
            assert page.title().startswith("Not found")
            assert page.locator("form.sign-out input[name=csrf_token]").get_attribute("value")
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
            assert "CSRF" not in page.content()
            page.goto("/projects")  # the session is over: back to the sign-in form
            assert "/users/sign_in" in page.url
        assert dialogs == []
