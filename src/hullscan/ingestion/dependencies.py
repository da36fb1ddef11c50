"""The dependency list (GitLab's "Dependency list"): the packages ingestion stored for a project's images
(`sbom_occurrences`), one row per (name, version, type) with its licences and the images it is in, searchable by
name prefix and type, paged in SQL, and exportable as CSV rows or a CycloneDX document.

Each image's latest SBOM is its `SbomSource` (ingestion replaces a source's occurrences), so the list is always
the images' current contents."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from hullscan.db.models.vulnerabilities import SbomOccurrence, SbomSource
from hullscan.vulnerabilities.fingerprints import split_platform

MAX_PER_PAGE = 100
EXPORT_LIMIT = 50_000  # distinct dependencies in one export (a project's images hold far fewer)
_KEY = (SbomOccurrence.name, SbomOccurrence.version, SbomOccurrence.type)


# The package managers GitLab's Dependencies API names, by the scanner's package type (OS packages keep theirs).
GITLAB_PACKAGE_MANAGERS = {"python": "pip", "pypi": "pip", "npm": "npm", "node-pkg": "npm", "gem": "bundler",
                           "golang": "go", "go-module": "go", "java": "maven", "jar": "maven", "maven": "maven",
                           "dotnet": "nuget", "nuget": "nuget", "composer": "composer", "php": "composer",
                           "conan": "conan", "rust": "cargo", "cargo": "cargo"}


def package_manager(package_type: str) -> str:
    return GITLAB_PACKAGE_MANAGERS.get(package_type, package_type)


def types_of_package_managers(session: Session, project_id: int, managers: Sequence[str]) -> list[str]:
    """The project's package types that GitLab's `package_manager` names stand for."""
    wanted = set(managers)
    return [t for t in package_types(session, project_id) if package_manager(t) in wanted]


class DependencyError(ValueError):
    """A dependency-list request that cannot be answered (an unknown image, an export past the limit)."""


@dataclass
class Dependency:
    name: str
    version: str
    type: str
    purl: str | None = None
    licenses: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # `<host>/<repository>:<tag>`, as the report names images
    path: str | None = None  # a file it was read from (GitLab's `dependency_file_path`)


@dataclass
class DependencyQuery:
    """Which dependencies: a project's, optionally of one image (`[<host>/]<repository>:<tag>`), a name prefix
    (case-insensitive) and a package type."""

    project_id: int
    image: str | None = None
    name_prefix: str | None = None
    type: str | None = None
    types: list[str] | None = None  # any of these (GitLab's package_manager filter)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def image_label(source: SbomSource) -> str:
    return f"{source.image_name}:{source.image_tag}"


def _sources(session: Session, query: DependencyQuery) -> list[SbomSource]:
    """The project's image sources the query covers; an image no source matches raises DependencyError."""
    sources = list(session.scalars(select(SbomSource).where(SbomSource.project_id == query.project_id)
                                   .order_by(SbomSource.image_name, SbomSource.image_tag)))
    if not query.image:
        return sources
    name, sep, tag = query.image.rpartition(":")
    if not sep or "/" in tag:
        raise DependencyError(f"name the image as <repository>:<tag>, not {query.image!r}")
    chosen = [s for s in sources if s.image_tag == tag and (  # every platform of a multi-arch tag
        (plain := split_platform(s.image_name)[0]) == name or plain.endswith("/" + name))]
    if not chosen:
        raise DependencyError(f"no scanned image {query.image!r} in this project")
    return chosen


def _conditions(query: DependencyQuery, source_ids: Sequence[int]) -> list:
    conditions = [SbomOccurrence.project_id == query.project_id, SbomOccurrence.source_id.in_(list(source_ids))]
    if query.name_prefix:
        conditions.append(func.lower(SbomOccurrence.name).like(_escape_like(query.name_prefix.lower()) + "%",
                                                               escape="\\"))
    if query.type:
        conditions.append(SbomOccurrence.type == query.type)
    if query.types is not None:
        conditions.append(SbomOccurrence.type.in_(query.types))
    return conditions


