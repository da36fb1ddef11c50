"""matching part (see DESIGN.md)."""
