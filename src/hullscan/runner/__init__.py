"""runner part (see DESIGN.md)."""
