"""Validation of a registry scan's CycloneDX SBOM before anything is written.

Schema (CycloneDX 1.4-1.6, via cyclonedx-python-lib's bundled schemas) and GitLab's property rules:
`gitlab:meta:schema_version` = "1" (else no source is parsed), image name and tag required, both OS fields
or neither.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from hullscan.scanner.sbom import INDEX_DIGEST_PROPERTY, PLATFORM_PROPERTY
from hullscan.vulnerabilities.fingerprints import PLATFORM_SUFFIX, platform_image_name

MAX_SBOM_BYTES = 64 * 1024 * 1024
SCHEMA_VERSIONS = ("1.4", "1.5", "1.6")
log = logging.getLogger(__name__)
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
    platform: str | None = None  # one platform of a multi-platform index: `image_name` carries it too

    @property
    def operating_system(self) -> str | None:
        return f"{self.os_name} {self.os_version}" if self.os_name else None


@lru_cache(maxsize=None)
def _validator(spec: str):  # type: ignore[no-untyped-def]
    """The reference validator: jsonschema's Draft 7 over cyclonedx-python-lib's bundled schemas, with its format
    checker (iri-reference answered by `IRI_REFERENCE` first, which accepts exactly what that check accepts,
    so a URL-heavy SBOM is not minutes of Earley parsing). Its verdict and message are what `validate_sbom`
    reports; it runs only when the fast validator rejects (see `_fast_validator`). Imported late: jsonschema
    costs seconds of start-up.
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
    checker = copy.copy(inner.format_checker)  # the library's checks, iri-reference answered faster (same verdicts)
    checker.checkers = dict(checker.checkers)
    if "iri-reference" in checker.checkers:
        checker.checkers["iri-reference"] = (_iri_reference_checker(inner.format_checker), ())
    return fast(inner.schema, registry=inner._registry, format_checker=checker)


def _format_names(node: object, into: set[str]) -> set[str]:
    if isinstance(node, dict):
        fmt = node.get("format")
        if isinstance(fmt, str):
            into.add(fmt)
        for value in node.values():
            _format_names(value, into)
    elif isinstance(node, list):
        for value in node:
            _format_names(value, into)
    return into


# RFC 3987 IRI-reference as rfc3987_syntax's grammar (syntax_rfc3987.lark) states it, rule by rule, as one regular
# expression: the grammar has no recursion, so a full match accepts exactly the strings its Earley parse accepts,
# in microseconds instead of ~50 ms each (an SBOM has an IRI per external reference). Used only to accept
# early; a string it does not match is still judged by jsonschema's own checker (see `_iri_reference_checker`).
# tests/ingestion/test_perf_validation.py compares the two on real URLs and generated near misses.
_UNRESERVED = r"A-Za-z0-9\-._~"
_UCS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_IPCHAR = rf"(?:[{_UNRESERVED}{_UCS}{_SUB_DELIMS}:@]|{_PCT})"
_SEGMENT = rf"{_IPCHAR}*"
_SEGMENT_NZ = rf"{_IPCHAR}+"
_SEGMENT_NZ_NC = rf"(?:[{_UNRESERVED}{_UCS}{_SUB_DELIMS}@]|{_PCT})+"
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = rf"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_PATH_NOSCHEME = rf"{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*"
_PATH_ROOTLESS = rf"{_SEGMENT_NZ}(?:/{_SEGMENT})*"
_QUERY = rf"(?:[{_UNRESERVED}{_UCS}{_SUB_DELIMS}:@\ue000-\uf8ff/?]|{_PCT})*"
_FRAGMENT = rf"(?:[{_UNRESERVED}{_UCS}{_SUB_DELIMS}:@/?]|{_PCT})*"
_DEC_OCTET = r"(?:[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
_IPV4 = rf"{_DEC_OCTET}\.{_DEC_OCTET}\.{_DEC_OCTET}\.{_DEC_OCTET}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join([  # the grammar's nine forms, in its order (it has no "::" alone, nor "::1")
    rf"(?:{_H16}:){{6}}{_LS32}",
    rf"::(?:{_H16}:){{5}}{_LS32}",
    rf"{_H16}::(?:{_H16}:){{4}}{_LS32}",
    rf"{_H16}:{_H16}::(?:{_H16}:){{3}}{_LS32}",
    rf"(?:{_H16}:){{2}}{_H16}::(?:{_H16}:){{2}}{_LS32}",
    rf"(?:{_H16}:){{3}}{_H16}::{_H16}:{_LS32}",
    rf"(?:{_H16}:){{4}}{_H16}::{_LS32}",
    rf"(?:{_H16}:){{5}}{_H16}::{_H16}",
    rf"(?:{_H16}:){{6}}{_H16}::",
])
_IPVFUTURE = rf"v[0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+"
_HOST = rf"(?:\[(?:{_IPV6}|{_IPVFUTURE})\]|{_IPV4}|(?:[{_UNRESERVED}{_UCS}{_SUB_DELIMS}]|{_PCT})*)"
_USERINFO = rf"(?:[{_UNRESERVED}{_UCS}{_SUB_DELIMS}:]|{_PCT})*"
_AUTHORITY = rf"(?:{_USERINFO}@)?{_HOST}(?::[0-9]*)?"
_TAIL = rf"(?:\?{_QUERY})?(?:#{_FRAGMENT})?"
_IRI = rf"[A-Za-z][A-Za-z0-9+\-.]*:(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS}|){_TAIL}"
_IRELATIVE_REF = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME}|){_TAIL}"
IRI_REFERENCE = re.compile(rf"(?:{_IRI}|{_IRELATIVE_REF})")


