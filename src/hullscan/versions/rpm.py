"""RPM versions: `[epoch:]version[-release]`, ordered like rpm's `labelCompare` (rpmvercmp per field).

rpmvercmp is turned into a key: each alphanumeric run, `~` or `^` becomes a ranked token and the end of the
string is a token too, ranked `~` < end < `^` < letters < digits. Comparing keys equals running rpmvercmp.
"""

from __future__ import annotations

import re
from typing import Any

from hullscan.versions.errors import InvalidVersion

_DIGITS = frozenset("0123456789")
_TILDE, _END, _CARET, _ALPHA_T, _NUM = 0, 1, 2, 3, 4


_TOKENS = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")


def _flat_key(s: str, out: list[Any]) -> None:
    """Append the flattened (rank, value) tokens of `s` and its END token (fields stay aligned)."""
    for tok in _TOKENS.findall(s):
        first = tok[0]
        if first in _DIGITS:
            out += (_NUM, int(tok))
        elif first == "~":
            out += (_TILDE, 0)
        elif first == "^":
            out += (_CARET, 0)
        else:
            out += (_ALPHA_T, tok)
    out += (_END, 0)


def vercmp_key(s: str) -> tuple[Any, ...]:
    """Key of one version or release string under rpmvercmp: the tokens `parse` builds for each field."""
    out: list[Any] = []
    _flat_key(s, out)
    return tuple(out)


def split_evr(evr: str) -> tuple[str, str, str | None]:
    """Split like rpm: epoch = leading digits before `:`, release = after the last `-`."""
    i = 0
    while i < len(evr) and evr[i] in _DIGITS:
        i += 1
    if i < len(evr) and evr[i] == ":":
        epoch = evr[:i] or "0"
        rest = evr[i + 1 :]
    else:
        epoch = "0"
        rest = evr
    if "-" in rest:
        version, release = rest.rsplit("-", 1)
        return epoch, version, release
    return epoch, rest, None


def parse(version: str) -> tuple[Any, ...]:
    """The flat sort key of an rpm EVR (epoch, then version and release tokens); empty input is invalid."""
    v = version.strip()
    if not v:
        raise InvalidVersion("rpm", version, "empty")
    epoch, ver, release = split_evr(v)
    if not ver:
        raise InvalidVersion("rpm", version, "empty version field")
    out: list[Any] = [int(epoch)]
    _flat_key(ver, out)
    _flat_key(release or "", out)
    return tuple(out)
