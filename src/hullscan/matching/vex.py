"""VEX documents, the one reader: OpenVEX and CycloneDX VEX. `hullscan scan --vex` suppresses with it
(`not_affected` and `fixed` statements remove the findings they name); `hullscan.vex` imports it into a
project's triage.

A statement applies to a finding when its vulnerability (name or aliases) is one of the finding's
identifiers and one of its products names the package (purl, compared without qualifiers unless the
statement gives them) or names the image with that package as a subcomponent (or with no subcomponents:
the whole image). VEX files are untrusted: size-capped, malformed statements are skipped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hullscan.matching.finding import Finding
from hullscan.scanner.inventory import ImageInfo

MAX_VEX_BYTES = 32 * 1024 * 1024
SUPPRESSING = frozenset({"not_affected", "fixed"})
STATUSES = frozenset({"not_affected", "affected", "fixed", "under_investigation"})
# CycloneDX analysis.state -> the OpenVEX status it means
CDX_STATES = {"resolved": "fixed", "resolved_with_pedigree": "fixed", "exploitable": "affected",
              "in_triage": "under_investigation", "false_positive": "not_affected", "not_affected": "not_affected"}


class VexError(ValueError):
    """The file is not an OpenVEX JSON document."""


@dataclass(frozen=True)
class _Product:
    ident: str
    subcomponents: tuple[str, ...]


Product = _Product  # public name: `hullscan.vex` rebuilds the statements it stored

@dataclass(frozen=True)
class Statement:
    vulnerabilities: frozenset[str]
    products: tuple[_Product, ...]
    status: str
    justification: str | None = None
    notes: str | None = None  # OpenVEX status_notes / impact_statement, CycloneDX analysis.detail


@dataclass
class VexDocument:
    statements: list[Statement] = field(default_factory=list)
    skipped: int = 0
    first_skipped: int | None = None  # index of the first statement that was not understood
    id: str | None = None  # OpenVEX @id or CycloneDX serialNumber: who made a change, in history and audit
    author: str | None = None
    format: str = "openvex"


def load_vex(path: Path | str) -> VexDocument:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_VEX_BYTES:
            raise VexError(f"{path}: {size} bytes is larger than the {MAX_VEX_BYTES}-byte VEX limit")
        data = path.read_bytes()
    except OSError as exc:
        raise VexError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_vex(data, str(path))


def parse_vex(data: bytes, source: str = "the VEX document", max_bytes: int = MAX_VEX_BYTES) -> VexDocument:
    """An OpenVEX or CycloneDX VEX document from untrusted bytes: size-capped, one JSON parse (linear), statements
    that are not understood counted in `skipped` (the caller decides whether that is fatal)."""
    if len(data) > max_bytes:
        raise VexError(f"{source}: {len(data)} bytes is larger than the {max_bytes}-byte VEX limit")
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise VexError(f"{source} is not valid JSON: {exc}") from None
    if isinstance(parsed, dict) and parsed.get("bomFormat") == "CycloneDX":
        return _cyclonedx(parsed, source)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("statements"), list):
        raise VexError(f"{source} is not an OpenVEX document (no statements list) nor a CycloneDX VEX one")
    doc = VexDocument(id=_text(parsed.get("@id")), author=_text(parsed.get("author")))
    for index, raw in enumerate(parsed["statements"]):
        _add(doc, index, _statement(raw))
    return doc


def _add(doc: VexDocument, index: int, stmt: Statement | None) -> None:
    if stmt is None:
        doc.skipped += 1
        if doc.first_skipped is None:
            doc.first_skipped = index
    else:
        doc.statements.append(stmt)


def _cyclonedx(data: dict[str, Any], source: str) -> VexDocument:
    """CycloneDX 1.4+ `vulnerabilities[]`: id and references as names, analysis.state as the status, `affects[].ref`
    as products (a bom-ref resolved to its component's purl when the document lists it)."""
    vulns = data.get("vulnerabilities")
    if not isinstance(vulns, list):
        raise VexError(f"{source} is a CycloneDX document without a vulnerabilities list")
    refs: dict[str, str] = {}
    pending = [c for c in data.get("components") or [] if isinstance(c, dict)] if isinstance(
        data.get("components"), list) else []
    meta = data.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("component"), dict):
        pending.append(meta["component"])
    seen = 0
    while pending and seen < 1_000_000:  # nested components, iteratively (no recursion on untrusted depth)
        comp = pending.pop()
        seen += 1
        ref, purl = _text(comp.get("bom-ref")), _text(comp.get("purl"))
        if ref and purl:
            refs[ref] = purl
        if isinstance(comp.get("components"), list):
            pending.extend(c for c in comp["components"] if isinstance(c, dict))
    doc = VexDocument(id=_text(data.get("serialNumber")), format="cyclonedx")
    for index, raw in enumerate(vulns):
        _add(doc, index, _cdx_statement(raw, refs))
    return doc


