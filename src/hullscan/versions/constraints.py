"""Constraint strings used by other tools and advisory feeds, evaluated with the version schemes.

Syntaxes: operator lists (`> 1.0, < 2.0 || = 3.1`; comma or whitespace = AND, `||` = OR, a bare version is
equality), PEP 440 specifiers (via `packaging`), node-semver ranges, RubyGems requirements (`~>`), Maven
version ranges (`[1.0,2.0)`) and grype's fuzzy constraints (semantic order when everything looks like semver).
"""

from __future__ import annotations

import re
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from hullscan.versions import fuzzy, gem, semver
from hullscan.versions.errors import InvalidVersion
from hullscan.versions.schemes import canonical_scheme, compare, parse

_CLAUSE = re.compile(r"(~>|~=|===|==|!=|<=|>=|<|>|=|\^|~)?\s*([^\s,|<>=!~^]+)")
_OP_CLAUSE = re.compile(r"(~>|===|==|!=|<=|>=|<|>|=)?\s*([^\s,|<>=!]+)")
_PEP440_CLAUSE = re.compile(r"(~=|===|==|!=|<=|>=|<|>|=)?\s*([^\s,|<>=~]+)")
_OPS = {
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
    "=": lambda c: c == 0,
    "==": lambda c: c == 0,
    "": lambda c: c == 0,
    "!=": lambda c: c != 0,
}


def _clauses(text: str, pattern: re.Pattern[str] = _OP_CLAUSE) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        if text[pos] in " ,\t":
            pos += 1
            continue
        m = pattern.match(text, pos)
        if not m:
            raise InvalidVersion("constraint", text, f"cannot read at {text[pos:]!r}")
        out.append((m.group(1) or "", m.group(2).strip("'\"")))
        pos = m.end()
    return out


def _operator_list(scheme: str, version: str, constraint: str) -> bool:
    if not constraint.strip():
        return True
    for alternative in constraint.split("||"):
        ok = True
        for op, bound in _clauses(alternative):
            if op not in _OPS:
                raise InvalidVersion(scheme, constraint, f"operator {op!r} not supported here")
            if not _OPS[op](compare(scheme, version, bound)):
                ok = False
                break
        if ok:
            return True
    return False


def _fuzzy(version: str, constraint: str) -> bool:
    """grype's fuzzy constraints: semantic-version order when the version and every bound look like semver,
    the fuzzy order otherwise (see `hullscan.versions.fuzzy`)."""
    if not constraint.strip():
        return True
    alternatives = [_clauses(alternative) for alternative in constraint.split("||")]
    for clauses in alternatives:
        for op, _ in clauses:
            if op not in _OPS:
                raise InvalidVersion("fuzzy", constraint, f"operator {op!r} not supported here")
    semantic = fuzzy.semver_key(version)
    bounds = {bound: fuzzy.semver_key(bound) for clauses in alternatives for _, bound in clauses}
    if semantic is not None and all(key is not None for key in bounds.values()):
        def cmp(bound: str) -> int:
            other = bounds[bound]
            return (semantic > other) - (semantic < other)  # type: ignore[operator]
    else:
        def cmp(bound: str) -> int:
            return compare("fuzzy", version, bound)
    return any(all(_OPS[op](cmp(bound)) for op, bound in clauses) for clauses in alternatives)


def _pep440(version: str, constraint: str) -> bool:
    if not constraint.strip():
        return True
    v = parse("pypi", version)
    for alternative in constraint.split("||"):
        if all(_pep440_clause(v, op, bound) for op, bound in _clauses(alternative, _PEP440_CLAUSE)):
            return True
    return False


def _pep440_clause(v: Any, op: str, bound: str) -> bool:
    if op in ("", "="):
        op = "=="
    if bound == "*" and op == "==":
        return True
    try:
        return SpecifierSet(op + bound).contains(v, prereleases=True)
    except InvalidSpecifier:
        pass
    # Outside PEP 440's specifier grammar (ordered comparison with a local version, `.*` after a
    # post-release): fall back to plain version order and string-prefix matching.
    if bound.endswith(".*") and op in ("==", "!="):
        prefix = str(parse("pypi", bound[:-2]))
        text = str(v)
        hit = text == prefix or text.startswith(prefix + ".")
        return hit if op == "==" else not hit
    b = parse("pypi", bound)
    c = -1 if v < b else (0 if v == b else 1)
    if op not in _OPS:
        raise InvalidVersion("pypi", op + bound, "invalid specifier")
    return _OPS[op](c)


