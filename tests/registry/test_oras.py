"""oras-py, the ORAS Python client, pushes, pulls and attaches a referrer against the embedded registry of a real
`hullscan serve`: its token flow follows the registry's Bearer challenges, including the
`scope=...,error="insufficient_scope"` challenge that comes with the 403 of a token lacking the scope (oras-py 0.2
refreshes its token on a 403 only; on a 401 it resends the token it has, and its push fails)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import oras.client
import oras.oci

from tests.support.auth import ADMIN_PASSWORD, ADMIN_USER


def _client(server) -> oras.client.OrasClient:
    client = oras.client.OrasClient(hostname=server.host, insecure=True, tls_verify=False)
    client.login(username=ADMIN_USER, password=ADMIN_PASSWORD, hostname=server.host, tls_verify=False)
    return client


def test_oras_pushes_pulls_and_attaches_a_referrer(server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # oras-py wants pushed paths relative to the working directory
    Path("notes.txt").write_text("hello from oras\n")
    Path("sbom.cdx.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}))
    client = _client(server)
    target = f"{server.host}/group/oras/notes:v1"
    pushed = client.push(target=target, files=["notes.txt:text/plain"], quiet=True)
    assert pushed.status_code == 201, pushed.text
    # a second repository with the same client: its token is for group/oras/notes, the challenge names the new scope
    other = client.push(target=f"{server.host}/group/oras/other:v1", files=["notes.txt:text/plain"], quiet=True)
    assert other.status_code == 201, other.text

    out = tmp_path / "pulled"
    files = client.pull(target=target, outdir=str(out))
    assert [Path(f).read_text() for f in files] == ["hello from oras\n"]

    manifest = client.get_manifest(target)
    digest = pushed.headers["Docker-Content-Digest"]
    subject = oras.oci.Subject(mediaType=manifest["mediaType"], digest=digest,
                               size=len(json.dumps(manifest).encode()))
    subject.size = int(client.do_request(f"http://{server.host}/v2/group/oras/notes/manifests/{digest}",
                                         "HEAD").headers["Content-Length"])
    ref = client.push(target=f"{server.host}/group/oras/notes:sbom", files=["sbom.cdx.json:application/vnd.cyclonedx+json"],
                      subject=subject, quiet=True)
    assert ref.status_code == 201, ref.text
    referrers = client.do_request(f"http://{server.host}/v2/group/oras/notes/referrers/{digest}", "GET").json()
    assert [m["digest"] for m in referrers["manifests"]] == [ref.headers["Docker-Content-Digest"]]


def test_a_token_without_the_scope_gets_the_challenge_naming_it(server) -> None:
    token = httpx.get(f"{server.url}/jwt/auth", params={"service": "hullscan-registry",
                                                        "scope": "repository:group/a/app:pull"},
                      auth=(ADMIN_USER, ADMIN_PASSWORD)).json()["token"]
    r = httpx.post(f"{server.url}/v2/group/a/app/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="') and 'service="hullscan-registry"' in challenge
    assert 'scope="repository:group/a/app:pull,push"' in challenge and 'error="insufficient_scope"' in challenge
    r = httpx.get(f"{server.url}/v2/group/b/app/tags/list", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and 'scope="repository:group/b/app:pull",error="insufficient_scope"' in \
        r.headers["www-authenticate"]
