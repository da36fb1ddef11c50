"""The purl fields matching needs, read fast: plain purls (no percent-escapes) by one regex, since
packageurl-python costs ~150 us a purl and SBOMs and inventories hold hundreds of thousands; anything
else (escapes, odd forms) goes through packageurl-python itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from packageurl import PackageURL

_SIMPLE = re.compile(r"^pkg:([a-zA-Z][a-zA-Z0-9.+-]*)/([^@?#]+?)(?:@([^?#]+))?(?:\?([^#]*))?(?:#.*)?$")


@dataclass(frozen=True)
class Purl:
    type: str
    namespace: str | None
    name: str
    version: str | None
    qualifiers: dict[str, str]


@lru_cache(maxsize=65536)
def parse_purl(text: str) -> Purl | None:
    m = _SIMPLE.match(text) if "%" not in text else None
    if m:
        ptype, path, version, query = m.groups()
        namespace, _, name = path.strip("/").rpartition("/")
        if not name:
            return None
        qualifiers: dict[str, str] = {}
        if query:
            for pair in query.split("&"):
                key, sep, value = pair.partition("=")
                if sep and key and value:
                    qualifiers[key.lower()] = value
        return Purl(ptype.lower(), namespace or None, name, version, qualifiers)
    try:
        purl = PackageURL.from_string(text)
    except ValueError:
        return None
    quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return Purl(purl.type, purl.namespace or None, purl.name, purl.version, {str(k): str(v) for k, v in quals.items()})
