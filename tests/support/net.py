"""Ports and processes of the real servers the tests start (hullscan serve, docker-registry, moto)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, status: int | None = None) -> Callable[[], bool]:
    """A readiness check: `url` answers over HTTP (with `status`, when given)."""
    def check() -> bool:
        try:
            response = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return False
        return status is None or response.status_code == status
    return check


def wait_ready(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, log: Path, timeout: float,
               tail: int = 2000) -> None:
    """Poll `ready` until it holds; a process that exits first, or a timeout, fails naming `what` with the end of
    its log (so a server that cannot start says why instead of a test timing out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-tail:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout:g} s: {log.read_text(errors='replace')[-tail:]}")


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Send `sig` and wait; kill what does not exit within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
