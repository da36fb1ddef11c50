"""The one codec of the package record: `Package` <-> CycloneDX component <-> stored occurrence row.

Every CycloneDX property name a package travels under is spelled here, in both directions: hullscan's own
(`hullscan:package:*`, `hullscan:layer:*`), Trivy's (`aquasecurity:trivy:*`, which GitLab reads) and syft's
(`syft:*`). The scanner writes through `component_properties`, `hullscan scan SBOM` and ingestion read through
`decode_component`, and re-matching rebuilds packages from rows with `package_from_row`, the inverse of
`row_of`. So the package matching sees is the same whichever path it came by.

In-memory contract (shared with matching): the modularity label of an rpm is `properties["modularitylabel"]`,
its epoch `properties["epoch"]`, the architecture `Package.arch`.

Plain code with no heavy imports: `hullscan sbom` loads it on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hullscan.ecosystems import KIND_BY_PURL_TYPE, KINDS, OS_PACKAGE_TYPES
from hullscan.scanner.inventory import Package
from hullscan.scanner.purl import Purl, go_module_path, parse_purl

HULLSCAN = "hullscan:package:"
HULLSCAN_LAYER = "hullscan:layer:"
TRIVY = "aquasecurity:trivy:"
SYFT_METADATA = "syft:metadata:"

# Package attributes stored under hullscan:package:<attribute>; any other hullscan:package:<key> is a property.
_ATTRIBUTES = ("type", "source_name", "source_version", "arch", "path")

# Property keys of the in-memory contract.
EPOCH = "epoch"
MODULARITY_LABEL = "modularitylabel"

# Names other producers (and earlier hullscan versions) gave to what the contract calls modularitylabel.
_LABEL_ALIASES = (f"{TRIVY}Modularitylabel", f"{SYFT_METADATA}modularityLabel", "hullscan:modularity_label",
                  f"{HULLSCAN}modularity_label")


# --- Package -> CycloneDX ---------------------------------------------------------------------------------


def component_properties(package: Package, os_family: str | None) -> list[tuple[str, str]]:
    """The (name, value) properties of one package's component: Trivy's (GitLab reads them) and hullscan's own,
    which carry every field of the package that the component's name, version, purl and licenses do not."""
    kind = KINDS.get(package.type)
    pkg_type = os_family if package.type in OS_PACKAGE_TYPES and os_family else \
        (kind.trivy_type if kind else package.type)
    props: list[tuple[str, str]] = [(f"{TRIVY}PkgType", pkg_type)]
    if package.type in OS_PACKAGE_TYPES:
        source_name = package.source_name or package.name
        source_version = package.source_version or package.version
        props.append((f"{TRIVY}SrcName", source_name))
        if package.type == "rpm":
            epoch, _, rest = source_version.rpartition(":")
            version, _, release = rest.rpartition("-")
            props += [(f"{TRIVY}SrcVersion", version or rest), (f"{TRIVY}SrcRelease", release if version else "")]
            if epoch:
                props.append((f"{TRIVY}SrcEpoch", epoch))
        else:
            props.append((f"{TRIVY}SrcVersion", source_version))
        props.append((f"{TRIVY}PkgID", f"{package.name}@{package.version}"))
        label = package.properties.get(MODULARITY_LABEL)
        if label:
            props.append((f"{TRIVY}Modularitylabel", label))
    if package.path:
        props.append((f"{TRIVY}FilePath", package.path.lstrip("/")))
    if package.layer_digest:
        props.append((f"{TRIVY}LayerDigest", package.layer_digest))
    if package.layer_diff_id:
        props.append((f"{TRIVY}LayerDiffID", package.layer_diff_id))
    for attribute in _ATTRIBUTES:
        value = getattr(package, attribute)
        if value:
            props.append((f"{HULLSCAN}{attribute}", value))
    if package.layer_digest:
        props.append((f"{HULLSCAN_LAYER}digest", package.layer_digest))
    if package.layer_diff_id:
        props.append((f"{HULLSCAN_LAYER}diff_id", package.layer_diff_id))
    for key, value in sorted(package.properties.items()):
        if key not in _ATTRIBUTES:
            props.append((f"{HULLSCAN}{key}", str(value)))
    return props


# --- CycloneDX (or SPDX, read into the same shape) -> Package ----------------------------------------------


