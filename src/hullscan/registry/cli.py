"""Commands of this part, added to the `hullscan` CLI by `register`."""

from __future__ import annotations

import typer

registry_app = typer.Typer(help="Embedded OCI registry maintenance.", no_args_is_help=True)


@registry_app.command("gc")
def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
    grace: float = typer.Option(3600.0, help="Keep unreferenced blobs younger than this many seconds "
                                              "(a push in progress uploads blobs before its manifest)."),
    upload_max_age: float = typer.Option(86400.0, help="Remove upload sessions started more than this many "
                                                       "seconds ago (left by crashed or abandoned pushes)."),
) -> None:
    """Remove blobs no manifest references, and abandoned upload sessions."""
    from hullscan.db import Database
    from hullscan.registry.service import collect_garbage
    from hullscan.registry.storage import storage_for
    from hullscan.settings import get_settings

    settings = get_settings()
    db = Database(settings)
    try:
        report = collect_garbage(db, storage_for(settings), dry_run=dry_run, grace_seconds=grace,
                                 upload_max_age=upload_max_age)
    finally:
        db.dispose()
    verb = "would remove" if dry_run else "removed"
    for digest in report.blobs_removed:
        typer.echo(f"{verb} blob {digest}")
    for upload_id in report.uploads_removed:
        typer.echo(f"{verb} upload {upload_id}")
    typer.echo(f"{verb} {len(report.blobs_removed)} blobs ({report.bytes_freed} bytes) and "
               f"{len(report.uploads_removed)} abandoned uploads")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
    app.add_typer(registry_app, name="registry")
