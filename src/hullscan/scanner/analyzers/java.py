"""Java archives (.jar/.war/.ear, nested archives too): `META-INF/maven/**/pom.properties`, else MANIFEST.MF.

Coordinates from a MANIFEST.MF alone follow one documented rule (docs/scanner.md, "Java archives"): the
Maven archiver's Implementation-Vendor-Id + Implementation-Title, else the OSGi Bundle-SymbolicName, else the
Automatic-Module-Name, each only when it is a Maven identifier (never a display name with blanks); without
any, the group is `unknown` and the artifact is the file name without its version.
"""

from __future__ import annotations

import io
import posixpath
import re
from typing import TYPE_CHECKING

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, read_zip_member, warn
from hullscan.scanner.inventory import Package

if TYPE_CHECKING:
    import zipfile  # imported where archives are opened: scanning without jars stays fast

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_DEPTH = 3
MAX_NESTED_BYTES = 64 << 20
UNKNOWN_GROUP = "unknown"
#: Maven's groupId/artifactId characters (maven-model's validator); a name with blanks is a display name.
MAVEN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_STEM_VERSION = re.compile(r"-[0-9][A-Za-z0-9_.+-]*\Z")


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


def _split_dotted(name: str) -> tuple[str, str] | None:
    """`com.fasterxml.jackson.core.jackson-databind` -> (`com.fasterxml.jackson.core`, `jackson-databind`)."""
    group, dot, artifact = name.rpartition(".")
    if dot and group and artifact and MAVEN_ID.match(group) and MAVEN_ID.match(artifact):
        return group, artifact
    return None


def manifest_coordinates(manifest: dict[str, str], path: str) -> tuple[str, str, str] | None:
    """(group, artifact, where they came from) of a jar known only by its MANIFEST.MF; None when it has no
    version. The rule is documented in docs/scanner.md."""
    vendor_id = manifest.get("Implementation-Vendor-Id", "").strip()
    title = manifest.get("Implementation-Title", "").strip()
    symbolic = manifest.get("Bundle-SymbolicName", "").split(";")[0].strip()
    module = manifest.get("Automatic-Module-Name", "").strip()
    vendor_id = vendor_id if MAVEN_ID.match(vendor_id) else ""
    if vendor_id and MAVEN_ID.match(title):
        return vendor_id, title, "manifest-implementation"
    stem = posixpath.splitext(posixpath.basename(path.rpartition("!")[2]))[0]
    stem = _STEM_VERSION.sub("", stem) or stem
    for name, source in ((symbolic, "manifest-osgi"), (module, "manifest-module")):
        if vendor_id and name.startswith(vendor_id + ".") and MAVEN_ID.match(name[len(vendor_id) + 1 :]):
            split: tuple[str, str] | None = (vendor_id, name[len(vendor_id) + 1 :])
        else:
            split = _split_dotted(name)
        if split:
            group, artifact = split
            # the bundle plugin drops the part of an artifactId that repeats the group's last segment
            # (org.apache.commons + commons-lang3 -> org.apache.commons.lang3): the file name keeps it whole
            if stem.endswith(artifact) and MAVEN_ID.match(stem) and stem[-len(artifact) - 1 : -len(artifact)] in "-.":
                artifact = stem
            return group, artifact, source
    return vendor_id or UNKNOWN_GROUP, title if MAVEN_ID.match(title) else stem, "manifest-file-name"


def manifest_package(manifest: dict[str, str], path: str) -> Package | None:
    version = (manifest.get("Implementation-Version") or manifest.get("Bundle-Version") or "").strip()
    coordinates = manifest_coordinates(manifest, path)
    if not version or coordinates is None or not coordinates[1]:
        return None
    group, artifact, source = coordinates
    purl = PackageURL(type="maven", namespace=group, name=artifact, version=version).to_string()
    return Package(name=artifact, version=version, type="java", purl=purl, path=path,
                   properties={"group": group, "coordinates": source})


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


def _manifest_bytes(archive: zipfile.ZipFile, path: str, result: AnalysisResult) -> bytes | None:
    try:
        return read_zip_member(archive, "META-INF/MANIFEST.MF")
    except ValueError as exc:
        result.warnings.append(warn(path, exc))
        return None


def scan_archive(archive: zipfile.ZipFile, path: str, depth: int, result: AnalysisResult) -> None:
    found = []
    for info in archive.infolist():
        name = info.filename
        if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
            try:
                data = read_zip_member(archive, info)
            except ValueError as exc:
                result.warnings.append(warn(path, exc))
                continue
            if data is not None and (package := maven_package(parse_properties(data.decode("utf-8", "replace")),
                                                               path)):
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
    if not found and (data := _manifest_bytes(archive, path, result)) is not None:
        if package := manifest_package(parse_manifest(data.decode("utf-8", "replace")), path):
            found.append(package)
    result.packages.extend(found)


class JavaAnalyzer:
    name = "java"
    version = 3
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
