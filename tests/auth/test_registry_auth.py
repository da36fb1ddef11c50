"""Real `hullscan serve`, real skopeo, accounts made with the `hullscan admin` CLI: pushes and pulls are allowed or
denied by role, token and visibility; the scan of a push pulls with its job token; nothing secret is logged."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import image_layout
from tests.support.auth import ADMIN_CREDS, ADMIN_HTTP, leaked_secrets, remember_secret
from tests.support.server import HullscanServer

LAYOUT = "distroless-style"


def _admin(server: HullscanServer, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "hullscan", "admin", *args], env=server.env(), input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=str(server.data_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)


def _push(server: HullscanServer, repo: str, *creds: str) -> subprocess.CompletedProcess[str]:
    layout = image_layout(LAYOUT)
    return _skopeo("copy", *creds, "--dest-tls-verify=false", f"oci:{layout}:latest",
                   f"docker://{server.host}/{repo}:latest")


def _inspect(server: HullscanServer, repo: str, *creds: str) -> subprocess.CompletedProcess[str]:
    return _skopeo("inspect", *creds, "--tls-verify=false", f"docker://{server.host}/{repo}:latest")


def _refused(proc: subprocess.CompletedProcess[str]) -> bool:
    text = proc.stderr.lower()
    return proc.returncode != 0 and ("unauthorized" in text or "denied" in text or "authentication required" in text)


@pytest.fixture
def auth_server(tmp_path: Path, database_url: str) -> HullscanServer:
    srv = HullscanServer(tmp_path / "data", database_url, env={"HULLSCAN_RUNNER_POOL_SIZE": "1"}).start()
    yield srv  # type: ignore[misc]
    srv.stop()  # fails the test when a secret reached the log


def test_skopeo_with_credentials_by_role_token_and_visibility(auth_server: HullscanServer, tmp_path: Path) -> None:
    srv = auth_server
    dev_pw, rep_pw = remember_secret("developer-pass-1"), remember_secret("reporter-pass-1")
    assert "created user dev" in _admin(srv, "create-user", "dev", "--password-stdin", stdin=dev_pw + "\n")
    _admin(srv, "create-user", "rep", "--password-stdin", stdin=rep_pw + "\n")
    assert "created project team/app" in _admin(srv, "create-project", "team/app", "--cs4r")
    _admin(srv, "create-project", "pub/lib", "--public")
    assert "dev is developer of team/app" in _admin(srv, "add-member", "dev", "team/app", "--role", "developer")
    _admin(srv, "add-member", "rep", "team", "--role", "reporter")  # a group membership: every project below
    pat = remember_secret(_admin(srv, "create-token", "dev", "--name", "ci", "--scope", "write_registry").strip())
    robot, robot_token = _admin(srv, "create-deploy-token", "team/app", "--scope", "read_registry").split()
    remember_secret(robot_token)

    # developer pushes with a password; the push is scanned, the runner pulling with its job token
    pushed = _push(srv, "team/app/web", "--dest-creds", f"dev:{dev_pw}")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    deadline = time.monotonic() + 240
    while True:
        pipelines = ADMIN_HTTP.get(f"{srv.url}/api/v1/projects/team%2Fapp/pipelines").json()
        if pipelines and pipelines[0]["status"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, srv.log_path.read_text()[-3000:]
        time.sleep(1)
    assert pipelines[0]["status"] == "success", pipelines[0]
    # ... and with a write_registry personal access token
    assert _push(srv, "team/app/api", "--dest-creds", f"dev:{pat}").returncode == 0
    # the reporter (by group) pulls but may not push; wrong passwords and strangers are refused
    assert _inspect(srv, "team/app/web", "--creds", f"rep:{rep_pw}").returncode == 0
    assert _refused(_push(srv, "team/app/web", "--dest-creds", f"rep:{rep_pw}"))
    assert _refused(_inspect(srv, "team/app/web", "--creds", "dev:not-the-password"))
    assert _refused(_inspect(srv, "team/app/web", "--no-creds"))
    assert _refused(_push(srv, "team/app/web", "--dest-creds", f"dev:{pat}x"))
    # the deploy token pulls its project only; reading the API is not for robots
    assert _inspect(srv, "team/app/web", "--creds", f"{robot}:{robot_token}").returncode == 0
    assert _refused(_push(srv, "team/app/web", "--dest-creds", f"{robot}:{robot_token}"))
    assert httpx.get(f"{srv.url}/api/v1/projects/team%2Fapp/pipelines", auth=(robot, robot_token)).status_code == 403
    # a public project: anonymous pulls, only members push
    assert _push(srv, "pub/lib/base", "--dest-creds", ADMIN_CREDS).returncode == 0
    assert _inspect(srv, "pub/lib/base", "--no-creds").returncode == 0
    assert _refused(_push(srv, "pub/lib/base", "--dest-creds", f"dev:{dev_pw}"))
    # `skopeo login` stores the credentials docker-style; later commands use them
    authfile = tmp_path / "auth.json"
    login = subprocess.run(["skopeo", "login", "--tls-verify=false", "--authfile", str(authfile), "-u", "dev",
                            "--password-stdin", srv.host], input=dev_pw, capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stderr
    assert _inspect(srv, "team/app/web", "--authfile", str(authfile)).returncode == 0
    bad = subprocess.run(["skopeo", "login", "--tls-verify=false", "--authfile", str(tmp_path / "bad.json"), "-u", "dev",
                          "--password-stdin", srv.host], input="wrong-password", capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0
    # the audit log saw the failures; neither it nor the server log holds a secret
    audit = ADMIN_HTTP.get(f"{srv.url}/api/v1/audit_events", params={"limit": 1000}).json()
    assert any(e["action"] == "sign_in_failed" and e["target"] == "dev" for e in audit)
    assert {"user_created", "member_added", "personal_access_token_created", "deploy_token_created"} <= \
        {e["action"] for e in audit}
    assert not leaked_secrets(str(audit))
    srv.assert_no_secrets_logged()


def test_first_start_bootstraps_an_admin_with_a_password_printed_once(tmp_path: Path) -> None:
    srv = HullscanServer(tmp_path / "data", env={"HULLSCAN_ADMIN_PASSWORD": "", "HULLSCAN_RUNNER_POOL_SIZE": "0"})
    srv.start()
    try:
        text = srv.log_path.read_text()
        lines = [line for line in text.splitlines() if "created the administrator 'admin' with password:" in line]
        assert len(lines) == 1, text[-2000:]
        password = lines[0].rsplit(": ", 1)[1].strip()
        assert httpx.get(f"{srv.url}/api/v1/user", auth=("admin", password)).json()["is_admin"] is True
    finally:
        srv.stop()
    srv.start()
    try:
        assert srv.log_path.read_text().count("created the administrator") == 1  # not again on a restart
    finally:
        srv.stop()


def test_an_external_distribution_trusts_hullscan_tokens(auth_server: HullscanServer, tmp_path: Path) -> None:
    """GitLab's registry arrangement with the real CNCF Distribution: it trusts the instance's certificate and
    sends clients to hullscan's /jwt/auth, so hullscan's users, roles and tokens decide who pushes and pulls."""
    from tests.scanner.distribution import Distribution

    srv = auth_server
    dev_pw, rep_pw = remember_secret("developer-pass-1"), remember_secret("reporter-pass-1")
    _admin(srv, "create-user", "dev", "--password-stdin", stdin=dev_pw + "\n")
    _admin(srv, "create-user", "rep", "--password-stdin", stdin=rep_pw + "\n")
    _admin(srv, "create-project", "team/app")
    _admin(srv, "add-member", "dev", "team/app", "--role", "developer")
    _admin(srv, "add-member", "rep", "team/app", "--role", "reporter")
    certificate = tmp_path / "hullscan-registry.crt"
    certificate.write_text(_admin(srv, "registry-certificate"))
    (tmp_path / "distribution").mkdir()
    external = Distribution(tmp_path / "distribution", auth=(
        f"auth:\n  token:\n    realm: {srv.url}/jwt/auth\n    service: hullscan-registry\n"
        f"    issuer: hullscan-token-issuer\n    rootcertbundle: {certificate}\n")).start()
    try:
        layout = image_layout(LAYOUT)
        target = f"docker://{external.host}/team/app/web:latest"

        def copy(*creds: str) -> subprocess.CompletedProcess[str]:
            return _skopeo("copy", *creds, "--dest-tls-verify=false", f"oci:{layout}:latest", target)

        def inspect(*creds: str) -> subprocess.CompletedProcess[str]:
            return _skopeo("inspect", *creds, "--tls-verify=false", target)

        pushed = copy("--dest-creds", f"dev:{dev_pw}")
        assert pushed.returncode == 0, pushed.stderr[-2000:] + external.log_path.read_text()[-2000:]
        assert inspect("--creds", f"rep:{rep_pw}").returncode == 0
        assert _refused(copy("--dest-creds", f"rep:{rep_pw}"))  # a reporter pulls, never pushes
        assert _refused(inspect("--creds", "dev:not-the-password"))
        assert _refused(inspect("--no-creds"))
        assert "blocked dev" in _admin(srv, "block-user", "dev")  # no new token for a blocked user
        assert _refused(inspect("--creds", f"dev:{dev_pw}"))
        assert "unblocked dev" in _admin(srv, "block-user", "dev", "--unblock")
        assert inspect("--creds", f"dev:{dev_pw}").returncode == 0
    finally:
        external.stop()
    srv.assert_no_secrets_logged()
