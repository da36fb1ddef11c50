"""scanner part (see DESIGN.md): image → inventory → SBOM, as a pure library.

Entry points: `analyze(source) -> Inventory`, `analyze_all(source) -> list[Inventory]` (one per platform),
and the writers `write_cyclonedx`, `write_spdx`, `render_table`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hullscan.scanner.image import analyze, analyze_all
    from hullscan.scanner.sbom import render_table, write_cyclonedx, write_spdx

__all__ = ["analyze", "analyze_all", "write_cyclonedx", "write_spdx", "render_table"]


def __getattr__(name: str) -> Any:  # lazy: importing the package must stay cheap for the CLI
    if name in ("analyze", "analyze_all"):
        from hullscan.scanner import image as module

        return getattr(module, name)
    if name in ("write_cyclonedx", "write_spdx", "render_table"):
        from hullscan.scanner import sbom

        return getattr(sbom, name)
    raise AttributeError(name)
