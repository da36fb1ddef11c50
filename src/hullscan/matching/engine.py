"""Inventory x advisory store -> findings. The service entry point other parts call.

One batched `affected_for` call for every (ecosystem, package) key of the inventory and one `advisories`
call for the advisories that matched: two store round trips whatever the inventory's size.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hullscan.advisories.types import Advisory, AdvisoryStore, AffectedPackage
from hullscan.matching.ecosystems import (
    LANGUAGE_ECOSYSTEMS,
    OS_TYPE_FOR_FAMILY,
    UnsupportedRelease,
    language_name,
    normalize_name,
    os_ecosystem,
    os_lookup_names,
    os_version_of,
    scheme_for,
)
from hullscan.matching.cvss_util import severity_from_vector
from hullscan.matching.finding import Finding, FindingPackage, normalize_severity
from hullscan.matching.ranges import BadRange, RangeEvaluator, UnparsableVersion
from hullscan.scanner.inventory import OS_PACKAGE_TYPES, Inventory, Package

log = logging.getLogger(__name__)

_CVE = re.compile(r"^CVE-\d{4}-\d+$")
# Distro advisories that bundle fixes for several CVEs (never an alias of one vulnerability).
_BUNDLE = re.compile(r"^(DSA|DLA|DTSA|USN|LSN|RHSA|RHBA|RHEA|ALSA|ALBA|ALEA|RLSA|RLBA|ELSA|ALAS\d*|SUSE-SU|openSUSE-SU|MGASA)-")
_FIX_STATE_RANK = {"fixed": 0, "wont_fix": 1, "unfixed": 2}


@dataclass
class MatchStats:
    """What could not be matched, counted (never fatal)."""

    packages: int = 0
    candidates: int = 0  # affected entries the store returned for the inventory's keys
    matched_packages: int = 0
    unparsable_versions: int = 0
    unsupported_packages: int = 0  # types without an advisory ecosystem, or OS packages without a known OS
    bad_ranges: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "packages": self.packages,
            "candidates": self.candidates,
            "matched_packages": self.matched_packages,
            "unparsable_versions": self.unparsable_versions,
            "unsupported_packages": self.unsupported_packages,
            "bad_ranges": self.bad_ranges,
            "warnings": list(self.warnings),
        }


@dataclass
class MatchResult:
    findings: list[Finding]
    stats: MatchStats


@dataclass
class _Lookup:
    package: Package
    ecosystem: str
    scheme: str
    version: str
    keys: list[tuple[str, str]]

    @property
    def finding_package(self) -> FindingPackage:
        """The package as findings carry it (built once per package, shared by its findings)."""
        cached = self.__dict__.get("_finding_package")
        if cached is None:
            pkg = self.package
            cached = self.__dict__["_finding_package"] = FindingPackage(
                name=pkg.name,
                version=pkg.version,
                type=pkg.type,
                purl=pkg.purl,
                source_name=pkg.source_name,
                source_version=pkg.source_version,
                path=pkg.path,
                layer_digest=pkg.layer_digest,
                layer_diff_id=pkg.layer_diff_id,
            )
        return cached


@dataclass
class _Hit:
    entry: AffectedPackage
    fixed: tuple[str, ...]


def match_inventory(
    inventory: Inventory, store: AdvisoryStore, *, repository_release: str | None = None
) -> list[Finding]:
    """Findings for every package of the inventory, one per (package, vulnerability)."""
    return match(inventory, store, repository_release=repository_release).findings


def match(inventory: Inventory, store: AdvisoryStore, *, repository_release: str | None = None) -> MatchResult:
    """Like `match_inventory`, also returning counts of what could not be matched."""
    stats = MatchStats(packages=len(inventory.packages))
    lookups = _plan(inventory, stats, repository_release)
    keys = {key for lookup in lookups for key in lookup.keys}
    candidates = store.affected_for(sorted(keys)) if keys else {}
    stats.candidates = sum(len(v) for v in candidates.values())

    evaluator = RangeEvaluator() if lookups else None
    hits_per_lookup: list[tuple[_Lookup, list[_Hit]]] = []
    matched_ids: set[str] = set()
    for lookup in lookups:
        entries = [e for key in lookup.keys for e in candidates.get(key, ())]
        if not entries:
            continue
        assert evaluator is not None
        try:
            key = evaluator.key(lookup.scheme, lookup.version)
        except UnparsableVersion as exc:
            stats.unparsable_versions += 1
            log.info("unparsable version %r of %s (%s): %s", lookup.version, lookup.package.name, lookup.scheme, exc)
            continue
        hits: list[_Hit] = []
        for entry in entries:
            arches = getattr(entry, "arches", None)  # per-architecture rows (RHEL clones) apply to their arches only
            if arches and lookup.package.arch and lookup.package.arch not in arches:
                continue
            try:
                verdict = evaluator.evaluate(lookup.scheme, lookup.version, key, entry)
            except BadRange:
                stats.bad_ranges += 1
                continue
            if verdict.affected:
                hits.append(_Hit(entry, verdict.fixed_versions))
                matched_ids.add(entry.advisory_id)
        if hits:
            hits_per_lookup.append((lookup, hits))

    advisories = _fetch_advisories(store, matched_ids)
    findings: list[Finding] = []
    shape_cache: dict[str, _Shape] = {}
    for lookup, hits in hits_per_lookup:
        package_findings = _merge(lookup, hits, advisories, evaluator, shape_cache)
        if package_findings:
            stats.matched_packages += 1
            findings.extend(package_findings)
    findings.sort(key=lambda f: (-f.severity_rank, f.package.name, f.package.version, f.vulnerability_id))
    return MatchResult(findings, stats)


MAX_ALIAS_ROUNDS = 32


def _fetch_advisories(store: AdvisoryStore, ids: set[str]) -> dict[str, Advisory]:
    """Matched advisories in few batched calls, with alias lists that do not depend on the batch.

    A store may link aliases across everything asked in one call (two advisories of one batch that meet in
    the alias graph, e.g. through a DLA fixing both CVEs, then list each other's ids). Ids whose answers share
    an identifier are therefore asked again, each cluster spread over separate calls, so every alias list is
    the one the advisory would get alone; calls grow with the largest cluster, never with the inventory."""
    out: dict[str, Advisory] = {}
    batches = [sorted(ids)] if ids else []
    rounds = 0
    while batches and rounds < MAX_ALIAS_ROUNDS:
        batch = batches.pop(0)
        rounds += 1
        got = store.advisories(batch)
        if len(batch) == 1:
            out.update(got)
            continue
        clusters = _shared_key_clusters(got)
        for ident, adv in got.items():
            if ident not in clusters:
                out[ident] = adv
        spread: list[list[str]] = []
        for members in {id(c): c for c in clusters.values()}.values():
            for slot, ident in enumerate(sorted(members)):
                if slot == len(spread):
                    spread.append([])
                spread[slot].append(ident)
        batches.extend(spread)
        if rounds + len(batches) > MAX_ALIAS_ROUNDS:  # pathological clusters: accept the store's answer
            for rest in batches:
                out.update({i: a for i, a in got.items() if i in set(rest)})
            batches = []
    return out


def _shared_key_clusters(got: dict[str, Advisory]) -> dict[str, set[str]]:
    """Ids of one answer whose own id or non-bundle aliases overlap another's, grouped by overlap."""
    holders: dict[str, list[str]] = defaultdict(list)
    for ident, adv in got.items():
        for key in {ident, *(a for a in adv.aliases if not _BUNDLE.match(a))}:
            holders[key].append(ident)
    clusters: dict[str, set[str]] = {}
    for members in holders.values():
        if len(members) < 2:
            continue
        merged = set(members)
        for m in members:
            if m in clusters:
                merged |= clusters[m]
        for m in merged:
            clusters[m] = merged
    return clusters


def _plan(inventory: Inventory, stats: MatchStats, repository_release: str | None) -> list[_Lookup]:
    """Lookup keys per package; OS packages need the image's distro release."""
    os_eco: str | None = None
    os_error: str | None = None
    if inventory.os is not None:
        try:
            os_eco = os_ecosystem(inventory.os, repository_release)
        except UnsupportedRelease as exc:
            os_error = str(exc)
    lookups: list[_Lookup] = []
    unsupported: Counter[str] = Counter()
    for pkg in inventory.packages:
        if pkg.type in OS_PACKAGE_TYPES:
            if os_eco is None or (
                inventory.os is not None and OS_TYPE_FOR_FAMILY.get(inventory.os.family.lower(), pkg.type) != pkg.type
            ):
                unsupported[f"{pkg.type} without a supported distribution release"] += 1
                continue
            scheme = scheme_for(os_eco) or pkg.type
            names = os_lookup_names(pkg)
            keys = [(os_eco, normalize_name(os_eco, n)) for n in names]
            lookups.append(_Lookup(pkg, os_eco, scheme, os_version_of(pkg), keys))
        elif pkg.type in LANGUAGE_ECOSYSTEMS:
            eco = LANGUAGE_ECOSYSTEMS[pkg.type]
            name = language_name(pkg)
            scheme = scheme_for(eco) or eco
            lookups.append(_Lookup(pkg, eco, scheme, pkg.version, [(eco, normalize_name(eco, name))]))
        else:
            unsupported[f"package type {pkg.type!r}"] += 1
    if os_error and any(p.type in OS_PACKAGE_TYPES for p in inventory.packages):
        stats.warnings.append(f"OS packages not matched: {os_error}")
    for what, count in sorted(unsupported.items()):
        stats.unsupported_packages += count
        stats.warnings.append(f"{count} package(s) not matched: {what}")
    return lookups


@dataclass
class _Unit:
    """One hit seen as one vulnerability: `keys` link units of the same vulnerability, `extra` are further
    identifiers that must not link (a DSA names several CVEs; linking through it would merge them)."""

    hit: _Hit
    keys: tuple[str, ...]
    extra: tuple[str, ...]
    cves: tuple[str, ...]


_Shape = list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]


