"""The GitLab-compatible API under /api/v4, driven by python-gitlab (the client GitLab users script with)
against a real `hullscan serve`."""

from __future__ import annotations

import csv
import io

import gitlab
import httpx
import pytest

from tests.support.auth import ADMIN_HTTP, remember_secret
from tests.vulnerabilities.test_api import seed


def _client(server) -> gitlab.Gitlab:
    r = ADMIN_HTTP.post(f"{server.url}/api/v1/user/personal_access_tokens", json={"name": "gl", "scopes": ["api"]})
    assert r.status_code == 201, r.text
    return gitlab.Gitlab(server.url, private_token=remember_secret(r.json()["token"]), timeout=60)


def test_python_gitlab_lists_triages_and_exports(server) -> None:
    pid = seed(server)
    gl = _client(server)
    project = gl.projects.get("group/api")  # python-gitlab URL-encodes the path
    assert project.id == pid and project.path_with_namespace == "group/api"
    assert gl.projects.get(pid).name == "api"

    # pages by number, as GitLab: page 2 is page 2, headers and Link tell the client where it is
    first = gl.http_list(f"/projects/{pid}/vulnerabilities", per_page=2, iterator=True)
    assert first.total == 3 and first.total_pages == 2 and first.current_page == 1 and first.next_page == 2
    second = gl.http_request("get", f"/projects/{pid}/vulnerabilities", query_data={"page": 2, "per_page": 2})
    assert second.headers["X-Page"] == "2" and second.headers["X-Next-Page"] == ""
    assert second.headers["X-Prev-Page"] == "1" and 'rel="first"' in second.headers["Link"]
    page_ids = [v["id"] for n in (1, 2)
                for v in gl.http_list(f"/projects/{pid}/vulnerabilities", per_page=2, page=n, get_all=False)]
    everything = gl.http_list(f"/projects/{pid}/vulnerabilities", per_page=2, get_all=True)  # follows Link
    assert sorted(page_ids) == sorted(v["id"] for v in everything) and len(set(page_ids)) == 3
    assert gl.http_list(f"/projects/{pid}/vulnerabilities", page=9, get_all=False) == []

    urllib3 = next(v for v in everything if v["identifiers"][0] == "CVE-2019-11324")
    assert urllib3["state"] == "detected" and urllib3["severity"] == "high"
    assert urllib3["report_type"] == "container_scanning_for_registry" and urllib3["project"]["id"] == pid
    vid = urllib3["id"]

    confirmed = gl.http_post(f"/vulnerabilities/{vid}/confirm")
    assert confirmed["state"] == "confirmed" and confirmed["confirmed_at"]
    raw = httpx.post(f"{server.url}/api/v4/vulnerabilities/{vid}/confirm",
                     headers={"PRIVATE-TOKEN": gl.private_token})
    assert raw.status_code == 304  # already confirmed: nothing done, as GitLab
    dismissed = gl.http_post(f"/vulnerabilities/{vid}/dismiss",
                             post_data={"dismissal_reason": "false_positive", "comment": "not reachable"})
    assert dismissed["state"] == "dismissed" and dismissed["dismissal_reason"] == "false_positive"
    assert dismissed["confirmed_at"] is None and dismissed["dismissed_at"]
    reverted = gl.http_post(f"/vulnerabilities/{vid}/revert")
    assert reverted["state"] == "detected" and reverted["dismissal_reason"] is None
    assert gl.http_post(f"/vulnerabilities/{vid}/resolve")["state"] == "resolved"
    assert gl.http_get(f"/vulnerabilities/{vid}")["state"] == "resolved"
    with pytest.raises(gitlab.GitlabHttpError) as missing:
        gl.http_get("/vulnerabilities/999999")
    assert missing.value.response_code == 404

    export = gl.http_post(f"/security/projects/{pid}/vulnerability_exports")
    assert export["status"] == "finished" and export["format"] == "csv" and export["project_id"] == pid
    assert gl.http_get(f"/security/vulnerability_exports/{export['id']}")["id"] == export["id"]
    data = gl.http_get(f"/security/vulnerability_exports/{export['id']}/download", raw=True).content
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 3
    by_cve = {r["CVE"]: r for r in rows}
    assert by_cve["CVE-2019-11324"]["Status"] == "resolved"
    assert by_cve["CVE-2019-11324"]["Comments"].endswith("; not reachable")
    assert by_cve["CVE-2020-0001"]["Vulnerability"].startswith("'=")  # formula neutralised
    assert by_cve["CVE-2019-10906"]["Severity"] == "medium" and by_cve["CVE-2019-10906"]["Project Name"] == "api"


