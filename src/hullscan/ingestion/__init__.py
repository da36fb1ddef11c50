"""ingestion part (see DESIGN.md)."""
