"""A tag that was scanned as one platform and is then pushed as a multi-arch index keeps its triage: the
linux/amd64 finding takes over the dismissal (reason, a history entry naming the old finding), the other
platform's finding stays to be triaged with a pointer to the decision, and the report counts each once. Real
skopeo pushes to `hullscan serve` with its local runner, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hullscan.advisories.service import import_path
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomSource
from hullscan.settings import Settings
from hullscan.vulnerabilities.fingerprints import platform_image_name
from tests.conftest import image_layout
from tests.pipelines.e2e import finished_pipelines, hullscan_cli, make_server, wait_for
from tests.registry.support import skopeo
from tests.support.auth import ADMIN_HTTP

PROJECT = "group%2Fapp"
# The multiarch test image holds Debian 12's libc6 (glibc), libssl3 (openssl) and zlib1g (zlib): one advisory
# each, every version affected, so each platform has exactly three findings.
ADVISORIES = [("HULLSCAN-TEST-GLIBC", "glibc"), ("HULLSCAN-TEST-OPENSSL", "openssl"), ("HULLSCAN-TEST-ZLIB", "zlib")]


def _feed(path: Path) -> Path:
    path.write_text("".join(json.dumps({
        "id": ident, "modified": "2026-12-01T00:00:00Z", "summary": f"test advisory for {package}",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": package},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}) + "\n"
        for ident, package in ADVISORIES))
    return path


def _findings(server: Any, **params: Any) -> list[dict[str, Any]]:
    r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{PROJECT}/vulnerabilities",
                       params={"per_page": 100, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["vulnerabilities"]


def _count(server: Any, **params: Any) -> int:
    r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/{PROJECT}/vulnerability_counts", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return sum(r.json().values())


def test_a_switch_to_multiarch_keeps_the_dismissals(tmp_path: Path, database_url: str) -> None:
    layout = image_layout("multiarch-index")
    server = make_server(tmp_path / "data", database_url)
    hullscan_cli(server, "project", "create", "group/app", "--cs4r", "on")
    db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
    import_path(db, db.settings, str(_feed(tmp_path / "debian.jsonl")), fmt="osv", source="test-debian")
    server.start()
    try:
        name = f"{server.host}/group/app/multi"

        def sources(count: int) -> set[str] | None:
            with db.session() as s:
                found = {x.image_name for x in s.scalars(select(SbomSource))}
            return found if len(found) == count else None

        # before: the tag holds one image (linux/amd64), scanned under the plain name
        skopeo("copy", "--override-os", "linux", "--override-arch", "amd64", "--dest-tls-verify=false",
               f"oci:{layout}:latest", f"docker://{name}:latest")
        (first,) = finished_pipelines(server, "group/app", 1, timeout=180)
        assert first["status"] == "success", first
        assert wait_for(lambda: sources(1), 60, "the single-platform SBOM ingested", server) == {name}
        before = {(v["identifier"], v["package"]): v for v in _findings(server)}
        assert {k[0] for k in before} == {ident for ident, _ in ADVISORIES}
        assert {v["platform"] for v in before.values()} == {None}
        dismissed_key = next(k for k in before if k[0] == "HULLSCAN-TEST-OPENSSL")
        old_id = before[dismissed_key]["id"]
        r = ADMIN_HTTP.post(f"{server.url}/api/v1/vulnerabilities/{old_id}/state", timeout=30, json={
            "state": "dismissed", "dismissal_reason": "acceptable_risk", "comment": "no TLS in this service"})
        assert r.status_code == 200, r.text
        assert _count(server, state=["detected", "confirmed"]) == 2

        # after: the same tag pushed as a multi-arch index, scanned per platform
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{name}:latest")
        pipelines = finished_pipelines(server, "group/app", 2, timeout=180)
        assert [p["status"] for p in pipelines] == ["success", "success"], pipelines
        amd64, arm64 = platform_image_name(name, "linux/amd64"), platform_image_name(name, "linux/arm64/v8")
        assert wait_for(lambda: sources(2), 60, "both platforms' SBOMs ingested", server) == {amd64, arm64}

        current = _findings(server, activity="still_detected")
        by_platform: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for v in current:
            by_platform.setdefault(v["platform"], {})[(v["identifier"], v["package"])] = v
        assert set(by_platform) == {"linux/amd64", "linux/arm64/v8"}
        assert set(by_platform["linux/amd64"]) == set(by_platform["linux/arm64/v8"]) == set(before)
        carried = by_platform["linux/amd64"][dismissed_key]
        assert (carried["state"], carried["dismissal_reason"]) == ("dismissed", "acceptable_risk")
        assert {k: v["state"] for k, v in by_platform["linux/amd64"].items() if k != dismissed_key} == \
            {k: "detected" for k in before if k != dismissed_key}
        assert {v["state"] for v in by_platform["linux/arm64/v8"].values()} == {"detected"}  # nobody triaged arm64

        def history(vid: int) -> list[dict[str, Any]]:
            r = ADMIN_HTTP.get(f"{server.url}/api/v1/vulnerabilities/{vid}", timeout=30)
            assert r.status_code == 200, r.text
            return r.json()["history"]

        entry = history(carried["id"])[-1]
        assert (entry["kind"], entry["from"], entry["to"], entry["dismissal_reason"], entry["author"]) == \
            ("state_change", "detected", "dismissed", "acceptable_risk", "hullscan")
        assert f"carried over from #{old_id} ({name}, scanned as linux/amd64 only)" in entry["comment"]
        note = history(by_platform["linux/arm64/v8"][dismissed_key]["id"])[-1]
        assert note["kind"] == "comment" and "Not carried over to linux/arm64/v8" in note["comment"]
        old = history(old_id)  # the old finding keeps its history and is no longer detected
        assert [h["comment"] for h in old if h["kind"] == "state_change"] == ["no TLS in this service"]
        assert {v["id"]: v["no_longer_detected"] for v in _findings(server, activity="no_longer_detected")} == \
            {v["id"]: True for v in before.values()}

        # the report: 3 findings per platform still detected, one of them dismissed (once, on linux/amd64)
        assert _count(server, activity="still_detected") == 6
        assert _count(server, activity="still_detected", state=["detected", "confirmed"]) == 5
        assert _count(server, activity="still_detected", state=["dismissed"]) == 1
        assert _count(server, state=["dismissed"]) == 2  # and the old, no longer detected finding keeps its own
    finally:
        server.stop()
        db.dispose()
