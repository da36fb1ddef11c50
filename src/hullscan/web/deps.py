"""The shared router dependencies now live in `hullscan.http_deps`, below the parts; this name stays for the web
layer's pages only (a part importing it fails tests/test_layers.py)."""

from hullscan.http_deps import (
    INT64_MAX,
    JSON_ID_MAX,
    CountQuery,
    DateTimeQuery,
    IdPath,
    IdQuery,
    get_session,
    project_or_404,
)

__all__ = ["INT64_MAX", "JSON_ID_MAX", "CountQuery", "DateTimeQuery", "IdPath", "IdQuery", "get_session",
           "project_or_404"]
