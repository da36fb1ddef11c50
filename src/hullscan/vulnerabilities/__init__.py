"""vulnerabilities part (see DESIGN.md)."""