def test_hidden_and_missing_answer_the_same_404(server) -> None:
    pid = seed(server)
    admin = _client(server)
    vid = admin.http_list(f"/projects/{pid}/vulnerabilities", get_all=False)[0]["id"]  # type: ignore[index]
    export = admin.http_post(f"/security/projects/{pid}/vulnerability_exports")["id"]
    ADMIN_HTTP.post(f"{server.url}/api/v1/users", json={"username": "stranger", "password": "stranger-pass-1"})
    r = httpx.post(f"{server.url}/api/v1/user/personal_access_tokens", json={"name": "s", "scopes": ["api"]},
                   auth=("stranger", "stranger-pass-1"))
    assert r.status_code == 201, r.text
    headers = {"PRIVATE-TOKEN": remember_secret(r.json()["token"])}
    base = f"{server.url}/api/v4"
    for hidden, missing in ((f"/projects/{pid}", "/projects/424242"),
                            (f"/projects/{pid}/vulnerabilities", "/projects/424242/vulnerabilities"),
                            (f"/vulnerabilities/{vid}", "/vulnerabilities/424242"),
                            (f"/security/vulnerability_exports/{export}", "/security/vulnerability_exports/424242")):
        a, b = httpx.get(base + hidden, headers=headers), httpx.get(base + missing, headers=headers)
        assert a.status_code == b.status_code == 404, (hidden, a.text, b.text)
    assert httpx.post(f"{base}/vulnerabilities/{vid}/confirm", headers=headers).status_code == 404
    assert httpx.get(f"{base}/projects/{pid}").status_code == 404  # anonymous callers learn nothing either
    assert httpx.get(f"{base}/projects/{pid}/vulnerabilities", params={"page": "0"},
                     headers={"PRIVATE-TOKEN": admin.private_token}).status_code == 400


def test_a_public_project_is_shown_to_any_signed_in_user(server) -> None:
    """GitLab shows a public project to every user, but its vulnerabilities only to those who may use its
    Security Dashboard (Developer and up): a non-member, through python-gitlab, reads the project and is refused
    (403, the project being no secret) its vulnerabilities; a private one stays the 404 of a missing one."""
    pid = seed(server)
    vid = _client(server).http_list(f"/projects/{pid}/vulnerabilities", get_all=False)[0]["id"]  # type: ignore[index]
    ADMIN_HTTP.post(f"{server.url}/api/v1/users", json={"username": "passer", "password": "passer-pass-1"})
    r = httpx.post(f"{server.url}/api/v1/user/personal_access_tokens", json={"name": "p", "scopes": ["read_api"]},
                   auth=("passer", "passer-pass-1"))
    assert r.status_code == 201, r.text
    passer = gitlab.Gitlab(server.url, private_token=remember_secret(r.json()["token"]), timeout=60)

    def refused(call, *args: object) -> int:  # type: ignore[no-untyped-def]
        with pytest.raises(gitlab.GitlabError) as error:
            call(*args)
        return error.value.response_code  # type: ignore[no-any-return]

    # private: the project, its vulnerabilities and one of them are what a missing project's are
    assert refused(passer.projects.get, "group/api") == refused(passer.projects.get, "group/nope") == 404
    assert refused(passer.projects.get, pid) == 404
    assert refused(passer.http_list, f"/projects/{pid}/vulnerabilities") == 404
    assert refused(passer.http_get, f"/vulnerabilities/{vid}") == 404

    assert ADMIN_HTTP.put(f"{server.url}/api/v1/projects/{pid}/visibility",
                          json={"visibility": "public"}).status_code == 200
    project = passer.projects.get("group/api")
    assert (project.id, project.path_with_namespace, project.visibility) == (pid, "group/api", "public")
    assert passer.projects.get(pid).name == "api"
    for call, arg in ((passer.http_list, f"/projects/{pid}/vulnerabilities"), (passer.http_get, f"/vulnerabilities/{vid}"),
                      (passer.http_list, f"/projects/{pid}/dependencies"),
                      (passer.http_post, f"/security/projects/{pid}/vulnerability_exports")):
        assert refused(call, arg) == 403, arg
    # anonymous callers: hullscan's API needs signing in (GitLab would show a public project to them too)
    anonymous = httpx.get(f"{server.url}/api/v4/projects/{pid}")
    assert anonymous.status_code == 401, anonymous.text
    # private again: hidden again
    assert ADMIN_HTTP.put(f"{server.url}/api/v1/projects/{pid}/visibility",
                          json={"visibility": "private"}).status_code == 200
    assert refused(passer.projects.get, "group/api") == 404


