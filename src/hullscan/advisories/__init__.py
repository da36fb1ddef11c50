"""advisories part (see DESIGN.md)."""
