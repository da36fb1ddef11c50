"""scanner part (see DESIGN.md)."""
