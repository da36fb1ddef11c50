"""Validation of a registry scan's CycloneDX SBOM before anything is written.

Schema (CycloneDX 1.4-1.6, via cyclonedx-python-lib's bundled schemas) and GitLab's property rules:
`gitlab:meta:schema_version` = "1" (else no source is parsed), image name and tag required, both OS fields
or neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MAX_SBOM_BYTES = 64 * 1024 * 1024
SCHEMA_VERSIONS = ("1.4", "1.5", "1.6")
PREFIXES = {
    "container_scanning_for_registry": "gitlab:container_scanning_for_registry:",
    "container_scanning": "gitlab:container_scanning:",
}


class InvalidSbom(ValueError):
    """The SBOM cannot be ingested; the message says why and names the rule."""


@dataclass(frozen=True)
class SbomSourceInfo:
    source_type: str  # container_scanning_for_registry | container_scanning
    image_name: str
    image_tag: str
    os_name: str | None
    os_version: str | None

    @property
    def operating_system(self) -> str | None:
        return f"{self.os_name} {self.os_version}" if self.os_name else None


@lru_cache(maxsize=None)
def _validator(spec: str):  # type: ignore[no-untyped-def]
    """One compiled schema validator per CycloneDX version, from cyclonedx-python-lib's bundled schemas.
    Imported late: jsonschema costs seconds of start-up that a server only pays at its first SBOM.
    jsonschema checks `uniqueItems` pairwise (quadratic: minutes for 5,000 components); this validator
    checks it by hashing each item's canonical JSON instead, with the same verdict for JSON data."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from jsonschema import ValidationError, validators

    def unique_items(validator, unique, instance, schema):  # type: ignore[no-untyped-def]
        if not unique or not validator.is_type(instance, "array"):
            return
        seen: set[str] = set()
        for item in instance:
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                yield ValidationError(f"array has non-unique elements: {key[:200]}")
                return
            seen.add(key)

    inner = JsonStrictValidator(SchemaVersion.from_version(spec))._validator  # the library's compiled Draft 7
    fast = validators.extend(type(inner), {"uniqueItems": unique_items})
    return fast(inner.schema, registry=inner._registry, format_checker=inner.format_checker)


def warm_up() -> None:
    for spec in SCHEMA_VERSIONS:
        _validator(spec)


def validate_sbom(path: Path) -> SbomSourceInfo:
    """Raise InvalidSbom unless `path` is a CycloneDX JSON SBOM GitLab would ingest as an image source."""
    size = path.stat().st_size
    if size > MAX_SBOM_BYTES:
        raise InvalidSbom(f"SBOM is {size} bytes, more than the {MAX_SBOM_BYTES} allowed")
    try:
        with path.open("rb") as fh:
            doc = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSbom(f"SBOM is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InvalidSbom("not a CycloneDX SBOM: bomFormat must be 'CycloneDX'")
    spec = doc.get("specVersion")
    if spec not in SCHEMA_VERSIONS:
        raise InvalidSbom(f"unsupported CycloneDX specVersion {spec!r}; expected one of {', '.join(SCHEMA_VERSIONS)}")
    error = next(_validator(spec).iter_errors(doc), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "document"
        raise InvalidSbom(f"SBOM does not validate against the CycloneDX {spec} schema at {where}: "
                          f"{error.message[:500]}")
    props = {p.get("name"): p.get("value") for p in (doc.get("metadata") or {}).get("properties") or []
             if isinstance(p, dict)}
    if props.get("gitlab:meta:schema_version") != "1":
        raise InvalidSbom("metadata property gitlab:meta:schema_version must be \"1\"")
    for source_type, prefix in PREFIXES.items():
        name, tag = props.get(prefix + "image:name"), props.get(prefix + "image:tag")
        os_name, os_version = props.get(prefix + "operating_system:name"), props.get(prefix + "operating_system:version")
        if not any((name, tag, os_name, os_version)):
            continue
        if not name or not tag:
            raise InvalidSbom(f"{prefix}image:name and {prefix}image:tag are both required")
        if bool(os_name) != bool(os_version):
            raise InvalidSbom(f"{prefix}operating_system:name and :version must be given together")
        return SbomSourceInfo(source_type, name, tag, os_name or None, os_version or None)
    raise InvalidSbom("no gitlab:container_scanning_for_registry:image:* (or gitlab:container_scanning:*) properties")
