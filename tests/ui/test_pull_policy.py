"""The pull policy form and the images page's blocked pulls in Chromium: a maintainer turns the gate on, a pull
of the vulnerable image is refused and shows on the images page, an exception added in the form lets it through."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import image_layout
from tests.registry.support import skopeo
from tests.registry.test_pull_gate import pull, scanned
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER
from tests.support.server import HullscanServer
from tests.ui.browser import assert_inert, chromium_page

PROJECT = "group/policy"
REPO = f"{PROJECT}/web"


@pytest.fixture
def policy_server(tmp_path: Path) -> Iterator[HullscanServer]:
    srv = HullscanServer(tmp_path / "data", env={"HULLSCAN_RUNNER_POOL_SIZE": "0"}).start()
    yield srv
    srv.stop()


def test_policy_form_blocks_pulls_and_images_page_lists_them(policy_server: HullscanServer, tmp_path: Path) -> None:
    srv = policy_server
    skopeo("copy", "--dest-tls-verify=false", f"oci:{image_layout('go-binary')}:latest",
           f"docker://{srv.host}/{REPO}:v1")
    digest = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                    f"docker://{srv.host}/{REPO}:v1").stdout.strip()
    scanned(srv, digest, PROJECT, REPO)
    assert pull(srv, f"{REPO}:v1", tmp_path / "before").returncode == 0  # no policy yet

    with chromium_page(srv.url, tmp_path / "downloads") as (page, dialogs):
        page.goto("/users/sign_in")
        page.get_by_label("Username").fill(ADMIN_USER)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/projects")

        page.goto(f"/projects/{PROJECT}/-/settings")
        page.get_by_test_id("policy-link").click()
        page.wait_for_url("**/-/settings/policy")
        page.get_by_test_id("gate-toggle").check()
        page.get_by_test_id("min-severity").select_option("high")
        page.get_by_label("Grace period for newly published advisories (days)").fill("7")
        page.get_by_role("button", name="Save policy").click()
        assert page.get_by_text("Policy saved.").is_visible()
        assert page.get_by_test_id("gate-toggle").is_checked()
        assert page.get_by_test_id("min-severity").input_value() == "high"

        refused = pull(srv, f"{REPO}:v1", tmp_path / "blocked")
        assert refused.returncode != 0 and "CVE-2023-45853" in refused.stderr

        page.goto(f"/projects/{PROJECT}/-/images")
        row = page.get_by_test_id("blocked-pulls").locator(f'tr[data-blocked="{REPO}"]').first
        assert "CVE-2023-45853, CVE-2024-0727" in row.inner_text() and "admin" in row.inner_text()
        assert_inert(page)

        page.goto(f"/projects/{PROJECT}/-/settings/policy")
        form = page.get_by_test_id("exception-form")
        expires = (datetime.now(UTC) + timedelta(days=14)).date().isoformat()
        for identifier in ("CVE-2023-45853", "CVE-2024-0727"):
            form.get_by_label("Identifier").fill(identifier)
            form.get_by_label("Expires").fill(expires)
            form.get_by_label("Reason").fill("fixed in the next base image")
            form.get_by_label("Only repository (optional)").fill(REPO)
            form.get_by_role("button", name="Add exception").click()
            assert page.locator(f'tr[data-exception="{identifier}"]').is_visible()
        exceptions = page.get_by_test_id("exceptions").inner_text()
        assert "repository " + REPO in exceptions and "fixed in the next base image" in exceptions
        # a bad expiry is refused in the form, nothing saved
        form.get_by_label("Identifier").fill("CVE-2000-0001")
        form.get_by_label("Expires").fill((datetime.now(UTC) - timedelta(days=1)).date().isoformat())
        form.get_by_label("Reason").fill("too late")
        form.get_by_role("button", name="Add exception").click()
        assert "must be in the future" in page.get_by_test_id("error-exception").inner_text()
        assert page.locator('tr[data-exception="CVE-2000-0001"]').count() == 0
        assert dialogs == []

    allowed = pull(srv, f"{REPO}:v1", tmp_path / "after")
    assert allowed.returncode == 0, allowed.stderr
