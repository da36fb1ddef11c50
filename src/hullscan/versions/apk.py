"""Alpine apk versions, compared with apk-tools' token algorithm.

`digits{.digits}[letter]{_suffix[N]}[-rN]`; pre-release suffixes `_alpha _beta _pre _rc` sort before the
bare version and post-release `_cvs _svn _git _hg _p` after it; a digit group after a dot that starts with
`0` is compared as a fraction (so `1.02 < 1.2`), which is where naive comparers go wrong.
"""

from __future__ import annotations

from typing import Any

from hullscan.versions.errors import InvalidVersion

INVALID, DIGIT_OR_ZERO, DIGIT, LETTER, SUFFIX, SUFFIX_NO, REVISION_NO, END = -1, 0, 1, 2, 3, 4, 5, 6
_PRE = ("alpha", "beta", "pre", "rc")
_POST = ("cvs", "svn", "git", "hg", "p")


def _next_token(t: int, s: str, i: int) -> tuple[int, int]:
    n = INVALID
    if i >= len(s):
        return END, i
    c = s[i]
    if t in (DIGIT, DIGIT_OR_ZERO) and c.islower() and c.isascii():
        n = LETTER
    elif t == LETTER and c.isdigit():
        n = DIGIT
    elif t == SUFFIX and c.isdigit():
        n = SUFFIX_NO
    else:
        if c == ".":
            n = DIGIT_OR_ZERO
        elif c == "_":
            n = SUFFIX
        elif c == "-":
            if i + 1 < len(s) and s[i + 1] == "r":
                n = REVISION_NO
                i += 1
            else:
                n = INVALID
        i += 1
    if n < t and not (
        (n == DIGIT_OR_ZERO and t == DIGIT) or (n == SUFFIX and t == SUFFIX_NO) or (n == DIGIT and t == LETTER)
    ):
        n = INVALID
    return n, i


def _get_token(t: int, s: str, i: int) -> tuple[int, int, int]:
    """One step of apk-tools' get_token: returns (value, next type, next index)."""
    v = 0
    nt = INVALID
    n = len(s)
    if i >= n:
        return 0, END, i
    if t == DIGIT_OR_ZERO and s[i] == "0":
        # `.05`: leading zeros make the group a fraction; the zeros count sorts below any digit group.
        j = i
        while j < n and s[j] == "0":
            j += 1
        v = -(j - i)
        i = j
        if i < n and (s[i].isdigit() or s[i] == "."):
            nt = DIGIT  # apk-tools: the rest of the group (possibly empty) is read as a number next
        # else: a zeros-only group before a suffix, letter or revision (`1.0_rc1`): apk-tools would read an
        # empty number here and rank `1.0_rc1` above `1.0`; skipping it keeps pre-releases below releases.
    elif t in (DIGIT_OR_ZERO, DIGIT, SUFFIX_NO, REVISION_NO):
        j = i
        while j < n and s[j].isdigit():
            j += 1
        v = int(s[i:j]) if j > i else 0
        i = j
    elif t == LETTER:
        v = ord(s[i])
        i += 1
    elif t == SUFFIX:
        for idx, name in enumerate(_PRE):
            if s.startswith(name, i):
                v = idx - len(_PRE)
                i += len(name)
                break
        else:
            for idx, name in enumerate(_POST):
                if s.startswith(name, i):
                    v = idx
                    i += len(name)
                    break
            else:
                return -1, INVALID, i
    else:
        return -1, INVALID, i
    if i >= n:
        return v, END, i
    if nt != INVALID:
        return v, nt, i
    nt, i = _next_token(t, s, i)
    return v, nt, i


def parse(version: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Tokenise once: values and the token type that follows each value."""
    v = version.strip()
    if v[:1] in ("v", "V"):
        v = v[1:]
    if not v or not v[0].isdigit():
        raise InvalidVersion("apk", version, "must start with a digit")
    values: list[int] = []
    types: list[int] = []
    t, i = DIGIT, 0
    while True:
        val, t, i = _get_token(t, v, i)
        values.append(val)
        types.append(t)
        if t in (END, INVALID):
            break
    if t == INVALID and len(values) == 1:
        raise InvalidVersion("apk", version)
    return tuple(values), tuple(types)


def compare_parsed(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    av_list, at_list = a
    bv_list, bt_list = b
    at = bt = DIGIT
    av = bv = 0
    i = 0
    while at == bt and at not in (END, INVALID) and av == bv:
        av, at = av_list[i], at_list[i]
        bv, bt = bv_list[i], bt_list[i]
        i += 1
    if av < bv:
        return -1
    if av > bv:
        return 1
    if at == bt:
        return 0
    if at == SUFFIX and i < len(av_list) and av_list[i] < 0:
        return -1
    if bt == SUFFIX and i < len(bv_list) and bv_list[i] < 0:
        return 1
    if at > bt:
        return -1
    if bt > at:
        return 1
    return 0
