"""Passwords (argon2) and bearer tokens (random, stored as sha256 digests).

A verified password is remembered in memory for a few minutes, keyed by an HMAC of the attempt and bound to
the stored hash: argon2 is deliberately slow, API clients sending Basic credentials on every call should not pay
it each time, and a changed password (a new hash) invalidates the memory at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PERSONAL_TOKEN_PREFIX = "hspat_"
DEPLOY_TOKEN_PREFIX = "hsdt_"
TOKEN_PREFIXES = (PERSONAL_TOKEN_PREFIX, DEPLOY_TOKEN_PREFIX)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): the library default's 64 MiB per check
# showed in the server's peak memory; hashes carry their parameters, so older ones still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_memory_key = secrets.token_bytes(32)
_verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
_verified_lock = threading.Lock()
VERIFIED_TTL_SECONDS = 300.0
VERIFIED_MAX = 1024


class PasswordPolicyError(ValueError):
    """A new password is too short or too long."""


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str, *, who: str = "") -> bool:
    """True when `password` matches `stored_hash`; constant work for a missing hash (no user enumeration)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    if stored_hash is None:
        _hasher.hash(password)  # same cost as a real check
        return False
    memo = hmac.new(_memory_key, f"{who}\0{password}".encode(), hashlib.sha256).digest()
    now = time.monotonic()
    with _verified_lock:
        hit = _verified.get(memo)
        if hit is not None and hit[0] == stored_hash and now - hit[1] < VERIFIED_TTL_SECONDS:
            return True
    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    with _verified_lock:
        _verified[memo] = (stored_hash, now)
        _verified.move_to_end(memo)
        while len(_verified) > VERIFIED_MAX:
            _verified.popitem(last=False)
    return True


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens have 256 random bits: a plain sha256 is enough to make the stored form useless to a reader."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(18)
