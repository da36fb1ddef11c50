"""Every platform of a multi-arch index is scanned: one pipeline with one job per push (dedup, coalescing, rate
limits, retry and cancel keep keying on the index digest) that writes one SBOM per platform; each platform's
findings are recorded under `<image> [<os>/<arch>]`, so the amd64 and arm64 findings of one tag never merge;
a buildx attestation (`unknown/unknown`) is skipped with its reason. Real skopeo, `hullscan serve` with its
local runner, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.vulnerabilities import SbomSource, Vulnerability
from hullscan.ingestion.service import IngestionError, ingest_sbom, rematch_advisory_changes
from hullscan.scanner import analyze, write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory
from hullscan.scanner.sbom import INDEX_DIGEST_PROPERTY
from hullscan.settings import Settings
from hullscan.vulnerabilities.api import vulnerability_json
from hullscan.vulnerabilities.fingerprints import platform_image_name, split_platform
from tests.conftest import data_path, image_layout
from tests.pipelines.e2e import finished_pipelines, hullscan_cli, make_server, wait_for
from tests.registry.support import skopeo
from tests.support.auth import ADMIN_HTTP, sign_in

IMAGE = "registry.test:5000/group/project/app"
INDEX_DIGEST = "sha256:" + "9" * 64


def _platform_sbom(tmp: Path, inv: Inventory, platform: str | None, digest: str, label: str) -> Path:
    """The SBOM the runner writes for one platform of an index (platform None: a single-platform scan)."""
    inv = dataclasses.replace(inv, image=ImageInfo(name=IMAGE, tag="latest", digest=digest, platform=platform),
                              packages=[dataclasses.replace(p) for p in inv.packages])
    doc = json.loads(write_cyclonedx(inv, registry_triggered=True))
    if platform:
        doc["metadata"]["properties"].append({"name": INDEX_DIGEST_PROPERTY, "value": INDEX_DIGEST})
    path = tmp / f"gl-sbom-{label}.cdx.json"
    path.write_text(json.dumps(doc))
    return path


def _open(session: Any, name: str) -> dict[str, str]:
    """uuid -> package of the detected vulnerabilities recorded under `name`."""
    return {v.uuid: v.package_name for v in session.scalars(select(Vulnerability).where(
        Vulnerability.image_name == name, Vulnerability.no_longer_detected.is_(False)))}


def test_findings_are_kept_per_platform(migrated_settings: Settings, tmp_path: Path) -> None:
    db = Database(migrated_settings)
    import_path(db, migrated_settings, str(data_path("advisories", "osv", "pypi.jsonl.gz")))
    inv = analyze(f"oci-dir:{image_layout('debian-python-app')}")
    arm_inv = dataclasses.replace(inv, packages=[p for p in inv.packages if p.name != "Django"])
    with db.session() as s:
        pid = projects.create_project(s, "group/project").id
    amd64, arm64 = platform_image_name(IMAGE, "linux/amd64"), platform_image_name(IMAGE, "linux/arm64/v8")
    assert split_platform(arm64) == (IMAGE, "linux/arm64/v8") and split_platform(IMAGE) == (IMAGE, None)

    with db.session() as s:  # before: scanned for linux/amd64 only, under the plain name
        ingest_sbom(s, pid, _platform_sbom(tmp_path, inv, None, "sha256:" + "a" * 64, "single"))
        before = _open(s, IMAGE)
    assert "Django" in before.values()
    with db.session() as s:
        ingest_sbom(s, pid, _platform_sbom(tmp_path, inv, "linux/amd64", "sha256:" + "1" * 64, "amd64"),
                    digest=INDEX_DIGEST)
        ingest_sbom(s, pid, _platform_sbom(tmp_path, arm_inv, "linux/arm64/v8", "sha256:" + "2" * 64, "arm64"),
                    digest=INDEX_DIGEST)
    with db.session() as s:
        sources = {(x.image_name, x.image_tag): x.image_digest for x in s.scalars(select(SbomSource))}
        assert sources == {(amd64, "latest"): "sha256:" + "1" * 64, (arm64, "latest"): "sha256:" + "2" * 64}
        on_amd64, on_arm64 = _open(s, amd64), _open(s, arm64)
        assert _open(s, IMAGE) == {}  # the single-platform record gave way to the per-platform ones
    assert "Django" in on_amd64.values() and "Django" not in on_arm64.values()
    assert set(on_arm64.values()) <= set(on_amd64.values()) and on_arm64
    assert not set(on_amd64) & set(on_arm64)  # one identity per platform: never merged
    with db.session() as s:  # the API names each finding's platform beside its own manifest digest
        shown = {(j["platform"], j["image_digest"], j["image"].rsplit(":", 1)[-1])
                 for j in map(vulnerability_json, s.scalars(select(Vulnerability).where(
                     Vulnerability.image_name.in_([amd64, arm64]))))}
        assert shown == {("linux/amd64", "sha256:" + "1" * 64, "latest"),
                         ("linux/arm64/v8", "sha256:" + "2" * 64, "latest")}

    with db.session() as s:  # a rescan of arm64 leaves amd64's findings alone
        ingest_sbom(s, pid, _platform_sbom(tmp_path, arm_inv, "linux/arm64/v8", "sha256:" + "3" * 64, "arm64"),
                    digest=INDEX_DIGEST)
        assert _open(s, amd64) == on_amd64 and _open(s, arm64) == on_arm64

    with db.session() as s:  # re-matching a new advisory: one finding per platform that has the package
        rematch_advisory_changes(s)  # the changesets of the initial import
    feed = tmp_path / "extra.jsonl"
    feed.write_text(json.dumps({"id": "HULLSCAN-TEST-0002", "modified": "2026-11-28T00:00:00Z",
                                "summary": "test advisory for jinja2", "affected": [{
                                    "package": {"ecosystem": "PyPI", "name": "jinja2"},
                                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}) + "\n")
    import_path(db, migrated_settings, str(feed), fmt="osv", source="test-extra")
    with db.session() as s:
        rematch_advisory_changes(s)
        found = {(v.image_name, v.image_digest) for v in s.scalars(select(Vulnerability).where(
            Vulnerability.primary_identifier == "HULLSCAN-TEST-0002"))}
    assert found == {(amd64, "sha256:" + "1" * 64), (arm64, "sha256:" + "3" * 64)}

    bad = _platform_sbom(tmp_path, inv, "linux/amd64", "sha256:" + "4" * 64, "bad")
    bad.write_text(bad.read_text().replace('"linux/amd64"', '"Linux AMD64 ]"'))
    with db.session() as s, pytest.raises(IngestionError, match="hullscan:image:platform must be"):
        ingest_sbom(s, pid, bad)


def _with_attestation(tmp: Path) -> tuple[Path, str, list[str]]:
    """The multiarch-index test image plus a buildx-style attestation manifest (platform unknown/unknown,
    an in-toto layer): (layout, index digest, [amd64 digest, arm64 digest])."""
    layout = tmp / "layout"
    shutil.copytree(image_layout("multiarch-index"), layout)
    blobs = layout / "blobs" / "sha256"

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest

    top = json.loads((layout / "index.json").read_text())
    inner_desc = top["manifests"][0]
    inner = json.loads((blobs / inner_desc["digest"].split(":")[1]).read_bytes())
    platforms = [m["digest"] for m in inner["manifests"]]
    config, statement = b"{}", json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": []}).encode()
    attestation = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": 2},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": put(statement),
                    "size": len(statement)}]}).encode()
    inner["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": put(attestation), "size": len(attestation),
                               "platform": {"architecture": "unknown", "os": "unknown"},
                               "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                               "vnd.docker.reference.digest": platforms[0]}})
    data = json.dumps(inner).encode()
    top["manifests"][0] = {**inner_desc, "digest": put(data), "size": len(data)}
    (layout / "index.json").write_text(json.dumps(top))
    return layout, "sha256:" + hashlib.sha256(data).hexdigest(), platforms


def test_a_multiarch_push_is_one_pipeline_scanning_every_platform(tmp_path: Path, database_url: str) -> None:
    layout, index_digest, (amd64_digest, arm64_digest) = _with_attestation(tmp_path)
    server = make_server(tmp_path / "data", database_url)
    hullscan_cli(server, "project", "create", "group/app", "--cs4r", "on")
    server.start()
    try:
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest",
               f"docker://{server.host}/group/app/multi:latest")
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=180)
        assert pipeline["status"] == "success", pipeline
        (job,) = pipeline["jobs"]
        assert job["digest"] == index_digest  # the push's digest: dedup and coalescing key on it
        names = sorted(a["name"] for a in job["artifacts"])
        assert names == ["gl-sbom-report.linux-amd64.cdx.json", "gl-sbom-report.linux-arm64-v8.cdx.json"]
        sboms = {}
        for name in names:
            r = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fapp/jobs/{job['id']}/artifacts/{name}",
                               timeout=30)
            assert r.status_code == 200, r.text
            props = {p["name"]: p["value"] for p in r.json()["metadata"]["properties"]}
            sboms[props["hullscan:image:platform"]] = props
        assert sboms["linux/amd64"]["hullscan:image:digest"] == amd64_digest
        assert sboms["linux/arm64/v8"]["hullscan:image:digest"] == arm64_digest
        assert {p[INDEX_DIGEST_PROPERTY] for p in sboms.values()} == {index_digest}
        trace = ADMIN_HTTP.get(f"{server.url}/api/v1/projects/group%2Fapp/jobs/{job['id']}/trace").text
        assert "platform skipped: unknown/unknown" in trace and "an attestation, not an image" in trace
        assert f"for linux/arm64/v8 ({arm64_digest})" in trace

        db = Database(Settings(data_dir=server.data_dir, database_url=server.database_url))
        name = f"{server.host}/group/app/multi"

        def ingested() -> dict[str, str | None] | None:
            with db.session() as s:
                found = {x.image_name: x.image_digest for x in s.scalars(select(SbomSource))}
            return found if len(found) == 2 else None

        found = wait_for(ingested, 60, "both platforms' SBOMs ingested", server)
        assert found == {platform_image_name(name, "linux/amd64"): amd64_digest,
                         platform_image_name(name, "linux/arm64/v8"): arm64_digest}
        with httpx.Client(base_url=server.url, timeout=30) as ui:  # each platform beside its digest
            assert sign_in(ui).status_code == 303
            html = ui.get("/projects/group/app/-/images").text
            deps = ui.get("/projects/group/app/-/dependencies", params={"image": "group/app/multi:latest"})
        assert deps.status_code == 200 and "[linux/arm64/v8]" in deps.text and "[linux/amd64]" in deps.text
        for platform, digest in (("linux/amd64", amd64_digest), ("linux/arm64/v8", arm64_digest)):
            assert re.search(rf'data-platform="{platform}"><span class="tag">{platform}</span> '
                             rf'<code title="{digest}">', html), html[-3000:]
        with server.client() as c:  # each platform's SBOM is a referrer of its own manifest, not the index's
            for digest in (amd64_digest, arm64_digest):
                listed = wait_for(lambda d=digest: c.get(f"/v2/group/app/multi/referrers/{d}").json()["manifests"],
                                  30, "a referrer", server)
                assert [m["artifactType"] for m in listed] == ["application/vnd.cyclonedx+json"]
            assert c.get(f"/v2/group/app/multi/referrers/{index_digest}").json()["manifests"] == []
        # the pull gate, failing closed on unscanned images, judges the index by its scanned platforms
        r = ADMIN_HTTP.put(f"{server.url}/api/v1/projects/group%2Fapp/policy",
                           json={"gate_enabled": True, "min_severity": "high", "fail_closed": True})
        assert r.status_code == 200, r.text
        skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{server.host}/group/app/multi:latest",
               f"oci:{tmp_path / 'pulled'}:x")
        assert (tmp_path / "pulled" / "index.json").is_file()
        # the same index pushed again is the same push: no second pipeline
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:latest",
               f"docker://{server.host}/group/app/multi:latest")
        assert len(finished_pipelines(server, "group/app", 1)) == 1
        assert "multi" in hullscan_cli(server, "pipelines", "list", "group/app")
    finally:
        server.stop()
