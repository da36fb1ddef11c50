"""Advisories written as constraint strings (GitHub/Ruby advisory style `vulnerable_versions`,
`patched_versions`, `unaffected_versions`) rather than OSV events: is an installed version vulnerable?

Semantics (those of Trivy's library detector, which the peer vectors encode): an empty string in either
list means "detect anyway"; with vulnerable ranges the version must match one of them; then it must match
none of the patched or unaffected ranges. An unreadable version or constraint is never vulnerable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hullscan.versions import InvalidVersion, canonical_scheme, satisfies

# The constraint syntax each scheme's advisories use, as `hullscan.versions.satisfies` names them.
_SYNTAX = {
    "npm": "node-semver-range",
    "pypi": "pep440-specifier",
    "gem": "rubygems-requirement",
    "maven": "go-mvn-version comparer",
}
_LOCAL = re.compile(r"\+[^+]*$")


_NPM_PRE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)-")


def _include_prerelease(scheme: str, version: str, constraint: str) -> str:
    """Advisory ranges apply to pre-releases too (node-semver's includePrerelease): AND-ing each alternative
    with the always-true `>=X.Y.Z-0` lifts node-semver's same-tuple pre-release rule without changing it."""
    m = _NPM_PRE.match(version) if scheme == "npm" else None
    if not m:
        return constraint
    floor = f">={m.group(1)}.{m.group(2)}.{m.group(3)}-0"
    return " || ".join(f"{alt.strip()} {floor}" for alt in constraint.split("||"))


def _any(scheme: str, version: str, constraints: Sequence[str]) -> bool:
    syntax = _SYNTAX.get(scheme, "grype")
    return any(satisfies(scheme, version, _include_prerelease(scheme, version, c), syntax) for c in constraints)


def is_vulnerable(
    scheme: str,
    version: str,
    *,
    vulnerable: Sequence[str] = (),
    patched: Sequence[str] = (),
    unaffected: Sequence[str] = (),
    allow_local: bool = False,
) -> bool:
    scheme = canonical_scheme(scheme)
    if any(c == "" for c in (*vulnerable, *patched)):
        return True
    if scheme == "pypi" and not allow_local:
        version = _LOCAL.sub("", version)
    try:
        matched = False
        if vulnerable:
            matched = _any(scheme, version, vulnerable)
            if not matched:
                return False
        secure = [*patched, *unaffected]
        if not secure:
            return matched
        return not _any(scheme, version, secure)
    except (InvalidVersion, ValueError):
        return False
