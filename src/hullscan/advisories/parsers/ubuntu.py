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
from hullscan.advisories.parsers.base import Parsed, Tally, fixed_range, iter_json_documents, make_affected
from hullscan.advisories.types import Advisory, AffectedPackage

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


# --- Canonical's OpenVEX (https://security-metadata.canonical.com/vex/vex-all.tar.xz) ----------------------------
# One document per CVE; each statement gives a status for products named by purl
# (`pkg:deb/ubuntu/<package>@<version>?arch=<arch>&distro=<release>`). Only the source-package products
# (`arch=source`) are read: the store keys distro entries by source package. OSV cannot say "will not fix"
# (Canonical collapses needed/deferred/ignored into "no fix event"); these statements can:
#   fixed → skipped: the product's version is the archive's CURRENT version (curl 7.81.0-1ubuntu1.24 on jammy for
#           CVE-2023-38545, fixed in 1ubuntu1.14), not the first fixed one; the USN OVAL / OSV give that;
#   affected → the action statement says why: "decided to not fix" (ignored) or "deferred" → wont_fix,
#              "no longer supported" → end_of_life, anything else (needed, pending) → unfixed;
#   not_affected → never a finding.
# `distro=` is the release codename, with an ESM pocket (`esm-infra/xenial`, `esm-apps/jammy`,
# `esm-infra-legacy/trusty`) for Ubuntu Pro: those become `Ubuntu:Pro:<release>`.

_VEX_DISTRO = re.compile(r"^(?:(esm-[a-z-]+|fips[a-z-]*|ros-esm|realtime)/)?([a-z]+)$")


def vex_state(status: str, action: str) -> str | None:
    """The fix state of one OpenVEX statement's status and action statement (None: not a state we read)."""
    if status == "fixed":
        return "fixed"
    if status == "not_affected":
        return "not_affected"
    if status in ("affected", "under_investigation"):
        text = action.lower()
        if "no longer supported" in text:
            return "end_of_life"
        if "decided to not fix" in text or "decided not to fix" in text or "ignored" in text or "defer" in text:
            return "wont_fix"
        return "unfixed"
    return None


def _vex_ecosystem(distro: str) -> str | None:
    m = _VEX_DISTRO.match(distro)
    if not m or m.group(2) not in UBUNTU_CODENAMES:
        return None
    pocket, release = m.group(1), UBUNTU_CODENAMES[m.group(2)]
    if pocket and not pocket.startswith("esm-"):
        return None  # FIPS, realtime, ROS: their own archives, no image ecosystem reads them
    return f"Ubuntu:Pro:{release}" if pocket else f"Ubuntu:{release}"


def parse_vex(doc: object, tally: Tally, where: str = "") -> Parsed | None:
    """One Canonical OpenVEX document (one CVE): an advisory `UBUNTU-VEX-<CVE>` with one entry per (release,
    source package); None (counted) for a document that is not one."""
    from packageurl import PackageURL

    tally.records += 1
    statements = doc.get("statements") if isinstance(doc, dict) else None
    if not isinstance(statements, list):
        tally.skip("invalid_document", f"{where}: no statements")
        return None
    cve: str | None = None
    description: str | None = None
    entries: dict[tuple[str, str], AffectedPackage] = {}
    for st in statements:
        if not isinstance(st, dict) or not isinstance(st.get("vulnerability"), dict):
            tally.skip("invalid_record", f"{where}: statement {str(st)[:80]}")
            continue
        name = st["vulnerability"].get("name")
        if not isinstance(name, str) or not name.startswith("CVE-"):
            tally.skip("invalid_record", f"{where}: vulnerability {str(name)[:40]!r}")
            continue
        cve = cve or name
        if description is None and isinstance(st["vulnerability"].get("description"), str):
            description = st["vulnerability"]["description"]
        action = st.get("action_statement") or st.get("status_notes") or ""
        state = vex_state(str(st.get("status")), action if isinstance(action, str) else "")
        if state is None:
            tally.skip("unknown_status", f"{where}: {str(st.get('status'))[:40]}")
            continue
        if state == "fixed":
            continue  # the current version, not the fix (above)
        for product in st.get("products") or []:
            purl_text = product.get("@id") if isinstance(product, dict) else None
            if not isinstance(purl_text, str) or "arch=source" not in purl_text:
                continue
            try:
                purl = PackageURL.from_string(purl_text)
            except ValueError:
                tally.skip("invalid_purl", f"{where}: {purl_text[:120]}")
                continue
            qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
            eco = _vex_ecosystem(str(qualifiers.get("distro", "")))
            if eco is None or purl.type != "deb":
                tally.skip("unknown_ecosystem", f"{where}: {purl_text[:120]}")
                continue
            ranges = [] if state == "not_affected" else fixed_range(None)
            item = make_affected(tally, f"UBUNTU-VEX-{name}", eco, purl.name, ranges, fix_state=state)
            if item is not None:
                entries.setdefault((item.ecosystem, item.package), item)
    if cve is None:
        tally.skip("invalid_document", f"{where}: no CVE")
        return None
    if not entries:
        return None  # only fixed statements: the fix versions come from the USN OVAL / OSV
    return Parsed(
        Advisory(id=f"UBUNTU-VEX-{cve}", source="ubuntu-vex", aliases=[cve], summary=None, details=description,
                 references=[f"https://ubuntu.com/security/{cve}"]),
        list(entries.values()),
    )


def iter_vex_documents(documents: Iterator[tuple[str, bytes]], tally: Tally) -> Iterator[Parsed]:
    """Parsed advisories of (name, bytes) OpenVEX documents, each bounded in size."""
    for where, doc in iter_json_documents(documents, tally):
        parsed = parse_vex(doc, tally, where)
        if parsed is not None:
            yield parsed
