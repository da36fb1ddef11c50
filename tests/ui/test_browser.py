"""The report in a real browser: Debian Chromium via Playwright against a real `hullscan serve`, an image
pushed with skopeo, triage, CSV export, images and SBOM download, and hostile strings rendering inert.

Screenshots of every page go to `<pytest tmp dir>/screenshots/`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
from pathlib import Path


from hullscan.advisories import service as advisories
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.conftest import data_path, image_layout
from tests.ui.browser import assert_inert, chromium_page
from tests.ui.seed import XSS_NAME, finding
from tests.support.auth import ADMIN_HTTP
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER

PROJECT = "group/app"
REPORT = "/projects/group/app/-/security/vulnerability_report"


def _db(server) -> Database:  # type: ignore[no-untyped-def]
    return Database(Settings(data_dir=server.data_dir, database_url=server.database_url))


def _wait_for_scan(server, timeout: float = 240) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fapp/pipelines", timeout=60).json()
        if rows and rows[0]["status"] in ("success", "failed", "canceled"):
            assert rows[0]["status"] == "success", rows[0]
            return rows[0]
        time.sleep(1)
    raise AssertionError(f"the scan did not finish in {timeout}s: {server.log_path.read_text()[-2000:]}")


def _seed_worker_image(server, image_name: str) -> None:  # type: ignore[no-untyped-def]
    """A second image: one real finding and one from an SBOM whose package name and description are hostile."""
    db = _db(server)
    with db.session() as s:
        pid = projects.get_project(s, PROJECT).id
        vulns.record_findings(s, vulns.ImageScope(pid, image_name, "v1", "sha256:" + "7" * 64, "debian 12"), [
            finding("libc6", "2.36-9", "CVE-2023-4911", "high", ["2.36-9+deb12u3"]),
            finding(XSS_NAME, "1.0", "CVE-2099-0001", "low",
                    description='<script>alert("desc")</script>"onerror=alert(1) <img src=x onerror=alert(2)>'),
        ])
    db.dispose()


def _wait_for_rows(page, seconds: float) -> list[int]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        rows = _rows(page)
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(1)
        page.reload()


def _count(page, severity: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.locator(f'.counter[data-severity="{severity}"] .n').inner_text())


def _rows(page) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(x) for x in page.locator("tr[data-vulnerability]").evaluate_all(
        "rows => rows.map(r => r.dataset.vulnerability)")]


def test_push_scan_triage_export_images_in_chromium(server, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    layout = image_layout("debian-python-app")
    db = _db(server)
    with db.session() as s:
        projects.create_project(s, PROJECT, cs4r_enabled=False)
    db.dispose()

    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        # signed out, every page leads to the sign-in form; a wrong password is refused, the right one lets in
        page.goto("/")
        assert "/users/sign_in" in page.url
        page.get_by_label("Username").fill(ADMIN_USER)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        assert "Invalid username or password" in page.get_by_test_id("sign-in-error").inner_text()
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/projects")
        assert "Signed in as admin" in page.get_by_test_id("principal").inner_text()
        page.screenshot(path=str(shots / "01-projects.png"), full_page=True)

        # the tab explains that the setting is off and links to it; enable it there
        page.goto(REPORT + "?tab=CONTAINER_REGISTRY")
        assert page.get_by_test_id("cs4r-disabled").is_visible()
        page.screenshot(path=str(shots / "02-report-disabled.png"), full_page=True)
        page.get_by_role("link", name="Enable container scanning for registry").click()
        assert "/-/settings" in page.url
        page.get_by_test_id("cs4r-toggle").check()
        page.get_by_role("button", name="Save changes").click()
        assert page.get_by_text("Settings saved.").is_visible()
        page.screenshot(path=str(shots / "03-settings.png"), full_page=True)

        # real advisories (OSV PyPI from ../shared) so the scan's SBOM matches the app's old Python packages
        db = _db(server)
        imported = advisories.import_path(db, db.settings, str(data_path("advisories", "osv", "pypi.jsonl.gz")))
        db.dispose()
        assert imported[0].ok and imported[0].added > 1000

        # push the app image with skopeo; the push becomes a scan pipeline, its SBOM becomes vulnerabilities
        push = subprocess.run(["skopeo", "copy", "--dest-creds", server.creds, "--dest-tls-verify=false", f"oci:{layout}:latest",
                               f"docker://{server.host}/group/app/web:latest"], capture_output=True, text=True,
                              timeout=300)
        assert push.returncode == 0, push.stderr[-2000:]
        pipeline = _wait_for_scan(server)
        job = pipeline["jobs"][0]
        assert job["image"] == f"{server.host}/group/app/web:latest"
        # a tag outside the patterns is dropped, visibly, with its reason
        push = subprocess.run(["skopeo", "copy", "--dest-creds", server.creds, "--dest-tls-verify=false", f"oci:{layout}:latest",
                               f"docker://{server.host}/group/app/web:dev"], capture_output=True, text=True,
                              timeout=300)
        assert push.returncode == 0, push.stderr[-2000:]
        page.goto("/projects/group/app/-/pipelines")
        deadline = time.monotonic() + 30
        while not page.get_by_text("Tag does not match the scan patterns").count() and time.monotonic() < deadline:
            time.sleep(1)
            page.reload()
        assert page.get_by_text("Tag does not match the scan patterns").is_visible()
        assert page.get_by_text("Container registry push").first.is_visible()
        assert page.locator(f'tr[data-pipeline="{pipeline["id"]}"] .status').inner_text() == "success"
        page.screenshot(path=str(shots / "04-pipelines.png"), full_page=True)
        page.get_by_role("link", name=job["image"]).first.click()
        page.wait_for_function("() => document.querySelector('[data-testid=log]').textContent.length > 0")
        page.screenshot(path=str(shots / "05-job-log.png"), full_page=True)

        # the Container registry tab fills from the scan; a second image with a hostile SBOM entry is recorded
        # through the service (the call ingestion makes)
        page.goto(REPORT + "?tab=CONTAINER_REGISTRY")
        assert _wait_for_rows(page, 120), server.log_path.read_text()[-3000:]
        page.goto(REPORT + "?tab=CONTAINER_REGISTRY&package=urllib3")
        assert _rows(page) and "1.24.1" in page.locator("table.report").inner_text()
        worker = f"{server.host}/group/app/worker"
        _seed_worker_image(server, worker)
        page.goto(REPORT + "?tab=CONTAINER_REGISTRY")
        assert _rows(page)
        page.screenshot(path=str(shots / "06-report.png"), full_page=True)
        assert page.locator("table.report").get_by_text(f"{server.host}/group/app/web:latest").first.is_visible()
        severity = next(sev for sev in ("critical", "high", "medium", "low") if _count(page, sev))
        expected = _count(page, severity)

        # filter by severity
        page.get_by_label(severity.capitalize(), exact=True).check()
        page.get_by_role("button", name="Apply filters").click()
        assert len(_rows(page)) == min(expected, 20) and _count(page, severity) == expected
        assert set(page.locator("tr[data-vulnerability] .sev").all_inner_texts()) == {severity.capitalize()}
        assert sum(_count(page, other) for other in ("critical", "high", "medium", "low", "unknown")) == expected
        page.get_by_label(severity.capitalize(), exact=True).uncheck()
        # filter by image
        page.locator('select[name="image"]').select_option(f"{worker}:v1")
        page.get_by_role("button", name="Apply filters").click()
        assert len(_rows(page)) == 2 and "CVE-2023-4911" in page.locator("table.report").inner_text()
        page.screenshot(path=str(shots / "07-report-filtered.png"), full_page=True)

        # export the current filter as CSV and check its rows
        with page.expect_download() as download_info:
            page.get_by_test_id("export").click()
        rows = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text())))
        assert sorted(r["identifier"] for r in rows) == ["CVE-2023-4911", "CVE-2099-0001"]
        assert {r["image"] for r in rows} == {f"{worker}:v1"}
        assert {r["package"] for r in rows} == {"libc6", XSS_NAME}

        # dismiss one with a reason and see it in its history
        target = page.locator("tr[data-vulnerability]").filter(has_text="CVE-2023-4911")
        vid = int(target.get_attribute("data-vulnerability"))
        target.get_by_role("checkbox").check()
        page.get_by_label("Set status").select_option("dismissed")
        page.get_by_label("Reason").select_option("used_in_tests")
        page.get_by_label("Comment").fill("only the test stage runs this libc")
        page.get_by_role("button", name="Change status of selected").click()
        assert page.get_by_text("1 vulnerability updated.").is_visible()
        assert vid not in _rows(page) and len(_rows(page)) == 1  # the filter is kept, dismissed rows hidden
        page.goto(f"/projects/group/app/-/security/vulnerabilities/{vid}")
        history = page.get_by_test_id("history").inner_text()
        assert "Dismissed: Used in tests" in history and "only the test stage runs this libc" in history
        assert "Dismissed" in page.get_by_test_id("state").inner_text()
        page.screenshot(path=str(shots / "08-vulnerability.png"), full_page=True)

        # images page: the pushed tag with its digest, last scan and SBOM downloads
        page.goto("/projects/group/app/-/images")
        row = page.locator('tr[data-image="group/app/web:latest"]')
        assert job["digest"][:19] in row.inner_text() and "success" in row.inner_text()
        page.screenshot(path=str(shots / "09-images.png"), full_page=True)
        with page.expect_download() as cdx_info:
            row.get_by_test_id("sbom-cdx").click()
        cdx = json.loads(Path(cdx_info.value.path()).read_text())
        assert cdx["bomFormat"] == "CycloneDX"
        names = {str(c.get("name")).lower() for c in cdx.get("components", [])}
        assert {"urllib3", "jinja2", "libc6"} <= names
        with page.expect_download() as spdx_info:
            row.get_by_test_id("sbom-spdx").click()
        spdx = json.loads(Path(spdx_info.value.path()).read_text())
        assert spdx["spdxVersion"] == "SPDX-2.3" and {"urllib3", "libc6"} <= {str(p["name"]).lower() for p in spdx["packages"]}

        # overview with trend chart, admin pages
        page.goto("/projects/group/app/-/overview")
        assert page.get_by_test_id("trend-chart").is_visible()
        page.screenshot(path=str(shots / "10-overview.png"), full_page=True)
        for name, url in (("11-admin", "/admin"), ("12-advisories", "/admin/advisories"), ("13-runners", "/admin/runners")):
            page.goto(url)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert "online" in page.locator("table").inner_text()  # the local runner pool that ran the scan

        # the user's own settings: a personal access token is shown once, then revoked
        page.get_by_test_id("user-settings-link").click()
        page.wait_for_url("**/user_settings")
        page.get_by_label("Name").fill("browser token")
        page.get_by_label("read_api").check()
        page.get_by_role("button", name="Create token").click()
        assert re.search(r"hspat_\S{20,}", page.get_by_test_id("new-token").inner_text())
        page.screenshot(path=str(shots / "14-user-settings.png"), full_page=True)
        page.locator("tr[data-token] summary").filter(has_text="Revoke").click()  # asks first
        page.locator("tr[data-token]").get_by_role("button", name="Revoke token").click()
        page.wait_for_url("**/user_settings#personal-access-tokens")
        assert "revoked" in page.locator("tr[data-token]").inner_text()
        assert page.get_by_test_id("new-token").count() == 0  # never shown again

        # hostile package name and description are inert on every page that shows them
        with _db(server).session() as s:
            xss_id = s.scalars(vulns.select(vulns.Vulnerability.id)
                               .where(vulns.Vulnerability.package_name == XSS_NAME)).one()
        for url in (REPORT + "?tab=CONTAINER_REGISTRY&state=all", REPORT + "?tab=CONTAINER_REGISTRY&severity=low",
                    REPORT + f"?tab=CONTAINER_REGISTRY&image={worker}:v1",
                    f"/projects/group/app/-/security/vulnerabilities/{xss_id}", "/projects/group/app/-/images",
                    "/projects/group/app/-/overview", "/projects"):
            page.goto(url)
            assert_inert(page)
        page.goto(f"/projects/group/app/-/security/vulnerabilities/{xss_id}")
        assert XSS_NAME in page.get_by_test_id("package").inner_text()  # shown as text
        assert '<script>alert("desc")</script>' in page.get_by_test_id("description").inner_text()
        page.screenshot(path=str(shots / "15-xss-inert.png"), full_page=True)
        assert dialogs == []
    assert len(list(shots.glob("*.png"))) == 15
    assert re.match(r"sha256:[0-9a-f]{64}$", job["digest"])
