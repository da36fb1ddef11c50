"""Matching: inventory x advisory store -> findings, SBOM reading, report writers, VEX suppression.

Service entry points for other parts (ingestion, continuous re-matching, the CLI):
`match_inventory(inventory, store) -> list[Finding]`, `match(...) -> MatchResult` (with counts) and
`read_sbom(path) -> Inventory`. Loaded lazily: the CLI imports this package for every command.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hullscan.matching.engine import MatchResult, MatchStats, match, match_inventory
    from hullscan.matching.finding import Finding, FindingPackage
    from hullscan.matching.sbom import SbomError, read_sbom

_EXPORTS = {
    "MatchResult": "engine", "MatchStats": "engine", "match": "engine", "match_inventory": "engine",
    "Finding": "finding", "FindingPackage": "finding", "SbomError": "sbom", "read_sbom": "sbom",
}
__all__ = ["Finding", "FindingPackage", "MatchResult", "MatchStats", "SbomError", "match", "match_inventory", "read_sbom"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"hullscan.matching.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
