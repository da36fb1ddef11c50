"""`hullscan sbom IMAGE` and `hullscan cache prune`."""

from __future__ import annotations

from pathlib import Path

import typer

cache_app = typer.Typer(help="The scanner's local layer cache.", no_args_is_help=True)


def sbom(ctx: typer.Context) -> None:
    """Write the SBOM of an image (every installed package, by layer); `hullscan sbom --help` for options."""
    from hullscan.scanner.__main__ import main

    code = main(ctx.args)  # one definition of the options: the scanner's own entry (what `hullscan sbom` runs)
    if code:
        raise typer.Exit(code)


@cache_app.command("prune")
def cache_prune(
    all_entries: bool = typer.Option(False, "--all", help="Empty the cache."),
    older_than_days: float | None = typer.Option(None, help="Drop entries unused for this many days."),
) -> None:
    """Drop cache entries made by other analyzer versions (and optionally old or all entries)."""
    from hullscan.scanner.analyzers import analyzer_set_version, default_analyzers
    from hullscan.scanner.cache import SqliteLayerCache, default_cache_dir
    from hullscan.settings import get_settings

    cache = SqliteLayerCache.in_dir(Path(get_settings().scanner_cache_dir or default_cache_dir()).expanduser())
    if all_entries:
        removed = cache.prune(older_than_seconds=-1)
    else:
        removed = cache.prune(keep_analyzers=analyzer_set_version(default_analyzers()),
                              older_than_seconds=older_than_days * 86400 if older_than_days is not None else None)
    typer.echo(f"removed {removed} cached layer analyses; {cache.count()} left in {cache.path}")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
    app.command("sbom", add_help_option=False, context_settings={
        "allow_extra_args": True, "ignore_unknown_options": True})(sbom)
    app.add_typer(cache_app, name="cache")
