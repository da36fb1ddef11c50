"""Matching: inventory x advisory store -> findings, SBOM reading, report writers, VEX suppression.

Service entry points for other parts (ingestion, continuous re-matching, the CLI):
`match_inventory(inventory, store) -> list[Finding]`, `match(...) -> MatchResult` (with counts) and
`read_sbom(path) -> Inventory`.
"""

from hullscan.matching.engine import MatchResult, MatchStats, match, match_inventory
from hullscan.matching.finding import Finding, FindingPackage
from hullscan.matching.sbom import SbomError, read_sbom

__all__ = [
    "Finding",
    "FindingPackage",
    "MatchResult",
    "MatchStats",
    "SbomError",
    "match",
    "match_inventory",
    "read_sbom",
]