def _unit_shapes(ident: str, adv: Advisory | None) -> _Shape:
    """(keys, extra, cves) per unit of one advisory. A distro bundle advisory (DSA, DLA, USN, RHSA, ...) fixing
    several CVEs becomes one unit per CVE, as GitLab keeps one vulnerability per CVE; any other advisory is
    one unit keyed by its id and aliases."""
    aliases = adv.aliases if adv else []
    bundles = tuple(a for a in aliases if _BUNDLE.match(a))
    if _BUNDLE.match(ident):
        cves = sorted({a for a in aliases if _CVE.match(a)}, key=_cve_key)
        if cves:
            extra = (ident, *sorted(b for b in bundles if b != ident))
            return [((cve,), extra, (cve,)) for cve in cves]
    keys = (ident, *(a for a in aliases if not _BUNDLE.match(a)))
    return [(keys, bundles, tuple(k for k in keys if _CVE.match(k)))]


def _merge(
    lookup: _Lookup,
    hits: list[_Hit],
    advisories: dict[str, Advisory],
    evaluator: RangeEvaluator | None,
    shape_cache: dict[str, _Shape],
) -> list[Finding]:
    """Group hits of one package by vulnerability (shared ids or aliases) and build one finding per group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    units: list[_Unit] = []
    for hit in hits:
        ident = hit.entry.advisory_id
        adv = advisories.get(ident)
        if adv is not None and adv.withdrawn:
            continue
        shapes = shape_cache.get(ident)
        if shapes is None:
            shapes = shape_cache[ident] = _unit_shapes(ident, adv)
        units.extend(_Unit(hit, keys, extra, cves) for keys, extra, cves in shapes)
    if len(units) == 1:
        return [_finding(lookup, units, advisories, evaluator)]
    for unit in units:
        root = find(unit.keys[0])
        for other in unit.keys[1:]:
            other_root = find(other)
            if other_root != root:
                parent[other_root] = root
    groups: dict[str, list[_Unit]] = defaultdict(list)
    for unit in units:
        groups[find(unit.keys[0])].append(unit)
    return [_finding(lookup, group, advisories, evaluator) for group in groups.values()]


def _specificity(hit: _Hit, advisories: dict[str, Advisory]) -> tuple[int, int, int]:
    """Most specific source first: a record with per-package severity (distro), then one with a fix, then
    one whose own id is not a bare CVE (ecosystem advisory over a generic CVE record)."""
    adv = advisories.get(hit.entry.advisory_id)
    return (
        0 if hit.entry.severity else 1,
        0 if hit.fixed else 1,
        1 if _CVE.match(hit.entry.advisory_id) and adv is not None and adv.source.lower() in ("nvd", "cve") else 0,
    )


def _finding(
    lookup: _Lookup, units: list[_Unit], advisories: dict[str, Advisory], evaluator: RangeEvaluator | None
) -> Finding:
    if len(units) > 1:
        units = sorted(units, key=lambda u: (_specificity(u.hit, advisories), u.hit.entry.advisory_id))
        group = list({id(u.hit): u.hit for u in units}.values())
    else:
        group = [units[0].hit]
    best = group[0]
    advs = [a for a in (advisories.get(h.entry.advisory_id) for h in group) if a is not None]

    ordered: dict[str, None] = {}
    cve_keys: set[str] = set()
    for unit in units:
        ordered.update(dict.fromkeys(unit.keys))
        ordered.update(dict.fromkeys(unit.extra))
        cve_keys.update(unit.cves)
    primary = min(cve_keys, key=_cve_key) if cve_keys else best.entry.advisory_id
    ordered.pop(primary, None)
    identifiers = [primary, *ordered]

    fixed = list(dict.fromkeys(best.fixed))
    if not fixed:  # another record of the same vulnerability may name the fix
        fixed = list(dict.fromkeys(f for h in group[1:] for f in h.fixed))
    if evaluator is not None and len(fixed) > 1:
        try:
            fixed.sort(key=_cmp_key(evaluator, lookup.scheme))
        except Exception:  # noqa: BLE001 - order is cosmetic; an unreadable fix version keeps source order
            pass
    if fixed:
        fix_state = "fixed"
    else:
        states = [h.entry.fix_state for h in group if h.entry.fix_state not in ("not_affected", "fixed")]
        fix_state = max(states, key=lambda st: _FIX_STATE_RANK.get(st, 2)) if states else "unfixed"

    severity, score, vector = _severity(best, group, advisories)
    links: dict[str, None] = {}
    kev = False
    kev_date = epss = percentile = None
    title = description = published = None
    for adv in advs:
        links.update(dict.fromkeys(adv.references))
        if adv.known_exploited:
            kev = True
            kev_date = kev_date or adv.known_exploited_date
        if adv.epss_score is not None and (epss is None or adv.epss_score > epss):
            epss, percentile = adv.epss_score, adv.epss_percentile
        title = title or adv.summary
        description = description or adv.details or adv.summary
        published = published or adv.published
    return Finding(
        package=lookup.finding_package,
        vulnerability_id=primary,
        identifiers=identifiers,
        advisory_ids=[h.entry.advisory_id for h in group],
        ecosystem=best.entry.ecosystem,
        severity=severity,
        cvss_score=score,
        cvss_vector=vector,
        known_exploited=kev,
        known_exploited_date=kev_date,
        epss_score=epss,
        epss_percentile=percentile,
        fixed_versions=fixed,
        fix_state=fix_state,
        title=title,
        description=description,
        links=list(links),
        published=published,
    )


def _cve_key(cve: str) -> tuple[int, int]:
    _, year, num = cve.split("-")
    return int(year), int(num)


def _cmp_key(evaluator: RangeEvaluator, scheme: str):  # type: ignore[no-untyped-def]
    import functools

    return functools.cmp_to_key(lambda a, b: evaluator.cmp(scheme, a, b))


def _severity(best: _Hit, group: Iterable[_Hit], advisories: dict[str, Advisory]) -> tuple[str, float | None, str | None]:
    """Distro per-package severity first, else the advisory's; score and vector from the richest record."""
    score = vector = None
    for hit in [best, *group]:
        adv = advisories.get(hit.entry.advisory_id)
        if adv and adv.cvss_vector:
            vector, score = adv.cvss_vector, adv.cvss_score
            if score is None:
                score, _ = severity_from_vector(vector)
            break
    if best.entry.severity and normalize_severity(best.entry.severity) != "unknown":
        return normalize_severity(best.entry.severity), score, vector
    for hit in [best, *group]:
        adv = advisories.get(hit.entry.advisory_id)
        if adv and adv.severity and normalize_severity(adv.severity) != "unknown":
            return normalize_severity(adv.severity), score, vector
    if vector:
        _, sev = severity_from_vector(vector)
        return sev, score, vector
    return "unknown", score, vector
