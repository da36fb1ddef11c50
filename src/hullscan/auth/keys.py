"""Instance keys kept in the data directory: created once, race-safe, shared by every process using it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_key(path: Path, nbytes: int = 32) -> bytes:
    """The key stored at `path` (hex), created with mode 0600 on first use; a concurrent creator wins."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_bytes(nbytes).hex())
    try:
        os.link(tmp, path)  # first writer wins; a concurrent process then reads the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())
