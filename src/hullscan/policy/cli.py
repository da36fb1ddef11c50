"""`hullscan policy show|set|blocked PROJECT` and `hullscan policy exception add|list|delete`, straight from the
database (as the other parts' commands), audited as the `cli` actor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from hullscan.auth.cli import project_session

if TYPE_CHECKING:

    pass

policy_app = typer.Typer(help="Project policies: the pull gate and its exceptions.", no_args_is_help=True)
exception_app = typer.Typer(help="Exceptions to the pull gate, per vulnerability identifier.", no_args_is_help=True)
policy_app.add_typer(exception_app, name="exception")
CLI_ACTOR = "cli"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@policy_app.command("show")
def show(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id.")) -> None:
    """Print the project's policy as JSON."""
    from hullscan.policy import service

    with project_session(project) as (session, found):
        typer.echo(json.dumps(service.get_policy(session, found.id).as_dict(), indent=2))


@policy_app.command("set")
def set_policy(
    project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
    gate: bool = typer.Option(None, "--gate/--no-gate", help="Block pulls of images that break the policy."),
    min_severity: str = typer.Option(None, "--min-severity", help="critical, high, medium or low."),
    fixable_only: bool = typer.Option(None, "--fixable-only/--any-fix", help="Only fixable vulnerabilities block."),
    kev_only: bool = typer.Option(None, "--kev-only/--any-exploitation", help="Only known exploited ones block."),
    grace_days: int = typer.Option(None, "--grace-days", min=0, help="Days a new advisory does not block yet."),
    fail_closed: bool = typer.Option(None, "--fail-closed/--fail-open", help="Block images not scanned yet."),
    ingest_referrer_sboms: bool = typer.Option(None, "--ingest-referrer-sboms/--scan-always",
                                               help="Ingest SBOMs pushed as referrers instead of scanning."),
) -> None:
    """Change the options given; the others keep their values."""
    from dataclasses import replace

    from hullscan.auth import service as auth
    from hullscan.policy import service

    given: dict[str, Any] = {"gate_enabled": gate, "min_severity": min_severity, "fixable_only": fixable_only,
             "kev_only": kev_only, "grace_days": grace_days, "fail_closed": fail_closed,
             "ingest_referrer_sboms": ingest_referrer_sboms}
    with project_session(project) as (session, found):
        current = service.get_policy(session, found.id)
        try:
            saved = service.set_policy(session, found.id, replace(current, **{k: v for k, v in given.items()
                                                                             if v is not None}), author=CLI_ACTOR)
        except service.PolicyError as exc:
            _fail(str(exc))
        auth.audit(session, CLI_ACTOR, "policy_changed", found.path, details=saved.as_dict())
        typer.echo(json.dumps(saved.as_dict(), indent=2))


def _expiry(value: str) -> datetime:
    """`30d`, `12h` or an ISO 8601 time (UTC when no offset is given)."""
    now = datetime.now(UTC)
    if value[:-1].isascii() and value[:-1].isdigit() and value[-1:] in ("d", "h") and len(value) <= 6:
        amount = int(value[:-1])
        return now + (timedelta(days=amount) if value.endswith("d") else timedelta(hours=amount))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("give a duration (30d, 12h) or an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@exception_app.command("add")
def add_exception(
    project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
    identifier: str = typer.Argument(..., help="Vulnerability identifier, e.g. CVE-2024-0727."),
    reason: str = typer.Option(..., "--reason", help="Why the pull may go ahead (kept with the exception)."),
    expires: str = typer.Option(..., "--expires", help="Duration (30d, 12h) or ISO 8601 time."),
    repository: str = typer.Option(None, "--repository", help="Only this repository of the project."),
    digest: str = typer.Option(None, "--digest", help="Only this image (manifest digest)."),
    author: str = typer.Option(CLI_ACTOR, "--author", help="Who grants it (default: cli)."),
) -> None:
    """Let one identifier through the gate until it expires."""
    from hullscan.auth import service as auth
    from hullscan.policy import service

    with project_session(project) as (session, found):
        try:
            row = service.add_exception(session, found.id, found.path, service.ExceptionSpec(
                identifier=identifier, reason=reason, expires_at=_expiry(expires), repository=repository,
                image_digest=digest), author=author)
        except service.PolicyError as exc:
            _fail(str(exc))
        auth.audit(session, CLI_ACTOR, "pull_exception_created", found.path, details={
            "exception_id": row.id, "identifier": row.identifier, "author": row.author})
        typer.echo(json.dumps(service.exception_json(row), indent=2))


@exception_app.command("list")
def list_exceptions(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id.")) -> None:
    """The project's exceptions (expired ones too) as JSON lines."""
    from hullscan.policy import service

    with project_session(project) as (session, found):
        for row in service.list_exceptions(session, found.id):
            typer.echo(json.dumps(service.exception_json(row)))


@exception_app.command("delete")
def delete_exception(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
                     exception_id: int = typer.Argument(..., min=1)) -> None:
    """Remove an exception (the audit log keeps who granted and who removed it)."""
    from hullscan.auth import service as auth
    from hullscan.policy import service

    with project_session(project) as (session, found):
        row = service.delete_exception(session, found.id, exception_id)
        if row is None:
            _fail(f"exception {exception_id} not found in {found.path}")
        auth.audit(session, CLI_ACTOR, "pull_exception_deleted", found.path, details={"exception_id": exception_id})
        typer.echo(f"deleted exception {exception_id}")


@policy_app.command("blocked")
def blocked(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
            limit: int = typer.Option(50, "--limit", min=1, max=500)) -> None:
    """Pulls the gate refused, newest first, as JSON lines."""
    from hullscan.policy import service

    out: list[dict[str, Any]] = []
    with project_session(project) as (session, found):
        out = [service.blocked_pull_json(b) for b in service.blocked_pulls(session, found.path, limit=limit)]
    for item in out:
        typer.echo(json.dumps(item))


def register(app: typer.Typer) -> None:
    """Add `hullscan policy` to the top-level CLI."""
    app.add_typer(policy_app, name="policy")
