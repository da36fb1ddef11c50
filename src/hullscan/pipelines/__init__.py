"""pipelines part (see DESIGN.md)."""
