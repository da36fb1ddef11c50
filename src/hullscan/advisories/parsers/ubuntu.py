"""Ubuntu USN OVAL: each `patch` definition is one USN (or LSN) with its CVEs and, per dpkg test, the binary
packages and the version that fixes them.

OVAL names binary packages only; the store keys distro entries by SOURCE package, so each test's binaries
are mapped to one source name: the binary named in the USN title if there is one, else the shortest name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO

from defusedxml import ElementTree as SafeET

from hullscan.advisories.normalize import UBUNTU_CODENAMES, best_cvss, severity_word
from hullscan.advisories.parsers.base import Parsed, Tally, fixed_range, make_affected
from hullscan.advisories.types import Advisory

_NS = {
    "d": "http://oval.mitre.org/XMLSchema/oval-definitions-5",
    "linux": "http://oval.mitre.org/XMLSchema/oval-definitions-5#linux",
}
_D = "{http://oval.mitre.org/XMLSchema/oval-definitions-5}"
_L = "{http://oval.mitre.org/XMLSchema/oval-definitions-5#linux}"


def _release_of(root, tally: Tally) -> str | None:  # type: ignore[no-untyped-def]
    for definition in root.iter(f"{_D}definition"):
        if definition.get("class") == "inventory":
            title = definition.findtext(f"{_D}metadata/{_D}title") or ""
            m = re.search(r"(\d\d\.\d\d)", title)
            if m:
                return m.group(1)
    defid = next(root.iter(f"{_D}definition"), None)
    if defid is not None:
        m = re.search(r"com\.ubuntu\.(\w+):", defid.get("id", ""))
        if m and m.group(1) in UBUNTU_CODENAMES:
            return UBUNTU_CODENAMES[m.group(1)]
    return None


_NOT_NAMES = {"vulnerability", "vulnerabilities", "regression", "security", "update", "updates", "fix", "and",
              "kernel", "notice", "live", "patch", "the", "for", "in", "of"}


def _source_name(binaries: list[str], title_words: set[str]) -> str:
    """The USN title names the source (`Poppler vulnerabilities` → poppler, binaries libpoppler134, ...)."""
    exact = [b for b in binaries if b in title_words]
    if exact:
        return min(exact, key=len)
    words = sorted((w for w in title_words if len(w) > 2 and w not in _NOT_NAMES), key=len, reverse=True)
    for word in words:  # `Apache vulnerabilities` → apache2, `Python vulnerabilities` → python3.12
        versioned = [b for b in binaries if re.fullmatch(re.escape(word) + r"[\d.]+", b)]
        if versioned:
            return min(versioned, key=len)
    for word in words:  # `Poppler vulnerabilities` → poppler (binaries libpoppler134, poppler-utils, ...)
        if sum(1 for b in binaries if b.startswith(word) or b.startswith("lib" + word)) >= 2:
            return word
    return min(binaries, key=len)


def iter_oval(stream: IO[bytes], tally: Tally) -> Iterator[Parsed]:
    try:
        root = SafeET.parse(stream).getroot()
    except Exception as exc:  # defusedxml raises its own and ParseError types for hostile or broken XML
        tally.skip("malformed_xml", str(exc)[:200])
        return
    release = _release_of(root, tally)
    if release is None:
        tally.skip("unknown_ecosystem", "cannot tell the Ubuntu release of this OVAL file")
        return
    ecosystem = f"Ubuntu:{release}"
    variables = {
        v.get("id"): [x.text or "" for x in v.findall(f"{_D}value")]
        for v in root.iter(f"{_D}constant_variable")
    }
    objects = {}
    for obj in root.iter(f"{_L}dpkginfo_object"):
        name = obj.find(f"{_L}name")
        if name is None:
            continue
        if name.get("var_ref"):
            objects[obj.get("id")] = variables.get(name.get("var_ref"), [])
        elif name.text:
            objects[obj.get("id")] = [name.text]
    states = {}
    for state in root.iter(f"{_L}dpkginfo_state"):
        evr = state.find(f"{_L}evr")
        if evr is not None and evr.get("operation") == "less than" and evr.text:
            states[state.get("id")] = evr.text.strip()
    tests = {}
    for test in root.iter(f"{_L}dpkginfo_test"):
        obj = test.find(f"{_L}object")
        st = test.find(f"{_L}state")
        if obj is not None and st is not None:
            tests[test.get("id")] = (objects.get(obj.get("object_ref"), []), states.get(st.get("state_ref")))
    for definition in root.iter(f"{_D}definition"):
        if definition.get("class") != "patch":
            continue
        tally.records += 1
        meta = definition.find(f"{_D}metadata")
        if meta is None:
            tally.skip("invalid_record", definition.get("id", "?"))
            continue
        title = meta.findtext(f"{_D}title") or ""
        usn = next((r.get("ref_id") for r in meta.findall(f"{_D}reference") if r.get("source") == "USN"), None)
        if not usn:
            m = re.match(r"^((?:USN|LSN)-\d+-\d+)", title)
            usn = m.group(1) if m else None
        if not usn:
            tally.skip("invalid_record", f"{definition.get('id')}: no USN id")
            continue
        cves = sorted({r.get("ref_id") for r in meta.findall(f"{_D}reference") if r.get("source") == "CVE"} - {None})
        adv_meta = meta.find(f"{_D}advisory")
        severity = severity_word(adv_meta.findtext(f"{_D}severity")) if adv_meta is not None else None
        issued = None
        vectors = []
        if adv_meta is not None:
            node = adv_meta.find(f"{_D}issued")
            if node is not None and node.get("date"):
                try:
                    issued = datetime.fromisoformat(node.get("date")).replace(tzinfo=timezone.utc)
                except ValueError:
                    issued = None
            vectors = [c.get("cvss_vector") for c in adv_meta.findall(f"{_D}cve") if c.get("cvss_vector")]
        by_version, vector, score, cvss_sev = best_cvss(vectors)
        title_words = set(re.findall(r"[a-z0-9][a-z0-9+.-]*", title.lower()))
        affected = []
        seen = set()
        for criterion in definition.iter(f"{_D}criterion"):
            binaries, fixed = tests.get(criterion.get("test_ref"), ([], None))
            if not binaries or not fixed:
                continue
            source_name = _source_name(binaries, title_words)
            if (source_name, fixed) in seen:
                continue
            seen.add((source_name, fixed))
            item = make_affected(tally, usn, ecosystem, source_name, fixed_range(fixed))
            if item is not None:
                affected.append(item)
        yield Parsed(
            Advisory(
                id=usn, source="ubuntu-oval", aliases=cves, summary=title.split(" -- ", 1)[-1] or None,
                details=meta.findtext(f"{_D}description"), published=issued,
                severity=severity or cvss_sev,
                severity_source="ubuntu" if severity else ("ubuntu:cvss" if cvss_sev else None), cvss_vector=vector, cvss_score=score, cvss_vectors=by_version,
                references=[r.get("ref_url") for r in meta.findall(f"{_D}reference") if r.get("ref_url")],
            ),
            affected,
        )
