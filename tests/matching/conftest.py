"""Fixtures of the matching tests: real inventories from the scanner, a small in-process store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hullscan.advisories.types import Advisory, AffectedPackage, AffectedRange, RangeEvent
from hullscan.scanner.inventory import Inventory
from tests.conftest import image_layout
from tests.matching.memstore import MemoryStore


@pytest.fixture(scope="session")
def app_inventory() -> Inventory:
    """The debian-python-app test image analysed by hullscan's own scanner (a real OCI layout)."""
    from hullscan.scanner import analyze

    return analyze(f"oci-dir:{image_layout('debian-python-app')}")


def _rng(*events: tuple[str, str]) -> list[AffectedRange]:
    return [AffectedRange("ECOSYSTEM", tuple(RangeEvent(k, v) for k, v in events))]


@pytest.fixture
def small_store() -> MemoryStore:
    """A handful of advisories about packages of the app image, covering every field reports render."""
    store = MemoryStore()
    store.add(
        Advisory(
            id="PYSEC-2019-132",
            source="osv",
            aliases=["CVE-2019-11324", "GHSA-mh33-7rrq-662w"],
            summary="urllib3 mishandles certain certificates",
            details="The urllib3 library before 1.24.2 for Python mishandles certain cases where the desired set of CA certificates is different from the OS store.",
            cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N",
            cvss_score=7.5,
            severity="high",
            references=["https://nvd.nist.gov/vuln/detail/CVE-2019-11324"],
            published=datetime(2019, 4, 18, tzinfo=UTC),
        ),
        AffectedPackage("PYSEC-2019-132", "PyPI", "urllib3", ranges=_rng(("introduced", "0"), ("fixed", "1.24.2"))),
    )
    store.add(
        Advisory(
            id="GHSA-mh33-7rrq-662w",
            source="ghsa",
            aliases=["CVE-2019-11324"],
            summary="High severity vulnerability that affects urllib3",
            references=["https://github.com/advisories/GHSA-mh33-7rrq-662w"],
            known_exploited=True,
            known_exploited_date="2024-01-01",
            epss_score=0.02,
            epss_percentile=0.8,
        ),
        AffectedPackage("GHSA-mh33-7rrq-662w", "PyPI", "urllib3", ranges=_rng(("introduced", "0"), ("fixed", "1.24.2"))),
    )
    store.add(
        Advisory(id="CVE-2023-45853", source="debian", summary=None, cvss_vector="AV:N/AC:L/Au:N/C:P/I:P/A:P"),
        AffectedPackage("CVE-2023-45853", "Debian:12", "zlib", fix_state="wont_fix", severity="critical"),
    )
    store.add(
        Advisory(id="GHSA-p6mc-m468-83gw", source="ghsa", aliases=["CVE-2020-8203"], summary="Prototype pollution in lodash", severity="high"),
        AffectedPackage("GHSA-p6mc-m468-83gw", "npm", "lodash", ranges=_rng(("introduced", "0"), ("fixed", "4.17.19"))),
    )
    store.add(
        Advisory(id="CVE-2099-0001", source="debian", summary="not affected row"),
        AffectedPackage("CVE-2099-0001", "Debian:12", "glibc", fix_state="not_affected"),
    )
    return store
