"""The one error every scheme raises for input it cannot read, so callers can count and skip it."""

from __future__ import annotations


class InvalidVersion(ValueError):
    """A version (or range/constraint) string a scheme cannot parse."""

    def __init__(self, scheme: str, version: str, reason: str = "") -> None:
        self.scheme = scheme
        self.version = version
        self.reason = reason
        super().__init__(f"invalid {scheme} version {version!r}" + (f": {reason}" if reason else ""))