def list_dependencies(session: Session, query: DependencyQuery, *, page: int = 1,
                      per_page: int = 20) -> tuple[list[Dependency], int]:
    """One page of dependencies ordered by name, version and type, and how many there are in all. Two grouped
    queries whatever the page: the page's keys, then the licences, purls and images of those keys only."""
    page, per_page = max(1, page), max(1, min(per_page, MAX_PER_PAGE))
    sources = {s.id: s for s in _sources(session, query)}
    if not sources:
        return [], 0
    conditions = _conditions(query, list(sources))
    keys = select(*_KEY).where(*conditions).group_by(*_KEY)
    total = session.scalar(select(func.count()).select_from(keys.subquery())) or 0
    rows = session.execute(keys.order_by(*_KEY).offset((page - 1) * per_page).limit(per_page)).all()
    return _details(session, conditions, sources, [(r[0], r[1], r[2]) for r in rows]), total


def _details(session: Session, conditions: list, sources: dict[int, SbomSource],
             keys: list[tuple[str, str, str]]) -> list[Dependency]:
    if not keys:
        return []
    found = {k: Dependency(*k) for k in keys}
    occurrences = select(*_KEY, SbomOccurrence.purl, SbomOccurrence.licenses, SbomOccurrence.source_id,
                         SbomOccurrence.path).where(*conditions, tuple_(*_KEY).in_(keys))
    for name, version, kind, purl, licenses, source_id, path in session.execute(occurrences):
        dep = found[(name, version, kind)]
        dep.purl = dep.purl or purl
        dep.path = dep.path or path
        for lic in licenses or []:
            if isinstance(lic, str) and lic not in dep.licenses:
                dep.licenses.append(lic)
        label = image_label(sources[source_id])
        if label not in dep.images:
            dep.images.append(label)
    for dep in found.values():
        dep.licenses.sort()
        dep.images.sort()
    return [found[k] for k in keys]


def package_types(session: Session, project_id: int) -> list[str]:
    """The package types present in the project (the Type filter's choices)."""
    return list(session.scalars(select(SbomOccurrence.type).where(SbomOccurrence.project_id == project_id)
                                .group_by(SbomOccurrence.type).order_by(SbomOccurrence.type).limit(100)))


def iter_dependencies(session: Session, query: DependencyQuery, *, batch: int = 500) -> Iterator[Dependency]:
    """Every dependency of the query in list order, a batch of keys at a time (for the exports); past
    EXPORT_LIMIT it raises DependencyError before yielding anything."""
    sources = {s.id: s for s in _sources(session, query)}
    if not sources:
        return
    conditions = _conditions(query, list(sources))
    keys = select(*_KEY).where(*conditions).group_by(*_KEY)
    total = session.scalar(select(func.count()).select_from(keys.subquery())) or 0
    if total > EXPORT_LIMIT:
        raise DependencyError(f"{total} dependencies are more than one export holds ({EXPORT_LIMIT}); "
                              "narrow the list by image, name or type")
    after: tuple[str, str, str] | None = None
    while True:
        q = keys
        if after is not None:
            n, v, t = after
            q = q.having(or_(SbomOccurrence.name > n, and_(SbomOccurrence.name == n, or_(
                SbomOccurrence.version > v, and_(SbomOccurrence.version == v, SbomOccurrence.type > t)))))
        page = [(r[0], r[1], r[2]) for r in session.execute(q.order_by(*_KEY).limit(batch))]
        if not page:
            return
        yield from _details(session, conditions, sources, page)
        after = page[-1]


def cyclonedx_json(dependencies: Iterator[Dependency], subject: str) -> str:
    """The dependencies as a CycloneDX 1.6 JSON document, by the scanner's writer: the document
    cyclonedx-python-lib emits for the same content (tests/scanner/test_sbom_output.py compares them), without
    that library's object model, whose serializer took 119 s for 6,000 components."""
    from hullscan.scanner.inventory import ImageInfo, Inventory, Package
    from hullscan.scanner.sbom import write_cyclonedx

    packages = [Package(name=d.name, version=d.version, type=d.type, purl=d.purl, licenses=list(d.licenses),
                        path=d.path) for d in dependencies]
    return write_cyclonedx(Inventory(image=ImageInfo(name=subject), os=None, packages=packages))
