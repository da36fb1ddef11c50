"""PHP Composer packages: `vendor/composer/installed.json` (v1 list, v2 object) and `composer.lock`."""

from __future__ import annotations

import json
import posixpath

from packageurl import PackageURL

from hullscan.scanner.analyzers.base import PerFileAnalyzer
from hullscan.scanner.inventory import Package


def parse_composer(data: bytes, path: str) -> list[Package]:
    doc = json.loads(data)
    if isinstance(doc, list):
        entries = doc
    elif isinstance(doc, dict):
        entries = [*(doc.get("packages") or []), *(doc.get("packages-dev") or [])]
    else:
        raise ValueError("unexpected JSON shape")
    found = []
    for item in entries:
        if not isinstance(item, dict):
            continue
        name, version = item.get("name"), item.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            continue
        namespace, _, short = name.rpartition("/")
        licenses = [x for x in item.get("license") or [] if isinstance(x, str)]
        purl = PackageURL(type="composer", namespace=namespace or None, name=short, version=version).to_string()
        found.append(Package(name=name, version=version, type="composer", purl=purl, licenses=licenses, path=path))
    return found


def _wants(path: str, size: int, mode: int) -> bool:
    return path.endswith("/vendor/composer/installed.json") or posixpath.basename(path) == "composer.lock"


COMPOSER = PerFileAnalyzer("composer", 1, _wants, lambda entry, ctx: parse_composer(entry.read(), entry.path))
