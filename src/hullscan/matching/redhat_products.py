"""Which Red Hat products an image's packages come from, so a UBI/RHEL image matches only the CSAF VEX
statements of its repositories' products (`enterprise_linux:9::baseos`, `::appstream`) and not those of every
product of its major release (RHEL for SAP, High Availability, ...).

The image names its repositories (content sets, scanner.analyzers.redhat_content); a content set maps to
product CPEs the way Red Hat's repository-to-cpe.json maps the main RHEL repositories
(`rhel-9-for-x86_64-baseos-rpms` → `cpe:/o:redhat:enterprise_linux:9::baseos`). Only the repositories whose
CPE is certain are mapped here; an image with any other content set, or none, keeps every product of its
release, and the scan says so. A CSAF CPE applies to an image CPE it equals or is a field prefix of
(`cpe:/o:redhat:enterprise_linux:9` covers `...:9::baseos`); the part (`o`/`a`) is not compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hullscan.scanner.inventory import Inventory

PROPERTY = "redhat_content_sets"  # scanner.analyzers.redhat_content.PROPERTY (the scanner must not be imported)
_CONTENT_SET = re.compile(r"(?:rhel|ubi)-(?P<major>\d+)-for-[a-z0-9_]+-(?P<repo>[a-z0-9-]+?)-rpms")
_EDITIONS = {"baseos": "baseos", "appstream": "appstream", "codeready-builder": "crb"}


def _key(cpe: str) -> str:
    """`cpe:/o:redhat:enterprise_linux:9::baseos` → `redhat:enterprise_linux:9::baseos`."""
    return cpe.split(":", 2)[2] if cpe.startswith("cpe:/") and cpe.count(":") >= 2 else cpe


def content_set_cpes(name: str) -> str | None:
    """The product CPE key of a main RHEL content set, None when not certain."""
    m = _CONTENT_SET.fullmatch(name)
    edition = _EDITIONS.get(m.group("repo")) if m else None
    return f"redhat:enterprise_linux:{m.group('major')}::{edition}" if m and edition else None


def image_products(inventory: Inventory, ecosystem: str | None, warnings: list[str]) -> frozenset[str] | None:
    """The CPE keys of a Red Hat image's content sets; None (every product applies, a warning says why) when
    the image names none or one that is not mapped. None without a warning for other distributions."""
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
    keys = {s: content_set_cpes(s) for s in sorted(sets)}
    unknown = [s for s, k in keys.items() if k is None]
    if unknown:
        warnings.append(f"{ecosystem}: content set(s) {', '.join(unknown[:5])} map to no known product, so "
                        "advisories of every Red Hat product of the release apply")
        return None
    return frozenset(k for k in keys.values() if k)


def applies(cpes: Iterable[str], products: frozenset[str]) -> bool:
    """Whether a statement made for `cpes` concerns an image of `products`."""
    for cpe in cpes:
        key = _key(cpe)
        for product in products:
            if product == key or product.startswith(key + ":"):
                return True
    return False
