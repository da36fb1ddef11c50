"""Red Hat content manifests: `/root/buildinfo/content_manifests/*.json`, written into every Red Hat built image
(UBI included) per layer, name the content sets (RPM repositories, `rhel-9-for-x86_64-baseos-rpms`) the image's
packages came from. Matching uses them to apply only the advisories of those repositories' products.

The files travel with the release files (osdetect.OS_FILES, same size cap); the content sets end up as the rpm
packages' `redhat_content_sets` property (space-separated), so they survive SBOM, ingestion and re-matching with
the package record."""

from __future__ import annotations

import json
import re

from hullscan.scanner.inventory import Package

CONTENT_MANIFESTS = "/root/buildinfo/content_manifests/"
PROPERTY = "redhat_content_sets"
MAX_SETS = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")


def is_content_manifest(path: str) -> bool:
    """A file directly in the content manifest directory with a .json name."""
    rest = path[len(CONTENT_MANIFESTS):] if path.startswith(CONTENT_MANIFESTS) else ""
    return rest.endswith(".json") and "/" not in rest


def content_sets(files: dict[str, str], warnings: list[str]) -> list[str]:
    """The sorted content sets every manifest among `files` names; unreadable manifests are named in a warning."""
    found: set[str] = set()
    for path in sorted(p for p in files if is_content_manifest(p)):
        try:
            doc = json.loads(files[path])
        except ValueError as exc:
            warnings.append(f"{path}: not a readable content manifest ({exc}); its content sets are ignored")
            continue
        sets = doc.get("content_sets") if isinstance(doc, dict) else None
        if not isinstance(sets, list):
            warnings.append(f"{path}: content manifest without a content_sets list; ignored")
            continue
        bad = [s for s in sets if not isinstance(s, str) or not _NAME.fullmatch(s)]
        if bad:
            warnings.append(f"{path}: {len(bad)} content set name(s) unreadable; ignored")
        found.update(s for s in sets if isinstance(s, str) and _NAME.fullmatch(s))
        if len(found) > MAX_SETS:
            warnings.append(f"{path}: more than {MAX_SETS} content sets; all are ignored")
            return []
    return sorted(found)


def tag_packages(packages: list[Package], sets: list[str]) -> None:
    """Every rpm package carries the image's content sets (the record codec carries package properties)."""
    if not sets:
        return
    value = " ".join(sets)
    for package in packages:
        if package.type == "rpm":
            package.properties[PROPERTY] = value
