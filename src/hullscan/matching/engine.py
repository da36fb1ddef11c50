"""Inventory x advisory store -> findings. The service entry point other parts call.

One batched `affected_for` call for every (ecosystem, package) key of the inventory and one `advisories`
call for the advisories that matched: two store round trips whatever the inventory's size.
"""

from __future__ import annotations

import functools
import gc
import logging
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from hullscan.advisories.types import Advisory, AdvisoryStore, AffectedPackage
from hullscan.matching.ecosystems import (
    LANGUAGE_ECOSYSTEMS,
    UnsupportedRelease,
    language_name,
    normalize_name,
    os_ecosystem,
    os_lookup_names,
    os_package_type,
    os_version_of,
    scheme_for,
)
from hullscan.matching.cvss_util import severity_from_vector
from hullscan.matching.finding import Finding, FindingPackage, normalize_severity
from hullscan.matching.redhat_products import applies, image_products, stream_ecosystems
from hullscan.ecosystems import OS_PACKAGE_TYPES, end_of_life
from hullscan.scanner.inventory import Inventory, Package
from hullscan.severities import RANK
from hullscan.versions.ranges import BadRange, RangeEvaluator, UnparsableVersion

log = logging.getLogger(__name__)

_CVE = re.compile(r"^CVE-\d{4}-\d+$")
# Distro advisories that bundle fixes for several CVEs (never an alias of one vulnerability).
_BUNDLE = re.compile(r"^(DSA|DLA|DTSA|USN|LSN|RHSA|RHBA|RHEA|ALSA|ALBA|ALEA|RLSA|RLBA|ELSA|ALAS\d*|SUSE-SU|openSUSE-SU|MGASA)-")
# Of records without a fix, a distro's explicit decision (end of life, will not fix) wins over "no fix yet",
# which is often only the absence of a fix event (Ubuntu's OSV/OVAL next to its VEX)
_FIX_STATE_RANK = {"fixed": 0, "unfixed": 1, "wont_fix": 2, "end_of_life": 3}


@dataclass
class MatchStats:
    """What could not be matched, counted (never fatal)."""

    packages: int = 0
    candidates: int = 0  # affected entries the store returned for the inventory's keys
    matched_packages: int = 0
    unparsable_versions: int = 0
    unsupported_packages: int = 0  # types without an advisory ecosystem, or OS packages without a known OS
    bad_ranges: int = 0
    # ecosystem (or distro release) the store holds no advisories for -> packages of it left unchecked
    unchecked: dict[str, int] = field(default_factory=dict)
    end_of_life: dict[str, str] = field(default_factory=dict)  # OS release past its end of life -> that date
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "packages": self.packages,
            "candidates": self.candidates,
            "matched_packages": self.matched_packages,
            "unparsable_versions": self.unparsable_versions,
            "unsupported_packages": self.unsupported_packages,
            "bad_ranges": self.bad_ranges,
            "unchecked_ecosystems": dict(self.unchecked),
            "end_of_life": dict(self.end_of_life),
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


