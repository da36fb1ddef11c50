""".NET packages from `*.deps.json` (the `libraries` map, NuGet packages only)."""

from __future__ import annotations

import json

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, warn
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


class DotnetAnalyzer:
    name = "dotnet"
    version = 1
    per_file = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.endswith(".deps.json")

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        for entry in files:
            try:
                result.packages.extend(parse_deps_json(entry.read(), entry.path))
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(warn(entry.path, exc))
        return result
