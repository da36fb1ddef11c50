from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import update

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.base import utcnow
from hullscan.db.models.vulnerabilities import WebhookDelivery
from hullscan.vulnerabilities import notifications
from hullscan.vulnerabilities import service as vulns
from tests.vulnerabilities.test_service import finding


class Receiver:
    """A real HTTP endpoint that records what it is sent and answers with a configurable status."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_new_vulnerability_and_scan_failed_webhooks(migrated_settings, receiver) -> None:
    db = Database(migrated_settings)
    with db.session() as s:
        pid = projects.create_project(s, "group/notify").id
        hook = notifications.create_webhook(s, pid, receiver.url, min_severity="high", secret="s" * 32)
        with pytest.raises(notifications.WebhookDefinitionError):
            notifications.create_webhook(s, pid, "file:///etc/passwd")
        scope = vulns.ImageScope(pid, "reg/group/notify/app", "latest", "sha256:1", None)
        r = vulns.record_findings(s, scope, [finding("a", "1", "CVE-2020-0001", "critical"),
                                             finding("b", "1", "CVE-2020-0002", "low")])
        assert notifications.notify_new_vulnerabilities(s, r.new_ids, reason="scan") == 1
        notifications.notify_scan_failed(s, pid, {"image": "reg/group/notify/app:latest", "reason": "boom"})
    assert notifications.deliver_due(db, migrated_settings) == 2
    (headers, body), (headers2, body2) = receiver.received
    payload = json.loads(body)
    assert [v["identifier"] for v in payload["vulnerabilities"]] == ["CVE-2020-0001"]  # low is below the floor
    want = "sha256=" + hmac.new(b"s" * 32, body, hashlib.sha256).hexdigest()
    assert headers["X-Hullscan-Signature-256"] == want and headers["X-Hullscan-Event"] == "new_vulnerability"
    assert json.loads(body2)["event"] == "scan_failed"

    # A failing receiver: retried with backoff, then given up; every attempt is in the delivery log.
    receiver.status = 500
    migrated_settings.notification_max_attempts = 2
    with db.session() as s:
        notifications.notify_scan_failed(s, pid, {"image": "x", "reason": "again"})
    assert notifications.deliver_due(db, migrated_settings) == 1
    assert notifications.deliver_due(db, migrated_settings) == 0  # backoff: not due yet
    with db.session() as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.status == "pending").values(next_attempt_at=utcnow()))
    assert notifications.deliver_due(db, migrated_settings) == 1
    with db.session() as s:
        log = notifications.deliveries(s, hook.id)
        assert [d.status for d in log] == ["failed", "delivered", "delivered"]
        assert log[0].attempts == 2 and log[0].last_status_code == 500
    db.dispose()
