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
                     headers={"PRIVATE-TOKEN": admin.private_token}).status_code == 422
