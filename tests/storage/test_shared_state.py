"""Two servers on two machines' worth of state -- each its own data directory -- sharing PostgreSQL, the S3
bucket and the secrets from settings: each accepts what the other issued (registry tokens, UI CSRF tokens,
the runner registration token), a push started on one finishes on the other, and what one stored the other
serves. A server without the shared settings rejects them, so the settings are what makes it work."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import REGISTRY_ONLY
from tests.registry.support import push_image, sha256
from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER, remember_secret
from tests.support.postgres import PostgresCluster
from tests.support.s3 import S3Server
from tests.support.server import HullscanServer

UI_SECRET = remember_secret("ui-secret-shared-by-every-node-0123456789")
REGISTRATION = remember_secret("hsreg_shared-registration-token-for-tests")


def _identity_pem() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hullscan")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)).decode()


@pytest.fixture
def nodes(tmp_path: Path, postgres: PostgresCluster,
          s3_server: S3Server) -> Iterator[tuple[HullscanServer, HullscanServer, HullscanServer]]:
    """Servers A and B with the shared settings (the key as a file on A, inline on B); C with the same
    database and bucket but secrets of its own."""
    database = postgres.create_database()
    storage = s3_server.env(s3_server.create_bucket("shared-state"))
    pem = _identity_pem()
    key_file = tmp_path / "registry-token.pem"
    key_file.write_text(pem)
    shared = {**REGISTRY_ONLY, **storage, "HULLSCAN_UI_SECRET": UI_SECRET,
              "HULLSCAN_RUNNER_REGISTRATION_TOKEN": REGISTRATION}
    a = HullscanServer(tmp_path / "a", database, shared_secrets=False,
                       env={**shared, "HULLSCAN_REGISTRY_TOKEN_KEY_FILE": str(key_file)})
    a.start()
    b = HullscanServer(tmp_path / "b", database, shared_secrets=False, env={**shared, "HULLSCAN_REGISTRY_TOKEN_KEY": pem})
    other = tmp_path / "other-token.pem"
    other.write_text(_identity_pem())
    c = HullscanServer(tmp_path / "c", database, shared_secrets=False, env={
        **REGISTRY_ONLY, **storage, "HULLSCAN_REGISTRY_TOKEN_KEY_FILE": str(other),
        "HULLSCAN_UI_SECRET": remember_secret("ui-secret-of-another-instance-0123456789"),
        "HULLSCAN_RUNNER_REGISTRATION_TOKEN": remember_secret("hsreg_another-instance-registration-token")})
    try:
        b.start()
        c.start()
        yield a, b, c
    finally:
        for srv in (c, b, a):
            srv.stop()


def _registry_token(srv: HullscanServer, scope: str) -> str:
    r = httpx.get(f"{srv.url}/jwt/auth", params={"service": "hullscan-registry", "scope": scope},
                  auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def test_two_data_directories_one_instance(nodes: tuple[HullscanServer, HullscanServer, HullscanServer]) -> None:
    a, b, c = nodes
    # Registry tokens: issued by A, accepted by B (same key from settings), refused by C (its own key).
    token = _registry_token(a, "repository:team/shared/app:pull,push")
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{b.url}/v2/", headers=bearer, timeout=30).status_code == 200
    assert httpx.get(f"{c.url}/v2/", headers=bearer, timeout=30).status_code == 401
    assert not (a.data_dir / "registry-token.pem").exists() and not (b.data_dir / "registry-token.pem").exists()

    # A chunked push started on A, continued and finished on B; pulled from A.
    data = os.urandom(6 << 20)
    start = httpx.post(f"{a.url}/v2/team/shared/app/blobs/uploads/", headers=bearer, timeout=30)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    first = httpx.patch(a.url + location, content=data[:1 << 20], headers=bearer, timeout=30)
    assert first.status_code == 202 and first.headers["Range"] == f"0-{(1 << 20) - 1}"
    status = httpx.get(b.url + location, headers=bearer, timeout=30)
    assert status.status_code == 204 and status.headers["Range"] == first.headers["Range"]
    done = httpx.put(b.url + location, params={"digest": sha256(data)}, content=data[1 << 20:], headers=bearer,
                     timeout=60)
    assert done.status_code == 201, done.text
    assert httpx.get(f"{a.url}/v2/team/shared/app/blobs/{sha256(data)}", headers=bearer, timeout=60).content == data
    with b.client() as client:
        layer = os.urandom(2000)
        push_image(client, "team/shared/app", "v1", layer)
    with a.client() as client:
        assert client.get(f"/v2/team/shared/app/blobs/{sha256(layer)}").content == layer

    # UI: the CSRF cookie and form token of A's sign-in page sign in on B (same UI secret), not on C.
    with httpx.Client(base_url=a.url, timeout=30) as browser:
        page = browser.get("/users/sign_in")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text[:300]
        form = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": found.group(1),
                "return_to": "/projects"}
        cookies = dict(browser.cookies)
    on_b = httpx.post(f"{b.url}/users/sign_in", data=form, cookies=cookies, timeout=30)
    assert on_b.status_code in (302, 303), on_b.text[:300]
    on_c = httpx.post(f"{c.url}/users/sign_in", data=form, cookies=cookies, timeout=30)
    assert on_c.status_code == 403

    # Runners register on any node with the one registration token; C generated its own.
    for srv in (a, b):
        r = httpx.post(f"{srv.url}/api/v1/runners", json={"token": REGISTRATION, "description": "r"}, timeout=30)
        assert r.status_code == 201, r.text
    assert httpx.post(f"{c.url}/api/v1/runners", json={"token": REGISTRATION}, timeout=30).status_code == 403



def test_postgresql_without_shared_secrets_refuses_to_start(tmp_path: Path, postgres: PostgresCluster) -> None:
    """Generating them per data directory would make each node reject the others' tokens: `serve` exits,
    naming what is missing; the one given (the UI secret) is not named."""
    d = HullscanServer(tmp_path / "d", postgres.create_database(), shared_secrets=False,
                       env={"HULLSCAN_UI_SECRET": UI_SECRET})
    with pytest.raises(RuntimeError, match="hullscan serve exited") as failed:
        d.start(timeout=60)
    assert d.proc is not None and d.proc.returncode == 2
    message = str(failed.value)
    for name in ("registry_token_key_file", "HULLSCAN_RUNNER_REGISTRATION_TOKEN"):
        assert name in message
    assert "ui_secret" not in message
    assert not (d.data_dir / "registry-token.pem").exists() and not (d.data_dir / "ui-secret.key").exists()
