"""The purl fields matching needs, read fast: plain purls (no percent-escapes) by one regex, since
packageurl-python costs ~150 us a purl and SBOMs and inventories hold hundreds of thousands; anything
else (escapes, odd forms) goes through packageurl-python itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_SIMPLE = re.compile(r"^pkg:([a-zA-Z][a-zA-Z0-9.+-]*)/([^@?#]+?)(?:@([^?#]+))?(?:\?([^#]*))?(?:#(.*))?$")


@dataclass(frozen=True)
class Purl:
    type: str
    namespace: str | None
    name: str
    version: str | None
    qualifiers: dict[str, str]
    subpath: str | None = None


@lru_cache(maxsize=65536)
def parse_purl(text: str) -> Purl | None:
    """The purl's fields, or None when `text` is not a purl."""
    m = _SIMPLE.match(text) if "%" not in text else None
    if m:
        ptype, path, version, query, subpath = m.groups()
        namespace, _, name = path.strip("/").rpartition("/")
        if not name:
            return None
        qualifiers: dict[str, str] = {}
        if query:
            for pair in query.split("&"):
                key, sep, value = pair.partition("=")
                if sep and key and value:
                    qualifiers[key.lower()] = value
        return Purl(ptype.lower(), namespace or None, name, version, qualifiers,
                    (subpath.strip("/") or None) if subpath else None)
    from packageurl import PackageURL  # only odd forms pay for the library's import

    try:
        purl = PackageURL.from_string(text)
    except ValueError:
        return None
    quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return Purl(purl.type, purl.namespace or None, purl.name, purl.version,
                {str(k): str(v) for k, v in quals.items()}, purl.subpath or None)


_GO_MAJOR = re.compile(r"^v[2-9]\d*$|^v1\d+$")


def go_module_path(purl: Purl, component_name: str | None = None) -> str:
    """The full Go module path of a golang purl, whichever form the producer wrote: namespace/name as purl-spec
    says, plus a major-version subpath (`#v5`, as syft writes `github.com/go-git/go-git/v5`). A component name
    that extends namespace/name by that subpath, or names the module outright, is taken as it is."""
    base = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    if component_name and component_name != base and component_name.startswith(base + "/"):
        return component_name
    if purl.subpath and _GO_MAJOR.match(purl.subpath):
        return f"{base}/{purl.subpath}"
    return base