@dataclass(slots=True)
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
    with _cycle_collection_paused():
        return _match(inventory, store, repository_release)


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_resume = False


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Matching allocates a few hundred thousand short-lived, acyclic objects (rows, hits, findings); each
    allocation burst made the cyclic collector walk the whole heap again, a third of the time of a large match.
    Reference counting frees them either way, so the collector waits until the last concurrent match ends."""
    global _gc_pauses, _gc_resume
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


def _match(inventory: Inventory, store: AdvisoryStore, repository_release: str | None) -> MatchResult:
    stats = MatchStats(packages=len(inventory.packages))
    lookups = _plan(inventory, stats, repository_release)
    lookups = _drop_unloaded(lookups, store, stats)
    os_eco = next((lookup.ecosystem for lookup in lookups if lookup.package.type in OS_PACKAGE_TYPES), None)
    # Red Hat: the products of its repositories
    products = image_products(inventory, os_eco, stats.warnings, getattr(store, "repository_cpes", None))
    if products and os_eco and inventory.os is not None:  # EUS/E4S/...: also the statements of those streams
        for stream in stream_ecosystems(products, os_eco, inventory.os.version):
            for lookup in lookups:
                if lookup.ecosystem == os_eco:
                    lookup.keys = lookup.keys + [(stream, name) for eco, name in lookup.keys if eco == os_eco]
    keys = {key for lookup in lookups for key in lookup.keys}
    candidates = store.affected_for(sorted(keys)) if keys else {}
    stats.candidates = sum(len(v) for v in candidates.values())

    # Packages that look the same to the store (same keys, scheme, version and architecture) have the same hits:
    # each such group is evaluated and merged once (an image has many binaries of one source package, a
    # registry many copies of one library version).
    groups: dict[tuple[tuple[tuple[str, str], ...], str, str, str | None], list[_Lookup]] = {}
    for lookup in lookups:
        groups.setdefault((tuple(lookup.keys), lookup.scheme, lookup.version, lookup.package.arch), []).append(lookup)

    evaluator = RangeEvaluator() if lookups else None
    hits_per_group: list[tuple[list[_Lookup], list[_Hit]]] = []
    matched_ids: set[str] = set()
    evaluate = evaluator.evaluate if evaluator is not None else None
    for members in groups.values():
        lookup = members[0]
        if len(lookup.keys) == 1:
            entries = candidates.get(lookup.keys[0], ())
        else:
            entries = [e for key in lookup.keys for e in candidates.get(key, ())]
        if not entries:
            continue
        assert evaluator is not None and evaluate is not None
        scheme, version = lookup.scheme, lookup.version
        try:
            key = evaluator.key(scheme, version)
        except UnparsableVersion as exc:
            stats.unparsable_versions += len(members)
            log.info("unparsable version %r of %s (%s): %s", version, lookup.package.name, scheme, exc)
            continue
        hits: list[_Hit] = []
        bad_ranges = 0
        arch = lookup.package.arch
        for entry in entries:
            if entry.arches and arch not in entry.arches:  # per-arch rows (Oracle respins): their arches only
                continue
            if products is not None and entry.cpes and not applies(entry.cpes, products):
                continue
            try:
                verdict = evaluate(scheme, version, key, entry)
            except BadRange:
                bad_ranges += 1
                continue
            if verdict.affected:
                hits.append(_Hit(entry, verdict.fixed_versions))
                matched_ids.add(entry.advisory_id)
        stats.bad_ranges += bad_ranges * len(members)
        if hits:
            hits_per_group.append((members, hits))

    advisories = _fetch_advisories(store, matched_ids)
    assembler = _Assembler(advisories, evaluator)
    per_lookup: dict[int, list[Finding]] = {}
    for members, hits in hits_per_group:
        group_findings = assembler.merge(members[0], hits)
        if not group_findings:
            continue
        per_lookup[id(members[0])] = group_findings
        for other in members[1:]:
            package = other.finding_package
            per_lookup[id(other)] = [_for_package(f, package) for f in group_findings]
    findings: list[Finding] = []
    for lookup in lookups:  # inventory order, so equal-ranked findings keep their order through the sort
        package_findings = per_lookup.get(id(lookup))
        if package_findings:
            stats.matched_packages += 1
            findings.extend(package_findings)
    rank = RANK.get
    findings.sort(key=lambda f: (-rank(f.severity, 0), f.package.name, f.package.version, f.vulnerability_id))
    return MatchResult(findings, stats)


def _for_package(f: Finding, package: FindingPackage) -> Finding:
    """A copy of `f` for another package with the same hits (its own lists: callers may edit a finding's)."""
    copy = object.__new__(Finding)
    fields = copy.__dict__
    fields.update(f.__dict__)
    fields["package"] = package
    fields["identifiers"] = list(f.identifiers)
    fields["advisory_ids"] = list(f.advisory_ids)
    fields["fixed_versions"] = list(f.fixed_versions)
    fields["links"] = list(f.links)
    return copy


MAX_ALIAS_ROUNDS = 32


def _fetch_advisories(store: AdvisoryStore, ids: set[str]) -> dict[str, Advisory]:
    """Matched advisories in few batched calls, with alias lists that do not depend on the batch.

    A store may link aliases across everything asked in one call (two advisories of one batch that meet in
    the alias graph, e.g. through a DLA fixing both CVEs, then list each other's ids). Ids whose answers share
    an identifier are therefore asked again, each cluster spread over separate calls, so every alias list is
    the one the advisory would get alone; calls grow with the largest cluster, never with the inventory."""
    if not ids:
        return {}
    if getattr(store, "alias_lists_per_id", False):  # the store already answers each id on its own
        return store.advisories(sorted(ids))
    out: dict[str, Advisory] = {}
    batches = [sorted(ids)]
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


def lookup_keys(inventory: Inventory, *, repository_release: str | None = None) -> list[list[tuple[str, str]]]:
    """Per package (inventory order), the (ecosystem, package) keys `match` looks advisories up by; empty for a
    package it cannot match. Ingestion stores them so an advisory change finds the images it may affect."""
    keys: dict[int, list[tuple[str, str]]] = {
        id(lookup.package): lookup.keys for lookup in _plan(inventory, MatchStats(), repository_release)}
    return [keys.get(id(pkg), []) for pkg in inventory.packages]


def _plan(inventory: Inventory, stats: MatchStats, repository_release: str | None) -> list[_Lookup]:
    """Lookup keys per package; OS packages need the image's distro release."""
    os_eco: str | None = None
    os_error: str | None = None
    if inventory.os is not None:
        try:
            os_eco = os_ecosystem(inventory.os, repository_release)
        except UnsupportedRelease as exc:
            os_error = str(exc)
    if os_eco is not None and (ended := end_of_life(os_eco, datetime.now(timezone.utc).date().isoformat())) \
            and any(p.type in OS_PACKAGE_TYPES for p in inventory.packages):
        stats.end_of_life[os_eco] = ended
        stats.warnings.append(f"{os_eco} reached its end of life on {ended}: its packages get no more security "
                              "fixes, so unfixed findings stay unfixed; move to a supported release")
    lookups: list[_Lookup] = []
    unsupported: Counter[str] = Counter()
    schemes: dict[str, str] = {}
    os_type = os_package_type(inventory.os)
    for pkg in inventory.packages:
        if pkg.type in OS_PACKAGE_TYPES:
            if os_eco is None or (os_type or pkg.type) != pkg.type:
                unsupported[f"{pkg.type} without a supported distribution release"] += 1
                continue
            scheme = schemes.get(f"os:{pkg.type}")
            if scheme is None:
                scheme = schemes[f"os:{pkg.type}"] = scheme_for(os_eco) or pkg.type
            keys = [(os_eco, normalize_name(os_eco, n)) for n in os_lookup_names(pkg)]
            lookups.append(_Lookup(pkg, os_eco, scheme, os_version_of(pkg), keys))
        elif pkg.type in LANGUAGE_ECOSYSTEMS:
            eco = LANGUAGE_ECOSYSTEMS[pkg.type]
            scheme = schemes.get(eco)
            if scheme is None:
                scheme = schemes[eco] = scheme_for(eco) or eco
            lookups.append(_Lookup(pkg, eco, scheme, pkg.version, [(eco, normalize_name(eco, language_name(pkg)))]))
        else:
            unsupported[f"package type {pkg.type!r}"] += 1
    if os_error and inventory.os is not None and any(p.type in OS_PACKAGE_TYPES for p in inventory.packages):
        release = f"{inventory.os.family} {inventory.os.version}".strip()
        stats.unchecked[release] = sum(1 for p in inventory.packages if p.type in OS_PACKAGE_TYPES)
        stats.warnings.append(f"OS packages not matched: no advisory feed for {release} ({os_error})")
    for what, count in sorted(unsupported.items()):
        stats.unsupported_packages += count
        stats.warnings.append(f"{count} package(s) not matched: {what}")
    return lookups


def _drop_unloaded(lookups: list[_Lookup], store: AdvisoryStore, stats: MatchStats) -> list[_Lookup]:
    """No silent gaps: the packages of ecosystems the store holds no advisories for are counted and named in a
    warning (a scan of npm packages with only PyPI data loaded must not read as "Total: 0, all clear")."""
    loaded_of = getattr(store, "ecosystems_loaded", None)
    if loaded_of is None or not lookups:
        return lookups
    per_eco = Counter(lookup.ecosystem for lookup in lookups)
    loaded = loaded_of(sorted(per_eco))
    missing = {eco: n for eco, n in sorted(per_eco.items()) if eco not in loaded}
    if not missing:
        return lookups
    stats.unchecked.update(missing)
    named = ", ".join(f"{eco} ({n} package{'s' if n != 1 else ''})" for eco, n in missing.items())
    stats.warnings.append(
        f"no advisories loaded for {named}: {sum(missing.values())} package(s) not checked"
        " (import or sync their advisory source; `hullscan advisories status` lists what is loaded)")
    return [lookup for lookup in lookups if lookup.ecosystem in loaded]


@dataclass(slots=True)
class _Unit:
    """One hit seen as one vulnerability: `keys` link units of the same vulnerability, `extra` are further
    identifiers that must not link (a DSA names several CVEs; linking through it would merge them)."""

    hit: _Hit
    shape: _Shape

    @property
    def keys(self) -> tuple[str, ...]:
        return self.shape.keys


@dataclass(slots=True)
class _Shape:
    """(keys, extra, cves) of one unit of an advisory, and the identifiers of a finding made of it alone."""

    keys: tuple[str, ...]
    extra: tuple[str, ...]
    cves: tuple[str, ...]
    identifiers: tuple[str, ...]


def _shape(ident: str, keys: tuple[str, ...], extra: tuple[str, ...], cves: tuple[str, ...]) -> _Shape:
    ordered = dict.fromkeys(keys)
    ordered.update(dict.fromkeys(extra))
    primary = (cves[0] if len(cves) == 1 else min(cves, key=_cve_key)) if cves else ident
    ordered.pop(primary, None)
    return _Shape(keys, extra, cves, (primary, *ordered))


def _unit_shapes(ident: str, adv: Advisory | None) -> list[_Shape]:
    """One shape per unit of one advisory. A distro bundle advisory (DSA, DLA, USN, RHSA, ...) fixing several
    CVEs becomes one unit per CVE, as GitLab keeps one vulnerability per CVE; any other advisory is one unit
    keyed by its id and aliases."""
    bundles: list[str] = []
    others: list[str] = []
    for alias in adv.aliases if adv else ():
        (bundles if _kind(alias) == _BUNDLE_ID else others).append(alias)
    if _kind(ident) == _BUNDLE_ID:
        cves = sorted({a for a in others if _kind(a) == _CVE_ID}, key=_cve_key)
        if cves:
            extra = (ident, *sorted(b for b in bundles if b != ident))
            return [_shape(ident, (cve,), extra, (cve,)) for cve in cves]
    keys = (ident, *others)
    return [_shape(ident, keys, tuple(bundles), tuple(k for k in keys if _kind(k) == _CVE_ID))]


_OTHER_ID, _CVE_ID, _BUNDLE_ID = 0, 1, 2


@functools.lru_cache(maxsize=65536)
def _kind(ident: str) -> int:
    """CVE id, distro bundle advisory id, or anything else (ids recur across advisories: classified once)."""
    if _CVE.match(ident):
        return _CVE_ID
    return _BUNDLE_ID if _BUNDLE.match(ident) else _OTHER_ID


@dataclass(slots=True)
class _Facts:
    """What a finding takes from one advisory alone, derived once per match."""

    links: list[str]
    severity: str  # the advisory's own severity, else its vector's, else unknown
    severity_source: str | None  # docs/severity.md
    vendor: str  # the advisory's source, named when a distro's per-package severity is used
    score: float | None
    vector: str | None
    known_exploited: bool
    known_exploited_date: str | None
    epss_score: float | None
    epss_percentile: float | None
    title: str | None
    description: str | None
    published: datetime | None


def _facts(adv: Advisory) -> _Facts:
    vector = adv.cvss_vector or None
    score = adv.cvss_score if vector else None
    vector_severity = None
    if vector and score is None:
        score, vector_severity = severity_from_vector(vector)
    severity = normalize_severity(adv.severity) if adv.severity else "unknown"
    if severity == "unknown" and vector:
        severity = vector_severity or severity_from_vector(vector)[1]
    epss = adv.epss_score
    return _Facts(
        links=list(dict.fromkeys(adv.references)),
        severity=severity,
        severity_source=(adv.severity_source or adv.source) if severity != "unknown" else None,
        vendor=adv.source,
        score=score,
        vector=vector,
        known_exploited=bool(adv.known_exploited),
        known_exploited_date=adv.known_exploited_date if adv.known_exploited else None,
        epss_score=epss,
        epss_percentile=adv.epss_percentile if epss is not None else None,
        title=adv.summary,
        description=adv.details or adv.summary,
        published=adv.published,
    )


class _Assembler:
    """Hits of one package -> findings. Whatever depends on an advisory alone (its units, links, severity) is
    derived once per match, and a finding depends only on its units (entry, fix, unit) and the version scheme:
    the first one built per such key is kept and another package with the same units gets a copy of it."""

    def __init__(self, advisories: dict[str, Advisory], evaluator: RangeEvaluator | None) -> None:
        self.advisories = advisories
        self.evaluator = evaluator
        self.shapes: dict[str, list[_Shape]] = {}
        self.facts: dict[str, _Facts | None] = {}
        self.built: dict[tuple[object, ...], Finding] = {}

    def merge(self, lookup: _Lookup, hits: list[_Hit]) -> list[Finding]:
        """Group hits of one package by vulnerability (shared ids or aliases), one finding per group."""
        units: list[_Unit] = []
        for hit in hits:
            ident = hit.entry.advisory_id
            shapes = self.shapes.get(ident)
            if shapes is None:
                adv = self.advisories.get(ident)
                shapes = self.shapes[ident] = [] if adv is not None and adv.withdrawn else _unit_shapes(ident, adv)
            for shape in shapes:
                units.append(_Unit(hit, shape))
        if not units:
            return []
        if len(units) == 1:
            return [self._single(lookup, units[0])]
        owner: dict[str, int] = {}
        for index, unit in enumerate(units):
            for k in unit.shape.keys:
                if owner.setdefault(k, index) != index:
                    break
            else:
                continue
            break
        else:  # no two units share an id: each is its own vulnerability
            return [self._single(lookup, unit) for unit in units]
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for unit in units:
            keys = unit.shape.keys
            root = find(keys[0])
            for other in keys[1:]:
                other_root = find(other)
                if other_root != root:
                    parent[other_root] = root
        groups: dict[str, list[_Unit]] = defaultdict(list)
        for unit in units:
            groups[find(unit.shape.keys[0])].append(unit)
        out = []
        for group in groups.values():
            if len(group) == 1:
                out.append(self._single(lookup, group[0]))
                continue
            key = (lookup.scheme, *[(id(u.hit.entry), u.hit.fixed, u.shape.keys[0]) for u in group])
            template = self.built.get(key)
            if template is None:
                out.append(self.built.setdefault(key, self._build(lookup, group)))
            else:
                out.append(_for_package(template, lookup.finding_package))
        return out

    def _fact(self, ident: str) -> _Facts | None:
        try:
            return self.facts[ident]
        except KeyError:
            adv = self.advisories.get(ident)
            fact = self.facts[ident] = _facts(adv) if adv is not None else None
            return fact

    def _fixed(self, lookup: _Lookup, fixed: list[str]) -> list[str]:
        if self.evaluator is not None and len(fixed) > 1:
            try:
                fixed.sort(key=_cmp_key(self.evaluator, lookup.scheme))
            except Exception:  # noqa: BLE001 - order is cosmetic; an unreadable fix version keeps source order
                pass
        return fixed

    def _single(self, lookup: _Lookup, unit: _Unit) -> Finding:
        """The finding of one unit alone (nearly every finding): the general rules of `_build` for one record."""
        hit, shape = unit.hit, unit.shape
        entry = hit.entry
        key = (lookup.scheme, id(entry), hit.fixed, shape.keys[0])
        template = self.built.get(key)
        if template is not None:
            return _for_package(template, lookup.finding_package)
        fixed = list(hit.fixed) if len(hit.fixed) < 2 else self._fixed(lookup, list(dict.fromkeys(hit.fixed)))
        if fixed:
            fix_state = "fixed"
        else:
            fix_state = entry.fix_state if entry.fix_state not in ("not_affected", "fixed") else "unfixed"
        fact = self._fact(entry.advisory_id)
        severity = normalize_severity(entry.severity) if entry.severity else "unknown"
        if fact is None:
            finding = Finding(
                package=lookup.finding_package, vulnerability_id=shape.identifiers[0],
                identifiers=list(shape.identifiers), advisory_ids=[entry.advisory_id], ecosystem=entry.ecosystem,
                severity=severity, fixed_versions=fixed, fix_state=fix_state,
            )
        else:
            finding = Finding(
                package=lookup.finding_package,
                vulnerability_id=shape.identifiers[0],
                identifiers=list(shape.identifiers),
                advisory_ids=[entry.advisory_id],
                ecosystem=entry.ecosystem,
                severity=severity if severity != "unknown" else fact.severity,
                severity_source=fact.vendor if severity != "unknown" else fact.severity_source,
                cvss_score=fact.score,
                cvss_vector=fact.vector,
                known_exploited=fact.known_exploited,
                known_exploited_date=fact.known_exploited_date,
                epss_score=fact.epss_score,
                epss_percentile=fact.epss_percentile,
                fixed_versions=fixed,
                fix_state=fix_state,
                title=fact.title,
                description=fact.description,
                links=list(fact.links),
                published=fact.published,
            )
        self.built[key] = finding
        return finding

    def _build(self, lookup: _Lookup, units: list[_Unit]) -> Finding:
        """One finding of several units: the most specific record leads (severity, fix), identifiers and links
        of all are merged, the primary id is the oldest CVE."""
        advisories = self.advisories
        units = sorted(units, key=lambda u: (_specificity(u.hit, advisories), u.hit.entry.advisory_id))
        group = list({id(u.hit): u.hit for u in units}.values())
        best = group[0]
        advs = [a for a in (advisories.get(h.entry.advisory_id) for h in group) if a is not None]

        ordered: dict[str, None] = {}
        cve_keys: set[str] = set()
        for unit in units:
            ordered.update(dict.fromkeys(unit.shape.keys))
            ordered.update(dict.fromkeys(unit.shape.extra))
            cve_keys.update(unit.shape.cves)
        primary = min(cve_keys, key=_cve_key) if cve_keys else best.entry.advisory_id
        ordered.pop(primary, None)
        identifiers = [primary, *ordered]

        fixed = list(dict.fromkeys(best.fixed))
        if not fixed:  # another record of the same vulnerability may name the fix
            fixed = list(dict.fromkeys(f for h in group[1:] for f in h.fixed))
        fixed = self._fixed(lookup, fixed)
        if fixed:
            fix_state = "fixed"
        else:
            states = [h.entry.fix_state for h in group if h.entry.fix_state not in ("not_affected", "fixed")]
            fix_state = max(states, key=lambda st: _FIX_STATE_RANK.get(st, 1)) if states else "unfixed"

        severity, score, vector, severity_source = _severity(best, group, advisories)
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
            severity_source=severity_source,
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


def _specificity(hit: _Hit, advisories: dict[str, Advisory]) -> tuple[int, int, int]:
    """Most specific source first: a record with per-package severity (distro), then one with a fix, then
    one whose own id is not a bare CVE (ecosystem advisory over a generic CVE record)."""
    adv = advisories.get(hit.entry.advisory_id)
    return (
        0 if hit.entry.severity else 1,
        0 if hit.fixed else 1,
        1 if _CVE.match(hit.entry.advisory_id) and adv is not None and adv.source.lower() in ("nvd", "cve") else 0,
    )


def _cve_key(cve: str) -> tuple[int, int]:
    _, year, num = cve.split("-")
    return int(year), int(num)


def _cmp_key(evaluator: RangeEvaluator, scheme: str):  # type: ignore[no-untyped-def]
    import functools

    return functools.cmp_to_key(lambda a, b: evaluator.cmp(scheme, a, b))


def _severity(best: _Hit, group: Iterable[_Hit], advisories: dict[str, Advisory]
              ) -> tuple[str, float | None, str | None, str | None]:
    """Distro per-package severity first, else the advisory's; score and vector from the richest record; and
    where the severity came from."""
    score = vector = None
    for hit in [best, *group]:
        adv = advisories.get(hit.entry.advisory_id)
        if adv and adv.cvss_vector:
            vector, score = adv.cvss_vector, adv.cvss_score
            if score is None:
                score, _ = severity_from_vector(vector)
            break
    if best.entry.severity and normalize_severity(best.entry.severity) != "unknown":
        adv = advisories.get(best.entry.advisory_id)
        return normalize_severity(best.entry.severity), score, vector, adv.source if adv else None
    for hit in [best, *group]:
        adv = advisories.get(hit.entry.advisory_id)
        if adv and adv.severity and normalize_severity(adv.severity) != "unknown":
            return normalize_severity(adv.severity), score, vector, adv.severity_source or adv.source
    if vector:
        _, sev = severity_from_vector(vector)
        return sev, score, vector, "cvss"
    return "unknown", score, vector, None