def decode_component(purl_text: str, *, name: str | None, version: str | None, props: Mapping[str, str],
                     licenses: list[str] | None = None) -> tuple[Package | None, str | None]:
    """The package one SBOM component describes, or (None, why it cannot be matched).

    hullscan's own properties win (they are the package as the scanner saw it); else Trivy's, syft's and the
    purl's qualifiers fill in what they can; the ecosystem table says which package type a purl type is."""
    purl = parse_purl(purl_text)
    if purl is None:
        return None, "unreadable purl"
    kind = KIND_BY_PURL_TYPE.get(purl.type)
    pkg_type = props.get(f"{HULLSCAN}type") or (kind.type if kind else None)
    if pkg_type is None:
        return None, f"purl type {purl.type!r} has no advisory ecosystem"
    qualifiers = purl.qualifiers
    version = version or purl.version
    if not version:
        return None, "no version"
    properties = {key[len(HULLSCAN):]: value for key, value in props.items()
                  if key.startswith(HULLSCAN) and key[len(HULLSCAN):] not in _ATTRIBUTES}
    own = f"{HULLSCAN}type" in props
    if not own:  # another producer: the contract's properties from its own names
        properties.pop("modularity_label", None)
        epoch = qualifiers.get("epoch") or props.get(f"{SYFT_METADATA}epoch")
        if epoch and pkg_type in OS_PACKAGE_TYPES:
            properties[EPOCH] = epoch
            if epoch != "0" and ":" not in version and pkg_type in ("deb", "rpm"):
                version = f"{epoch}:{version}"
        label = next((props[alias] for alias in _LABEL_ALIASES if props.get(alias)), None)
        if label and pkg_type == "rpm":
            properties[MODULARITY_LABEL] = label
    if pkg_type == "go" and purl.type == "golang":  # the full module path, whichever form the producer wrote
        base = _purl_base(purl)
        module = go_module_path(purl, name)
        if name is None or name == base:
            name = module
        if module != base or purl.subpath:
            purl_text = _go_purl(module, purl.version)
    if own:
        source_name, source_version = props.get(f"{HULLSCAN}source_name"), props.get(f"{HULLSCAN}source_version")
    else:
        source_name, source_version = _foreign_source(pkg_type, props, qualifiers, version)
    return Package(
        name=name or _purl_base(purl),
        version=version,
        type=pkg_type,
        purl=purl_text,
        source_name=source_name,
        source_version=source_version,
        arch=props.get(f"{HULLSCAN}arch") if own else (qualifiers.get("arch") or None),
        licenses=list(licenses or []),
        path=props.get(f"{HULLSCAN}path") if own else _foreign_path(props),
        layer_digest=props.get(f"{HULLSCAN_LAYER}digest") or props.get(f"{TRIVY}LayerDigest"),
        layer_diff_id=props.get(f"{HULLSCAN_LAYER}diff_id") or props.get(f"{TRIVY}LayerDiffID")
        or props.get("syft:location:0:layerID"),
        properties=properties,
    ), None


def _purl_base(purl: Purl) -> str:
    return f"{purl.namespace}/{purl.name}" if purl.namespace and purl.type in ("golang", "npm") else purl.name


def _go_purl(module: str, version: str | None) -> str:
    """The canonical golang purl of a module (namespace/name, no subpath), as hullscan's Go analyzer writes it."""
    from packageurl import PackageURL

    namespace, _, name = module.rpartition("/")
    return PackageURL(type="golang", namespace=namespace or None, name=name, version=version or None).to_string()


def _foreign_path(props: Mapping[str, str]) -> str | None:
    path = props.get(f"{TRIVY}FilePath") or props.get("syft:location:0:path")
    if path and not path.startswith("/"):
        path = "/" + path  # Trivy writes paths relative to the image root
    return path


def _foreign_source(pkg_type: str, props: Mapping[str, str], qualifiers: Mapping[str, str],
                    version: str) -> tuple[str | None, str | None]:
    """Source package name/version of an OS package from Trivy's properties, syft's, or the purl's `upstream`."""
    if pkg_type not in OS_PACKAGE_TYPES:
        return None, None
    name = props.get(f"{TRIVY}SrcName") or props.get("hullscan:source:name")
    src_version = props.get("hullscan:source:version")
    if name and not src_version and props.get(f"{TRIVY}SrcVersion"):
        src_version = props[f"{TRIVY}SrcVersion"]
        release = props.get(f"{TRIVY}SrcRelease")
        epoch = props.get(f"{TRIVY}SrcEpoch")
        if release:
            src_version = f"{src_version}-{release}"
        if epoch and epoch != "0":
            src_version = f"{epoch}:{src_version}"
    if not name:
        upstream = qualifiers.get("upstream") or props.get(f"{SYFT_METADATA}source") \
            or props.get(f"{SYFT_METADATA}sourceRpm")
        if upstream:
            if upstream.endswith(".src.rpm"):  # syft's sourceRpm: name-version-release.src.rpm
                parts = upstream.removesuffix(".src.rpm").rsplit("-", 2)
                up_name, up_version = (parts[0], f"{parts[1]}-{parts[2]}") if len(parts) == 3 else (upstream, "")
            else:
                up_name, _, up_version = upstream.partition("@")
                if not up_version and " " in up_name:
                    up_name, _, up_version = up_name.partition(" ")
            up_version = up_version.strip("() ")
            name = up_name.strip() or None
            src_version = src_version or (up_version or None)
    if name and not src_version:
        src_version = props.get(f"{SYFT_METADATA}sourceVersion") or version
    return name, src_version


# --- Package <-> occurrence row -----------------------------------------------------------------------------

ROW_FIELDS = ("name", "version", "type", "purl", "source_name", "source_version", "arch", "path", "layer_digest",
              "layer_diff_id", "licenses", "properties")


def row_of(package: Package) -> dict[str, Any]:
    """The occurrence columns of a package: every field, so `package_from_row` gives it back unchanged."""
    return {
        "name": package.name, "version": package.version, "type": package.type, "purl": package.purl,
        "source_name": package.source_name, "source_version": package.source_version, "arch": package.arch,
        "path": package.path, "layer_digest": package.layer_digest, "layer_diff_id": package.layer_diff_id,
        "licenses": list(package.licenses) or None, "properties": dict(package.properties) or None,
    }


def package_from_row(row: Any) -> Package:
    """The package a stored occurrence (an ORM object or a row with `ROW_FIELDS`) was made from."""
    return Package(name=row.name, version=row.version, type=row.type, purl=row.purl, source_name=row.source_name,
                   source_version=row.source_version, arch=row.arch, licenses=list(row.licenses or ()),
                   path=row.path, layer_digest=row.layer_digest, layer_diff_id=row.layer_diff_id,
                   properties=dict(row.properties or {}))
