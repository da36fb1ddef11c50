"""SBOM writers: CycloneDX 1.6 JSON with GitLab's properties, SPDX 2.3 JSON, a table.

GitLab reads `gitlab:meta:schema_version`, the image/OS metadata properties (namespace
`gitlab:container_scanning_for_registry:` for registry-triggered scans, else `gitlab:container_scanning:`),
and per component Trivy's property names (`aquasecurity:trivy:*`); hullscan's own are under `hullscan:`. A
component's properties are the package record's codec's (`package_record.py`), which reads them back.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from hullscan import __version__
from hullscan.ecosystems import OS_PACKAGE_TYPES
from hullscan.scanner.inventory import Inventory, inventory_graph
from hullscan.scanner.package_record import component_properties

if TYPE_CHECKING:
    from rich.console import Console


def gitlab_namespace(registry_triggered: bool) -> str:
    return "gitlab:container_scanning_for_registry:" if registry_triggered else "gitlab:container_scanning:"


PLATFORM_PROPERTY = "hullscan:image:platform"  # os/arch[/variant] the index chose
INDEX_DIGEST_PROPERTY = "hullscan:image:index:digest"  # on each platform's SBOM of a registry-triggered index scan


def metadata_properties(inventory: Inventory, registry_triggered: bool) -> list[tuple[str, str]]:
    ns = gitlab_namespace(registry_triggered)
    props = [("gitlab:meta:schema_version", "1"),
             (f"{ns}image:name", inventory.image.name),
             (f"{ns}image:tag", inventory.image.tag or (inventory.image.digest or "latest"))]
    if inventory.os:
        props += [(f"{ns}operating_system:name", inventory.os.family),
                  (f"{ns}operating_system:version", inventory.os.version)]
    if inventory.image.digest:
        props.append(("hullscan:image:digest", inventory.image.digest))
    if inventory.image.platform:
        props.append((PLATFORM_PROPERTY, inventory.image.platform))
    if inventory.partial:  # some layer was not fully analysed: packages (and so vulnerabilities) may be missing
        props.append(("hullscan:scan:partial", "true"))
        props += [("hullscan:scan:partial_reason", reason) for reason in inventory.partial[:20]]
    for warning in inventory.warnings[:100]:
        props.append(("hullscan:warning", warning))
    return props


_preloading = None


def preload_writer() -> None:
    """Import the license and purl helpers on a background thread while layers decompress (GIL released)."""
    global _preloading
    if _preloading is None:  # called from the main thread only (before layers are walked)
        import threading

        def load() -> None:
            import cyclonedx.spdx  # noqa: F401
            import packageurl  # noqa: F401

        _preloading = threading.Thread(target=load, daemon=True, name="cyclonedx-preload")
        _preloading.start()


def _wait_for_preload() -> None:
    if _preloading is not None:
        _preloading.join()


# In the document these keys occur once each (metadata.timestamp and the top-level serial number); a string
# value can never match: inside one every `"` is escaped.
_SERIAL = re.compile(r'"serialNumber": "urn:uuid:[0-9a-f-]{36}"')
_TIMESTAMP = re.compile(r'"timestamp": "[0-9T:.+-]+Z?"')


def _with_fresh_identity(document: str) -> str | None:
    """`document` with a new serial number and timestamp, by substitution. None when it has not the shape."""
    stamp = datetime.now(timezone.utc).isoformat()
    document, serials = _SERIAL.subn(f'"serialNumber": "{_urn_uuid4()}"', document, count=1)
    document, stamps = _TIMESTAMP.subn(f'"timestamp": "{stamp}"', document, count=1)
    return document if serials == 1 and stamps == 1 else None


def graph_roots(inventory: Inventory, graph: dict[int, list[int]]) -> tuple[list[int], list[int]]:
    """(OS packages the OS component depends on, packages the image depends on directly), as Trivy draws it:
    the packages no other package depends on, plus one package of every cycle nothing else reaches, so
    every package hangs below the image. Linear in packages + edges."""
    depended = {target for targets in graph.values() for target in targets}
    seen: set[int] = set()
    os_roots: list[int] = []
    image_roots: list[int] = []
    has_os = inventory.os is not None

    def reach(start: int) -> None:
        stack = [start]
        seen.add(start)
        while stack:
            for target in graph.get(stack.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    stack.append(target)

    for pass_roots in (True, False):  # first the true roots, then whatever they leave unreached (cycles)
        for index, package in enumerate(inventory.packages):
            if index in seen or (pass_roots and index in depended):
                continue
            (os_roots if has_os and package.type in OS_PACKAGE_TYPES else image_roots).append(index)
            reach(index)
    return os_roots, image_roots


def _properties(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in sorted(set(pairs))]


def write_cyclonedx(inventory: Inventory, registry_triggered: bool = False) -> str:
    """CycloneDX 1.6 JSON for one image inventory.

    Written as plain JSON rather than through cyclonedx-python-lib's object model, whose serializer took
    0.2 s for 150 components (a sixth of a cold scan). The document is what that library emits for the same
    content (same fields, ordering, license classification by its `cyclonedx.spdx` helpers):
    tests/scanner/test_sbom_output.py reads each document into the library's `Bom` and compares the library's
    own rendering, and validates it against the 1.6 schema."""
    _wait_for_preload()  # never import the same modules from two threads at once
    from packageurl import PackageURL

    image = inventory.image
    container: dict[str, Any] = {"bom-ref": "image", "name": image.name, "type": "container"}
    if image.digest:
        short = image.name.rpartition("/")[2] or image.name
        qualifiers = {"repository_url": image.name}
        if image.platform:
            qualifiers["arch"] = image.platform.split("/")[1] if "/" in image.platform else image.platform
        container["purl"] = PackageURL(type="oci", name=short.lower(), version=image.digest,
                                       qualifiers=qualifiers).to_string()
    if image.tag or image.digest:
        container["version"] = image.tag or image.digest
    components: list[dict[str, Any]] = []
    if inventory.os:
        components.append({"bom-ref": "os", "name": inventory.os.family, "type": "operating-system",
                           "version": inventory.os.version})
    os_family = inventory.os.family if inventory.os else None
    refs = [f"pkg-{index}-{package.type}-{package.name}@{package.version}"
            for index, package in enumerate(inventory.packages)]
    for index, package in enumerate(inventory.packages):
        component: dict[str, Any] = {"bom-ref": refs[index]}
        licenses = _cdx_licenses(package.licenses)
        if licenses:
            component["licenses"] = licenses
        component["name"] = package.name
        component["properties"] = _properties(component_properties(package, os_family))
        if package.purl:
            try:
                component["purl"] = PackageURL.from_string(package.purl).to_string()
            except ValueError:
                pass
        component["type"] = "library"
        if package.version:
            component["version"] = package.version
        components.append(component)
    components.sort(key=_component_order)
    graph = inventory_graph(inventory)
    os_roots, image_roots = graph_roots(inventory, graph)
    depends_on = {refs[index]: [refs[target] for target in targets] for index, targets in graph.items()}
    depends_on["image"] = [refs[index] for index in image_roots] + (["os"] if inventory.os else [])
    if inventory.os:
        depends_on["os"] = [refs[index] for index in os_roots]
    dependencies = []
    for ref in sorted(["image", *(c["bom-ref"] for c in components)]):
        entry: dict[str, Any] = {"ref": ref}
        if depends_on.get(ref):
            entry["dependsOn"] = sorted(set(depends_on[ref]))
        dependencies.append(entry)
    document = {
        "components": components,
        "dependencies": dependencies,
        "metadata": {
            "component": container,
            "properties": _properties(metadata_properties(inventory, registry_triggered)),
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "tools": {"components": [{"group": "hullscan", "name": "hullscan", "type": "application",
                                      "version": __version__}]},
        },
        "serialNumber": _urn_uuid4(),
        "version": 1,
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
    }
    return json.dumps(document, ensure_ascii=False)


def _component_order(component: dict[str, Any]) -> tuple[str, ...]:
    """The library's component order: type, group, name, version, purl, then bom-ref (for equal ones)."""
    return (component["type"], component["name"], component.get("version", ""), component.get("purl", ""),
            component["bom-ref"])


