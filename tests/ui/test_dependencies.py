"""The dependency list per project and per image: what ingestion stored for each image's SBOM (written by the
scanner's CycloneDX writer and ingested as a scan's would be), one row per package version with type, licences,
images and open vulnerabilities by severity (only for those who may read them), searchable by name prefix and
type, paged, exported as CSV and CycloneDX (validated by cyclonedx-python-lib's schema validator); then the pages
in Chromium as an administrator, a developer and a reporter at 1366 and 390 px."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from pathlib import Path

import pytest

from hullscan.auth import projects
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.ingestion import dependencies as deps
from hullscan.ingestion.service import ingest_sbom
from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.settings import Settings
from hullscan.vulnerabilities import service as vulns
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER, sign_in
from tests.ui.browser import assert_inert, chromium_page, sign_in_as
from tests.ui.seed import finding

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HOST = "registry.test:5000"
PAGE = "/projects/group/app/-/dependencies"
HOSTILE = '<script>window.__xss=1</script>"onerror=alert(1)'


def _deb(name: str, version: str, licenses: list[str]) -> Package:
    return Package(name=name, version=version, type="deb", purl=f"pkg:deb/debian/{name}@{version}?distro=debian-12",
                   licenses=licenses, path="/var/lib/dpkg/status")


def _pip(name: str, version: str, licenses: list[str]) -> Package:
    return Package(name=name, version=version, type="python", purl=f"pkg:pypi/{name.lower()}@{version}",
                   licenses=licenses, path=f"/usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA")


def _ingest(db: Database, tmp: Path, pid: int, repo: str, tag: str, packages: list[Package]) -> None:
    inventory = Inventory(image=ImageInfo(name=f"{HOST}/{repo}", tag=tag, digest="sha256:" + f"{len(tag):064x}"),
                          os=OperatingSystem(family="debian", version="12"), packages=packages)
    path = tmp / f"gl-sbom-{repo.replace('/', '-')}-{tag}.cdx.json"
    path.write_text(write_cyclonedx(inventory, registry_triggered=True))
    with db.session() as s:
        ingest_sbom(s, pid, path)


def _seed(db: Database, tmp: Path, *, extra: int = 0) -> int:
    """group/app: web:latest (openssl, zlib1g, urllib3, a hostile name, `extra` filler packages) and
    worker:v1 (openssl at the same version, requests); open findings on openssl. Users dave (developer),
    rita (reporter), olga (another project)."""
    with db.session() as s:
        pid = projects.create_project(s, "group/app", cs4r_enabled=True).id
        projects.create_project(s, "other/app")
        for name, path, role in (("dave", "group/app", auth.Role.DEVELOPER), ("rita", "group/app", auth.Role.REPORTER),
                                 ("olga", "other/app", auth.Role.OWNER)):
            auth.create_user(s, name, f"{name}-password-1")
            auth.add_member(s, name, path, role)
    web = [_deb("openssl", "3.0.11-1", ["Apache-2.0"]), _deb("zlib1g", "1:1.2.13.dfsg-1", ["Zlib"]),
           _pip("urllib3", "1.24.1", ["MIT"]), _pip(HOSTILE, "1.0", ["=HYPERLINK(\"http://evil\")"])]
    web += [_deb(f"filler-{n:03d}", "1.0", []) for n in range(extra)]
    _ingest(db, tmp, pid, "group/app/web", "latest", web)
    _ingest(db, tmp, pid, "group/app/worker", "v1", [_deb("openssl", "3.0.11-1", ["Apache-2.0"]),
                                                      _pip("requests", "2.19.0", ["Apache-2.0"])])
    with db.session() as s:
        for repo, tag, digest in (("web", "latest", "1"), ("worker", "v1", "2")):
            vulns.record_findings(s, vulns.ImageScope(pid, f"{HOST}/group/app/{repo}", tag, "sha256:" + digest * 64,
                                                      "debian 12"), [
                finding("openssl", "3.0.11-1", "CVE-2024-0727", "high"),
                finding("openssl", "3.0.11-1", "CVE-2024-2511", "medium")])
    return pid


def _as(client: TestClient, user: str) -> TestClient:
    other = TestClient(client.app, follow_redirects=False)
    assert sign_in(other, user, f"{user}-password-1").status_code == 303
    return other


def test_service_groups_filters_pages_and_exports(db, tmp_path) -> None:
    pid = _seed(db, tmp_path, extra=45)
    with db.session() as s:
        query = deps.DependencyQuery(project_id=pid)
        first, total = deps.list_dependencies(s, query, per_page=20)
        assert total == 45 + 5  # openssl once although in two images
        names = [d.name for d in first]
        assert names == sorted(names) and len(first) == 20
        everything = [d.name for p in range(1, 4) for d in deps.list_dependencies(s, query, page=p, per_page=20)[0]]
        assert len(everything) == 50 and len(set(everything)) == 50  # pages neither overlap nor skip
        openssl = deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, name_prefix="OPEN"))[0]
        assert [(d.name, d.version, d.type, d.licenses) for d in openssl] == [
            ("openssl", "3.0.11-1", "deb", ["Apache-2.0"])]
        assert openssl[0].images == [f"{HOST}/group/app/web:latest", f"{HOST}/group/app/worker:v1"]
        assert openssl[0].purl == "pkg:deb/debian/openssl@3.0.11-1?distro=debian-12"
        pips = deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, type="python"))[0]
        assert {d.name for d in pips} == {"urllib3", "requests", HOSTILE}
        # LIKE's wildcards in a prefix are text, not patterns
        assert deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, name_prefix="%"))[1] == 0
        assert deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, name_prefix="filler_"))[1] == 0
        worker = deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, image="group/app/worker:v1"))[0]
        assert [d.name for d in worker] == ["openssl", "requests"]
        assert worker[0].images == [f"{HOST}/group/app/worker:v1"]  # only the image asked about
        same = deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, image=f"{HOST}/group/app/worker:v1"))
        assert [d.name for d in same[0]] == ["openssl", "requests"]
        for bad in ("group/app/worker:v2", "worker", "registry.test:5000/group/app/worker"):
            with pytest.raises(deps.DependencyError):
                deps.list_dependencies(s, deps.DependencyQuery(project_id=pid, image=bad))
        exported = list(deps.iter_dependencies(s, query, batch=7))
        assert [d.name for d in exported] == sorted(everything)
        counts = vulns.package_severity_counts(s, pid, [("openssl", "3.0.11-1"), ("zlib1g", "1:1.2.13.dfsg-1")])
        assert counts[("openssl", "3.0.11-1")]["high"] == 2 and counts[("openssl", "3.0.11-1")]["medium"] == 2
        assert sum(counts[("zlib1g", "1:1.2.13.dfsg-1")].values()) == 0
        only_web = vulns.package_severity_counts(s, pid, [("openssl", "3.0.11-1")],
                                                 images=[f"{HOST}/group/app/web:latest"])
        assert only_web[("openssl", "3.0.11-1")]["high"] == 1


def test_export_limit_is_refused_before_anything_is_sent(db, tmp_path, monkeypatch) -> None:
    pid = _seed(db, tmp_path)
    monkeypatch.setattr(deps, "EXPORT_LIMIT", 3)
    with db.session() as s, pytest.raises(deps.DependencyError, match="more than one export holds"):
        next(deps.iter_dependencies(s, deps.DependencyQuery(project_id=pid)))


def test_pages_links_permissions_and_exports(client, db, tmp_path) -> None:
    _seed(db, tmp_path, extra=25)
    html = client.get(PAGE).text
    assert 'data-testid="dependency-total">30 dependencies' in html
    assert html.count("data-dependency=") == 20 and 'data-testid="next-page"' in html
    assert f'href="{PAGE}?page=2"' in html
    page2 = client.get(PAGE + "?page=2").text
    assert page2.count("data-dependency=") == 10 and 'data-testid="current-page">2<' in page2
    assert client.get(PAGE + "?page=99").status_code == 200  # past the end: the last page
    assert client.get(PAGE + "?per_page=7").status_code == 400
    # the hostile name is text; the openssl row links to the report filtered to its vulnerabilities
    found = client.get(PAGE + "?name=%3Cscr").text
    assert "<script>window.__xss" not in found and "&lt;script&gt;window.__xss" in found
    openssl = client.get(PAGE + "?name=openssl").text
    assert ('href="/projects/group/app/-/security/vulnerability_report?tab=CONTAINER_REGISTRY&amp;package=openssl"'
            in openssl)
    assert re.search(r'data-testid="dependency-vulns">.*?High</span> 2 .*?Medium</span> 2', openssl, re.S)
    assert f'href="{PAGE}?image=registry.test%3A5000%2Fgroup%2Fapp%2Fworker%3Av1"' in openssl
    worker = client.get(PAGE, params={"image": f"{HOST}/group/app/worker:v1"}).text
    assert worker.count("data-dependency=") == 2 and "High</span> 1" in worker
    assert client.get(PAGE, params={"image": "group/app/nope:v1"}).status_code == 404
    assert 'href="/projects/group/app/-/dependencies"' in client.get("/projects/group/app/-/images").text

    # CSV: formula-safe, filtered like the page
    r = client.get(PAGE + "/export.csv", params={"type": "python"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="dependencies-group-app.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == list(("name", "version", "type", "purl", "licenses", "images"))
    assert sorted(row[0] for row in rows[1:]) == sorted(["urllib3", "requests", HOSTILE])
    hostile = next(row for row in rows if row[0] == HOSTILE)
    assert hostile[4].startswith("'=HYPERLINK")  # a formula is text in a spreadsheet
    assert client.get(PAGE + "/export.csv", params={"image": "nope:v1"}).status_code == 400

    # CycloneDX: valid 1.6 JSON by cyclonedx-python-lib's validator, one component per dependency
    r = client.get(PAGE + "/export.cdx.json", params={"image": "group/app/worker:v1"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.cyclonedx+json"
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(r.text) is None
    doc = json.loads(r.text)
    assert doc["specVersion"] == "1.6"
    assert {(c["name"], c["version"], c.get("purl")) for c in doc["components"]} == {
        ("openssl", "3.0.11-1", "pkg:deb/debian/openssl@3.0.11-1?distro=debian-12"),
        ("requests", "2.19.0", "pkg:pypi/requests@2.19.0")}
    assert all(c["licenses"] for c in doc["components"])

    # who sees what: a reporter sees the list but no vulnerability counts; another project's owner gets 404
    rita = _as(client, "rita")
    html = rita.get(PAGE + "?name=openssl").text
    assert "data-dependency=" in html and "dependency-vulns" not in html and "vulnerability_report" not in html
    assert rita.get(PAGE + "/export.csv").status_code == 200
    olga = _as(client, "olga")
    for url in (PAGE, PAGE + "/export.csv", PAGE + "/export.cdx.json"):
        assert olga.get(url).status_code == 404, url


def test_gitlab_dependencies_api(client, db, tmp_path) -> None:
    """GET /api/v4/projects/:id/dependencies as GitLab answers it: package_manager names and filter, the
    dependency's open vulnerabilities with links, licences, page headers; Developer and up; 404 when hidden."""
    pid = _seed(db, tmp_path, extra=25)
    with db.session() as s:
        headers = {}
        for user in ("dave", "rita", "olga"):
            _row, token = auth.create_personal_access_token(s, auth.require_user(s, user), "t", ["read_api"])
            headers[user] = {"PRIVATE-TOKEN": token}
    api = f"/api/v4/projects/{pid}/dependencies"
    r = client.get(api, headers=headers["dave"], params={"per_page": 10})
    assert r.status_code == 200 and len(r.json()) == 10
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Next-Page"]) == ("30", "3", "2")
    pip = client.get(api, headers=headers["dave"], params={"package_manager": "pip"}).json()
    assert sorted(d["name"] for d in pip) == sorted(["urllib3", "requests", HOSTILE])
    assert all(d["package_manager"] == "pip" for d in pip)
    urllib3 = next(d for d in pip if d["name"] == "urllib3")
    assert urllib3["licenses"] == [{"name": "MIT", "url": None}] and urllib3["vulnerabilities"] == []
    assert urllib3["dependency_file_path"].endswith("urllib3-1.24.1.dist-info/METADATA")
    deb = client.get(api, headers=headers["dave"], params={"package_manager": "deb", "per_page": 100}).json()
    openssl = next(d for d in deb if d["name"] == "openssl")
    assert [v["severity"] for v in openssl["vulnerabilities"]] == ["high", "high", "medium", "medium"]
    assert re.fullmatch(r"http://testserver/projects/group/app/-/security/vulnerabilities/\d+",
                        openssl["vulnerabilities"][0]["url"])
    assert client.get(api, headers=headers["dave"], params={"package_manager": "maven"}).json() == []
    assert client.get(api, headers=headers["rita"]).status_code == 403  # GitLab: Developer and up
    assert client.get(api, headers=headers["olga"]).status_code == 404


