""".NET packages from `*.deps.json` (the `libraries` map, NuGet packages only)."""

from __future__ import annotations

import json

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import PerFileAnalyzer
from hullscan.scanner.inventory import Package


def parse_deps_json(data: bytes, path: str) -> list[Package]:
    doc = json.loads(data)
    libraries = doc.get("libraries") if isinstance(doc, dict) else None
    found = []
    for key, meta in (libraries or {}).items():
        name, _, version = str(key).partition("/")
        if isinstance(meta, dict) and meta.get("type") == "package" and name and version:
            purl = PackageURL(type="nuget", name=name, version=version).to_string()
            found.append(Package(name=name, version=version, type="nuget", purl=purl, path=path))
    return found


DOTNET = PerFileAnalyzer("dotnet", 1, lambda path, size, mode: path.endswith(".deps.json"),
                         lambda entry, ctx: parse_deps_json(entry.read(), entry.path))
