"""Registry tokens: RS256 with the instance certificate in `x5c` (what Distribution checks), verified once per
token and checked for expiry on every use; forged, foreign and expired tokens are refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography import x509

from hullscan.auth.registry_tokens import InvalidRegistryToken, RegistryTokenIssuer, certificate_pem
from hullscan.settings import Settings

ACCESS = [{"type": "repository", "name": "team/app/web", "actions": ["pull"]}]


def _header(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_tokens_carry_the_certificate_an_external_registry_trusts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    token, _, _ = RegistryTokenIssuer(settings).issue("dev", "password:1", ACCESS)
    header = _header(token)
    assert header["alg"] == "RS256"
    in_token = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert in_token == x509.load_pem_x509_certificate(certificate_pem(settings).encode())
    assert (tmp_path / "registry-token.pem").stat().st_mode & 0o777 == 0o600
    # another process of the same instance verifies it; another instance does not
    assert RegistryTokenIssuer(settings).verify(token)["sub"] == "dev"
    with pytest.raises(InvalidRegistryToken):
        RegistryTokenIssuer(Settings(data_dir=tmp_path / "other")).verify(token)


def test_forged_expired_and_foreign_service_tokens_are_refused(tmp_path: Path) -> None:
    issuer = RegistryTokenIssuer(Settings(data_dir=tmp_path, registry_token_ttl_seconds=1))
    token, _, _ = issuer.issue("dev", "password:1", ACCESS)
    assert issuer.verify(token)["access"] == ACCESS  # now remembered as verified
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["access"][0]["actions"] = ["pull", "push"]
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    with pytest.raises(InvalidRegistryToken):
        issuer.verify(forged)
    other_service = RegistryTokenIssuer(Settings(data_dir=tmp_path, registry_token_service="elsewhere"))
    with pytest.raises(InvalidRegistryToken):
        other_service.verify(token)
    time.sleep(1.2)
    with pytest.raises(InvalidRegistryToken, match="expired"):
        issuer.verify(token)  # the remembered signature does not outlive the token
