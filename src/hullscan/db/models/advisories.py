"""Tables of the advisories part."""