def _iri_reference_checker(checker):  # type: ignore[no-untyped-def]
    """jsonschema's iri-reference check, answered by `IRI_REFERENCE` when it matches. Only when jsonschema checks
    with rfc3987_syntax (whose grammar the expression transcribes); any other checker is used as it is."""
    import jsonschema._format as formats

    reference = partial(checker.conforms, format="iri-reference")
    try:
        from rfc3987_syntax import is_valid_syntax
    except ImportError:
        return reference
    if getattr(formats, "_rfc3987_is_valid_syntax", None) is not is_valid_syntax:
        return reference

    def check(value: object) -> bool:
        return (isinstance(value, str) and IRI_REFERENCE.fullmatch(value) is not None) or reference(value)

    return check


@lru_cache(maxsize=None)
def _fast_validator(spec: str):  # type: ignore[no-untyped-def]
    """A compiled (Rust) validator of the very same schema documents: ~200x faster than jsonschema on a
    5,000-component SBOM. Its formats are checked by the reference's own format checker (same functions, same
    verdicts); it never fetches a schema (offline, every $ref resolves in the bundled registry).
    It may be stricter than the reference (regex `$` does not match before a final newline, NaN is not a number,
    strings with lone surrogates do not convert), never laxer: an SBOM it accepts, the reference accepts (proved
    by tests/ingestion/test_perf_validation.py on real and mutated SBOMs). So it decides acceptance alone, and
    a rejection is confirmed, and worded, by the reference."""
    import jsonschema_rs

    reference = _validator(spec)
    resources = [(uri, reference._registry[uri].contents) for uri in reference._registry]
    names = _format_names(reference.schema, set())
    for _, contents in resources:
        _format_names(contents, names)
    checker = reference.format_checker
    formats: dict[str, Callable[..., bool]] = {name: partial(checker.conforms, format=name) for name in sorted(names)}
    return jsonschema_rs.Draft7Validator(
        reference.schema, registry=jsonschema_rs.Registry(resources), formats=formats, validate_formats=True,
        offline=True)


def warm_up() -> None:
    """Compile the validator of the spec hullscan's scanner writes; older specs compile on first use (each costs
    ~12 MiB resident, which a registry-only server need not carry)."""
    _fast_validator(SCHEMA_VERSIONS[-1])


def schema_error(spec: str, doc: object) -> str | None:
    """Why `doc` does not validate against the CycloneDX `spec` schema (None when it does): the reference
    verdict, asked only when the fast validator rejects (or cannot take the document)."""
    try:
        if _fast_validator(spec).is_valid(doc):
            return None
    except Exception as exc:  # noqa: BLE001 - e.g. a string the Rust side cannot hold; the reference decides
        log.debug("fast SBOM validation could not run (%s); using the reference validator", exc)
    error = next(_validator(spec).iter_errors(doc), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "document"
    return f"SBOM does not validate against the CycloneDX {spec} schema at {where}: {error.message[:500]}"


def validate_sbom(path: Path, *, image: tuple[str, str] | None = None) -> SbomSourceInfo:
    """Raise InvalidSbom unless `path` is a CycloneDX JSON SBOM GitLab would ingest as an image source.

    `image` (name, tag) is given when the registry itself says which image the SBOM describes (an SBOM pushed
    as a referrer): the schema is checked the same, GitLab's metadata properties are then not needed (nor
    believed)."""
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
    error = schema_error(spec, doc)
    if error is not None:
        raise InvalidSbom(error)
    if image is not None:
        return SbomSourceInfo("container_scanning_for_registry", image[0], image[1], None, None)
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
        platform = None
        if props.get(INDEX_DIGEST_PROPERTY):  # the runner's SBOM of one platform of a multi-platform index
            platform = props.get(PLATFORM_PROPERTY)
            if not isinstance(platform, str) or not PLATFORM_SUFFIX.fullmatch(f" [{platform}]"):
                raise InvalidSbom(f"{PLATFORM_PROPERTY} must be os/architecture[/variant] beside "
                                  f"{INDEX_DIGEST_PROPERTY}")
            name = platform_image_name(name, platform)
            if len(name) > 512:
                raise InvalidSbom("image name with its platform is longer than 512 characters")
        return SbomSourceInfo(source_type, name, tag, os_name or None, os_version or None, platform)
    raise InvalidSbom("no gitlab:container_scanning_for_registry:image:* (or gitlab:container_scanning:*) properties")
