"""Harbor Pluggable Scanner Adapter API v1.2: Harbor registries scan with hullscan (docs/harbor.md)."""