def _cdx_licenses(texts: list[str]) -> list[dict[str, Any]]:
    """cyclonedx-python-lib's LicenseFactory rules: an SPDX id, else (alone) an SPDX expression, else a name;
    several must all be single licenses (a CycloneDX rule)."""
    from cyclonedx.spdx import fixup_id, is_expression

    texts = [text.strip()[:500] for text in texts]
    texts = [text for text in texts if text]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for text in texts:
        spdx_id = fixup_id(text)
        if spdx_id is not None:
            entry: dict[str, Any] = {"license": {"id": spdx_id}}
        elif len(texts) == 1 and is_expression(text):
            return [{"expression": text}]
        else:
            entry = {"license": {"name": text}}
        key = json.dumps(entry, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(entry)
    out.sort(key=lambda e: (0, e["license"]["id"]) if "id" in e["license"] else (1, e["license"]["name"]))
    return out  # the library's order: SPDX ids, then names


def _urn_uuid4() -> str:
    """A random (version 4) UUID URN without importing `uuid` (which pulls in platform and socket)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _spdx_id(text: str) -> str:
    return "SPDXRef-" + "".join(c if c.isalnum() or c in ".-" else "-" for c in text)[:200]


def write_spdx(inventory: Inventory) -> str:
    """SPDX 2.3 JSON: the image as the described package, every package CONTAINED_BY it. Licence names that
    are not SPDX ids (Debian's `GPL-2`, `Expat`, ...) become `LicenseRef-` ids with their text kept in
    `hasExtractedLicensingInfos`, as the specification requires."""
    _wait_for_preload()
    image = inventory.image
    root_id = _spdx_id("image")
    packages = [{
        "SPDXID": root_id, "name": image.name, "versionInfo": image.tag or image.digest or "",
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False, "primaryPackagePurpose": "CONTAINER",
    }]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": root_id}]
    if inventory.os:
        os_id = _spdx_id("os")
        packages.append({"SPDXID": os_id, "name": inventory.os.family, "versionInfo": inventory.os.version,
                         "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
                         "primaryPackagePurpose": "OPERATING_SYSTEM"})
        relationships.append({"spdxElementId": root_id, "relationshipType": "CONTAINS", "relatedSpdxElement": os_id})
    refs = _LicenseRefs()
    ids = [_spdx_id(f"pkg-{index}-{package.type}-{package.name}-{package.version}")
           for index, package in enumerate(inventory.packages)]
    for index, package in enumerate(inventory.packages):
        pid = ids[index]
        entry: dict[str, Any] = {"SPDXID": pid, "name": package.name, "versionInfo": package.version,
                       "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
                       "licenseConcluded": "NOASSERTION",
                       "licenseDeclared": refs.expression(package.licenses)}
        if package.source_name and package.type in OS_PACKAGE_TYPES:
            entry["sourceInfo"] = f"built package from: {package.source_name} {package.source_version or ''}".strip()
        if package.purl:
            entry["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                      "referenceLocator": package.purl}]
        if package.path or package.layer_digest:
            entry["comment"] = f"path: {package.path or ''}; layer: {package.layer_digest or ''}"
        packages.append(entry)
        relationships.append({"spdxElementId": root_id, "relationshipType": "CONTAINS", "relatedSpdxElement": pid})
    graph = inventory_graph(inventory)  # the CycloneDX writer's edges, as DEPENDS_ON
    edges = [(ids[index], ids[target]) for index, targets in graph.items() for target in targets]
    if inventory.os:
        edges += [(_spdx_id("os"), ids[index]) for index in graph_roots(inventory, graph)[0]]
    relationships += [{"spdxElementId": a, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": b}
                      for a, b in edges]
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{image.name}:{image.tag}" if image.tag else image.name,
        "documentNamespace": f"https://hullscan.invalid/spdx/{_urn_uuid4()[9:]}",
        "creationInfo": {"created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "creators": [f"Tool: hullscan-{__version__}"]},
        "packages": packages, "relationships": relationships,
    }
    if refs.extracted:
        doc["hasExtractedLicensingInfos"] = refs.extracted
    return json.dumps(doc, indent=2)


_LICENSE_REF_CHARS = re.compile(r"[^A-Za-z0-9.\-]+")
_OPERATOR = re.compile(r"\b(?:and|or|with)\b", re.IGNORECASE)


def _upper_operators(text: str) -> bool:
    """SPDX expression operators are upper case only."""
    return all(op in ("AND", "OR", "WITH") for op in _OPERATOR.findall(text))


class _LicenseRefs:
    """Licence texts of one document as SPDX license expressions: an SPDX id (case fixed) or a valid SPDX
    expression where the text is one, else one `LicenseRef-<text>` per distinct text, listed once in
    `extracted`."""

    def __init__(self) -> None:
        self.extracted: list[dict[str, str]] = []
        self._by_text: dict[str, str] = {}
        self._taken: set[str] = set()

    def expression(self, licenses: list[str]) -> str:
        terms: list[str] = []
        for text in licenses:
            text = text.strip()[:500]
            if text:
                term = self._term(text)
                if term not in terms:
                    terms.append(term)
        if len(terms) > 1:
            terms = [f"({term})" if " " in term else term for term in terms]
        return " AND ".join(terms) if terms else "NOASSERTION"

    def _term(self, text: str) -> str:
        from cyclonedx.spdx import fixup_id, is_expression

        spdx_id = fixup_id(text)
        if spdx_id is not None:
            return spdx_id
        if " " in text and _upper_operators(text) and is_expression(text):  # `MIT OR Apache-2.0`: known ids
            return text
        if text not in self._by_text:
            base = "LicenseRef-" + (_LICENSE_REF_CHARS.sub("-", text).strip("-.")[:64] or "unnamed")
            ref, n = base, 1
            while ref.lower() in self._taken:  # two texts that sanitise alike keep distinct ids
                n += 1
                ref = f"{base}-{n}"
            self._taken.add(ref.lower())
            self._by_text[text] = ref
            self.extracted.append({"licenseId": ref, "extractedText": text, "name": text[:200]})
        return self._by_text[text]


def render_table(inventory: Inventory, console: Console | None = None) -> None:
    """Human-readable table (rich) on `console` (default: stdout)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    title = f"{inventory.image.name}" + (f":{inventory.image.tag}" if inventory.image.tag else "")
    if inventory.os:
        title += f"  ({inventory.os.family} {inventory.os.version})"
    table = Table(title=title)
    for column in ("NAME", "VERSION", "TYPE", "SOURCE", "PATH"):
        table.add_column(column)
    for package in sorted(inventory.packages, key=lambda p: (p.type, p.name.lower(), p.version)):
        source = package.source_name if package.source_name and package.source_name != package.name else ""
        table.add_row(package.name, package.version, package.type, source, package.path or "")
    console.print(table)
    for warning in inventory.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
