"""The inbound webhook: the real CNCF Distribution registry (Debian `docker-registry`) notifies hullscan,
events are stored once, and bad requests are refused naming the problem."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import image_layout
from tests.registry.conftest import REGISTRY_ONLY, WEBHOOK_SECRET
from tests.registry.support import Distribution, skopeo
from tests.support.server import HullscanServer

ENVELOPE = "application/vnd.docker.distribution.events.v1+json"
DIGEST = "sha256:" + "a" * 64


@pytest.fixture(scope="module")
def distribution(registry_server: HullscanServer) -> Iterator[Distribution]:
    reg = Distribution(notify_url=f"{registry_server.url}/api/v1/registry/events", secret=WEBHOOK_SECRET).start()
    yield reg
    reg.stop()


def _post(client: httpx.Client, body: object, *, secret: str | None = WEBHOOK_SECRET,
          content_type: str = ENVELOPE) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["Authorization"] = secret
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/v1/registry/events", content=raw, headers=headers)


def _event(action: str = "push", repository: str = "group/project/app", **target: object) -> dict:
    return {"id": str(uuid.uuid4()), "timestamp": "2026-11-28T21:20:50.123456789Z", "action": action,
            "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 10,
                       "repository": repository, "tag": "latest", **target},
            "request": {"id": "r1", "addr": "10.0.0.1:5555", "host": "registry.example:5000", "method": "PUT"},
            "actor": {"name": "alice"}, "source": {"addr": "reg-1:5000", "instanceID": "i-1"}}


def _events(client: httpx.Client, **params: object) -> list[dict]:
    r = client.get("/api/v1/registry/events", params=params)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def test_distribution_push_is_stored_and_redelivery_is_idempotent(
        registry_server: HullscanServer, distribution: Distribution, client: httpx.Client) -> None:
    layout = image_layout("go-binary")
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    repo = f"group/project/hello-{uuid.uuid4().hex[:6]}"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{distribution.host}/{repo}:latest")

    deadline = time.monotonic() + 30
    tagged: list[dict] = []
    while time.monotonic() < deadline and not tagged:
        tagged = [e for e in _events(client, repository=repo, origin="webhook") if e["tag"] == "latest"]
        time.sleep(0.2)
    assert len(tagged) == 1, f"no event arrived; registry log: {(distribution.dir / 'log').read_text()[-2000:]}"
    event = tagged[0]
    assert event["action"] == "push" and event["digest"] == digest
    assert event["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert event["registry_host"] == distribution.host
    assert event["envelope"]["target"]["repository"] == repo

    r = _post(client, {"events": [event["envelope"]]})
    assert r.status_code == 200 and r.json()["stored"] == 0 and r.json()["duplicates"] == 1
    # Distribution may still be delivering its blob events meanwhile: compare this event's rows only.
    assert [e["id"] for e in _events(client, repository=repo) if e["event_id"] == event["event_id"]] == [event["id"]]

    # A delete in Distribution arrives as a delete event.
    skopeo("delete", "--tls-verify=false", f"docker://{distribution.host}/{repo}:latest")
    deadline = time.monotonic() + 30
    deletes: list[dict] = []
    while time.monotonic() < deadline and not deletes:
        deletes = _events(client, repository=repo, action="delete")
        time.sleep(0.2)
    assert digest in {d["digest"] for d in deletes}, [d["envelope"] for d in deletes]


def test_envelope_fields_are_stored(client: httpx.Client) -> None:
    repo = f"group/project/app-{uuid.uuid4().hex[:6]}"
    push, pull = _event(repository=repo), _event("pull", repository=repo)
    r = _post(client, {"events": [push, pull, push]})
    assert r.status_code == 200
    assert r.json() == {"received": 3, "stored": 1, "duplicates": 1, "ignored": 1}
    [stored] = _events(client, repository=repo)
    assert stored["event_id"] == push["id"] and stored["tag"] == "latest" and stored["digest"] == DIGEST
    assert stored["actor"] == "alice" and stored["registry_host"] == "registry.example:5000"
    assert stored["origin"] == "webhook" and stored["timestamp"].startswith("2026-11-28T21:20:50.123456")
    assert stored["envelope"] == push
    # Bearer form of the secret is accepted too.
    r = _post(client, {"events": [_event(repository=repo)]}, secret=f"Bearer {WEBHOOK_SECRET}")
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert len(_events(client, repository=repo, action="push", origin="webhook")) == 2
    assert _events(client, repository=repo, action="delete") == []


@pytest.mark.parametrize(("secret",), [(None,), ("wrong",), (WEBHOOK_SECRET + "x",), ("",)])
def test_wrong_secret_is_401(client: httpx.Client, secret: str | None) -> None:
    repo = f"group/project/app-{uuid.uuid4().hex[:6]}"
    r = _post(client, {"events": [_event(repository=repo)]}, secret=secret)
    assert r.status_code == 401
    assert _events(client, repository=repo) == []


@pytest.mark.parametrize(("body", "problem"), [
    (b"{not json", "not valid JSON"),
    (b"[" * 50_000, "not valid JSON"),
    ({"nope": []}, "events"),
    ({"events": "x"}, "events"),
    ({"events": [{"id": "x"}]}, "events[0]"),
    ({"events": [{**_event(), "target": {"digest": DIGEST}}]}, "target.repository"),
    ({"events": [{**_event(), "timestamp": "yesterday"}]}, "events[0].timestamp"),
    ({"events": [_event(repository="Bad Repo/..")]}, "invalid repository name"),
    ({"events": [_event(tag="-bad")]}, "invalid tag"),
    ({"events": [_event(digest="sha256:short")]}, "digest"),
    ({"events": [_event(size=-5)]}, "size"),
])
def test_malformed_body_is_400_naming_the_problem(client: httpx.Client, body: object, problem: str) -> None:
    r = _post(client, body)
    assert r.status_code == 400, r.text
    assert problem in r.json()["message"] and r.json()["error"] == "bad_request"


def test_wrong_content_type_and_oversized_body(client: httpx.Client) -> None:
    assert _post(client, {"events": []}, content_type="text/plain").status_code == 415
    huge = json.dumps({"events": [], "pad": "x" * (5 << 20)}).encode()
    assert _post(client, huge).status_code == 413


def test_listing_filters_and_pages(client: httpx.Client) -> None:
    repo = f"group/project/page-{uuid.uuid4().hex[:6]}"
    r = _post(client, {"events": [_event(repository=repo, tag=f"t{i}") for i in range(5)]})
    assert r.json()["stored"] == 5
    page = client.get("/api/v1/registry/events", params={"repository": repo, "limit": 3}).json()
    assert len(page["events"]) == 3 and page["next_before_id"]
    rest = client.get("/api/v1/registry/events",
                      params={"repository": repo, "limit": 3, "before_id": page["next_before_id"]}).json()
    assert len(rest["events"]) == 2 and rest["next_before_id"] is None
    assert {e["tag"] for e in page["events"] + rest["events"]} == {f"t{i}" for i in range(5)}
    assert _events(client, repository=repo, tag="t3")[0]["tag"] == "t3"
    assert client.get("/api/v1/registry/events", params={"action": "pull"}).status_code == 400


def test_webhook_refuses_everything_when_no_secret_is_configured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    srv = HullscanServer(tmp_path / "data", env=REGISTRY_ONLY).start()
    try:
        r = httpx.post(f"{srv.url}/api/v1/registry/events", content=json.dumps({"events": [_event()]}),
                       headers={"Content-Type": ENVELOPE, "Authorization": ""})
        assert r.status_code == 401 and "registry_webhook_secret" in r.json()["message"]
    finally:
        srv.stop()
