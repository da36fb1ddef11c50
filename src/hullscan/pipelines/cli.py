"""`hullscan pipelines list GROUP/PROJECT` (and `show`, `log`) straight from the database."""

from __future__ import annotations

import typer

pipelines_app = typer.Typer(help="Registry-triggered scan pipelines.", no_args_is_help=True)


@pipelines_app.command("list")
def list_cmd(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
             limit: int = typer.Option(20, "--limit", min=1, max=500)) -> None:
    """A project's pipelines, newest first: status, image, digest, attempts, failure reason."""
    from rich.console import Console
    from rich.table import Table

    from hullscan.auth.cli import project_session
    from hullscan.pipelines import service

    with project_session(project) as (session, found):
        pipelines = service.list_pipelines(session, found.id, limit=limit)
        jobs = service.jobs_of(session, [p.id for p in pipelines])
        table = Table("pipeline", "status", "source", "image", "digest", "job", "attempts", "failure", "created")
        for p in pipelines:
            job = jobs[p.id][-1] if jobs[p.id] else None
            table.add_row(str(p.id), p.status, p.source, job.variables.get("CS_IMAGE", "") if job else "",
                          (job.digest or "")[:19] if job else "", str(job.id) if job else "",
                          str(job.attempts) if job else "", (job.failure_reason or "") if job else "",
                          p.created_at.strftime("%Y-%m-%d %H:%M:%S"))
        console = Console()
        if not console.is_terminal:  # piped: print whole values, do not squeeze them into 80 columns
            console = Console(width=240)
        console.print(table)


@pipelines_app.command("log")
def log_cmd(job_id: int = typer.Argument(..., help="Job id.")) -> None:
    """Print a job's log."""
    from hullscan.auth.cli import database_session
    from hullscan.pipelines import service

    with database_session() as session:
        if service.get_job(session, job_id) is None:
            typer.echo(f"error: job {job_id} not found", err=True)
            raise typer.Exit(1)
        for text in service.read_log(session, job_id):
            typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    """Add `hullscan pipelines` to the top-level CLI."""
    app.add_typer(pipelines_app, name="pipelines")
