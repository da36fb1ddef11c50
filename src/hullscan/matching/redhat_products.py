"""Which Red Hat products an image's packages come from, so a UBI/RHEL image matches only the CSAF VEX
statements of its repositories' products (`enterprise_linux:9::baseos`, `rhel_eus:9.4::baseos`,
`enterprise_linux:9::sap`) and not those of every product of its major release.

The image names its repositories (content sets, scanner.analyzers.redhat_content). Each maps to product CPEs
through Red Hat's repository-to-cpe.json, synced into the advisory store (`redhat`/`redhat-cpe` sources,
hullscan.advisories.parsers.redhat_repositories) and asked through the store's `repository_cpes`. Before that
map was ever synced, a built-in rule maps the main repositories (`rhel-9-for-x86_64-baseos-rpms` →
`cpe:/o:redhat:enterprise_linux:9::baseos`, appstream, codeready-builder) as the map does. An image with a
content set neither knows, or with none, keeps every product of its release, and the scan says so. A CSAF CPE
applies to an image CPE it equals or is a field prefix of (`cpe:/o:redhat:enterprise_linux:9` covers
`...:9::baseos`); the part (`o`/`a`) is not compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from hullscan.ecosystems import normalize_ecosystem
from hullscan.scanner.inventory import Inventory

PROPERTY = "redhat_content_sets"  # scanner.analyzers.redhat_content.PROPERTY (the scanner must not be imported)
_CONTENT_SET = re.compile(r"(?:rhel|ubi)-(?P<major>\d+)-for-[a-z0-9_]+-(?P<repo>[a-z0-9-]+?)-rpms")
_EDITIONS = {"baseos": "baseos", "appstream": "appstream", "codeready-builder": "crb"}


def _key(cpe: str) -> str:
    """`cpe:/o:redhat:enterprise_linux:9::baseos` → `redhat:enterprise_linux:9::baseos`."""
    return cpe.split(":", 2)[2] if cpe.startswith("cpe:/") and cpe.count(":") >= 2 else cpe


def content_set_cpes(name: str) -> str | None:
    """The product CPE key of a main RHEL content set, None when not certain: the fallback before Red Hat's
    map is synced."""
    m = _CONTENT_SET.fullmatch(name)
    edition = _EDITIONS.get(m.group("repo")) if m else None
    return f"redhat:enterprise_linux:{m.group('major')}::{edition}" if m and edition else None


RepositoryMap = Callable[[Iterable[str]], "dict[str, tuple[str, ...]] | None"]  # AdvisoryStore.repository_cpes


def image_products(inventory: Inventory, ecosystem: str | None, warnings: list[str],
                   repository_cpes: RepositoryMap | None = None) -> frozenset[str] | None:
    """The CPE keys of a Red Hat image's content sets, through Red Hat's map (`repository_cpes`, None when
    the store has none) and the built-in rule for the main repositories; None (every product applies, a
    warning says why) when the image names none or one neither maps. None without a warning for other
    distributions."""
    if not ecosystem or not ecosystem.startswith("Red Hat:"):
        return None
    rpms = [p for p in inventory.packages if p.type == "rpm"]
    if not rpms:
        return None
    sets = {s for p in rpms for s in p.properties.get(PROPERTY, "").split()}
    if not sets:
        warnings.append(f"{ecosystem}: no content manifest (/root/buildinfo/content_manifests) names the image's "
                        "repositories, so advisories of every Red Hat product of the release apply")
        return None
    mapped = repository_cpes(sorted(sets)) if repository_cpes is not None else None
    keys: set[str] = set()
    unknown: list[str] = []
    for name in sorted(sets):
        cpes = (mapped or {}).get(name)
        if cpes:
            keys.update(_key(c) for c in cpes)
        elif (key := content_set_cpes(name)) is not None:
            keys.add(key)
        else:
            unknown.append(name)
    if unknown:
        why = "" if mapped is not None else (" (Red Hat's repository-to-CPE map was never synced: "
                                             "`hullscan advisories sync --source redhat-cpe`)")
        warnings.append(f"{ecosystem}: content set(s) {', '.join(unknown[:5])} map to no known product{why}, so "
                        "advisories of every Red Hat product of the release apply")
        return None
    return frozenset(keys)


def stream_ecosystems(products: frozenset[str], ecosystem: str, os_version: str | None) -> list[str]:
    """The minor-release streams (EUS, E4S, AUS, ...) of the image's products at the image's own minor release,
    as the store keys them (`redhat:rhel_eus:9.4::baseos` on a 9.4 image → `Red Hat:9.4+eus`): their statements
    are stored apart from the main release's, and are the ones an image built on those repositories gets."""
    minor = ".".join((os_version or "").split(".")[:2])
    out: set[str] = set()
    for product in products:
        parts = product.split(":")
        if len(parts) < 3 or parts[0] != "redhat" or parts[2] != minor or not minor:
            continue
        stream = normalize_ecosystem(f"Red Hat:{parts[1]}:{parts[2]}")
        if stream != ecosystem and "+" in stream:
            out.add(stream)
    return sorted(out)


_STREAM = re.compile(r"Red Hat:(?P<major>\d+)\.\d+\+[a-z0-9]+")


def main_release(ecosystem: str) -> str | None:
    """`Red Hat:9.4+eus` → `Red Hat:9`: images of a minor-release stream are stored under their main release,
    so a change to the stream's statements re-matches those (`stream_ecosystems` is the other direction)."""
    m = _STREAM.fullmatch(ecosystem)
    return f"Red Hat:{m.group('major')}" if m else None


def applies(cpes: Iterable[str], products: frozenset[str]) -> bool:
    """Whether a statement made for `cpes` concerns an image of `products`."""
    for cpe in cpes:
        key = _key(cpe)
        for product in products:
            if product == key or product.startswith(key + ":"):
                return True
    return False