def _seed_group(server) -> dict[str, int]:
    """Beside seed()'s group/api: group/sub/web (one finding, in a subgroup), other/x (not in the group) and a
    group row for `group`, so the group can be named by id as well as by path."""
    from hullscan.auth import projects
    from hullscan.db import Database
    from hullscan.db.models.auth import Group
    from hullscan.settings import Settings
    from hullscan.vulnerabilities import service as vulns
    from tests.vulnerabilities.test_service import finding

    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    with db.session() as s:
        ids = {}
        for path, cve in (("group/sub/web", "CVE-2021-0002"), ("other/x", "CVE-2021-0003")):
            pid = ids[path] = projects.create_project(s, path).id
            vulns.record_findings(s, vulns.ImageScope(pid, f"reg/{path}/app", "latest", "sha256:2", "debian 12"),
                                  [finding("lib", "1.0", cve, "low")])
        group = Group(path="group")
        s.add(group)
        s.flush()
        ids["group"] = group.id
    db.dispose()
    return ids


def test_list_filters_as_gitlab_clients_send_them(server) -> None:
    pid = seed(server)
    gl = _client(server)
    url = f"/projects/{pid}/vulnerabilities"

    def ids(**query: object) -> list[str]:
        return sorted(v["identifiers"][0] for v in gl.http_list(url, query_data=query, get_all=True))

    assert ids(severity="high") == ["CVE-2019-11324"]
    both = ["CVE-2019-10906", "CVE-2019-11324"]
    assert ids(severity="high,medium") == both  # comma-separated, as GitLab's arrays
    headers = {"PRIVATE-TOKEN": gl.private_token}
    for params in ([("severity", "high"), ("severity", "medium")], [("severity[]", "high"), ("severity[]", "medium")]):
        r = httpx.get(f"{server.url}/api/v4{url}", params=params, headers=headers)
        assert r.status_code == 200 and r.headers["X-Total"] == "2", r.text
        assert sorted(v["identifiers"][0] for v in r.json()) == both
    assert len(ids(report_type="container_scanning_for_registry")) == 3
    assert ids(report_type="sast,dast") == [] and ids(severity="info") == []  # GitLab's values, none here
    assert len(ids(scanner="hullscan")) == 3 and ids(scanner="trivy") == []
    assert ids(have_issues="true") == [] and len(ids(have_issues="false")) == 3
    vid = gl.http_list(url, query_data={"severity": "critical"}, get_all=False)[0]["id"]  # type: ignore[index]
    gl.http_post(f"/vulnerabilities/{vid}/confirm")
    assert ids(state="confirmed") == ["CVE-2020-0001"] and len(ids(state="detected,confirmed")) == 3
    assert ids(state="dismissed") == []
    filtered = httpx.get(f"{server.url}/api/v4{url}", params={"state": "detected", "per_page": 1}, headers=headers)
    assert filtered.headers["X-Total"] == "2" and filtered.headers["X-Total-Pages"] == "2"
    assert "state=detected" in filtered.headers["Link"]  # the next page keeps the filter

    # a value GitLab does not define is refused (400, the one error body), never ignored
    for params in ({"state": "opened"}, {"severity": "high,bogus"}, {"report_type": "nope"}, {"state[]": ""},
                   {"have_issues": "maybe"}, {"severity": ",".join(["high"] * 51)}):
        r = httpx.get(f"{server.url}/api/v4{url}", params=params, headers=headers)
        assert r.status_code == 400, (params, r.text)
        assert set(r.json()) == {"error"} and next(iter(params)).strip("[]") in r.json()["error"], r.text
    with pytest.raises(gitlab.GitlabHttpError) as refused:
        gl.http_list(url, query_data={"state": "bogus"}, get_all=False)
    assert refused.value.response_code == 400 and b"state does not have a valid value" in refused.value.response_body


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_errors_are_gitlab_shaped_for_python_gitlab(server) -> None:
    """python-gitlab reads `message`, else `error`, as the exception's `error_message`: our text, not a code;
    /api/v1 keeps its own problem body."""
    pid = seed(server)
    gl = _client(server)
    with pytest.raises(gitlab.GitlabGetError) as missing:
        gl.projects.get("group/nope")
    assert (missing.value.response_code, missing.value.error_message) == (404, "404 project 'group/nope' not found")
    with pytest.raises(gitlab.GitlabHttpError) as missing_vuln:
        gl.http_get("/vulnerabilities/999999")
    assert missing_vuln.value.error_message == "404 vulnerability 999999 not found"
    with pytest.raises(gitlab.GitlabAuthenticationError) as bad_token:
        gitlab.Gitlab(server.url, private_token="glpat-not-a-token", timeout=60).projects.get(pid)
    assert bad_token.value.response_code == 401 and bad_token.value.error_message.startswith("401 ")
    assert "token" in bad_token.value.error_message
    with pytest.raises(gitlab.GitlabHttpError) as bad_param:
        gl.http_list(f"/projects/{pid}/vulnerabilities", query_data={"state": "bogus"}, get_all=False)
    assert bad_param.value.response_code == 400
    assert bad_param.value.error_message.startswith("state does not have a valid value: 'bogus' (one of detected")
    with pytest.raises(gitlab.GitlabHttpError) as bad_page:
        gl.http_list(f"/projects/{pid}/vulnerabilities", query_data={"page": 0}, get_all=False)
    assert bad_page.value.response_code == 400 and bad_page.value.error_message.startswith("invalid request: page")
    vid = gl.http_list(f"/projects/{pid}/vulnerabilities", get_all=False)[0]["id"]  # type: ignore[index]
    with pytest.raises(gitlab.GitlabHttpError) as bad_body:
        gl.http_post(f"/vulnerabilities/{vid}/dismiss", post_data={"dismissal_reason": "bored"})
    assert bad_body.value.response_code == 422
    assert bad_body.value.error_message.startswith("invalid request: dismissal_reason")

    # 403: a signed-in stranger may not triage a public project
    assert ADMIN_HTTP.put(f"{server.url}/api/v1/projects/{pid}/visibility",
                          json={"visibility": "public"}).status_code == 200
    ADMIN_HTTP.post(f"{server.url}/api/v1/users", json={"username": "stranger", "password": "stranger-pass-1"})
    stranger = gitlab.Gitlab(server.url, http_username="stranger", http_password="stranger-pass-1", timeout=60)
    with pytest.raises(gitlab.GitlabHttpError) as refused:
        stranger.http_post(f"/vulnerabilities/{vid}/confirm")
    assert refused.value.response_code == 403 and refused.value.error_message.startswith("403 ")

    # /api/v1 keeps its documented problem body
    v1 = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fnope")
    assert v1.status_code == 404 and set(v1.json()) == {"error", "message"} and v1.json()["error"] == "not_found"

    # 429 last: the stranger's failed passwords lock the stranger out
    wrong = gitlab.Gitlab(server.url, http_username="stranger", http_password="wrong-password", timeout=60)
    codes = []
    for _ in range(12):
        with pytest.raises(gitlab.GitlabError) as failed:
            wrong.http_get(f"/projects/{pid}", obey_rate_limit=False, max_retries=0)
        codes.append(failed.value.response_code)
    assert codes[0] == 401 and codes[-1] == 429, codes
    assert failed.value.error_message.startswith("429 ") and "try again" in failed.value.error_message.lower()


