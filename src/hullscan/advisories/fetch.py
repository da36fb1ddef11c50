"""Downloads for syncs: streamed to a temporary file, length-checked, retried when cut off."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import httpx

log = logging.getLogger("hullscan.advisories")


class FetchError(RuntimeError):
    """A download that failed after all retries."""


def download(client: httpx.Client, url: str, dest_dir: Path, retries: int = 3, max_bytes: int = 4 << 30,
             headers: dict[str, str] | None = None) -> Path:
    """Stream `url` into a new file under `dest_dir`; a short or failed transfer is retried from scratch."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    attempt = 0
    for attempt in range(1, retries + 1):
        fd, name = tempfile.mkstemp(prefix="download-", dir=dest_dir)
        path = Path(name)
        try:
            with open(fd, "wb") as out, client.stream("GET", url, headers=headers) as resp:
                if resp.status_code != 200:
                    raise FetchError(f"GET {url}: HTTP {resp.status_code}")
                expected = resp.headers.get("content-length")
                size = 0
                for chunk in resp.iter_bytes(1 << 16):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"GET {url}: larger than {max_bytes} bytes")
                    out.write(chunk)
                if expected is not None and resp.headers.get("content-encoding") in (None, "identity") \
                        and int(expected) != size:
                    raise FetchError(f"GET {url}: got {size} of {expected} bytes")
            return path
        except (httpx.HTTPError, FetchError, OSError) as exc:
            path.unlink(missing_ok=True)
            last = exc
            if isinstance(exc, FetchError) and "HTTP 4" in str(exc):
                break  # a missing file does not appear by retrying
            log.warning("download failed, retrying", extra={"fields": {"url": url, "attempt": attempt, "error": str(exc)}})
            time.sleep(min(0.2 * attempt, 2.0))
    raise FetchError(f"GET {url} failed after {attempt} attempt(s): {last}")


def get_bytes(client: httpx.Client, url: str, retries: int = 3, max_bytes: int = 64 << 20) -> bytes:
    """A small document fully in memory (single OSV records), with the same retry rules."""
    last: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            resp = client.get(url)
            if resp.status_code != 200:
                raise FetchError(f"GET {url}: HTTP {resp.status_code}")
            if len(resp.content) > max_bytes:
                raise FetchError(f"GET {url}: larger than {max_bytes} bytes")
            return resp.content
        except (httpx.HTTPError, FetchError) as exc:
            last = exc
            if isinstance(exc, FetchError) and "HTTP 4" in str(exc):
                break
            time.sleep(min(0.2 * attempt, 2.0))
    raise FetchError(f"GET {url} failed: {last}")
