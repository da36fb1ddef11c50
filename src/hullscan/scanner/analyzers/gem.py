"""Ruby gems: installed `specifications/*.gemspec` and `Gemfile.lock` (GEM specs)."""

from __future__ import annotations

import posixpath
import re

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, FileEntry, PerFileAnalyzer
from hullscan.scanner.inventory import Package

# horizontal whitespace only and no lazy-then-trailing-space pattern: `\s*` at a line start spans blank lines
# and made a file of newlines quadratic (40,000 newlines: 17 s)
_FIELD = re.compile(r"""^[ \t]*\w+\.(name|version|licenses?)[ \t]*=(.*)$""", re.M)
_STRING = re.compile(r"""["']([^"']*)["']""")
_LOCK_SPEC = re.compile(r"^    ([^\s(]+) \(([^)]+)\)$")


def _gem(name: str, version: str, path: str, licenses: list[str] | None = None) -> Package:
    purl = PackageURL(type="gem", name=name, version=version).to_string()
    return Package(name=name, version=version, type="gem", purl=purl, licenses=licenses or [], path=path)


def parse_gemspec(text: str, path: str) -> Package | None:
    values: dict[str, list[str]] = {}
    for key, expr in _FIELD.findall(text):
        values.setdefault(key.rstrip("s") if key.startswith("license") else key, _STRING.findall(expr))
    name = (values.get("name") or [""])[0]
    version = (values.get("version") or [""])[0]
    if not name or not version:
        return None
    return _gem(name, version, path, values.get("license", []))


def parse_gemfile_lock(text: str, path: str) -> list[Package]:
    found, in_specs = [], False
    for line in text.splitlines():
        if line.strip() == "specs:":
            in_specs = True
            continue
        if not line.startswith(" "):
            in_specs = False
        if in_specs and (match := _LOCK_SPEC.match(line)):
            version = match[2].split("-")[0] if re.search(r"-(x86|arm|aarch|java|universal)", match[2]) else match[2]
            found.append(_gem(match[1], version, path))
    return found


def _wants(path: str, size: int, mode: int) -> bool:
    return (path.endswith(".gemspec") and "/specifications/" in path) or posixpath.basename(path) == "Gemfile.lock"


def _parse(entry: FileEntry, ctx: AnalysisContext) -> list[Package]:
    text = entry.read().decode("utf-8", "replace")
    if entry.path.endswith("Gemfile.lock"):
        return parse_gemfile_lock(text, entry.path)
    package = parse_gemspec(text, entry.path)
    return [package] if package else []


GEM = PerFileAnalyzer("gem", 2, _wants, _parse)
