"""Readers of advisory sources. Each yields `Parsed` advisories (or `Enrichment` facts) and counts what it
read and what it skipped in a `Tally`; none touches the database."""
