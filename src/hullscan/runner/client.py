"""HTTP client of the runner API (`/api/v1/runners`, `/api/v1/jobs/...`). The runner has no database: this is
its only way to the server. Every call is safe to retry, and transient failures (connection errors, 502-504)
are retried with backoff."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("hullscan.runner")
RUNNER_TOKEN_PREFIX = "hsrt_"
RETRYABLE_STATUS = {502, 503, 504}


class RunnerAPIError(Exception):
    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class JobGone(RunnerAPIError):
    """The job is no longer ours: canceled, re-queued to another runner, or its token expired."""


class RunnerAPI:
    def __init__(self, url: str, token: str, *, stop: threading.Event | None = None) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token
        self.stop = stop or threading.Event()
        self.http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, *, retry_seconds: float = 60.0, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + retry_seconds
        delay = 0.2
        while True:
            try:
                response = self.http.request(method, self.base + path, **kwargs)
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise RunnerAPIError(f"{method} {path}: {problem}")
            log.debug("retrying runner API call", extra={"fields": {"path": path, "problem": problem}})
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    @staticmethod
    def _check(response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code in (401, 409):
            raise JobGone(f"{what}: {response.status_code} {response.text[:200]}", response.status_code)
        if response.status_code >= 400:
            raise RunnerAPIError(f"{what}: HTTP {response.status_code} {response.text[:300]}", response.status_code)
        return response

    def ensure_runner_token(self, description: str) -> None:
        """A registration token is exchanged for a runner token (kept in memory: the runner stays stateless)."""
        if self.token.startswith(RUNNER_TOKEN_PREFIX):
            return
        response = self._call("POST", "/runners", json={"token": self.token, "description": description},
                              retry_seconds=120)
        if response.status_code != 201:
            raise RunnerAPIError(f"runner registration refused: HTTP {response.status_code} {response.text[:200]}",
                                 response.status_code)
        self.token = response.json()["token"]

    def request_job(self, wait: float) -> dict[str, Any] | None:
        response = self._call("POST", "/jobs/request", params={"wait": wait}, headers={"RUNNER-TOKEN": self.token},
                              timeout=httpx.Timeout(wait + 30.0, connect=10.0), retry_seconds=5)
        if response.status_code == 204:
            return None
        if response.status_code == 401:
            raise RunnerAPIError("runner token refused", 401)
        self._check(response, "request job")
        return response.json()

    def update(self, job: dict[str, Any], state: str, failure_reason: str | None = None,
               partial_reasons: list[str] | None = None) -> dict[str, Any]:
        """Heartbeat (`running`) or final report; a partial scan's reasons go with its `success`."""
        body: dict[str, Any] = {"state": state, "failure_reason": failure_reason}
        if partial_reasons:
            body["partial_reasons"] = partial_reasons
        # A heartbeat keeps retrying (backing off) for most of the lease: a short server or database outage
        # must not cost the job; the final report retries longer still.
        lease = float(job.get("lease_seconds") or 30)
        response = self._call("PUT", f"/jobs/{job['id']}", json=body, headers={"JOB-TOKEN": job["token"]},
                              retry_seconds=120 if state != "running" else max(10.0, lease * 0.8))
        return self._check(response, f"job {job['id']} {state}").json()

    def append_log(self, job: dict[str, Any], offset: int, text: str) -> int:
        response = self._call("PATCH", f"/jobs/{job['id']}/trace", params={"offset": offset},
                              content=text.encode(), headers={"JOB-TOKEN": job["token"]}, retry_seconds=30)
        if response.status_code == 416:  # the server has a different size: continue from there
            raise RunnerAPIError("log offset mismatch", 416, response.json())
        return int(self._check(response, f"job {job['id']} log").json()["size"])

    def upload_artifact(self, job: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
        def body():
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        headers = {"JOB-TOKEN": job["token"], "Content-Type": "application/vnd.cyclonedx+json"}
        for attempt in range(6):  # the body is a stream: each attempt re-opens the file
            try:
                response = self._call("POST", f"/jobs/{job['id']}/artifacts", params={"name": name},
                                      content=body(), headers=headers, retry_seconds=0)
                return self._check(response, f"job {job['id']} artifact upload").json()
            except JobGone:
                raise
            except RunnerAPIError as exc:
                if exc.status is not None and exc.status < 500 or attempt == 5:
                    raise
                time.sleep(min(2 ** attempt * 0.5, 10))
        raise AssertionError("unreachable")

    def release(self, job: dict[str, Any]) -> None:
        try:
            self._call("POST", f"/jobs/{job['id']}/release", headers={"JOB-TOKEN": job["token"]}, retry_seconds=5)
        except RunnerAPIError as exc:  # the server will re-queue it when the lease expires
            log.warning("could not release job", extra={"fields": {"job_id": job["id"], "error": str(exc)}})
