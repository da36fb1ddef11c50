"""Downloads for syncs: streamed (to a temporary file or to memory), size-bounded while reading, length-checked,
and retried when cut off. What retrying cannot change (a 4xx answer, a document over its size limit) fails at
once: an over-large feed does not shrink, and reading it three times would spend three times the bandwidth."""

from __future__ import annotations

import io
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

import httpx

log = logging.getLogger("hullscan.advisories")

T = TypeVar("T")


class FetchError(RuntimeError):
    """A download that failed after all retries."""


class PermanentFetchError(FetchError):
    """A download that another try cannot fix: the server refused it (4xx) or it is over its size limit."""


def _stream_into(client: httpx.Client, url: str, out: BinaryIO, max_bytes: int,
                 headers: dict[str, str] | None) -> None:
    """One GET of `url` into `out`; never holds or writes more than `max_bytes` (an announced length over it is
    refused before the body is read) and refuses a body shorter than its announced length."""
    with client.stream("GET", url, headers=headers) as resp:
        if 400 <= resp.status_code < 500:
            raise PermanentFetchError(f"GET {url}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise FetchError(f"GET {url}: HTTP {resp.status_code}")
        identity = resp.headers.get("content-encoding") in (None, "identity")
        announced = resp.headers.get("content-length")
        expected = int(announced) if announced is not None and announced.isdigit() else None
        if identity and expected is not None and expected > max_bytes:
            raise PermanentFetchError(f"GET {url}: larger than {max_bytes} bytes ({expected} announced)")
        size = 0
        for chunk in resp.iter_bytes(1 << 16):
            size += len(chunk)
            if size > max_bytes:
                raise PermanentFetchError(f"GET {url}: larger than {max_bytes} bytes")
            out.write(chunk)
        if identity and expected is not None and expected != size:
            raise FetchError(f"GET {url}: got {size} of {expected} bytes")


def _with_retries(url: str, retries: int, attempt_once: Callable[[], T]) -> T:
    last: Exception | None = None
    attempt = 0
    for attempt in range(1, retries + 1):
        try:
            return attempt_once()
        except PermanentFetchError:
            raise
        except (httpx.HTTPError, FetchError, OSError) as exc:
            last = exc
            if attempt < retries:
                log.warning("download failed, retrying",
                            extra={"fields": {"url": url, "attempt": attempt, "error": str(exc)}})
                time.sleep(min(0.2 * attempt, 2.0))
    raise FetchError(f"GET {url} failed after {attempt} attempt(s): {last}")


def download(client: httpx.Client, url: str, dest_dir: Path, retries: int = 3, max_bytes: int = 4 << 30,
             headers: dict[str, str] | None = None) -> Path:
    """Stream `url` into a new file under `dest_dir`; a short or failed transfer is retried from scratch, and a
    failed one leaves no file behind."""
    dest_dir.mkdir(parents=True, exist_ok=True)

    def once() -> Path:
        fd, name = tempfile.mkstemp(prefix="download-", dir=dest_dir)
        path = Path(name)
        try:
            with open(fd, "wb") as out:
                _stream_into(client, url, out, max_bytes, headers)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    return _with_retries(url, retries, once)


def get_bytes(client: httpx.Client, url: str, retries: int = 3, max_bytes: int = 64 << 20) -> bytes:
    """A small document in memory (single OSV records, indexes), with the same bound and retry rules: memory
    never exceeds `max_bytes` whatever the server sends."""

    def once() -> bytes:
        out = io.BytesIO()
        _stream_into(client, url, out, max_bytes, None)
        return out.getvalue()

    return _with_retries(url, retries, once)

