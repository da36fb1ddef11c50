"""The OCI Distribution API of `hullscan serve`, spoken raw over HTTP: push, pull, discovery, management,
and every way a client can get it wrong. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid

import httpx
from sqlalchemy import select

from hullscan.db import Database
from hullscan.db.models import Project
from hullscan.settings import Settings
from tests.registry.support import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    error_code,
    image_manifest,
    push_blob,
    push_image,
    sha256,
)
from tests.support.server import HullscanServer


def _repo() -> str:
    return f"team/app-{uuid.uuid4().hex[:8]}"


def _blob_files(srv: HullscanServer) -> set[str]:
    root = srv.data_dir / "blobs" / "sha256"
    return {p.name for p in root.glob("*/*")} if root.exists() else set()


def _events(client: httpx.Client, **params: str) -> list[dict]:
    r = client.get("/api/v1/registry/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def test_base_endpoint_announces_the_api(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_chunked_upload_with_status_range_and_out_of_order_chunk(client: httpx.Client,
                                                                  registry_server: HullscanServer) -> None:
    repo = _repo()
    data = os.urandom(300_000)
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["Location"]
    assert r.headers["Docker-Upload-UUID"] in location

    r = client.patch(location, content=data[:100_000],
                     headers={"Content-Range": "0-99999", "Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == "0-99999"

    # A chunk that does not start where the upload ends is refused with 416 and the current range.
    r = client.patch(location, content=data[150_000:200_000], headers={"Content-Range": "150000-199999"})
    assert r.status_code == 416
    assert error_code(r) == "BLOB_UPLOAD_INVALID"
    assert r.headers["Range"] == "0-99999"

    r = client.get(location)
    assert r.status_code == 204 and r.headers["Range"] == "0-99999"

    r = client.patch(location, content=data[100_000:250_000], headers={"Content-Range": "100000-249999"})
    assert r.status_code == 202 and r.headers["Range"] == "0-249999"
    # The last piece comes with the finishing PUT.
    r = client.put(location, params={"digest": digest}, content=data[250_000:])
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"] == f"/v2/{repo}/blobs/{digest}"

    r = client.head(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.content == data and r.headers["Docker-Content-Digest"] == digest
    r = client.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    assert digest.split(":")[1] in _blob_files(registry_server)


def test_wrong_digest_on_finish_stores_nothing(client: httpx.Client, registry_server: HullscanServer) -> None:
    repo = _repo()
    data = os.urandom(50_000)
    claimed = sha256(b"something else")
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    client.patch(location, content=data)
    r = client.put(location, params={"digest": claimed})
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    for digest in (claimed, sha256(data)):
        assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
        assert digest.split(":")[1] not in _blob_files(registry_server)
    # The failed session is gone, and the monolithic form fails the same way.
    assert client.get(location).status_code == 404
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=data)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    assert sha256(data).split(":")[1] not in _blob_files(registry_server)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": "sha256:xyz"}, content=data)
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": "md5:" + "0" * 32}, content=data)
    assert error_code(r) == "UNSUPPORTED"


def test_sha512_blob(client: httpx.Client) -> None:
    import hashlib

    repo = _repo()
    data = os.urandom(10_000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
    assert r.status_code == 201, r.text
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data


def test_cancel_upload(client: httpx.Client) -> None:
    repo = _repo()
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    client.patch(location, content=b"abc")
    assert client.delete(location).status_code == 204
    r = client.get(location)
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    # An upload id is not a path: traversal attempts are unknown uploads.
    r = client.get(f"/v2/{repo}/blobs/uploads/..%2F..%2Fhullscan.db")
    assert r.status_code == 404
    for bad_id in ("hullscan.db", "0" * 31 + "g", "A" * 32):
        r = client.patch(f"/v2/{repo}/blobs/uploads/{bad_id}", content=b"x")
        assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    # A session belongs to the repository that opened it.
    other = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = client.get(other.replace(repo, _repo()))
    assert r.status_code == 404 and error_code(r) == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount(client: httpx.Client) -> None:
    source, target = _repo(), _repo()
    data = os.urandom(20_000)
    digest = push_blob(client, source, data)
    assert client.head(f"/v2/{target}/blobs/{digest}").status_code == 404
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert r.status_code == 201 and r.headers["Location"] == f"/v2/{target}/blobs/{digest}"
    assert client.get(f"/v2/{target}/blobs/{digest}").content == data
    # Mounting from a repository that lacks the blob falls back to a new upload session.
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": sha256(b"nope"), "from": source})
    assert r.status_code == 202 and "/blobs/uploads/" in r.headers["Location"]


def test_manifest_push_pull_tags_events_and_delete(client: httpx.Client, registry_server: HullscanServer) -> None:
    repo = _repo()
    digest = push_image(client, repo, "v1", os.urandom(4096))
    for tag in ("latest", "v2", "a0"):
        manifest = client.get(f"/v2/{repo}/manifests/v1").content
        r = client.put(f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201 and r.headers["Docker-Content-Digest"] == digest

    r = client.get(f"/v2/{repo}/manifests/latest")
    assert r.status_code == 200 and sha256(r.content) == digest
    assert r.headers["Content-Type"] == OCI_MANIFEST and r.headers["Docker-Content-Digest"] == digest
    r = client.head(f"/v2/{repo}/manifests/{digest}")
    assert r.status_code == 200 and int(r.headers["Content-Length"]) > 0 and r.content == b""

    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["a0", "latest", "v1", "v2"]}
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 2})
    assert r.json()["tags"] == ["a0", "latest"]
    assert 'rel="next"' in r.headers["Link"] and "last=latest" in r.headers["Link"]
    assert client.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "latest"}).json()["tags"] == ["v1", "v2"]
    assert repo in client.get("/v2/_catalog").json()["repositories"]

    events = _events(client, repository=repo, action="push")
    assert sorted(e["tag"] for e in events) == ["a0", "latest", "v1", "v2"]
    e = next(e for e in events if e["tag"] == "latest")
    assert e["digest"] == digest and e["media_type"] == OCI_MANIFEST and e["origin"] == "embedded"
    assert e["registry_host"] == registry_server.host and e["actor"] == "admin"
    target = e["envelope"]["target"]
    assert target["repository"] == repo and target["tag"] == "latest" and target["digest"] == digest
    assert e["envelope"]["action"] == "push" and e["envelope"]["id"] == e["event_id"]

    # The push created the owning project with container scanning for registry on (embedded default).
    settings = Settings(data_dir=registry_server.data_dir, database_url=registry_server.database_url)
    db = Database(settings)
    try:
        with db.session() as s:
            project = s.scalars(select(Project).where(Project.path == repo)).one()
            assert project.container_scanning_for_registry_enabled
            assert e["project_id"] == project.id
    finally:
        db.dispose()

    # Deleting a tag keeps the manifest; deleting by digest removes it and its tags.
    assert client.delete(f"/v2/{repo}/manifests/v2").status_code == 202
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["a0", "latest", "v1"]
    assert client.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    r = client.get(f"/v2/{repo}/manifests/latest")
    assert r.status_code == 404 and error_code(r) == "MANIFEST_UNKNOWN"
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    deletes = _events(client, repository=repo, action="delete")
    assert [(d["tag"], d["digest"]) for d in deletes] == [(None, digest), ("v2", digest)]


def test_manifest_naming_a_missing_blob_is_refused_and_writes_no_event(client: httpx.Client) -> None:
    repo = _repo()
    config = b'{"os":"linux"}'
    push_blob(client, repo, config)
    body = image_manifest(config, [b"never uploaded"])
    r = client.put(f"/v2/{repo}/manifests/latest", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    assert r.json()["errors"][0]["detail"]["digest"] == sha256(b"never uploaded")
    assert client.get(f"/v2/{repo}/manifests/latest").status_code == 404
    assert _events(client, repository=repo) == []
    # A blob of another repository is not enough: it must be in this one.
    other = _repo()
    layer = os.urandom(100)
    push_blob(client, other, layer)
    body = image_manifest(config, [layer])
    r = client.put(f"/v2/{repo}/manifests/latest", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    # An index naming a child manifest the repository lacks is refused too.
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(body), "size": len(body)}]}).encode()
    r = client.put(f"/v2/{repo}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_invalid_manifests(client: httpx.Client) -> None:
    repo = _repo()
    config = b'{"os":"linux"}'
    push_blob(client, repo, config)
    cases = [
        (b"not json", OCI_MANIFEST, "MANIFEST_INVALID"),
        (b"[]", OCI_MANIFEST, "MANIFEST_INVALID"),
        (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": "x"}, "layers": []}).encode(),
         OCI_MANIFEST, "MANIFEST_INVALID"),
        (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                     "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": -1}, "layers": []}).encode(),
         OCI_MANIFEST, "MANIFEST_INVALID"),
        (image_manifest(config, []), OCI_INDEX, "MANIFEST_INVALID"),  # body and Content-Type disagree
        (json.dumps({"schemaVersion": 1, "name": repo, "tag": "x", "fsLayers": []}).encode(),
         "application/vnd.docker.distribution.manifest.v1+prettyjws", "UNSUPPORTED"),
        (json.dumps({"schemaVersion": 2, "mediaType": "application/x-weird", "layers": []}).encode(),
         "application/x-weird", "UNSUPPORTED"),
    ]
    for body, content_type, code in cases:
        r = client.put(f"/v2/{repo}/manifests/latest", content=body, headers={"Content-Type": content_type})
        assert r.status_code in (400, 415) and error_code(r) == code, (body[:80], r.text)
    # Wrong size in a descriptor.
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": 999},
                       "layers": []}).encode()
    r = client.put(f"/v2/{repo}/manifests/latest", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert error_code(r) == "MANIFEST_INVALID"
    # Pushed by digest, the body must hash to it.
    good = image_manifest(config, [])
    r = client.put(f"/v2/{repo}/manifests/{sha256(b'other')}", content=good, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = client.put(f"/v2/{repo}/manifests/{sha256(good)}", content=good, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    assert _events(client, repository=repo)[0]["tag"] is None


def test_manifest_over_4_mib_is_refused(client: httpx.Client) -> None:
    repo = _repo()
    config = b'{"os":"linux"}'
    push_blob(client, repo, config)
    body = image_manifest(config, [], annotations={"pad": "x" * (4 * 1024 * 1024)})
    r = client.put(f"/v2/{repo}/manifests/big", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 413 and error_code(r) == "MANIFEST_INVALID"

    def chunks():  # no Content-Length: the limit still holds while streaming
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    r = client.put(f"/v2/{repo}/manifests/big", content=chunks(), headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 413
    assert client.get(f"/v2/{repo}/manifests/big").status_code == 404


def test_invalid_names_and_tags(client: httpx.Client) -> None:
    digest = sha256(b"x")
    for name in ("Upper/Case", "team/app_", "team//app", "-team/app", "team/" + "a" * 300, "team/a..b"):
        r = client.post(f"/v2/{name}/blobs/uploads/")
        assert r.status_code == 400 and error_code(r) == "NAME_INVALID", name
        r = client.get(f"/v2/{name}/manifests/latest")
        assert error_code(r) == "NAME_INVALID", name
    r = client.post("/v2/single/blobs/uploads/")  # a project needs <namespace>/<project>
    assert r.status_code == 400 and error_code(r) == "NAME_INVALID"
    repo = _repo()
    push_image(client, repo, "ok", b"layer")
    body = client.get(f"/v2/{repo}/manifests/ok").content
    for tag in (".hidden", "-dash", "t" * 129, "a+b"):
        r = client.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 400 and error_code(r) == "TAG_INVALID", tag
    r = client.get(f"/v2/{repo}/blobs/not-a-digest")
    assert r.status_code == 400 and error_code(r) == "DIGEST_INVALID"
    r = client.get(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"
    r = client.get("/v2/team/unknown-repo/tags/list")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"
    r = client.get("/v2/team/unknown-repo/manifests/latest")
    assert r.status_code == 404 and error_code(r) == "NAME_UNKNOWN"


def test_referrers_and_subject(client: httpx.Client) -> None:
    repo = _repo()
    subject = push_image(client, repo, "latest", os.urandom(512))
    subject_size = len(client.get(f"/v2/{repo}/manifests/latest").content)
    empty = b"{}"
    push_blob(client, repo, empty)
    sig_type, sbom_type = "application/vnd.example.signature", "application/vnd.example.sbom"
    pushed = {}
    for artifact_type in (sig_type, sbom_type):
        body = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(empty), "size": 2},
            "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_size},
            "annotations": {"org.example.kind": artifact_type},
        }).encode()
        r = client.put(f"/v2/{repo}/manifests/{sha256(body)}", content=body, headers={"Content-Type": OCI_MANIFEST})
        assert r.status_code == 201 and r.headers["OCI-Subject"] == subject
        pushed[artifact_type] = sha256(body)
    r = client.get(f"/v2/{repo}/referrers/{subject}")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(OCI_INDEX)
    index = r.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    assert {m["digest"]: m["artifactType"] for m in index["manifests"]} == {v: k for k, v in pushed.items()}
    assert all(m["annotations"]["org.example.kind"] == m["artifactType"] for m in index["manifests"])
    r = client.get(f"/v2/{repo}/referrers/{subject}", params={"artifactType": sbom_type})
    assert [m["digest"] for m in r.json()["manifests"]] == [pushed[sbom_type]]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert client.get(f"/v2/{repo}/referrers/{sha256(b'none')}").json()["manifests"] == []


def test_blob_delete(client: httpx.Client) -> None:
    repo = _repo()
    digest = push_blob(client, repo, os.urandom(64))
    assert client.delete(f"/v2/{repo}/blobs/{digest}").status_code == 202
    assert client.head(f"/v2/{repo}/blobs/{digest}").status_code == 404
    r = client.delete(f"/v2/{repo}/blobs/{digest}")
    assert r.status_code == 404 and error_code(r) == "BLOB_UNKNOWN"


def test_manifest_with_tens_of_thousands_of_descriptors_is_a_clean_error(client: httpx.Client) -> None:
    repo = _repo()
    config = b'{"os":"linux"}'
    push_blob(client, repo, config)
    layers = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
               "digest": "sha256:" + f"{i:064x}", "size": 1} for i in range(25_000)]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                       "layers": layers}).encode()
    assert len(body) < 4 * 1024 * 1024
    r = client.put(f"/v2/{repo}/manifests/huge", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d["digest"], "size": 1} for d in layers]}).encode()
    r = client.put(f"/v2/{repo}/manifests/huge", content=index, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 400 and error_code(r) == "MANIFEST_BLOB_UNKNOWN"


def test_ranges_of_a_blob_get(client: httpx.Client) -> None:
    """RFC 9110 §14: an invalid or unsatisfiable byte range is 416 (with `bytes */size` and an OCI body);
    a Range header that is not a byte range at all is ignored: the whole blob, 200."""
    repo = _repo()
    data = os.urandom(1000)
    digest = push_blob(client, repo, data)
    url = f"/v2/{repo}/blobs/{digest}"
    for value in ("bytes=5-2", "bytes=1000-", "bytes=2000-3000", "bytes=-0", "bytes=0-1,7-3"):
        r = client.get(url, headers={"Range": value})
        assert r.status_code == 416, (value, r.status_code)
        assert r.headers["Content-Range"] == "bytes */1000" and error_code(r) == "UNSUPPORTED", value
    for value in ("garbage", "bytes", "items=0-5", "bytes=a-b", "bytes=²-5", "bytes=-", "bytes=" + "1" * 5000):
        r = client.get(url, headers={"Range": value.encode()})
        assert r.status_code == 200 and r.content == data, (value, r.status_code)
    r = client.get(url, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = client.get(url, headers={"Range": "bytes=990-5000"})
    assert r.status_code == 206 and r.content == data[990:]


def test_every_registry_error_has_an_oci_body(client: httpx.Client) -> None:
    repo = _repo()
    push_image(client, repo, "ok", b"layer-for-errors")
    for path in (f"/v2/{repo}/manifests/ok%0a", f"/v2/{repo}/manifests/%0a", f"/v2/{repo}%0a/tags/list",
                 f"/v2/{repo}/blobs/sha256:%0a", "/v2/%0a", f"/v2/{repo}/tags/list?n=%C2%B2"):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            r = client.request(method, path)
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:200])
            assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0", (method, path)
            assert set(r.json()) == {"errors"} and r.json()["errors"][0]["code"], (method, path, r.text[:200])
    # a page size beyond any integer is the largest page, not a database error
    assert client.get(f"/v2/{repo}/tags/list?n=99999999999999999999999").json()["tags"] == ["ok"]
    # a tag with a newline is no tag: never stored
    body = client.get(f"/v2/{repo}/manifests/ok").content
    r = client.put(f"/v2/{repo}/manifests/evil%0a", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code in (400, 404) and "errors" in r.json()
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["ok"]


def test_a_manifest_referenced_by_an_index_cannot_be_deleted(client: httpx.Client) -> None:
    repo = _repo()
    child = push_image(client, repo, "amd64", b"layer-of-a-child")
    size = len(client.get(f"/v2/{repo}/manifests/{child}").content)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child, "size": size}]}).encode()
    r = client.put(f"/v2/{repo}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX})
    assert r.status_code == 201, r.text
    r = client.delete(f"/v2/{repo}/manifests/{child}")
    assert r.status_code == 409 and error_code(r) == "DENIED", r.text
    assert r.json()["errors"][0]["detail"]["referenced_by"] == [sha256(index)]
    assert client.get(f"/v2/{repo}/manifests/multi").status_code == 200
    assert client.get(f"/v2/{repo}/manifests/{child}").status_code == 200
    # once the index is gone the child may go
    assert client.delete(f"/v2/{repo}/manifests/{sha256(index)}").status_code == 202
    assert client.delete(f"/v2/{repo}/manifests/{child}").status_code == 202
