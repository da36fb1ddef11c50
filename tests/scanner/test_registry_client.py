"""The pull client's HTTP behaviour against a small real HTTP/1.1 server that serves an OCI layout as a
registry: keep-alive connections are reused (a warm scan is two requests on one connection), a server that
drops idle connections costs a retry and no failure, blob redirects to another origin never carry the
registry's credentials, and a layer whose bytes do not match its digest is reported and never cached."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hullscan.registry.client import RegistryClient, RegistryClientError, _bypasses_proxy
from hullscan.scanner import analyze
from hullscan.scanner.cache import SqliteLayerCache
from hullscan.scanner.source import SourceError
from tests.scanner.conftest import expected_packages, image_layout

REPO = "team/app"


@dataclass
class Seen:
    path: str
    connection: tuple[str, int]  # the client's address: one per TCP connection
    authorization: str | None


@dataclass
class LayoutRegistry:
    """Serves `layout` under /v2/team/app/. Options: Basic credentials required, blobs redirected to
    `blob_origin`, one blob served with other bytes, every connection closed after one answer without
    saying so (as a server dropping idle keep-alive connections does)."""

    layout: Path
    credentials: tuple[str, str] | None = None
    blob_origin: str | None = None
    tampered: str | None = None
    drop_connections: bool = False
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                registry.seen.append(Seen(self.path, self.client_address, self.headers.get("Authorization")))
                registry.answer(self)
                if registry.drop_connections:
                    self.close_connection = True  # and no "Connection: close" header: the client finds out

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        if self.credentials is not None:
            wanted = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
            if handler.headers.get("Authorization") != wanted:
                self.send(handler, 401, b"{}", {"WWW-Authenticate": 'Basic realm="test"'})
                return
        prefix = f"/v2/{REPO}/"
        if path.startswith(prefix + "manifests/"):
            reference = path.rsplit("/", 1)[1]
            digest = reference if reference.startswith("sha256:") else \
                json.loads((self.layout / "index.json").read_text())["manifests"][0]["digest"]
            body = self.blob(digest)
            media_type = json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
            self.send(handler, 200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})
        elif path.startswith(prefix + "blobs/"):
            digest = path.rsplit("/", 1)[1]
            if self.blob_origin is not None:
                self.send(handler, 307, b"", {"Location": f"http://{self.blob_origin}/storage/{digest}"})
                return
            if not (self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).is_file():
                self.send(handler, 404, b'{"errors": [{"code": "BLOB_UNKNOWN"}]}', {})
                return
            body = self.blob(digest)
            if digest == self.tampered:
                body = body[:-1] + bytes([body[-1] ^ 1])
            self.send(handler, 200, body, {"Content-Type": "application/octet-stream"})
        else:
            self.send(handler, 404, b"{}", {})

    def blob(self, digest: str) -> bytes:
        return (self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator:
    servers: list[LayoutRegistry] = []

    def start(layout: Path, **options: object) -> LayoutRegistry:
        server = LayoutRegistry(layout, **options)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _names(inventory) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(p.name, p.version) for p in inventory.packages}


def test_warm_scan_is_manifest_and_config_on_one_connection(serve, tmp_path: Path) -> None:
    layout = image_layout("debian-python-app")
    registry = serve(layout)
    cache = SqliteLayerCache(tmp_path / "layers.sqlite")
    ref = f"docker://{registry.host}/{REPO}:latest"
    first = analyze(ref, cache=cache, insecure=True)
    assert len(first.packages) == len(expected_packages("debian-python-app")["packages"])
    layers = [p for p in registry.seen if "/blobs/" in p.path]
    assert len(layers) == 4  # config + 3 layers
    assert len({s.connection for s in registry.seen}) <= 2  # layers are walked two at a time, each on its own

    registry.seen.clear()
    second = analyze(ref, cache=cache, insecure=True)
    assert _names(second) == _names(first)
    assert [s.path.split("/")[-2] for s in registry.seen] == ["manifests", "blobs"]  # manifest, then config
    assert len({s.connection for s in registry.seen}) == 1


def test_connections_the_server_dropped_are_retried(serve, tmp_path: Path) -> None:
    registry = serve(image_layout("distroless-style"), drop_connections=True)
    inventory = analyze(f"docker://{registry.host}/{REPO}:latest", insecure=True)
    assert inventory.warnings == []
    assert len(inventory.packages) == len(expected_packages("distroless-style")["packages"])
    assert len({s.connection for s in registry.seen}) == len(registry.seen)  # a new connection each time


def test_blob_redirect_to_another_origin_drops_the_credentials(serve, tmp_path: Path) -> None:
    layout = image_layout("distroless-style")
    storage = serve(layout)  # plays the blob store: its /storage/<digest> paths answer like blobs
    storage.answer = lambda handler: LayoutRegistry.send(  # type: ignore[method-assign]
        handler, 200, storage.blob(handler.path.rsplit("/", 1)[1]), {})
    registry = serve(layout, credentials=("alice", "s3cret"), blob_origin=storage.host)
    with pytest.raises(SourceError, match="401"):
        analyze(f"docker://{registry.host}/{REPO}:latest", insecure=True, username="alice", password="wrong")
    inventory = analyze(f"docker://{registry.host}/{REPO}:latest", insecure=True, username="alice",
                        password="s3cret")
    assert inventory.warnings == []
    assert len(inventory.packages) == len(expected_packages("distroless-style")["packages"])
    assert storage.seen and all(s.authorization is None for s in storage.seen)
    assert any(s.authorization for s in registry.seen)


def test_layer_that_does_not_match_its_digest_is_reported_and_not_cached(serve, tmp_path: Path) -> None:
    layout = image_layout("distroless-style")
    manifest = json.loads((layout / "manifest.json").read_text())[0]
    layer_digest = "sha256:" + manifest["Layers"][0].rsplit("/", 1)[1]
    registry = serve(layout, tampered=layer_digest)
    cache = SqliteLayerCache(tmp_path / "layers.sqlite")
    inventory = analyze(f"docker://{registry.host}/{REPO}:latest", cache=cache, insecure=True)
    assert any(layer_digest in w for w in inventory.warnings), inventory.warnings
    assert cache.count() == 0


def test_client_reports_unknown_blobs_and_keeps_working(serve) -> None:
    registry = serve(image_layout("go-binary"))
    with RegistryClient(registry.host, insecure=True) as client:
        with pytest.raises(RegistryClientError, match="404"):
            client.get_blob(REPO, "sha256:" + "0" * 64)
        manifest = client.get_manifest(REPO, "latest")
        assert manifest.digest == expected_packages("go-binary")["manifest"]
    assert len({s.connection for s in registry.seen}) == 1  # the 404's body was read, the connection kept


def test_no_proxy_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "localhost, .corp.example,registry.test:5000")
    monkeypatch.delenv("no_proxy", raising=False)
    assert _bypasses_proxy("localhost", 80)
    assert _bypasses_proxy("r.corp.example", 443) and _bypasses_proxy("corp.example", 443)
    assert _bypasses_proxy("registry.test", 5000) and not _bypasses_proxy("registry.test", 443)
    assert not _bypasses_proxy("example.com", 443) and not _bypasses_proxy("xcorp.example", 443)
    monkeypatch.setenv("NO_PROXY", "*")
    assert _bypasses_proxy("anything.example", 443)
