"""`hullscan vex import PROJECT FILE` and `hullscan vex export PROJECT`, straight from the database (as the other
parts' commands), audited as the `cli` actor."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from hullscan.auth.cli import project_session

vex_app = typer.Typer(help="VEX documents: import into a project's triage, export its decisions.",
                      no_args_is_help=True)
CLI_ACTOR = "cli"


@vex_app.command("import")
def import_cmd(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
               file: Path = typer.Argument(..., help="An OpenVEX or CycloneDX VEX JSON document.")) -> None:
    """Apply the document's statements to the project's findings; prints what changed as JSON."""
    from hullscan.auth import service as auth
    from hullscan.matching.vex import VexError, parse_vex
    from hullscan.settings import get_settings
    from hullscan.vex import service

    limit, max_statements = get_settings().vex_max_bytes, get_settings().vex_max_statements
    try:
        if file.stat().st_size > limit:
            raise VexError(f"{file}: larger than the {limit}-byte VEX limit (setting vex_max_bytes)")
        doc = parse_vex(file.read_bytes(), str(file), limit)
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except VexError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    with project_session(project) as (session, found):
        try:
            result = service.import_vex(session, found.id, doc, source=file.name, actor=CLI_ACTOR,
                                        max_statements=max_statements)
        except service.VexImportError as exc:
            session.rollback()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        auth.audit(session, CLI_ACTOR, "vex_imported", found.path,
                   details={"document": result.author, "format": doc.format, "statements": result.statements,
                            "matched": result.matched, "changed": result.changed})
    typer.echo(json.dumps(result.as_dict(), indent=2))


@vex_app.command("export")
def export_cmd(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
               output: Path = typer.Option(None, "--output", "-o", help="Write here instead of standard output.")
               ) -> None:
    """The project's triage decisions as an OpenVEX document."""
    from hullscan.vex import service

    with project_session(project) as (session, found):
        text = json.dumps(service.export_openvex(session, found.id, found.path), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n")


def register(app: typer.Typer) -> None:
    """Add `hullscan vex` to the top-level CLI."""
    app.add_typer(vex_app, name="vex")
