"""What the scanner finds in an image: the contract between scanner, SBOM writers, matching and ingestion.

Plain dataclasses so the scanner stays a pure library (no database, no HTTP server).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

# Package types (Package.type) are rows of the ecosystem table; importable from here as before.
from hullscan.ecosystems import LANGUAGE_PACKAGE_TYPES, OS_PACKAGE_TYPES  # noqa: F401


@dataclass(frozen=True)
class OperatingSystem:
    """The image's distribution. `family` is lower-case: debian, ubuntu, alpine, rhel, centos, rocky,
    almalinux, amazon, oracle, fedora, opensuse-leap, sles, wolfi, chainguard, ... `version` as the image states
    it (`12.15`, `3.19.1`, `24.04`, `edge`)."""

    family: str
    version: str
    pretty_name: str | None = None
    codename: str | None = None  # bookworm, noble, ...


@dataclass
class Package:
    """One installed package. For OS packages `source_name`/`source_version` name the source package that
    distro advisories are keyed by (equal to name/version when the database gives no source)."""

    name: str
    version: str
    type: str
    purl: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: list[str] = field(default_factory=list)
    path: str | None = None  # file the package was read from, e.g. /var/lib/dpkg/status
    layer_digest: str | None = None  # compressed layer blob digest that introduced it
    layer_diff_id: str | None = None  # uncompressed layer digest (rootfs.diff_ids)
    properties: dict[str, str] = field(default_factory=dict)  # analyzer-specific extras (epoch, release, ...)
    #: What the package database says it needs: one entry per dependency, alternatives joined by `|`, each a
    #: name as the database spells it (version constraints dropped) or `name version` for an exact package.
    #: Resolved to installed packages by `dependency_graph`, never stored in the database.
    depends: list[str] = field(default_factory=list)
    #: Other names a dependency on this package may use (dpkg Provides, apk `p:`, rpm provides, the
    #: normalised name of a Python distribution).
    provides: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImageInfo:
    """Which image was analysed. `name` is `<host>/<repository>` (no tag), `reference` what the user gave."""

    name: str
    tag: str | None = None
    digest: str | None = None  # manifest digest
    platform: str | None = None  # os/arch[/variant]
    reference: str | None = None


@dataclass
class Inventory:
    image: ImageInfo
    os: OperatingSystem | None
    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # bad files, caps hit: named, never fatal
    #: Why some layer was not fully analysed (unreadable, unverified, over a cap): the inventory may miss
    #: packages, so the scan is "partial", never a plain success. Empty: every layer was read to its end.
    partial: list[str] = field(default_factory=list)
    #: The dependency graph as an SBOM that was read back states it (package index -> indexes it depends on).
    #: None: the writers compute it from the packages' `depends` (a fresh scan).
    dependencies: dict[int, list[int]] | None = None


#: Most alternatives of one dependency entry that are looked up (hostile databases stay linear).
MAX_ALTERNATIVES = 32


def _scope(package: Package) -> tuple[str, str]:
    """Where a package's dependency names are looked up: the database it was read from (a Python
    distribution: its site directory; distroless dpkg: the whole status.d directory)."""
    path = package.path or ""
    if package.type == "python":
        parent = posixpath.dirname(path)
        path = posixpath.dirname(parent) if parent.lower().endswith((".dist-info", ".egg-info")) else parent
    elif package.type == "deb" and "/status.d/" in path:
        path = posixpath.dirname(path)
    return package.type, path


def inventory_graph(inventory: Inventory) -> dict[int, list[int]]:
    """The graph the SBOM writers draw: the one read from an SBOM, else the packages' own `depends`."""
    if inventory.dependencies is not None:
        return inventory.dependencies
    return dependency_graph(inventory.packages)


def dependency_graph(packages: list[Package]) -> dict[int, list[int]]:
    """Package index -> the indexes of the installed packages it depends on, from each package's `depends`,
    within its database (`_scope`). A name resolves to the one installed package of that name (and version,
    when given), else to the one package providing it; an ambiguous or missing name is no edge. Every
    alternative of `a|b` that resolves is an edge (each satisfies the dependency; syft draws the same).
    Edges are O(packages x declared dependencies): direct dependencies only, never a closure."""
    Index = dict[tuple[str, str], dict[str, list[int]]]
    by_name: Index = {}
    by_exact: Index = {}
    by_provides: Index = {}

    def add(index_: Index, scope: tuple[str, str], key: str, value: int) -> None:
        holders = index_.setdefault(scope, {}).setdefault(key, [])
        if len(holders) < 2 and value not in holders:  # one answer or "several": nothing more is needed
            holders.append(value)

    for index, package in enumerate(packages):
        scope = _scope(package)
        add(by_name, scope, package.name, index)
        add(by_exact, scope, f"{package.name} {package.version}", index)
        for name in package.provides:
            add(by_provides, scope, name, index)
    graph: dict[int, list[int]] = {}
    for index, package in enumerate(packages):
        if not package.depends:
            continue
        scope = _scope(package)
        names, exact, provided = by_name.get(scope, {}), by_exact.get(scope, {}), by_provides.get(scope, {})
        targets: dict[int, None] = {}  # ordered, de-duplicated
        for entry in package.depends:
            for alternative in entry.split("|", MAX_ALTERNATIVES)[:MAX_ALTERNATIVES]:
                alternative = alternative.strip()
                if " " in alternative:
                    found = exact.get(alternative, [])
                else:
                    found = names.get(alternative) or provided.get(alternative, [])
                if len(found) == 1 and found[0] != index:
                    targets[found[0]] = None
        if targets:
            graph[index] = list(targets)
    return graph
