"""`hullscan admin ...`: users, tokens, projects and members, straight on the database (no server needed).

Passwords are read from stdin or a hidden prompt, never from the command line (which other users can see).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hullscan.db.models import Project

admin_app = typer.Typer(help="Users, tokens, projects and members (run on the server's data directory).",
                        no_args_is_help=True)
CLI_ACTOR = "cli"


@contextmanager
def database_session(*, migrate: bool = False) -> Iterator["Session"]:
    """A session of the configured database for one command (the schema upgraded first when `migrate`); the
    engine is disposed after, so a command leaves no connection behind."""
    from hullscan.db import Database, upgrade
    from hullscan.settings import get_settings

    settings = get_settings()
    if migrate:
        upgrade(settings)
    db = Database(settings)
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()


@contextmanager
def project_session(path: str, *, migrate: bool = False) -> Iterator[tuple["Session", "Project"]]:
    """A command's session and the project it names (`GROUP/PROJECT` or numeric id); exits 1 naming the path
    when there is no such project. Used by every part's project commands."""
    from hullscan.auth.projects import get_project

    with database_session(migrate=migrate) as session:
        found = get_project(session, path)
        if found is None:
            typer.echo(f"error: project {path!r} not found", err=True)
            raise typer.Exit(1)
        yield session, found


