"""Kept for callers that import it from matching: the purl reader lives with the package record (scanner)."""

from hullscan.scanner.purl import Purl, parse_purl

__all__ = ["Purl", "parse_purl"]
