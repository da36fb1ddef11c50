"""Read any CycloneDX 1.4-1.6 or SPDX 2.3 JSON SBOM (with purls) into an `Inventory`, streaming.

SBOMs are untrusted: the file is parsed incrementally with ijson (one component in memory at a time),
components are capped, and every component that cannot be matched (no purl, no version, unknown type) is
skipped with a counted warning instead of failing the scan.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from hullscan.ecosystems import canonical_family
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.scanner.package_record import decode_component
from hullscan.scanner.purl import parse_purl

DEFAULT_MAX_COMPONENTS = 250_000
MAX_NESTING = 16
MAX_FIELD = 4096  # longest name/version/purl kept; longer ones are hostile or broken

_GITLAB_PREFIXES = ("gitlab:container_scanning_for_registry:", "gitlab:container_scanning:")


class SbomError(ValueError):
    """The file is not a readable CycloneDX/SPDX JSON SBOM."""


@dataclass
class _Counts:
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def warnings(self) -> list[str]:
        return [f"{n} component(s) skipped: {reason}" for reason, n in sorted(self.skipped.items())]


def looks_like_sbom(path: Path) -> bool:
    """A regular file whose first non-blank byte opens a JSON object."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return head.startswith(b"{")


def read_sbom(path: Path | str, *, max_components: int = DEFAULT_MAX_COMPONENTS,
              with_dependencies: bool = False) -> Inventory:
    """Inventory of a CycloneDX or SPDX JSON SBOM file. Raises SbomError for anything that is not one.

    `with_dependencies` also reads a CycloneDX document's `dependencies` graph (one more streaming pass), for
    converting a stored SBOM to SPDX; matching and ingestion do not need it."""
    path = Path(path)
    try:
        fmt = _sniff(path)
    except OSError as exc:
        raise SbomError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if fmt == "cyclonedx":
        return _read_cyclonedx(path, max_components, with_dependencies)
    if fmt == "spdx":
        return _read_spdx(path, max_components)
    raise SbomError(f"{path} is neither a CycloneDX nor an SPDX JSON document (no bomFormat or spdxVersion)")


def _open(path: Path) -> BinaryIO:
    return path.open("rb")


def _json_error(path: Path, exc: Exception) -> SbomError:
    return SbomError(f"{path} is not valid JSON: {exc}")


def _sniff(path: Path) -> str | None:
    """Scan top-level scalar keys only (nested values are skipped event by event, never built)."""
    with _open(path) as fh:
        try:
            events = ijson.parse(fh, use_float=True)
            first = next(events, None)
            if first is None or first[1] != "start_map":
                raise SbomError(f"{path} is not a JSON object")
            for prefix, event, value in events:
                if prefix == "bomFormat" and event == "string":
                    if value != "CycloneDX":
                        raise SbomError(f"{path}: unsupported bomFormat {value!r}")
                    return "cyclonedx"
                if prefix in ("spdxVersion", "SPDXID") and event == "string":
                    return "spdx"
        except ijson.JSONError as exc:
            raise _json_error(path, exc) from exc
    return None


def _first(path: Path, prefix: str) -> Any:
    with _open(path) as fh:
        try:
            for item in ijson.items(fh, prefix, use_float=True):
                return item
        except ijson.JSONError as exc:
            raise _json_error(path, exc) from exc
    return None


def _items(path: Path, prefix: str) -> Iterator[Any]:
    with _open(path) as fh:
        try:
            yield from ijson.items(fh, prefix, use_float=True)
        except ijson.JSONError as exc:
            raise _json_error(path, exc) from exc


def _s(value: object) -> str | None:
    """A bounded string field, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_FIELD:
        return None
    return value


def _properties(obj: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    props = obj.get("properties")
    if isinstance(props, list):
        for prop in props[:512]:
            if isinstance(prop, dict):
                name, value = _s(prop.get("name")), _s(prop.get("value"))
                if name and value is not None and name not in out:
                    out[name] = value
    return out


def _family(name: str) -> str:
    return canonical_family(name)


def _os_from_distro_qualifier(distro: str) -> OperatingSystem | None:
    m = re.match(r"^([a-zA-Z][a-zA-Z_]*)[-:]?(\d[\w.]*)?$", distro)
    if not m:
        return None
    return OperatingSystem(family=_family(m.group(1)), version=m.group(2) or "")


# --- CycloneDX --------------------------------------------------------------------------------------------


def _read_cyclonedx(path: Path, max_components: int, with_dependencies: bool = False) -> Inventory:
    spec = _first(path, "specVersion")
    warnings: list[str] = []
    if spec is not None and str(spec) in ("1.0", "1.1", "1.2", "1.3"):
        warnings.append(f"CycloneDX specVersion {spec} is older than 1.4; read on a best-effort basis")
    metadata = _first(path, "metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    meta_props = _properties(metadata)
    image = _image_info(metadata, meta_props, path)
    os_info = _os_from_gitlab(meta_props)
    counts = _Counts()
    packages: list[Package] = []
    refs: dict[str, int] = {}
    distro_hint: str | None = None
    capped = False
    for top in _items(path, "components.item"):
        for comp in _flatten(top):
            if len(packages) >= max_components:
                capped = True
                break
            if comp.get("type") == "operating-system":
                name, version = _s(comp.get("name")), _s(comp.get("version"))
                if name and os_info is None:
                    os_info = OperatingSystem(family=_family(name), version=version or "")
                continue
            pkg = _cyclonedx_package(comp, counts)
            if pkg is not None:
                ref = _s(comp.get("bom-ref"))
                if ref is not None:
                    refs.setdefault(ref, len(packages))
                packages.append(pkg)
                distro_hint = distro_hint or _distro(pkg.purl)
        if capped:
            warnings.append(f"more than {max_components} components: the rest were not read")
            break
    if os_info is None and distro_hint:
        os_info = _os_from_distro_qualifier(distro_hint)
    dependencies = _cyclonedx_dependencies(path, refs, warnings) if with_dependencies else None
    return Inventory(image=image, os=os_info, packages=packages, warnings=warnings + counts.warnings(),
                     dependencies=dependencies)


#: Most dependency edges read per package (a hostile graph stays linear in the components read).
MAX_EDGES_PER_PACKAGE = 64


def _cyclonedx_dependencies(path: Path, refs: dict[str, int], warnings: list[str]) -> dict[int, list[int]]:
    """Package index -> indexes it depends on, from `dependencies[].ref/dependsOn` between the packages read
    (edges to the image, the OS component or unknown refs are dropped: the writers draw those themselves)."""
    budget = MAX_EDGES_PER_PACKAGE * max(len(refs), 1)
    graph: dict[int, dict[int, None]] = {}  # ordered, de-duplicated targets
    for entry in _items(path, "dependencies.item"):
        if not isinstance(entry, dict):
            continue
        source = refs.get(_s(entry.get("ref")) or "")
        targets = entry.get("dependsOn")
        if source is None or not isinstance(targets, list):
            continue
        if len(targets) > budget:
            warnings.append("the dependency graph is larger than the packages allow: the rest was not read")
            break
        budget -= len(targets)
        for target in targets:
            index = refs.get(target) if isinstance(target, str) else None
            if index is not None and index != source:
                graph.setdefault(source, {})[index] = None
    return {source: list(targets) for source, targets in graph.items()}


def _flatten(comp: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if not isinstance(comp, dict):
        return
    yield comp
    children = comp.get("components")
    if isinstance(children, list) and depth < MAX_NESTING:
        for child in children:
            yield from _flatten(child, depth + 1)


def _image_info(metadata: dict[str, Any], props: dict[str, str], path: Path) -> ImageInfo:
    name = tag = None
    for prefix in _GITLAB_PREFIXES:
        name = name or props.get(prefix + "image:name")
        tag = tag or props.get(prefix + "image:tag")
    component = metadata.get("component") if isinstance(metadata.get("component"), dict) else {}
    digest = props.get("hullscan:image:digest")
    if component and digest is None:
        name = name or _s(component.get("name"))
        for prop_name, value in _properties(component).items():
            if prop_name.endswith("RepoDigest") and "@" in value:
                digest = value.split("@", 1)[1]
    return ImageInfo(name=name or path.name, tag=tag, digest=digest, platform=props.get("hullscan:image:platform"),
                     reference=str(path))


def _os_from_gitlab(props: dict[str, str]) -> OperatingSystem | None:
    for prefix in _GITLAB_PREFIXES:
        name = props.get(prefix + "operating_system:name")
        if name:
            return OperatingSystem(family=_family(name), version=props.get(prefix + "operating_system:version", ""))
    return None


def _cyclonedx_package(comp: dict[str, Any], counts: _Counts) -> Package | None:
    purl_text = _s(comp.get("purl"))
    if not purl_text:
        if comp.get("type") in ("library", "application", "framework", None):
            counts.skip("no purl")
        return None
    return _package_from_purl(purl_text, name=_s(comp.get("name")), version=_s(comp.get("version")),
                              props=_properties(comp), counts=counts, licenses=_licenses(comp))


def _package_from_purl(
    purl_text: str,
    *,
    name: str | None,
    version: str | None,
    props: dict[str, str],
    counts: _Counts,
    licenses: list[str] | None = None,
) -> Package | None:
    """The package of one component, through the package record's codec; a skipped one is counted."""
    pkg, reason = decode_component(purl_text, name=name, version=version, props=props, licenses=licenses)
    if pkg is None:
        counts.skip(reason or "unreadable component")
    return pkg


def _distro(purl_text: str | None) -> str | None:
    purl = parse_purl(purl_text) if purl_text else None
    return purl.qualifiers.get("distro") if purl is not None else None


def _licenses(comp: dict[str, Any]) -> list[str]:
    """License ids, names and expressions of a CycloneDX component, as written (bounded)."""
    out: list[str] = []
    entries = comp.get("licenses")
    if not isinstance(entries, list):
        return out
    for entry in entries[:64]:
        if not isinstance(entry, dict):
            continue
        text = _s(entry.get("expression"))
        if text is None and isinstance(entry.get("license"), dict):
            lic = entry["license"]
            text = _s(lic.get("id")) or _s(lic.get("name"))
        if text:
            out.append(text)
    return out


# --- SPDX -------------------------------------------------------------------------------------------------


def _read_spdx(path: Path, max_components: int) -> Inventory:
    version = _first(path, "spdxVersion")
    warnings: list[str] = []
    if version is not None and str(version) != "SPDX-2.3":
        warnings.append(f"{version} is not SPDX-2.3; read on a best-effort basis")
    name = _s(_first(path, "name"))
    counts = _Counts()
    packages: list[Package] = []
    os_info: OperatingSystem | None = None
    distro_hint = None
    for index, raw in enumerate(_items(path, "packages.item")):
        if index >= max_components:
            warnings.append(f"more than {max_components} packages: the rest were not read")
            break
        if not isinstance(raw, dict):
            counts.skip("not an object")
            continue
        if raw.get("primaryPackagePurpose") in ("OPERATING_SYSTEM", "OPERATING-SYSTEM"):  # SPDX 2.3; old hullscan
            os_name, os_version = _s(raw.get("name")), _s(raw.get("versionInfo"))
            if os_name and os_info is None:
                os_info = OperatingSystem(family=_family(os_name), version=os_version or "")
            continue
        purl_text = None
        refs = raw.get("externalRefs")
        if isinstance(refs, list):
            for ref in refs[:64]:
                if isinstance(ref, dict) and ref.get("referenceType") == "purl":
                    purl_text = _s(ref.get("referenceLocator"))
                    break
        if not purl_text:
            if raw.get("primaryPackagePurpose") not in ("CONTAINER", "FILE", "SOURCE"):
                counts.skip("no purl")
            continue
        props = _spdx_annotations(raw)
        source_info = _s(raw.get("sourceInfo"))
        if source_info and source_info.startswith("built package from:") and "aquasecurity:trivy:SrcName" not in props:
            parts = source_info.removeprefix("built package from:").split()
            if parts:
                props["hullscan:source:name"] = parts[0]
                if len(parts) > 1:
                    props["hullscan:source:version"] = parts[1]
        pkg = _package_from_purl(
            purl_text,
            name=_s(raw.get("name")),
            version=_s(raw.get("versionInfo")),
            props=props,
            counts=counts,
        )
        if pkg is not None:
            packages.append(pkg)
            distro_hint = distro_hint or _distro(pkg.purl)
    if os_info is None and distro_hint:
        os_info = _os_from_distro_qualifier(distro_hint)
    image = ImageInfo(name=name or path.name, reference=str(path))
    return Inventory(image=image, os=os_info, packages=packages, warnings=warnings + counts.warnings())


def _spdx_annotations(raw: dict[str, Any]) -> dict[str, str]:
    """Trivy writes `Key: value` annotation comments (SrcName, LayerDigest, ...); keep them as properties."""
    out: dict[str, str] = {}
    annotations = raw.get("annotations")
    if isinstance(annotations, list):
        for ann in annotations[:256]:
            comment = _s(ann.get("comment")) if isinstance(ann, dict) else None
            if comment and ": " in comment:
                key, _, value = comment.partition(": ")
                if key.isidentifier():
                    out.setdefault(f"aquasecurity:trivy:{key}", value.strip())
    return out
