"""Version schemes: parse, compare and OSV range evaluation (`hullscan.versions.ranges`) for deb, rpm, apk,
PEP 440, semver/npm, Go, Maven, RubyGems, NuGet, Cargo and Composer. A pure library: no database, no I/O."""

from hullscan.ecosystems import scheme_for_ecosystem
from hullscan.versions.errors import InvalidVersion
from hullscan.versions.schemes import canonical_scheme, compare, parse

__all__ = ["InvalidVersion", "canonical_scheme", "compare", "parse", "scheme_for_ecosystem"]
