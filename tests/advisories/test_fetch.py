"""The sync downloads against a local server shaped like a feed host: a body over its limit is refused while it
streams (memory stays bounded; an announced length over the limit is refused before the body) and is not fetched
again, a 4xx is not retried, a body cut short is retried and no temporary file is left behind."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from hullscan.advisories.fetch import FetchError, PermanentFetchError, download, get_bytes

LIMIT = 1 << 20


class FeedHost:
    """`/doc` (small), `/announced-big` (Content-Length over the limit), `/endless` (chunked, never ends),
    `/cut-once` (first answer cut half-way), anything else 404; counts requests and bytes sent."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                host.requests[self.path] += 1
                try:
                    host.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading, as it should

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up mid-answer is what these tests provoke, not a failure to print

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        body = b'{"id": "HULLSCAN-FETCH-1"}'
        if h.path == "/doc":
            self._send(h, body)
        elif h.path == "/announced-big":
            h.send_response(200)
            h.send_header("Content-Length", str(LIMIT * 50))
            h.end_headers()
            self._write(h, b"x" * (LIMIT * 2))  # whatever arrives is never read
        elif h.path == "/endless":
            h.send_response(200)
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for piece in self._pieces(200 * LIMIT):
                self._write(h, b"%x\r\n" % len(piece) + piece + b"\r\n")
        elif h.path == "/cut-once":
            if self.requests[h.path] == 1:
                h.send_response(200)
                h.send_header("Content-Length", str(len(body)))
                h.send_header("Connection", "close")
                h.end_headers()
                self._write(h, body[: len(body) // 2])
                h.close_connection = True
            else:
                self._send(h, body)
        else:
            self._send(h, b"", status=404)

    def _send(self, h: BaseHTTPRequestHandler, body: bytes, status: int = 200) -> None:
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        self._write(h, body)

    def _write(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        h.wfile.write(data)
        self.sent[h.path] += len(data)

    @staticmethod
    def _pieces(total: int) -> Iterator[bytes]:
        piece = b"y" * (1 << 16)
        for _ in range(total // len(piece)):
            yield piece

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host() -> Iterator[FeedHost]:
    h = FeedHost()
    yield h
    h.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def test_a_document_arrives_whole(host: FeedHost, client: httpx.Client, tmp_path: Path) -> None:
    assert get_bytes(client, host.url + "/doc", max_bytes=LIMIT) == b'{"id": "HULLSCAN-FETCH-1"}'
    path = download(client, host.url + "/doc", tmp_path, max_bytes=LIMIT)
    assert path.read_bytes() == b'{"id": "HULLSCAN-FETCH-1"}'


@pytest.mark.parametrize("fetch", ["get_bytes", "download"])
def test_an_announced_length_over_the_limit_is_refused_once_and_leaves_nothing(
        host: FeedHost, client: httpx.Client, tmp_path: Path, fetch: str) -> None:
    with pytest.raises(PermanentFetchError, match=f"larger than {LIMIT} bytes"):
        if fetch == "get_bytes":
            get_bytes(client, host.url + "/announced-big", retries=3, max_bytes=LIMIT)
        else:
            download(client, host.url + "/announced-big", tmp_path, retries=3, max_bytes=LIMIT)
    assert host.requests["/announced-big"] == 1, "an over-large document does not shrink: not fetched again"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fetch", ["get_bytes", "download"])
def test_an_endless_body_stops_at_the_limit(host: FeedHost, client: httpx.Client, tmp_path: Path,
                                            fetch: str) -> None:
    """200 MB offered, 1 MB allowed: the reader stops soon after the limit (socket buffers hold a few MB more)."""
    with pytest.raises(PermanentFetchError, match=f"larger than {LIMIT} bytes"):
        if fetch == "get_bytes":
            get_bytes(client, host.url + "/endless", retries=3, max_bytes=LIMIT)
        else:
            download(client, host.url + "/endless", tmp_path, retries=3, max_bytes=LIMIT)
    assert host.requests["/endless"] == 1
    assert host.sent["/endless"] < 40 * LIMIT, host.sent["/endless"]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_document_is_asked_for_once(host: FeedHost, client: httpx.Client) -> None:
    with pytest.raises(PermanentFetchError, match="HTTP 404"):
        get_bytes(client, host.url + "/gone", retries=3)
    assert host.requests["/gone"] == 1


@pytest.mark.parametrize("fetch", ["get_bytes", "download"])
def test_a_body_cut_short_is_fetched_again(host: FeedHost, client: httpx.Client, tmp_path: Path,
                                           fetch: str) -> None:
    if fetch == "get_bytes":
        assert get_bytes(client, host.url + "/cut-once", retries=2) == b'{"id": "HULLSCAN-FETCH-1"}'
    else:
        assert download(client, host.url + "/cut-once", tmp_path, retries=2).read_bytes().startswith(b'{"id"')
        assert len(list(tmp_path.iterdir())) == 1, "the cut attempt's file is gone"
    assert host.requests["/cut-once"] == 2


def test_retries_run_out_with_a_clear_error(host: FeedHost, client: httpx.Client) -> None:
    host.server.shutdown()
    host.server.server_close()
    with pytest.raises(FetchError, match="failed after 2 attempt"):
        get_bytes(client, host.url + "/doc", retries=2)
