"""events part (see DESIGN.md)."""
