"""`hullscan vex import PROJECT FILE`, `export PROJECT`, `list PROJECT` and `withdraw PROJECT DOCUMENT_ID`, straight
from the database (as the other parts' commands), audited as the `cli` actor."""

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


@vex_app.command("list")
def list_cmd(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
             vulnerability: str = typer.Option(None, "--vulnerability", help="Only statements naming this id."),
             document: int = typer.Option(None, "--document", min=1, help="Only this document's statements (its id)."),
             statements: bool = typer.Option(False, "--statements", help="Also print the statements.")) -> None:
    """The stored VEX documents (id, statements, who imported them, when) as JSON; with --statements their
    statements too (one per vulnerability name)."""
    from hullscan.vex import service

    with project_session(project) as (session, found):
        out: dict = {"documents": [d.as_dict() for d in service.stored_documents(session, found.id)]}
        if statements or vulnerability is not None or document is not None:
            rows: list = []
            page = 1
            while True:
                listed = service.stored_statements(session, found.id, vulnerability=vulnerability,
                                                   document_id=document, page=page, per_page=service.BATCH)
                rows.extend(listed.rows)
                if len(rows) >= listed.total or not listed.rows:
                    break
                page += 1
            out["statements"] = rows
    typer.echo(json.dumps(out, indent=2))


@vex_app.command("withdraw")
def withdraw_cmd(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
                 document: int = typer.Argument(..., min=1, help="The document's id (from `hullscan vex list`).")
                 ) -> None:
    """Withdraw a document's stored statements: they stop applying to findings recorded later; findings they
    already changed keep their states."""
    from hullscan.auth import service as auth
    from hullscan.vex import service

    with project_session(project) as (session, found):
        withdrawn = service.withdraw_document(session, found.id, document)
        if withdrawn is None:
            typer.echo(f"error: no stored VEX document {document} in {found.path}", err=True)
            raise typer.Exit(1)
        auth.audit(session, CLI_ACTOR, "vex_withdrawn", found.path,
                   details={"document": withdrawn.document, "document_id": withdrawn.id,
                            "statements": withdrawn.statements})
    typer.echo(json.dumps({"withdrawn": withdrawn.as_dict(), "note": service.WITHDRAWN_NOTE}, indent=2))


def register(app: typer.Typer) -> None:
    """Add `hullscan vex` to the top-level CLI."""
    app.add_typer(vex_app, name="vex")
