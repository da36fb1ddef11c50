"""`hullscan scan IMAGE|SBOM-FILE`: match an image or any CycloneDX/SPDX SBOM against the local advisories."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
    app.command("scan", add_help_option=False, context_settings={
        "allow_extra_args": True, "ignore_unknown_options": True})(scan)


def scan(ctx: typer.Context) -> None:
    """Scan an image or SBOM for known vulnerabilities, like `trivy image` / `grype`; `hullscan scan --help`."""
    from hullscan.matching.__main__ import main

    code = main(ctx.args)  # one definition of the options: the entry `hullscan scan` runs
    if code:
        raise typer.Exit(code)