@contextmanager
def _session() -> Iterator["Session"]:
    from hullscan.auth.service import AuthError

    try:
        with database_session(migrate=True) as session:
            yield session
    except (AuthError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _read_password(from_stdin: bool, generate: bool) -> tuple[str, bool]:
    from hullscan.auth.credentials import generate_password

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if generate:
        return generate_password(), True
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def _expiry(days: int | None) -> datetime | None:
    return datetime.now(timezone.utc) + timedelta(days=days) if days else None


@admin_app.command("create-user")
def create_user(username: str = typer.Argument(..., help="Lower-case user name; also their personal namespace."),
                admin: bool = typer.Option(False, "--admin", help="Make the user an instance administrator."),
                email: str = typer.Option(None, "--email"),
                password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
                generate: bool = typer.Option(False, "--generate-password", help="Generate one and print it once.")) -> None:
    """Create a user (and their personal namespace, which they own)."""
    from hullscan.auth import service

    password, generated = _read_password(password_stdin, generate)
    with _session() as session:
        user = service.create_user(session, username, password, is_admin=admin, email=email)
        service.audit(session, CLI_ACTOR, "user_created", user.username, details={"is_admin": admin})
    typer.echo(f"created user {user.username}{' (admin)' if admin else ''}")
    if generated:
        typer.echo(f"password: {password}")


@admin_app.command("set-password")
def set_password(username: str = typer.Argument(...),
                 password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
                 generate: bool = typer.Option(False, "--generate-password", help="Generate one and print it once.")) -> None:
    """Change a user's password (and lift a sign-in lock)."""
    from hullscan.auth import service

    password, generated = _read_password(password_stdin, generate)
    with _session() as session:
        user = service.require_user(session, username)
        service.set_password(session, user, password)
        service.clear_sign_in_failures(session, user.username)
        service.audit(session, CLI_ACTOR, "password_changed", user.username)
    typer.echo(f"password of {username} changed")
    if generated:
        typer.echo(f"password: {password}")


@admin_app.command("create-token")
def create_token(username: str = typer.Argument(...),
                 name: str = typer.Option("cli", "--name"),
                 scope: list[str] = typer.Option(["api"], "--scope",
                                                 help="api, read_api, read_registry, write_registry (repeatable)."),
                 expires_in_days: int = typer.Option(None, "--expires-in-days", min=1)) -> None:
    """Create a personal access token; it is printed once."""
    from hullscan.auth import service

    with _session() as session:
        user = service.require_user(session, username)
        row, token = service.create_personal_access_token(session, user, name, scope, _expiry(expires_in_days))
        service.audit(session, CLI_ACTOR, "personal_access_token_created", f"pat:{row.id}",
                      details={"user": user.username, "scopes": row.scopes})
    typer.echo(token)


@admin_app.command("revoke-token")
def revoke_token(token_id: int = typer.Argument(..., help="The token's id (see the API's token list).")) -> None:
    """Revoke a personal access token at once."""
    from hullscan.auth import service

    with _session() as session:
        service.revoke_personal_access_token(session, None, token_id)
        service.audit(session, CLI_ACTOR, "personal_access_token_revoked", f"pat:{token_id}")
    typer.echo(f"revoked personal access token {token_id}")


@admin_app.command("create-project")
def create_project(path: str = typer.Argument(..., help="NAMESPACE/PROJECT"),
                   owner: str = typer.Option(None, "--owner", help="User made owner of the project."),
                   public: bool = typer.Option(False, "--public", help="Anyone may pull its images."),
                   cs4r: bool = typer.Option(False, "--cs4r", help="Turn on container scanning for registry.")) -> None:
    """Create a project."""
    from hullscan.auth import service

    with _session() as session:
        user = service.require_user(session, owner) if owner else None
        project = service.create_project(session, path, visibility="public" if public else "private", owner=user,
                                         cs4r_enabled=cs4r)
        service.audit(session, CLI_ACTOR, "project_created", project.path, details={"visibility": project.visibility})
    typer.echo(f"created project {project.path} ({project.visibility})")


@admin_app.command("add-member")
def add_member(username: str = typer.Argument(...),
               path: str = typer.Argument(..., help="A project path, or a group path (namespace)."),
               role: str = typer.Option(..., "--role", help="guest, reporter, developer, maintainer or owner.")) -> None:
    """Give a user a role in a project or group (a group's role applies to every project below it)."""
    from hullscan.auth import Role, service

    with _session() as session:
        parsed = Role.parse(role)
        service.add_member(session, username, path, parsed)
        service.audit(session, CLI_ACTOR, "member_added", path, details={"username": username, "role": role})
    typer.echo(f"{username} is {parsed.name.lower()} of {path}")


@admin_app.command("remove-member")
def remove_member(username: str = typer.Argument(...), path: str = typer.Argument(...)) -> None:
    """Remove a user's direct membership of a project or group."""
    from hullscan.auth import service

    with _session() as session:
        removed = service.remove_member(session, username, path)
        service.audit(session, CLI_ACTOR, "member_removed", path, details={"username": username})
    typer.echo(f"removed {username} from {path}" if removed else f"{username} was not a member of {path}")


@admin_app.command("create-deploy-token")
def create_deploy_token(path: str = typer.Argument(..., help="Project path."),
                        name: str = typer.Option("ci", "--name"),
                        scope: list[str] = typer.Option(["read_registry"], "--scope",
                                                        help="read_registry and/or write_registry (repeatable)."),
                        expires_in_days: int = typer.Option(None, "--expires-in-days", min=1)) -> None:
    """Create a project deploy token (a robot account for CI); prints `USERNAME TOKEN` once."""
    from hullscan.auth import service
    from hullscan.auth.projects import get_project

    with _session() as session:
        project = get_project(session, path)
        if project is None:
            raise service.AuthError(f"there is no project {path!r}")
        row, token = service.create_deploy_token(session, project, name, scope, _expiry(expires_in_days))
        service.audit(session, CLI_ACTOR, "deploy_token_created", f"{project.path} deploy:{row.id}",
                      details={"scopes": row.scopes})
        username = row.username
    typer.echo(f"{username} {token}")


@admin_app.command("block-user")
def block_user(username: str = typer.Argument(...),
               unblock: bool = typer.Option(False, "--unblock", help="Let a blocked user in again.")) -> None:
    """Block a user (password, sessions and tokens stop at once), or with --unblock let them in again."""
    from hullscan.auth import service

    with _session() as session:
        user = service.require_user(session, username)
        service.set_user_blocked(session, user, not unblock)
        service.audit(session, CLI_ACTOR, "user_unblocked" if unblock else "user_blocked", user.username)
    typer.echo(f"{'unblocked' if unblock else 'blocked'} {username}")


@admin_app.command("registry-certificate")
def registry_certificate() -> None:
    """Print the certificate that verifies hullscan's registry tokens (PEM), for an external CNCF Distribution's
    `auth.token.rootcertbundle`, with `issuer: hullscan-token-issuer` and `realm: <hullscan URL>/jwt/auth`."""
    from hullscan.auth.registry_tokens import certificate_pem
    from hullscan.settings import get_settings

    typer.echo(certificate_pem(get_settings()), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")
