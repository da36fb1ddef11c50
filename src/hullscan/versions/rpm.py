"""RPM versions: `[epoch:]version[-release]`, ordered like rpm's `labelCompare` (rpmvercmp per field).

rpmvercmp is turned into a key: each alphanumeric run, `~` or `^` becomes a ranked token and the end of the
string is a token too, ranked `~` < end < `^` < letters < digits. Comparing keys equals running rpmvercmp.
"""

from __future__ import annotations

from hullscan.versions.errors import InvalidVersion

_DIGITS = frozenset("0123456789")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TILDE, _END, _CARET, _ALPHA_T, _NUM = 0, 1, 2, 3, 4
_END_TOKEN = (_END,)


def vercmp_key(s: str) -> tuple:
    """Key of one version or release string under rpmvercmp (separators are any other characters)."""
    out: list = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "~":
            out.append((_TILDE,))
            i += 1
        elif c == "^":
            out.append((_CARET,))
            i += 1
        elif c in _DIGITS:
            j = i
            while j < n and s[j] in _DIGITS:
                j += 1
            out.append((_NUM, int(s[i:j])))
            i = j
        elif c in _ALPHA:
            j = i
            while j < n and s[j] in _ALPHA:
                j += 1
            out.append((_ALPHA_T, s[i:j]))
            i = j
        else:
            i += 1
    out.append(_END_TOKEN)
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


def parse(version: str) -> tuple:
    v = version.strip()
    if not v:
        raise InvalidVersion("rpm", version, "empty")
    epoch, ver, release = split_evr(v)
    if not ver:
        raise InvalidVersion("rpm", version, "empty version field")
    # Flattened (rank, value) tokens: each field ends in its END token, so fields stay aligned.
    out: list = [int(epoch)]
    for part in (vercmp_key(ver), vercmp_key(release or "")):
        for tok in part:
            out.append(tok[0])
            out.append(tok[1] if len(tok) > 1 else 0)
    return tuple(out)
