"""Start `hullscan serve` as a real process, the way users run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.auth import ADMIN, ADMIN_CREDS, ADMIN_PASSWORD, HullscanAuth, leaked_secrets, remember_secret
from tests.support.net import answers, free_port, stop_process, wait_ready

ROOT = Path(__file__).resolve().parents[2]
UI_SECRET = remember_secret("test-ui-secret-shared-by-every-node-0123456789")
REGISTRATION_TOKEN = remember_secret("hsreg_test-registration-token")
_key_file: Path | None = None


def shared_secrets_env() -> dict[str, str]:
    """The secrets every node of an instance on PostgreSQL must share (`serve` refuses to start without them):
    one signing key (generated once per test process), UI secret and registration token for all servers."""
    global _key_file
    if _key_file is None:
        import tempfile

        from hullscan.auth.keys import load_or_create_signing_identity

        path = Path(tempfile.mkdtemp(prefix="hullscan-test-keys-")) / "registry-token.pem"
        load_or_create_signing_identity(path, "hullscan-test")
        _key_file = path
    return {"HULLSCAN_REGISTRY_TOKEN_KEY_FILE": str(_key_file), "HULLSCAN_UI_SECRET": UI_SECRET,
            "HULLSCAN_RUNNER_REGISTRATION_TOKEN": REGISTRATION_TOKEN}


class HullscanServer:
    def __init__(self, data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None,
                 *, shared_secrets: bool = True) -> None:
        self.data_dir = data_dir
        self.shared_secrets = shared_secrets  # on PostgreSQL: the shared secrets unless the test sets its own
        self.database_url = database_url
        self.extra_env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> HullscanAuth:
        """The bootstrapped admin: Basic on the API, registry tokens on /v2/."""
        return ADMIN

    @property
    def creds(self) -> str:
        """`USER:PASSWORD` of the admin, for skopeo's --creds."""
        return ADMIN_CREDS

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=self.auth, **{"timeout": 60, **kwargs})  # type: ignore[arg-type]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
        env["HULLSCAN_DATA_DIR"] = str(self.data_dir)
        env["HULLSCAN_ADVISORIES_SYNC_INTERVAL"] = "0"  # tests never reach out to the internet's feeds
        env["HULLSCAN_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        if self.database_url:
            env["HULLSCAN_DATABASE_URL"] = self.database_url
            if self.shared_secrets and not self.database_url.startswith("sqlite"):
                env.update(shared_secrets_env())
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180) -> "HullscanServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hullscan", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.data_dir),
        )
        wait_ready(self.proc, answers(self.url + "/-/ready", 200), "hullscan serve", self.log_path, timeout, tail=3000)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig, timeout=20)
        self.assert_no_secrets_logged()

    def assert_no_secrets_logged(self) -> None:
        """No password, token or secret a test gave this server may appear in its log."""
        if self.log_path.exists():
            leaked = leaked_secrets(self.log_path.read_text(errors="replace"))
            assert not leaked, f"secrets in the server log {self.log_path}: {leaked}"

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