def _gem(version: str, constraint: str) -> bool:
    if not constraint.strip():
        return True
    v = parse("gem", version)
    for alternative in constraint.split("||"):
        ok = True
        for op, bound in _clauses(alternative):
            b = parse("gem", bound)
            if op == "~>":
                good = v >= b and gem.compare_parsed(gem.release(version), gem.bump(bound)) < 0
            elif op in _OPS:
                c = -1 if v < b else (0 if v == b else 1)
                good = _OPS[op](c)
            else:
                raise InvalidVersion("gem", constraint, f"operator {op!r}")
            if not good:
                ok = False
                break
        if ok:
            return True
    return False


_MAVEN_RANGE = re.compile(r"([\[(])\s*([^,\])]*?)\s*(?:,\s*([^\])]*?)\s*)?([\])])")


def _maven(version: str, constraint: str, syntax: str) -> bool:
    text = constraint.strip()
    if not text:
        return True
    if syntax == "maven-version-range" and text[0] not in "[(":
        return True  # a bare version in a Maven range spec is only a recommendation
    if text[0] in "[(":
        v = parse("maven", version)
        pos = 0
        while pos < len(text):
            if text[pos] in " ,":
                pos += 1
                continue
            m = _MAVEN_RANGE.match(text, pos)
            if not m:
                raise InvalidVersion("maven", constraint, "invalid version range")
            lo_inc, lo, hi, hi_inc = m.group(1) == "[", m.group(2), m.group(3), m.group(4) == "]"
            pos = m.end()
            if hi is None:  # [1.0] = exactly 1.0
                if v == parse("maven", lo):
                    return True
                continue
            ok = True
            if lo:
                lk = parse("maven", lo)
                ok = v >= lk if lo_inc else v > lk
            if ok and hi:
                hk = parse("maven", hi)
                ok = v <= hk if hi_inc else v < hk
            if ok:
                return True
        return False
    return _operator_list("maven", version, constraint)


# --- node-semver ranges -------------------------------------------------------------------------------

_PARTIAL = re.compile(
    r"^v?=?\s*(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?"
    r"(?:-?([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$"
)
_NONE = ("<", (0, 0, 0, (0, ((0, 0, ""),))))  # `<0.0.0-0`: matches nothing


def _xr(part: str | None) -> int | None:
    return None if part is None or part in ("x", "X", "*") else int(part)


def _partial(text: str) -> tuple[int | None, int | None, int | None, str | None]:
    m = _PARTIAL.match(text.strip())
    if not m:
        raise InvalidVersion("npm", text, "invalid range")
    major, minor, patch = _xr(m.group(1)), _xr(m.group(2)), _xr(m.group(3))
    if major is None:
        minor = patch = None
    if minor is None:
        patch = None
    return major, minor, patch, m.group(4)


def _v(major: int, minor: int, patch: int, pre: str | None = None) -> tuple:
    return (major, minor, patch, semver.pre_key(pre))


def _zero_pre(major: int, minor: int, patch: int) -> tuple:
    return (major, minor, patch, (0, ((0, 0, ""),)))


def _desugar(op: str, text: str) -> list[tuple[str, tuple]]:
    major, minor, patch, pre = _partial(text)
    if op == "~>":
        op = "~"
    if op == "^":
        if major is None:
            return [(">=", _v(0, 0, 0))]
        if minor is None:
            return [(">=", _v(major, 0, 0)), ("<", _zero_pre(major + 1, 0, 0))]
        if patch is None:
            if major == 0:
                return [(">=", _v(0, minor, 0)), ("<", _zero_pre(0, minor + 1, 0))]
            return [(">=", _v(major, minor, 0)), ("<", _zero_pre(major + 1, 0, 0))]
        low = (">=", _v(major, minor, patch, pre))
        if major == 0:
            if minor == 0:
                return [low, ("<", _zero_pre(0, 0, patch + 1))]
            return [low, ("<", _zero_pre(0, minor + 1, 0))]
        return [low, ("<", _zero_pre(major + 1, 0, 0))]
    if op == "~":
        if major is None:
            return [(">=", _v(0, 0, 0))]
        if minor is None:
            return [(">=", _v(major, 0, 0)), ("<", _zero_pre(major + 1, 0, 0))]
        if patch is None:
            return [(">=", _v(major, minor, 0)), ("<", _zero_pre(major, minor + 1, 0))]
        return [(">=", _v(major, minor, patch, pre)), ("<", _zero_pre(major, minor + 1, 0))]
    if op == "==" and patch is not None:
        # node-semver reads `==1.2.3` as operator `=` and version `=1.2.3`, which is not a version
        raise InvalidVersion("npm", op + text, "invalid comparator")
    if op in ("=", "=="):
        op = ""
    if major is None:
        return [_NONE] if op in ("<", ">") else [(">=", _v(0, 0, 0))]
    if minor is None or patch is None:
        lo = _v(major, minor or 0, 0)
        hi = _zero_pre(major + 1, 0, 0) if minor is None else _zero_pre(major, minor + 1, 0)
        if op == "":
            return [(">=", lo), ("<", hi)]
        if op == ">":
            return [(">=", hi[:3] + (semver.RELEASE,))]
        if op == ">=":
            return [(">=", lo)]
        if op == "<":
            return [("<", _zero_pre(*lo[:3]))]
        if op == "<=":
            return [("<", hi)]
        raise InvalidVersion("npm", op + text, "operator not allowed with a partial version")
    return [(op or "=", _v(major, minor, patch, pre))]


