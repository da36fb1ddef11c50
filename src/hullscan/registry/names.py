"""Repository names, tags and digests as the OCI Distribution Specification defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from hullscan.registry.errors import RegistryError

NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME = re.compile(rf"^{NAME_COMPONENT}(?:/{NAME_COMPONENT})*$")  # use fullmatch: "$" also matches before "\n"
TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME_LENGTH = 255

# Algorithms we verify, with the hex length their encoded part must have.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True)
class Digest:
    """A verified-shape content digest (`sha256:<64 hex>` or `sha512:<128 hex>`)."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)


def parse_digest(value: str, *, code: str = "DIGEST_INVALID") -> Digest:
    """Parse a digest; an unknown algorithm is UNSUPPORTED, a bad shape is `code`."""
    if not value or len(value) > 160 or not DIGEST.fullmatch(value):
        raise RegistryError(code, f"invalid digest {value[:200]!r}")
    algorithm, _, encoded = value.partition(":")
    if algorithm not in ALGORITHMS:
        raise RegistryError("UNSUPPORTED", f"digest algorithm {algorithm!r} is not supported (use sha256 or sha512)")
    if len(encoded) != ALGORITHMS[algorithm] or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise RegistryError(code, f"invalid {algorithm} digest {value[:200]!r}")
    return Digest(algorithm, encoded)


def is_digest(reference: str) -> bool:
    return ":" in reference


def compute_digest(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def validate_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH or not NAME.fullmatch(name):
        raise RegistryError("NAME_INVALID", f"invalid repository name {name[:300]!r}")
    return name


def validate_tag(tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise RegistryError("TAG_INVALID", f"invalid tag {tag[:300]!r}")
    return tag
