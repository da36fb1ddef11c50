"""Stored VEX statements are visible and can be withdrawn: the API lists them (paged, by vulnerability and by
document) to reporters and up, developers and up withdraw a document (audited; the findings it changed keep their
states), hidden and missing projects and documents answer 404; `hullscan vex list/withdraw`; the project's VEX
page lists the documents with their counts and a confirmed Withdraw button (in Chromium, as a reporter and as a
developer). A real `hullscan serve`, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from hullscan.auth import Role
from hullscan.auth import service as auth
from hullscan.db import Database
from hullscan.settings import Settings
from tests.support.auth import ADMIN_HTTP, ADMIN_USER
from tests.ui.browser import chromium_page, sign_in_as
from tests.vex.test_vex_roundtrip import seed, states

PROJECT = "group/vexmanage"
DOC_A, DOC_B = "https://vex.test/a", "https://vex.test/b"


def _doc(doc_id: str, *statements: dict) -> bytes:
    return json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "@id": doc_id, "author": "t",
                       "timestamp": "2026-12-01T00:00:00Z", "version": 1, "statements": list(statements)}).encode()


def _users(server) -> dict[str, httpx.Client]:  # type: ignore[no-untyped-def]
    """reporter, developer (members of PROJECT) and outsider, each an API client with a token."""
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    clients: dict[str, httpx.Client] = {}
    with db.session() as s:
        for name, role in (("rhea", Role.REPORTER), ("dev", Role.DEVELOPER), ("outsider", None)):
            user = auth.create_user(s, name, f"{name}-password-1")
            if role is not None:
                auth.add_member(s, name, PROJECT, role)
            token = auth.create_personal_access_token(s, user, "t", ["api"])[1]
            clients[name] = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                                         timeout=30)
    db.dispose()
    return clients


def _import(server, pid: int, body: bytes) -> None:  # type: ignore[no-untyped-def]
    r = ADMIN_HTTP.post(f"{server.url}/api/v1/projects/{pid}/vex", content=body,
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def test_list_and_withdraw_through_api_and_cli(server) -> None:  # type: ignore[no-untyped-def]
    pid = seed(server, PROJECT)
    other = seed(server, "other/vexmanage")
    users = _users(server)
    _import(server, pid, _doc(DOC_A, {"vulnerability": {"name": "CVE-2024-0001", "aliases": ["GHSA-xxxx-0001"]},
                                      "products": [{"@id": "pkg:deb/openssl"}], "status": "not_affected",
                                      "justification": "component_not_present"},
                              {"vulnerability": {"name": "CVE-2024-0002"}, "products": [{"@id": "pkg:deb/zlib"}],
                               "status": "fixed"}))
    _import(server, pid, _doc(DOC_B, {"vulnerability": {"name": "CVE-2024-0001"},
                                      "products": [{"@id": "pkg:deb/openssl"}], "status": "not_affected",
                                      "justification": "component_not_present"}))
    _import(server, other, _doc("https://vex.test/other", {"vulnerability": {"name": "CVE-2024-0005"},
                                                           "products": [{"@id": "pkg:deb/bash"}], "status": "fixed"}))
    assert states(server, pid)["CVE-2024-0001"] == ("dismissed", "not_applicable")
    assert states(server, pid)["CVE-2024-0002"] == ("resolved", None)

    base = f"/api/v1/projects/{pid}/vex"
    r = users["rhea"].get(f"{base}/statements", params={"per_page": 2})  # a reporter reads
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["total"] == 4 and len(listed["statements"]) == 2 and listed["page"] == 1  # one row per name
    docs = {d["document"]: d for d in listed["documents"]}
    assert (docs[f"vex:{DOC_A}"]["statements"], docs[f"vex:{DOC_A}"]["vulnerability_names"]) == (2, 3)
    assert docs[f"vex:{DOC_A}"]["imported_by"] == ADMIN_USER and docs[f"vex:{DOC_B}"]["statements"] == 1
    second = users["rhea"].get(f"{base}/statements", params={"per_page": 2, "page": 2}).json()["statements"]
    assert {s["vulnerability"] for s in listed["statements"] + second} == \
        {"CVE-2024-0001", "GHSA-xxxx-0001", "CVE-2024-0002"}
    by_vuln = users["rhea"].get(f"{base}/statements", params={"vulnerability": "CVE-2024-0001"}).json()
    assert sorted(s["document"] for s in by_vuln["statements"]) == [f"vex:{DOC_A}", f"vex:{DOC_B}"]
    a_id = docs[f"vex:{DOC_A}"]["id"]
    by_doc = users["rhea"].get(f"{base}/statements", params={"document_id": a_id}).json()
    assert by_doc["total"] == 3 and {s["document_id"] for s in by_doc["statements"]} == {a_id}
    assert by_doc["statements"][0]["products"] == [{"@id": "pkg:deb/openssl", "subcomponents": []}]
    assert users["rhea"].get(f"{base}/statements", params={"per_page": 101}).status_code == 400

    # a reporter may not withdraw; an outsider does not see the project; unknown and other projects' documents: 404
    assert users["rhea"].delete(f"{base}/documents/{a_id}").status_code == 403
    assert users["outsider"].get(f"{base}/statements").status_code == 404
    assert users["outsider"].delete(f"{base}/documents/{a_id}").status_code == 404
    other_doc = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{other}/vex/statements").json()["documents"][0]["id"]
    assert users["dev"].delete(f"{base}/documents/{other_doc}").status_code == 404
    assert users["dev"].delete(f"{base}/documents/{a_id + 1}").status_code == 404  # a row, not a document's id
    assert users["dev"].delete(f"{base}/documents/999999").status_code == 404

    r = users["dev"].delete(f"{base}/documents/{a_id}")
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn"]["document"] == f"vex:{DOC_A}" and "keep their states" in r.json()["note"]
    assert users["dev"].delete(f"{base}/documents/{a_id}").status_code == 404  # gone
    left = users["rhea"].get(f"{base}/statements").json()
    assert [d["document"] for d in left["documents"]] == [f"vex:{DOC_B}"] and left["total"] == 1
    assert states(server, pid)["CVE-2024-0002"] == ("resolved", None)  # findings keep their states
    events = ADMIN_HTTP.get(f"{server.url}/api/v1/audit_events", params={"action": "vex_withdrawn"}).json()
    assert any(e["action"] == "vex_withdrawn" and e["details"]["document"] == f"vex:{DOC_A}" for e in events)

    # the CLI: list, then withdraw by id
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hullscan", "vex", *args], env=server.env(),
                              capture_output=True, text=True, timeout=120)

    run = cli("list", PROJECT, "--statements")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    (b,) = out["documents"]
    assert b["document"] == f"vex:{DOC_B}" and [s["vulnerability"] for s in out["statements"]] == ["CVE-2024-0001"]
    run = cli("withdraw", PROJECT, str(other_doc))
    assert run.returncode == 1 and "no stored VEX document" in run.stderr
    run = cli("withdraw", PROJECT, str(b["id"]))
    assert run.returncode == 0, run.stderr
    assert json.loads(cli("list", PROJECT).stdout) == {"documents": []}
    assert states(server, pid)["CVE-2024-0001"] == ("dismissed", "not_applicable")


def test_vex_page_lists_and_withdraws(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid = seed(server, PROJECT)
    _users(server)
    _import(server, pid, _doc(DOC_A, {"vulnerability": {"name": "CVE-2024-0002"},
                                      "products": [{"@id": "pkg:deb/zlib"}], "status": "fixed"}))
    with chromium_page(server.url, tmp_path / "downloads") as (page, dialogs):
        for width in (1366, 390):
            page.set_viewport_size({"width": width, "height": 844})
            sign_in_as(page, "rhea", "rhea-password-1")  # a reporter: reads, no Withdraw
            page.goto(f"/projects/{PROJECT}/-/images")
            page.get_by_role("navigation", name="Project").get_by_role("link", name="VEX").click()
            page.wait_for_url("**/-/vex")
            row = page.locator('[data-testid="vex-documents"] tr[data-document]')
            assert row.count() == 1 and f"vex:{DOC_A}" in row.inner_text()
            assert page.locator("details.confirm").count() == 0
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            page.locator("form.sign-out button").click()
            page.wait_for_url("**/users/sign_in")
        sign_in_as(page, "dev", "dev-password-1")
        page.goto(f"/projects/{PROJECT}/-/vex")
        page.locator("details.confirm summary", has_text="Withdraw").click()
        assert "keep their states" in page.locator("details.confirm form p").inner_text()
        page.get_by_role("button", name="Withdraw document").click()
        page.wait_for_url("**/-/vex?withdrawn=*")
        assert "Withdrew document" in page.locator("#vex-withdrawn").inner_text()
        assert page.locator("#vex-none").count() == 1
        assert dialogs == []
    assert states(server, pid)["CVE-2024-0002"] == ("resolved", None)
    assert ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{pid}/vex/statements").json()["total"] == 0