def test_outage_is_gitlab_shaped_on_api_v4(tmp_path) -> None:
    """PostgreSQL unreachable: python-gitlab sees 503 with our message (and /api/v1 its own body)."""
    import threading

    import uvicorn

    from hullscan.settings import Settings
    from hullscan.web.app import create_app
    from tests.support.net import free_port

    url = f"postgresql+psycopg://hullscan@127.0.0.1:{free_port()}/hullscan?connect_timeout=2"
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=url, role="api", runner_pool_size=0))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        gl = gitlab.Gitlab(f"http://127.0.0.1:{port}", private_token="hspat_" + "a" * 40, timeout=30)
        with pytest.raises(gitlab.GitlabHttpError) as outage:
            gl.http_get("/projects/1", retry_transient_errors=False)
        assert outage.value.response_code == 503
        assert outage.value.error_message == "503 the database is unavailable; retry shortly"
        v1 = httpx.get(f"http://127.0.0.1:{port}/api/v1/projects", headers={"PRIVATE-TOKEN": gl.private_token or ""},
                       timeout=30)
        assert v1.status_code == 503 and v1.json()["error"] == "service_unavailable"
    finally:
        server.should_exit = True
        thread.join(10)


def test_group_exports_and_exports_in_the_storage_driver(server) -> None:
    pid = seed(server)
    ids = _seed_group(server)
    gl = _client(server)
    by_path = gl.http_post("/security/groups/group/vulnerability_exports")
    by_id = gl.http_post(f"/security/groups/{ids['group']}/vulnerability_exports")
    for export in (by_path, by_id):
        assert export["status"] == "finished" and export["group_id"] == ids["group"]
        assert export["project_id"] is None
        rows = list(csv.DictReader(io.StringIO(gl.http_get(
            f"/security/vulnerability_exports/{export['id']}/download", raw=True).content.decode())))
        assert sorted(r["CVE"] for r in rows) == ["CVE-2019-10906", "CVE-2019-11324", "CVE-2020-0001",
                                                  "CVE-2021-0002"]  # group/api and group/sub/web, not other/x
        assert {r["Group Name"] for r in rows} == {"group", "group/sub"}
    stored = server.data_dir / "vulnerability_exports"
    assert (stored / f"{by_path['id']}.csv").is_file() and (stored / f"{by_path['id']}.json").is_file()
    project_export = gl.http_post(f"/security/projects/{pid}/vulnerability_exports")
    assert project_export["project_id"] == pid and project_export["group_id"] is None

    # a group with nothing the caller may read answers as a group that does not exist
    ADMIN_HTTP.post(f"{server.url}/api/v1/users", json={"username": "outsider", "password": "outsider-pass-1"})
    r = httpx.post(f"{server.url}/api/v1/user/personal_access_tokens", json={"name": "o", "scopes": ["api"]},
                   auth=("outsider", "outsider-pass-1"))
    headers = {"PRIVATE-TOKEN": remember_secret(r.json()["token"])}
    base = f"{server.url}/api/v4/security"
    for group in ("group", str(ids["group"]), "nope", "424242", "group%2Fsub"):
        assert httpx.post(f"{base}/groups/{group}/vulnerability_exports", headers=headers).status_code == 404
    assert httpx.get(f"{base}/vulnerability_exports/{by_path['id']}", headers=headers).status_code == 404
    assert httpx.post(f"{base}/groups/group/vulnerability_exports").status_code == 401
    sub = gl.http_post("/security/groups/group%2Fsub/vulnerability_exports")  # a subgroup by its path
    assert sub["group_id"] is None
    rows = list(csv.DictReader(io.StringIO(gl.http_get(
        f"/security/vulnerability_exports/{sub['id']}/download", raw=True).content.decode())))
    assert [r["CVE"] for r in rows] == ["CVE-2021-0002"]


