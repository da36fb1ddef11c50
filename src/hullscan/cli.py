"""The `hullscan` command. Each part contributes its commands through `register(app)`."""

from __future__ import annotations

import typer

from hullscan import __version__
from hullscan.settings import get_settings

# add_completion=False: `hullscan completion SHELL` writes a static script instead (see hullscan/completion.py).
app = typer.Typer(help="hullscan: scan every image pushed to your registry.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hullscan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """hullscan: scan every image pushed to your registry."""


@app.command()
def version() -> None:
    """Print the hullscan version."""
    typer.echo(__version__)


@app.command()
def completion(shell: str = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print a shell completion script (every command and option; TAB runs no Python).

    bash: eval "$(hullscan completion bash)"; zsh: the same with zsh; fish: hullscan completion fish >
    ~/.config/fish/completions/hullscan.fish."""
    from hullscan.completion import SHELLS, script

    if shell not in SHELLS:
        raise typer.BadParameter(f"choose one of {', '.join(SHELLS)}", param_hint="SHELL")
    typer.echo(script(shell), nl=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations."""
    from hullscan.db import upgrade

    settings = get_settings()
    upgrade(settings)
    typer.echo(f"database at {settings.sqlalchemy_url.split('@')[-1]} is up to date")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default from settings: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (default from settings: 8080)."),
    no_runner: bool = typer.Option(False, "--no-runner", help="Start no local scan runners (remote runners only)."),
    role: str = typer.Option(None, "--role", help="api: serve requests only; worker: background loops and local "
                             "runners; all: both (default from settings: all)."),
) -> None:
    """Run the web app, API and embedded registry on one port (migrates the database first).

    Every role serves HTTP (health, /metrics, runners' API); `api` nodes run no background loop and no local
    runner, so API and worker nodes scale separately."""
    import uvicorn

    from hullscan.db import upgrade
    from hullscan.logs import configure_logging
    from hullscan.web.app import create_app

    base = get_settings()
    role = role or base.role
    if role not in ("api", "worker", "all"):
        raise typer.BadParameter("expected api, worker or all", param_hint="--role")
    settings = base.model_copy(update={"host": host or base.host, "port": port or base.port, "role": role,
                                       **({"runner_pool_size": 0} if no_runner or role == "api" else {})})
    configure_logging(settings.log_level, settings.log_json)
    if settings.database_url and not settings.database_url.startswith("sqlite") and settings.unshared_secrets:
        # several nodes would each generate their own and reject each other's tokens: refuse, naming them
        names = ", ".join(f"{n} (HULLSCAN_{n.upper()})" for n in settings.unshared_secrets)
        typer.echo(f"error: on PostgreSQL every node must share these settings, missing: {names}; "
                   "see docs/operations.md, 'Secrets every node must share'", err=True)
        raise typer.Exit(2)
    upgrade(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=1024 * 1024,
        # uvicorn's default trusts X-Forwarded-For from 127.0.0.1; hullscan trusts only the configured proxies.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or [],
    )


def _register_parts() -> None:
    from hullscan.advisories import cli as advisories_cli
    from hullscan.auth import cli as auth_cli
    from hullscan.events import cli as events_cli
    from hullscan.matching import cli as matching_cli
    from hullscan.pipelines import cli as pipelines_cli
    from hullscan.policy import cli as policy_cli
    from hullscan.registry import cli as registry_cli
    from hullscan.runner import cli as runner_cli
    from hullscan.scanner import cli as scanner_cli
    from hullscan.vex import cli as vex_cli
    from hullscan.vulnerabilities import cli as vulnerabilities_cli

    for part in (auth_cli, registry_cli, scanner_cli, advisories_cli, matching_cli, events_cli, pipelines_cli, runner_cli,
                 policy_cli, vex_cli, vulnerabilities_cli):
        part.register(app)


_register_parts()
