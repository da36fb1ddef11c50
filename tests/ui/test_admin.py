"""Admin pages: "Sync now" runs a real advisory sync against a local server that serves the shared Alpine
secdb files the way secdb.alpinelinux.org lays them out; runners page lists registered runners."""

from __future__ import annotations

import functools
import re
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hullscan.db.base import utcnow
from hullscan.pipelines import service as pipelines
from hullscan.settings import Settings
from tests.conftest import data_path
from tests.ui.conftest import csrf_token
from tests.support.auth import bootstrap_admin, sign_in

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def secdb_url() -> Iterator[str]:
    root = data_path("advisories", "alpine-secdb")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sync_now_and_runners(migrated_settings: Settings, secdb_url: str) -> None:
    from hullscan.web.app import create_app

    settings = migrated_settings.model_copy(update={"advisories_sources": ["alpine"], "advisories_alpine_url": secdb_url,
                                                    "advisories_alpine_branches": ["v3.20"]})
    bootstrap_admin(settings)
    app = create_app(settings)
    client = TestClient(app, follow_redirects=False)
    assert sign_in(client).status_code == 303
    try:
        page = client.get("/admin/advisories").text
        assert "No source has been synced yet." in page
        assert client.post("/admin/advisories/sync").status_code == 403  # CSRF token required
        r = client.post("/admin/advisories/sync", data={"csrf_token": csrf_token(client, "/admin/advisories")})
        assert r.status_code == 303 and r.headers["location"] == "/admin/advisories?started=1"
        deadline = time.monotonic() + 180
        while True:
            page = client.get("/admin/advisories").text
            if "alpine-secdb" in page and "Sync running" not in page:
                break
            assert time.monotonic() < deadline, page
            time.sleep(0.5)
        row = re.search(r"<tr><td>alpine-secdb</td>(.*?)</tr>", page, re.S).group(1)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert int(cells[2]) > 100 and cells[6] == ""  # advisories imported, no error

        with app.state.db.session() as s:
            pipelines.register_runner(s, "laptop <b>runner</b>", now=utcnow())
        runners = client.get("/admin/runners").text
        assert "laptop &lt;b&gt;runner&lt;/b&gt;" in runners and "idle" in runners
    finally:
        app.state.db.dispose()
