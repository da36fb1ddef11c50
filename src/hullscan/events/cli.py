"""`hullscan project create|set|show|drops`: projects and their container-scanning-for-registry policy."""

from __future__ import annotations

import typer

from hullscan.auth.cli import database_session, project_session

project_app = typer.Typer(help="Projects and their registry scanning settings.", no_args_is_help=True)


def _on_off(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("on", "true", "yes", "1"):
        return True
    if value.lower() in ("off", "false", "no", "0"):
        return False
    raise typer.BadParameter("use on or off")


def _show(project) -> None:  # type: ignore[no-untyped-def]
    state = "on" if project.container_scanning_for_registry_enabled else "off"
    typer.echo(f"{project.path} (id {project.id}): container scanning for registry {state}; "
               f"tags {','.join(project.cs4r_tag_patterns)}; rate limit {project.cs4r_daily_limit} per 24 h")


@project_app.command("create")
def create_cmd(path: str = typer.Argument(..., help="GROUP/PROJECT"),
               cs4r: str = typer.Option(None, "--cs4r", help="on|off (default off)")) -> None:
    """Create a project."""
    from sqlalchemy.exc import IntegrityError

    from hullscan.auth.projects import ProjectError, create_project

    try:
        with database_session(migrate=True) as session:
            project = create_project(session, path, cs4r_enabled=bool(_on_off(cs4r)))
            _show(project)
    except ProjectError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except IntegrityError:
        typer.echo(f"error: project {path!r} already exists", err=True)
        raise typer.Exit(1) from None


@project_app.command("set")
def set_cmd(path: str = typer.Argument(..., help="GROUP/PROJECT or numeric id"),
            cs4r: str = typer.Option(None, "--cs4r", help="on|off"),
            tags: str = typer.Option(None, "--tags", help="Comma-separated glob patterns, e.g. 'latest,v*'."),
            rate_limit: int = typer.Option(None, "--rate-limit", min=0, help="Scans per project per 24 h.")) -> None:
    """Change a project's container-scanning-for-registry settings (Maintainers and up)."""
    from hullscan.auth.projects import ProjectError, update_project_settings

    try:
        with project_session(path, migrate=True) as (session, project):
            update_project_settings(session, project, cs4r_enabled=_on_off(cs4r),
                                    tag_patterns=tags.split(",") if tags is not None else None,
                                    daily_limit=rate_limit)
            _show(project)
    except ProjectError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@project_app.command("show")
def show_cmd(path: str = typer.Argument(..., help="GROUP/PROJECT or numeric id")) -> None:
    """Show a project's settings."""
    with project_session(path, migrate=True) as (_, project):
        _show(project)


@project_app.command("drops")
def drops_cmd(path: str = typer.Argument(..., help="GROUP/PROJECT or numeric id"),
              limit: int = typer.Option(20, "--limit", min=1, max=500)) -> None:
    """Pushes that did not become a scan, with the reason."""
    from hullscan.events.service import list_dropped_pushes

    with project_session(path, migrate=True) as (session, project):
        for d in list_dropped_pushes(session, project.id, limit=limit):
            typer.echo(f"{d.created_at:%Y-%m-%d %H:%M:%S}  {d.repository}:{d.tag or '-'}  {d.reason}"
                       f"  {d.detail or ''}")


def register(app: typer.Typer) -> None:
    """Add `hullscan project` to the top-level CLI."""
    app.add_typer(project_app, name="project")