def _cdx_statement(raw: Any, refs: dict[str, str]) -> Statement | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("analysis"), dict):
        return None
    analysis = raw["analysis"]
    status = CDX_STATES.get(analysis.get("state")) if isinstance(analysis.get("state"), str) else None
    names = {n for n in [_text(raw.get("id"))] if n}
    for ref in raw.get("references") or [] if isinstance(raw.get("references"), list) else []:
        if isinstance(ref, dict) and _text(ref.get("id")):
            names.add(ref["id"].strip())
    products = []
    for aff in raw.get("affects") or [] if isinstance(raw.get("affects"), list) else []:
        ref = _text(aff.get("ref")) if isinstance(aff, dict) else None
        if ref:
            products.append(_Product(refs.get(ref, ref), ()))
    if not status or not names or not products:
        return None
    return Statement(frozenset(names), tuple(products), status, _text(analysis.get("justification")),
                     _text(analysis.get("detail")))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _statement(raw: Any) -> Statement | None:
    if not isinstance(raw, dict):
        return None
    status = _text(raw.get("status"))
    vuln = raw.get("vulnerability")
    names: set[str] = set()
    if isinstance(vuln, str):  # OpenVEX 0.0.x
        names.add(vuln.strip())
    elif isinstance(vuln, dict):
        for key in ("name", "@id"):
            if _text(vuln.get(key)):
                names.add(vuln[key].strip())
        aliases = vuln.get("aliases")
        if isinstance(aliases, list):
            names.update(a.strip() for a in aliases if isinstance(a, str) and a.strip())
    products: list[_Product] = []
    raw_products = raw.get("products")
    if isinstance(raw_products, list):
        for prod in raw_products:
            if isinstance(prod, str) and prod.strip():
                products.append(_Product(prod.strip(), ()))
            elif isinstance(prod, dict) and _text(prod.get("@id")):
                subs = prod.get("subcomponents")
                sub_ids = tuple(
                    i for i in (_text(s.get("@id")) if isinstance(s, dict) else _text(s)
                                for s in (subs if isinstance(subs, list) else [])) if i
                )
                products.append(_Product(prod["@id"].strip(), sub_ids))
    if status not in STATUSES or not names or not products:
        return None
    notes = _text(raw.get("status_notes")) or _text(raw.get("impact_statement"))
    return Statement(frozenset(names), tuple(products), status, _text(raw.get("justification")), notes)


def _purl(text: str) -> PackageURL | None:
    if not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _purl_matches(pattern: str, package_purl: str | None, loose: bool = False) -> bool:
    want = _purl(pattern)
    if want is None or not package_purl:
        return False
    have = _purl(package_purl)
    if have is None:
        return False
    if (want.type, want.name) != (have.type, have.name) or (want.namespace != have.namespace
                                                             and not (loose and not have.namespace)):
        return False
    if want.version and want.version != have.version:
        return False
    have_q = have.qualifiers if isinstance(have.qualifiers, dict) else {}
    want_q = want.qualifiers if isinstance(want.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in want_q.items() if not loose or k in have_q)


def _names_image(ident: str, image: ImageInfo) -> bool:
    candidates = {image.name, image.reference or ""}
    if image.tag:
        candidates.add(f"{image.name}:{image.tag}")
    if image.digest:
        candidates.update({image.digest, f"{image.name}@{image.digest}"})
    return names_image(ident, image.name, candidates, (image.digest, image.tag))


def names_image(ident: str, name: str, candidates: set[str], versions: tuple[str | None, ...]) -> bool:
    """`ident` (a product or its @id) names the image `name`: one of its spellings (`candidates`: name, name:tag,
    digest, name@digest), or an oci purl of its last path segment at one of `versions` (digest, tag) or none."""
    if ident in candidates:
        return True
    purl = _purl(ident)
    if purl is not None and purl.type == "oci":
        last = name.rsplit("/", 1)[-1]
        return purl.name == last and (not purl.version or purl.version in versions)
    return False


def applies_to(stmt: Statement, identifiers: Iterable[str], package_purl: str | None,
               is_image: Callable[[str], bool], loose: bool = False) -> bool:
    """The statement is about this finding: a vulnerability name is one of its identifiers, and a product is its
    package's purl, or its image (`is_image`) whole or with the package as a subcomponent. `loose` ignores the
    namespace and qualifiers the package's purl does not have (a stored finding's purl is rebuilt without them)."""
    if stmt.vulnerabilities.isdisjoint(identifiers):
        return False
    for prod in stmt.products:
        if _purl_matches(prod.ident, package_purl, loose):
            return True
        if is_image(prod.ident):
            if not prod.subcomponents:
                return True
            if any(_purl_matches(sub, package_purl, loose) for sub in prod.subcomponents):
                return True
    return False


def _applies(stmt: Statement, finding: Finding, image: ImageInfo) -> bool:
    return applies_to(stmt, finding.identifiers, finding.package.purl, lambda ident: _names_image(ident, image))


def apply_vex(findings: list[Finding], docs: list[VexDocument], image: ImageInfo) -> tuple[list[Finding], list[Finding]]:
    """(kept, suppressed). The last statement about a (vulnerability, product) wins, as in OpenVEX."""
    by_name: dict[str, list[tuple[int, Statement]]] = {}
    order = 0
    for doc in docs:
        for stmt in doc.statements:
            for name in stmt.vulnerabilities:
                by_name.setdefault(name, []).append((order, stmt))
            order += 1
    kept: list[Finding] = []
    suppressed: list[Finding] = []
    for finding in findings:
        candidates = {n: s for ident in finding.identifiers for n, s in by_name.get(ident, ())}
        verdict = None
        for _, stmt in sorted(candidates.items(), key=lambda pair: pair[0]):
            if _applies(stmt, finding, image):
                verdict = stmt.status
        (suppressed if verdict in SUPPRESSING else kept).append(finding)
    return kept, suppressed
