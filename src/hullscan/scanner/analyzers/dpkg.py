"""Debian packages: `/var/lib/dpkg/status` and distroless `/var/lib/dpkg/status.d/<pkg>` control files."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, TooManyPackages, warn
from hullscan.scanner.inventory import Package

STATUS_PATHS = ("/var/lib/dpkg/status", "/var/lib/opkg/status")
STATUS_D = "/var/lib/dpkg/status.d/"
# status.d also holds per-package maintainer files; only the bare control paragraph is a package
_NOT_CONTROL = (".md5sums", ".preinst", ".postinst", ".prerm", ".postrm", ".conffiles", ".list", ".triggers",
                ".shlibs", ".symbols", ".templates", ".config")
_LICENSE = re.compile(r"^License:\s*(\S+)", re.M)
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([0-9A-Za-z_.+\-]+)")
_COPYRIGHT = re.compile(r"^/usr/share/doc/([^/]+)/copyright$")
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


def iter_paragraphs(text: str) -> Iterator[dict[str, str]]:
    """RFC-822-style control paragraphs; continuation lines are joined, unknown lines ignored. Linear in the
    text: a field's lines are collected in a list and joined once (never `+=` on a growing string)."""
    current: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                yield {key: "\n".join(parts) for key, parts in current.items()}
            current, last = {}, None
            continue
        if line[0] in " \t":
            if last is not None:
                last.append(line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = current[key.strip()] = [value.strip()]
    if current:
        yield {key: "\n".join(parts) for key, parts in current.items()}


def _installed(paragraph: dict[str, str]) -> bool:
    """`Status: want flag state`; only state `installed` counts (not config-files, not-installed, ...)."""
    status = paragraph.get("Status")
    if status is None:  # distroless status.d has no Status field: the file's presence means installed
        return True
    words = status.split()
    return len(words) == 3 and words[2] == "installed"


def licenses_from_copyright(text: str) -> list[str]:
    """DEP-5 `License:` short names and /usr/share/common-licenses references, de-duplicated and sorted."""
    found = set(_LICENSE.findall(text)) | set(_COMMON_LICENSE.findall(text))
    return sorted(x.strip().rstrip(".,;") for x in found if x.strip().rstrip(".,;"))


def relation_names(field: str) -> list[str]:
    """A dpkg relationship field (`Depends`, `Pre-Depends`, `Provides`) as dependency entries: one per
    comma-separated relation, alternatives joined by `|`, each a bare package name (version constraints,
    `:any`/`:arch` qualifiers, architecture and build-profile restrictions dropped)."""
    entries = []
    for relation in field.split(","):
        names = []
        for alternative in relation.split("|"):
            name = alternative.strip().split(None, 1)[0] if alternative.strip() else ""
            name = name.split("(", 1)[0].split("[", 1)[0].split("<", 1)[0].partition(":")[0]
            if name:
                names.append(name)
        if names:
            entries.append("|".join(names))
    return entries


def packages_from_control(text: str, path: str, limit: int | None = None) -> list[Package]:
    """Installed packages of a status file; stops after `limit` packages (TooManyPackages) so a hostile
    database never builds more objects than the layer may hold."""
    packages: list[Package] = []
    for paragraph in iter_paragraphs(text):
        name, version = paragraph.get("Package"), paragraph.get("Version", "")
        if not name or not _installed(paragraph):
            continue
        source_name, source_version = name, version
        if source := paragraph.get("Source"):
            match = _SOURCE.match(source.strip())
            if match:
                source_name = match["name"]
                source_version = match["version"] or version
        props = {}
        if epoch_sep := version.find(":") + 1:
            props["epoch"] = version[: epoch_sep - 1]
        licenses = [paragraph["License"]] if paragraph.get("License") else []
        if limit is not None and len(packages) >= limit:
            raise TooManyPackages(limit, packages)
        depends = relation_names(paragraph.get("Pre-Depends", "")) + relation_names(paragraph.get("Depends", ""))
        packages.append(
            Package(name=name, version=version, type="deb", source_name=source_name, source_version=source_version,
                    arch=paragraph.get("Architecture"), licenses=licenses, path=path, properties=props,
                    depends=depends, provides=relation_names(paragraph.get("Provides", "")))
        )
    return packages


class DpkgAnalyzer:
    name = "dpkg"
    version = 5
    per_file = False  # licenses come from /usr/share/doc/<pkg>/copyright beside the status file

    def wants(self, path: str, size: int, mode: int) -> bool:
        if path in STATUS_PATHS or _COPYRIGHT.match(path):
            return True
        return path.startswith(STATUS_D) and "/" not in path[len(STATUS_D):] and not path.endswith(_NOT_CONTROL)

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        copyrights: dict[str, list[str]] = {}
        for entry in files:
            if match := _COPYRIGHT.match(entry.path):
                try:
                    copyrights[match[1]] = licenses_from_copyright(entry.read().decode("utf-8", "replace"))
                except Exception as exc:  # noqa: BLE001
                    result.warnings.append(warn(entry.path, exc))
        for entry in files:
            if _COPYRIGHT.match(entry.path):
                continue
            try:
                packages = packages_from_control(entry.read().decode("utf-8", "replace"), entry.path,
                                                 ctx.packages_left(len(result.packages)))
            except TooManyPackages:
                raise
            except Exception as exc:  # noqa: BLE001 - untrusted file: report and go on
                result.warnings.append(warn(entry.path, exc))
                continue
            for package in packages:
                if not package.licenses:
                    package.licenses = copyrights.get(package.name, [])
            result.packages.extend(packages)
        return result