def test_browser_dependency_list_as_each_role_fits_390px(server, tmp_path: Path) -> None:
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    try:
        _seed(db, tmp_path, extra=25)
    finally:
        db.dispose()
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for user, password, reads_vulns in ((ADMIN_USER, ADMIN_PASSWORD, True), ("dave", "dave-password-1", True),
                                            ("rita", "rita-password-1", False)):
            page.set_viewport_size({"width": 1366, "height": 768})
            sign_in_as(page, user, password)
            page.goto("/projects/group/app/-/images")
            page.get_by_role("navigation", name="Project").get_by_role("link", name="Dependencies").click()
            page.wait_for_url(f"**{PAGE}")
            assert page.get_by_test_id("dependency-total").inner_text() == "30 dependencies"
            page.get_by_test_id("dependency-name").fill("open")
            page.get_by_role("button", name="Search").click()
            page.wait_for_url("**name=open**")
            assert page.locator("tr[data-dependency]").count() == 1
            assert page.get_by_test_id("dependency-vulns").count() == (1 if reads_vulns else 0)
            if reads_vulns:
                page.get_by_test_id("dependency-vulns").get_by_role("link").click()
                page.wait_for_url("**/security/vulnerability_report?**package=openssl**")
                assert page.locator("tr[data-vulnerability]").count() == 4
                page.go_back()
            page.get_by_role("link", name=f"{HOST}/group/app/worker:v1").click()
            page.wait_for_url("**image=**")
            assert page.get_by_test_id("dependency-image").inner_text() == f"{HOST}/group/app/worker:v1"
            assert page.locator("tr[data-dependency]").count() == 2
            with page.expect_download() as download:
                page.get_by_test_id("export-cyclonedx").click()
            assert json.loads(Path(download.value.path()).read_text())["bomFormat"] == "CycloneDX"
            page.goto(PAGE + "?type=python")
            assert_inert(page)  # the hostile package name is text
            for width in (1366, 390):
                page.set_viewport_size({"width": width, "height": 844})
                for url in (PAGE, PAGE + "?page=2", PAGE + "?name=open"):
                    page.goto(url)
                    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), \
                        (user, width, url)
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        assert dialogs == []


def test_gitlab_dependencies_api_costs_the_same_statements_at_50_as_at_5(client, db, tmp_path) -> None:
    """No query per dependency: their vulnerabilities come in one query per page."""
    from sqlalchemy import event

    pid = _seed(db, tmp_path, extra=60)
    with db.session() as s:
        _row, token = auth.create_personal_access_token(s, auth.require_user(s, "dave"), "t", ["read_api"])
    engine = client.app.state.db.engine
    counts: dict[int, int] = {}
    for size in (5, 5, 50):  # the first request warms what every later one reuses
        seen: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            seen.append(statement)  # noqa: B023 - listened to only during this iteration

        event.listen(engine, "before_cursor_execute", count)
        r = client.get(f"/api/v4/projects/{pid}/dependencies", params={"per_page": size},
                       headers={"PRIVATE-TOKEN": token})
        event.remove(engine, "before_cursor_execute", count)
        assert r.status_code == 200 and len(r.json()) == size
        counts[size] = len(seen)
    assert counts[5] == counts[50], counts
    assert any(d["vulnerabilities"] for d in client.get(f"/api/v4/projects/{pid}/dependencies",
                                                        params={"per_page": 100},
                                                        headers={"PRIVATE-TOKEN": token}).json())
