"""OpenVEX suppression: `not_affected` and `fixed` statements remove the findings they name.

A statement applies to a finding when its vulnerability (name or aliases) is one of the finding's
identifiers and one of its products names the package (purl, compared without qualifiers unless the
statement gives them) or names the image with that package as a subcomponent (or with no subcomponents:
the whole image). VEX files are untrusted: size-capped, malformed statements are skipped and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from hullscan.matching.finding import Finding
from hullscan.scanner.inventory import ImageInfo

MAX_VEX_BYTES = 32 * 1024 * 1024
SUPPRESSING = frozenset({"not_affected", "fixed"})


class VexError(ValueError):
    """The file is not an OpenVEX JSON document."""


@dataclass(frozen=True)
class _Product:
    ident: str
    subcomponents: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    vulnerabilities: frozenset[str]
    products: tuple[_Product, ...]
    status: str
    justification: str | None = None


@dataclass
class VexDocument:
    statements: list[Statement] = field(default_factory=list)
    skipped: int = 0


def load_vex(path: Path | str) -> VexDocument:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_VEX_BYTES:
            raise VexError(f"{path}: {size} bytes is larger than the {MAX_VEX_BYTES}-byte VEX limit")
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise VexError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VexError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("statements"), list):
        raise VexError(f"{path} is not an OpenVEX document (no statements list)")
    doc = VexDocument()
    for raw in data["statements"]:
        stmt = _statement(raw)
        if stmt is None:
            doc.skipped += 1
        else:
            doc.statements.append(stmt)
    return doc


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
    if not status or not names or not products:
        return None
    return Statement(frozenset(names), tuple(products), status, _text(raw.get("justification")))


def _purl(text: str) -> PackageURL | None:
    if not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _purl_matches(pattern: str, package_purl: str | None) -> bool:
    want = _purl(pattern)
    if want is None or not package_purl:
        return False
    have = _purl(package_purl)
    if have is None:
        return False
    if (want.type, want.namespace, want.name) != (have.type, have.namespace, have.name):
        return False
    if want.version and want.version != have.version:
        return False
    have_q = have.qualifiers if isinstance(have.qualifiers, dict) else {}
    want_q = want.qualifiers if isinstance(want.qualifiers, dict) else {}
    return all(have_q.get(k) == v for k, v in want_q.items())


def _names_image(ident: str, image: ImageInfo) -> bool:
    candidates = {image.name, image.reference or ""}
    if image.tag:
        candidates.add(f"{image.name}:{image.tag}")
    if image.digest:
        candidates.update({image.digest, f"{image.name}@{image.digest}"})
    if ident in candidates:
        return True
    purl = _purl(ident)
    if purl is not None and purl.type == "oci":
        last = image.name.rsplit("/", 1)[-1]
        return purl.name == last and (not purl.version or purl.version in (image.digest, image.tag))
    return False


def _applies(stmt: Statement, finding: Finding, image: ImageInfo) -> bool:
    if not stmt.vulnerabilities.intersection(finding.identifiers):
        return False
    for prod in stmt.products:
        if _purl_matches(prod.ident, finding.package.purl):
            return True
        if _names_image(prod.ident, image):
            if not prod.subcomponents:
                return True
            if any(_purl_matches(sub, finding.package.purl) for sub in prod.subcomponents):
                return True
    return False


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
