"""Red Hat CSAF VEX (https://security.access.redhat.com/data/csaf/v2/vex/): one CSAF 2.0 document per CVE.

The product tree names platforms (by CPE: `cpe:/o:redhat:enterprise_linux:9::baseos`, EUS streams
`cpe:/a:redhat:rhel_eus:8.6::appstream`) and components (by purl: `pkg:rpm/redhat/pam@1.5.1-21.el9_5?arch=x86_64`,
epoch and module stream as qualifiers); a relationship joins them as `<platform>:<component>`. Each
vulnerability gives, per such product, a remediation (`vendor_fix` with the fixed build, `no_fix_planned`
"Will not fix"/"Out of support scope", `none_available` "Affected"/"Deferred") or a status
(`known_not_affected`), and the vendor's impact rating (`threats[category=impact]`).

One advisory per document (`REDHAT-<CVE>`, aliased to the CVE) with one entry per (release, package):
releases through the ecosystem table's Red Hat rule, modular packages keyed `<module>:<stream>::<name>`. Each
entry keeps the platform CPEs whose statement it is (`cpes`), so matching can restrict an image to the products
of its repositories (content sets, see hullscan.matching.redhat_products).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from packageurl import PackageURL

from hullscan.advisories.normalize import severity_word
from hullscan.advisories.parsers.base import (
    Parsed,
    Tally,
    as_dict,
    fixed_range,
    iter_json_documents,
    make_affected,
    parse_time,
)
from hullscan.advisories.types import Advisory, AffectedPackage
from hullscan.severities import worst_of

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_RHSA = re.compile(r"\b(RH[SBE]A-\d{4}:\d{4,})\b")
_MAX_DEPTH = 12  # product tree nesting (vendor > product family > architecture > version is 4 in practice)


class _Product:
    __slots__ = ("cpe", "purl")

    def __init__(self, cpe: str | None, purl: str | None) -> None:
        self.cpe, self.purl = cpe, purl


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _walk(branches: Any, out: dict[str, _Product], depth: int = 0) -> None:
    if depth > _MAX_DEPTH or not isinstance(branches, list):
        return
    for branch in branches:
        if not isinstance(branch, dict):
            continue
        product = branch.get("product")
        if isinstance(product, dict) and isinstance(product.get("product_id"), str):
            helper = product.get("product_identification_helper") or {}
            helper = helper if isinstance(helper, dict) else {}
            cpe, purl = helper.get("cpe"), helper.get("purl")
            out[product["product_id"]] = _Product(cpe if isinstance(cpe, str) else None,
                                                  purl if isinstance(purl, str) else None)
        _walk(branch.get("branches"), out, depth + 1)


def _release(cpe: str | None) -> str | None:
    """`cpe:/o:redhat:enterprise_linux:9::baseos` → `Red Hat:enterprise_linux:9::baseos` (normalised later by
    the ecosystem table; products that are not RHEL releases fail there and are counted)."""
    if not cpe or not cpe.startswith(("cpe:/o:redhat:", "cpe:/a:redhat:")):
        return None
    return "Red Hat:" + cpe.split(":", 3)[3]


def _component(pid: str, products: dict[str, _Product]) -> tuple[str, str | None, str | None] | None:
    """(package key, fixed EVR or None, skip reason) of a component product id."""
    product = products.get(pid)
    purl_text = product.purl if product else None
    module = None
    name = pid
    if "::" in pid:  # `name-evr.arch::module:stream` (new) product ids
        name, module = pid.split("::", 1)
    if purl_text:
        try:
            purl = PackageURL.from_string(purl_text)
        except ValueError:
            return None
        if purl.type != "rpm":
            return (purl.name, None, "not_rpm")
        qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        rpmmod = qualifiers.get("rpmmod")
        if rpmmod:
            module = ":".join(rpmmod.split(":")[:2])
        evr = None
        if purl.version:
            epoch = qualifiers.get("epoch")
            evr = f"{epoch}:{purl.version}" if epoch and epoch != "0" else purl.version
        name = purl.name
    elif product is None and "::" not in pid:
        return None
    if module and module.endswith(":flatpak"):
        return (name, None, "flatpak")
    key = f"{module}::{name}" if module else name
    return key, evr, None


def parse_document(doc: Any, tally: Tally) -> Parsed | None:
    """One CSAF VEX document → one advisory (entries that name no RHEL release or no rpm are counted)."""
    tally.records += 1
    if not isinstance(doc, dict) or not isinstance(doc.get("document"), dict) or \
            not isinstance(doc.get("vulnerabilities"), list):
        tally.skip("invalid_record", repr(doc)[:200])
        return None
    meta = doc["document"]
    if meta.get("category") != "csaf_vex":
        tally.skip("not_vex", str(meta.get("category"))[:60])
        return None
    tree = as_dict(doc.get("product_tree"))
    products: dict[str, _Product] = {}
    _walk(tree.get("branches"), products)
    relations: dict[str, tuple[str, str]] = {}
    for rel in _list(tree.get("relationships")):
        if not isinstance(rel, dict):
            continue
        full = rel.get("full_product_name")
        pid = full.get("product_id") if isinstance(full, dict) else None
        comp, platform = rel.get("product_reference"), rel.get("relates_to_product_reference")
        if isinstance(pid, str) and isinstance(comp, str) and isinstance(platform, str):
            relations[pid] = (platform, comp)

    tracking = as_dict(meta.get("tracking"))
    parsed: Parsed | None = None
    for vuln in doc["vulnerabilities"]:
        if not isinstance(vuln, dict) or not isinstance(vuln.get("cve"), str) or not _CVE.match(vuln["cve"]):
            tally.skip("invalid_record", repr(vuln)[:200])
            continue
        cve = vuln["cve"]
        adv_id = f"REDHAT-{cve}"
        impact: dict[str, str] = {}
        for threat in _list(vuln.get("threats")):
            if isinstance(threat, dict) and threat.get("category") == "impact":
                word = severity_word(str(threat.get("details") or ""))
                for pid in _list(threat.get("product_ids")):
                    if isinstance(pid, str) and word:
                        impact[pid] = word
        states: dict[str, tuple[str, str | None]] = {}  # product id -> (fix state, RHSA)
        status = as_dict(vuln.get("product_status"))
        for pid in _list(status.get("known_affected")):
            if isinstance(pid, str):
                states[pid] = ("unfixed", None)
        for pid in _list(status.get("known_not_affected")):
            if isinstance(pid, str):
                states[pid] = ("not_affected", None)
        rhsas: list[str] = []
        for rem in _list(vuln.get("remediations")):
            if not isinstance(rem, dict):
                continue
            category, details = rem.get("category"), str(rem.get("details") or "").strip().lower()
            if category == "vendor_fix":
                m = _RHSA.search(str(rem.get("url") or ""))
                rhsa = m.group(1) if m else None
                if rhsa:
                    rhsas.append(rhsa)
                state: tuple[str, str | None] = ("fixed", rhsa)
            elif category == "no_fix_planned":  # "Will not fix"; "Out of support scope": the stream's end of life
                state = ("end_of_life" if "out of support" in details else "wont_fix", None)
            elif category == "none_available":  # "Affected", "Deferred"
                state = ("unfixed", None)
            else:
                continue  # workaround, mitigation: say nothing about versions
            for pid in _list(rem.get("product_ids")):
                if isinstance(pid, str):
                    states[pid] = state
        entries: dict[tuple[str, str], AffectedPackage] = {}
        evrs: dict[tuple[str, str], str | None] = {}
        said: dict[tuple[str, str, str, str | None], set[str]] = {}  # (eco, package, state, fixed) -> CPEs
        for pid, (fix_state, _) in states.items():
            relation = relations.get(pid)
            if relation is not None:
                platform, comp = relation
            elif ":" in pid:
                platform, comp = pid.split(":", 1)
            else:
                tally.skip("unknown_product", f"{adv_id}: {pid[:120]}")
                continue
            cpe = products[platform].cpe if platform in products else None
            release = _release(cpe)
            if release is None:
                tally.skip("unknown_product", f"{adv_id}: {pid[:120]}")
                continue
            found = _component(comp, products)
            if found is None:
                tally.skip("unknown_product", f"{adv_id}: {pid[:120]}")
                continue
            key, evr, reason = found
            if reason:
                tally.skip(reason, f"{adv_id}: {pid[:120]}")
                continue
            if fix_state == "fixed" and not evr:
                tally.skip("fix_without_version", f"{adv_id}: {pid[:120]}")
                continue
            ranges = fixed_range(evr) if fix_state == "fixed" else ([] if fix_state == "not_affected" else fixed_range(None))
            item = make_affected(tally, adv_id, release, key, ranges, fix_state=fix_state, severity=impact.get(pid))
            if item is None:
                continue
            assert cpe is not None  # _release gave a release
            said.setdefault((item.ecosystem, item.package, item.fix_state, evr), set()).add(cpe)
            seen = entries.get((item.ecosystem, item.package))
            if seen is None or _better(item, seen):
                entries[(item.ecosystem, item.package)] = item
                evrs[(item.ecosystem, item.package)] = evr
        for (eco, package), item in entries.items():  # the products whose statement the kept entry is
            item.cpes = tuple(sorted(said[(eco, package, item.fix_state, evrs[(eco, package)])]))
        aggregate = as_dict(meta.get("aggregate_severity"))
        worst = worst_of(e.severity for e in entries.values() if e.severity != "unknown") \
            or severity_word(str(aggregate.get("text") or ""))
        notes = [n for n in _list(vuln.get("notes")) if isinstance(n, dict)]
        summary = next((n.get("text") for n in notes if n.get("category") == "summary"), None)
        description = next((n.get("text") for n in notes if n.get("category") == "description"), None)
        refs = [f"https://access.redhat.com/security/cve/{cve}"] + \
            [f"https://access.redhat.com/errata/{r}" for r in dict.fromkeys(rhsas)]
        parsed = Parsed(
            Advisory(id=adv_id, source="redhat-vex", aliases=[cve],
                     summary=summary if isinstance(summary, str) else None,
                     details=description if isinstance(description, str) else None,
                     published=parse_time(vuln.get("release_date")),
                     modified=parse_time(tracking.get("current_release_date")),
                     severity=worst if worst and worst != "unknown" else None,
                     severity_source="redhat" if worst and worst != "unknown" else None,
                     references=refs),
            sorted(entries.values(), key=lambda e: (e.ecosystem, e.package)),
        )
        break  # Red Hat writes one CVE per document
    return parsed


def _better(new: AffectedPackage, old: AffectedPackage) -> bool:
    """Of two statements on one (release, package) from different arches or repositories: a fix over none,
    the lowest fixed build otherwise kept first (every arch's build of one RHSA is the same EVR)."""
    rank = {"fixed": 0, "unfixed": 1, "wont_fix": 2, "end_of_life": 3, "not_affected": 4}
    return rank.get(new.fix_state, 9) < rank.get(old.fix_state, 9)


def iter_documents(documents: Iterator[tuple[str, bytes]], tally: Tally) -> Iterator[Parsed]:
    """Parsed advisories of (name, bytes) VEX documents, each bounded in size."""
    for _, doc in iter_json_documents(documents, tally):
        parsed = parse_document(doc, tally)
        if parsed is not None:
            yield parsed
