"""Red Hat family, SUSE, Mariner packages from the rpm database (SQLite, Berkeley DB or NDB)."""

from __future__ import annotations

import re

from hullscan.scanner.analyzers import rpmdb
from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, warn
from hullscan.scanner.inventory import Package

DB_PATHS = {
    "/var/lib/rpm/rpmdb.sqlite": "sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite": "sqlite",
    "/var/lib/rpm/Packages": "bdb",
    "/usr/lib/sysimage/rpm/Packages": "bdb",
    "/var/lib/rpm/Packages.db": "ndb",
    "/usr/lib/sysimage/rpm/Packages.db": "ndb",
}
#: Requirements no installed package provides: rpm's own features and rich (boolean) dependencies.
_NOT_PACKAGES = ("rpmlib(", "(")
_SRPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?:no)?src\.rpm$")


def header_package(header: rpmdb.RpmHeader, path: str) -> Package:
    evr = f"{header.version}-{header.release}" if header.release else header.version
    version = f"{header.epoch}:{evr}" if header.epoch else evr
    source_name, source_version = header.name, version
    if header.source_rpm and (match := _SRPM.match(header.source_rpm)):
        source_name = match["name"]
        source_version = f"{match['version']}-{match['release']}"
        if header.epoch:
            source_version = f"{header.epoch}:{source_version}"
    props = {"release": header.release, "rpm_version": header.version}
    for key, value in (("epoch", header.epoch), ("sourcerpm", header.source_rpm), ("vendor", header.vendor),
                       ("modularitylabel", header.modularity_label)):
        if value is not None:
            props[key] = str(value)
    return Package(name=header.name, version=version, type="rpm", source_name=source_name,
                   source_version=source_version, arch=header.arch,
                   licenses=[header.license] if header.license else [], path=path, properties=props,
                   depends=[name for name in header.requires if name and not name.startswith(_NOT_PACKAGES)],
                   provides=header.provides)


def read_rpmdb(entry: FileEntry, ctx: AnalysisContext, kind: str) -> AnalysisResult:
    result = AnalysisResult()
    try:
        if kind == "sqlite":
            blobs = rpmdb.sqlite_blobs(entry.materialize(ctx.tmp_dir))
        elif kind == "bdb":
            blobs = rpmdb.bdb_blobs(entry.read())
        else:
            blobs = rpmdb.ndb_blobs(entry.read())
        for index, blob in enumerate(blobs):
            try:
                result.packages.append(header_package(rpmdb.parse_header_blob(blob), entry.path))
            except rpmdb.RpmDBError as exc:
                result.warnings.append(warn(entry.path, f"header {index}: {exc}"))
    except Exception as exc:  # noqa: BLE001 - untrusted database
        result.warnings.append(warn(entry.path, exc))
    return result


class RpmAnalyzer:
    name = "rpm"
    version = 3
    per_file = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in DB_PATHS

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        for entry in files:
            result.extend(read_rpmdb(entry, ctx, DB_PATHS[entry.path]))
        return result
