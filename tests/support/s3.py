"""A local S3-compatible server for tests: moto's standalone server (PyPI `moto[server]`), on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


from tests.support.auth import remember_secret
from tests.support.net import answers, free_port, stop_process, wait_ready

ACCESS_KEY = "hullscan-test-key"
SECRET_KEY = remember_secret("hullscan-test-secret-key-0123456789")


class S3Server:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "moto-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> S3Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server process writes it while it runs
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_ready(self.proc, answers(self.url + "/moto-api/"), "moto server", self.log_path, timeout)
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client("s3", endpoint_url=self.url, region_name="us-east-1",
                                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, prefix: str = "", part_size: int = 5 << 20) -> dict[str, str]:
        """`HULLSCAN_*` settings that put a server's storage in `bucket`."""
        return {"HULLSCAN_STORAGE_DRIVER": "s3", "HULLSCAN_STORAGE_S3_ENDPOINT_URL": self.url,
                "HULLSCAN_STORAGE_S3_BUCKET": bucket, "HULLSCAN_STORAGE_S3_PREFIX": prefix,
                "HULLSCAN_STORAGE_S3_ACCESS_KEY_ID": ACCESS_KEY, "HULLSCAN_STORAGE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
                "HULLSCAN_STORAGE_S3_PATH_STYLE": "true", "HULLSCAN_STORAGE_S3_PART_SIZE": str(part_size)}
