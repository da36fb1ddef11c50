"""Java archives (.jar/.war/.ear, nested archives too): `META-INF/maven/**/pom.properties`, else MANIFEST.MF."""

from __future__ import annotations

import io
import posixpath
from typing import TYPE_CHECKING

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, warn
from hullscan.scanner.inventory import Package

if TYPE_CHECKING:
    import zipfile  # imported where archives are opened: scanning without jars stays fast

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_DEPTH = 3
MAX_NESTED_BYTES = 64 << 20
MAX_MEMBER_BYTES = 1 << 20


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties: `key=value`, `key:value` (first separator wins), `#`/`!` comments."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            continue
        values[line[:cut].strip()] = line[cut + 1 :].strip()
    return values


def maven_package(props: dict[str, str], path: str) -> Package | None:
    artifact, version = props.get("artifactId"), props.get("version")
    if not artifact or not version:
        return None
    group = props.get("groupId") or None
    purl = PackageURL(type="maven", namespace=group, name=artifact, version=version).to_string()
    return Package(name=artifact, version=version, type="java", purl=purl, path=path,
                   properties={"group": group} if group else {})


def parse_manifest(text: str) -> dict[str, str]:
    """MANIFEST.MF main attributes; a continuation line (leading space) extends the value above. Linear: the
    pieces are joined once, never `+=` onto a growing string."""
    values: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(" ") and last is not None:
            last.append(line[1:])
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = values[key.strip()] = [value.strip()]
    return {key: "".join(parts) for key, parts in values.items()}


def scan_archive(archive: zipfile.ZipFile, path: str, depth: int, result: AnalysisResult) -> None:
    found = []
    for info in archive.infolist():
        name = info.filename
        if name.startswith("META-INF/maven/") and name.endswith("/pom.properties") and info.file_size <= MAX_MEMBER_BYTES:
            package = maven_package(parse_properties(archive.read(info).decode("utf-8", "replace")), path)
            if package:
                found.append(package)
        elif name.lower().endswith(ARCHIVE_SUFFIXES) and depth < MAX_DEPTH:
            import zipfile

            if info.file_size > MAX_NESTED_BYTES:
                result.warnings.append(warn(f"{path}!{name}", "nested archive over the size cap, skipped"))
                continue
            nested_path = f"{path}!{name}"
            try:
                with zipfile.ZipFile(io.BytesIO(archive.read(info))) as nested:
                    scan_archive(nested, nested_path, depth + 1, result)
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                result.warnings.append(warn(nested_path, exc))
    if not found:
        manifest_info: zipfile.ZipInfo | None
        try:
            manifest_info = archive.getinfo("META-INF/MANIFEST.MF")
        except KeyError:
            manifest_info = None
        if manifest_info is not None and manifest_info.file_size <= MAX_MEMBER_BYTES:
            manifest = parse_manifest(archive.read(manifest_info).decode("utf-8", "replace"))
            name = manifest.get("Implementation-Title") or manifest.get("Bundle-SymbolicName", "").split(";")[0]
            version = manifest.get("Implementation-Version") or manifest.get("Bundle-Version")
            if not name:
                name = posixpath.splitext(posixpath.basename(path.rpartition("!")[2]))[0]
            if name and version:
                purl = PackageURL(type="maven", name=name, version=version).to_string()
                found.append(Package(name=name, version=version, type="java", purl=purl, path=path))
    result.packages.extend(found)


class JavaAnalyzer:
    name = "java"
    version = 2
    per_file = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.lower().endswith(ARCHIVE_SUFFIXES)

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        import zipfile

        for entry in files:
            try:
                with entry.open() as fh, zipfile.ZipFile(fh) as archive:
                    scan_archive(archive, entry.path, 0, result)
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(warn(entry.path, exc))
        return result