def test_exports_live_in_s3_when_storage_is_s3(tmp_path) -> None:
    """Every node of an instance serves an export, whichever node wrote it: the export is in the bucket."""
    from tests.support.s3 import S3Server
    from tests.support.server import HullscanServer

    s3 = S3Server(tmp_path / "s3").start()
    srv = None
    try:
        bucket = s3.create_bucket("exports")
        srv = HullscanServer(tmp_path / "data", env={"HULLSCAN_RUNNER_POOL_SIZE": "0",
                                                     **s3.env(bucket, prefix="hs/")}).start()
        pid = seed(srv)
        gl = _client(srv)
        export = gl.http_post(f"/security/projects/{pid}/vulnerability_exports")
        keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket, Prefix="hs/vulnerability_exports/")
                .get("Contents", [])}
        assert keys == {f"hs/vulnerability_exports/{export['id']}.csv", f"hs/vulnerability_exports/{export['id']}.json"}
        assert not (srv.data_dir / "vulnerability_exports").exists()
        data = gl.http_get(f"/security/vulnerability_exports/{export['id']}/download", raw=True).content
        assert len(list(csv.DictReader(io.StringIO(data.decode())))) == 3
        stored = s3.client().get_object(Bucket=bucket, Key=f"hs/vulnerability_exports/{export['id']}.csv")
        assert stored["Body"].read() == data
    finally:
        if srv is not None:
            srv.stop()
        s3.stop()


