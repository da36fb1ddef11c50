"""A local stand-in for OSV's public bucket: `<ecosystem>/all.zip`, `<ecosystem>/modified_id.csv` and
`<ecosystem>/<id>.json`, served by stdlib http.server in a thread, with switches to cut or corrupt files."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Bucket:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_next: dict[str, int] = {}  # path -> how many more responses to cut off half-way
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "Bucket":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def publish(self, ecosystem: str, records: list[dict]) -> None:
        """Write all.zip, one JSON per record and modified_id.csv (newest first, like OSV)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for r in records:
                zf.writestr(f"{r['id']}.json", json.dumps(r))
        self.files[f"/{ecosystem}/all.zip"] = buf.getvalue()
        for r in records:
            self.files[f"/{ecosystem}/{r['id']}.json"] = json.dumps(r).encode()
        rows = sorted(((r["modified"], r["id"]) for r in records), reverse=True)
        self.files[f"/{ecosystem}/modified_id.csv"] = "".join(f"{m},{i}\n" for m, i in rows).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                bucket.requests.append(self.path)
                body = bucket.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if bucket.cut_next.get(self.path, 0) > 0:
                    bucket.cut_next[self.path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
