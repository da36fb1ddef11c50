"""`hullscan runner`: the stateless scan runner for any machine."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `hullscan runner` to the top-level CLI."""

    @app.command("runner")
    def runner(
        url: str = typer.Option(..., "--url", envvar="HULLSCAN_RUNNER_URL", help="hullscan server base URL."),
        token: str = typer.Option(..., "--token", envvar="HULLSCAN_RUNNER_TOKEN",
                                  help="Runner token (hsrt_...) or the instance's registration token."),
        concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs run at once."),
        name: str = typer.Option(socket.gethostname(), "--name", help="Description shown for this runner."),
        cache_dir: Path = typer.Option(None, "--cache-dir", help="Layer cache (default ~/.cache/hullscan)."),
        grace: float = typer.Option(10.0, "--grace", min=0, help="Seconds to finish jobs on SIGTERM before "
                                                                  "releasing them."),
    ) -> None:
        """Claim scan jobs from a hullscan server over HTTP, scan, upload SBOMs. SIGTERM: finish or release."""
        from hullscan.logs import configure_logging
        from hullscan.runner.client import RunnerAPIError
        from hullscan.runner.worker import Runner
        from hullscan.scanner.cache import default_cache_dir
        from hullscan.settings import get_settings

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_json)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
        try:
            Runner(url, token, concurrency=concurrency, name=name, cache_dir=cache_dir or default_cache_dir(),
                   grace=grace).run()
        except RunnerAPIError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
