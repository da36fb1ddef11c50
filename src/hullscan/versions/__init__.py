"""versions part (see DESIGN.md)."""