def _node_set(text: str) -> list[tuple[str, tuple]]:
    text = text.strip()
    hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", text)
    if hyphen:
        lo = _partial(hyphen.group(1))
        hi = _partial(hyphen.group(2))
        out = [(">=", _v(lo[0] or 0, lo[1] or 0, lo[2] or 0, lo[3] if lo[2] is not None else None))]
        if hi[0] is None:
            return out
        if hi[1] is None:
            out.append(("<", _zero_pre(hi[0] + 1, 0, 0)))
        elif hi[2] is None:
            out.append(("<", _zero_pre(hi[0], hi[1] + 1, 0)))
        else:
            out.append(("<=", _v(hi[0], hi[1], hi[2], hi[3])))
        return out
    comparators: list[tuple[str, tuple]] = []
    for op, bound in _clauses(text, _CLAUSE):
        comparators.extend(_desugar(op, bound))
    if not comparators:
        comparators.append((">=", _v(0, 0, 0)))
    return comparators


def _node_range(version: str, constraint: str) -> bool:
    """node-semver's `satisfies`: an invalid version or range satisfies nothing.

    One deliberate extension: a comma joins comparators (AND), because advisory feeds (GitHub, Trivy) write
    npm ranges as `>=1.0.0, <1.2.3`; node-semver itself would reject such a range."""
    try:
        v = semver.parse_strict(version, "npm")
        sets = [_node_set(alternative) for alternative in constraint.split("||")]
    except InvalidVersion:
        return False
    for comps in sets:
        ok = True
        for op, bound in comps:
            c = -1 if v < bound else (0 if v == bound else 1)
            if not _OPS["=" if op == "=" else op](c):
                ok = False
                break
        if not ok:
            continue
        if v[3] != semver.RELEASE:
            # node-semver: a pre-release only matches a set naming a pre-release of the same x.y.z
            if not any(b[3] != semver.RELEASE and b[:3] == v[:3] for _, b in comps):
                continue
        return True
    return False


def _kb(version: str, constraint: str) -> bool:
    """Microsoft KB ids: not ordered; a version satisfies a list of alternatives when it is one of them."""
    if not constraint.strip():
        return True
    wanted = {part.strip().strip("'\"") for part in constraint.split("||")}
    return bool(version.strip()) and version.strip() in wanted


def satisfies(scheme: str, version: str, constraint: str, syntax: str = "grype") -> bool:
    """Whether `version` satisfies `constraint` in the given syntax (see module doc)."""
    if scheme.lower() == "kb":
        return _kb(version, constraint)
    s = canonical_scheme(scheme)
    if syntax.startswith("node-semver") or syntax.startswith("go-npm-version"):
        return _node_range(version, constraint)
    if s == "pypi":
        return _pep440(version, constraint)
    if s == "gem":
        return _gem(version, constraint)
    if s == "maven":
        return _maven(version, constraint, syntax)
    if s == "fuzzy":
        return _fuzzy(version, constraint)
    return _operator_list(s, version, constraint)


def evaluate_any(scheme: str, version: str, constraint: str, syntax: str = "grype") -> Any:
    """`satisfies`, returning None instead of raising for unreadable input (for counting callers)."""
    try:
        return satisfies(scheme, version, constraint, syntax)
    except InvalidVersion:
        return None