def _statements(app, call) -> int:  # type: ignore[no-untyped-def]
    """How many SQL statements `call()` runs on the app's database."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(app.state.db.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(app.state.db.engine, "before_cursor_execute", count)
    return len(seen)


def test_a_page_of_vulnerabilities_costs_the_same_statements_at_50_as_at_5(migrated_settings) -> None:
    """No query per vulnerability (their confirmed/dismissed/resolved times come in one query per page)."""
    import warnings

    from hullscan.auth import projects
    from hullscan.auth import service as auth
    from hullscan.db import Database
    from hullscan.vulnerabilities import service as vulns
    from hullscan.web.app import create_app
    from tests.support.auth import bootstrap_admin
    from tests.vulnerabilities.test_service import finding

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    bootstrap_admin(migrated_settings)
    db = Database(migrated_settings)
    with db.session() as s:
        pid = projects.create_project(s, "group/many").id
        vulns.record_findings(s, vulns.ImageScope(pid, "reg/group/many/app", "latest", "sha256:1", "debian 12"),
                              [finding(f"pkg{n}", "1.0", f"CVE-2024-{1000 + n}", "high") for n in range(60)])
        ids = list(s.scalars(vulns.select(vulns.Vulnerability.id).where(vulns.Vulnerability.project_id == pid)))
        for n, vid in enumerate(ids):  # every state, some with several transitions
            for state in (("confirmed",), ("dismissed", "confirmed"), ("resolved",), ())[n % 4]:
                vulns.change_state(s, [vid], state, author="admin",
                                   dismissal_reason="false_positive" if state == "dismissed" else None)
        _row, token = auth.create_personal_access_token(s, auth.require_user(s, "admin"), "t", ["read_api"])
    db.dispose()
    app = create_app(migrated_settings)
    client = TestClient(app)
    url = f"/api/v4/projects/{pid}/vulnerabilities"
    answers: dict[int, list[dict]] = {}

    def page(size: int) -> None:
        r = client.get(url, params={"per_page": size}, headers={"PRIVATE-TOKEN": token})
        assert r.status_code == 200, r.text
        answers[size] = r.json()

    page(5)  # warm: the first request loads what every later one reuses
    small, large = _statements(app, lambda: page(5)), _statements(app, lambda: page(50))
    assert len(answers[50]) == 50 and small == large, (small, large)
    for v in answers[50]:  # and the times are right: only the current state's, from its latest transition
        with_times = {k for k in ("confirmed_at", "dismissed_at", "resolved_at") if v[k]}
        assert with_times == ({f"{v['state']}_at"} if v["state"] != "detected" else set()), v
    one = client.get(f"/api/v4/vulnerabilities/{answers[50][0]['id']}", headers={"PRIVATE-TOKEN": token}).json()
    assert one == answers[50][0]
    app.state.db.dispose()
