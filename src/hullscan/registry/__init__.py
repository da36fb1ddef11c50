"""registry part (see DESIGN.md)."""
