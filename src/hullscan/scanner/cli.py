"""`hullscan sbom IMAGE` and `hullscan cache prune`."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path

import typer


class OutputFormat(str, Enum):
    cyclonedx = "cyclonedx-json"
    spdx = "spdx-json"
    table = "table"


cache_app = typer.Typer(help="The scanner's local layer cache.", no_args_is_help=True)


def _cache(no_cache: bool):
    from hullscan.scanner.cache import NullCache, SqliteLayerCache, default_cache_dir
    from hullscan.settings import get_settings

    if no_cache:
        return NullCache()
    directory = get_settings().scanner_cache_dir or default_cache_dir()
    return SqliteLayerCache.in_dir(Path(directory).expanduser())


def sbom(
    image: str = typer.Argument(..., help="docker://HOST/REPO:TAG|@DIGEST, oci-dir:PATH[:TAG], oci-archive:PATH, "
                                          "docker-archive:PATH or dir:ROOTFS"),
    output_format: OutputFormat = typer.Option(OutputFormat.cyclonedx, "-o", "--format", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-f", help="Write here instead of stdout."),
    platform: str | None = typer.Option(None, help="OS/ARCH[/VARIANT] of a multi-platform image."),
    all_platforms: bool = typer.Option(False, "--all-platforms", help="One SBOM per platform of an index."),
    insecure: bool = typer.Option(False, help="Plain HTTP (and no TLS verification) for the registry."),
    username: str | None = typer.Option(None, envvar="HULLSCAN_REGISTRY_USERNAME", help="Registry user."),
    password: str | None = typer.Option(None, envvar="HULLSCAN_REGISTRY_PASSWORD", help="Registry password."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the layer cache."),
    registry_triggered: bool | None = typer.Option(
        None, "--registry-triggered/--not-registry-triggered",
        help="Mark the SBOM as container_scanning_for_registry (default: true when $REGISTRY_TRIGGERED=true)."),
) -> None:
    """Write the SBOM of an image (every installed package, by layer)."""
    from hullscan.scanner.image import analyze, analyze_all
    from hullscan.scanner.sbom import render_table, write_cyclonedx, write_spdx
    from hullscan.scanner.source import SourceError
    from hullscan.scanner.walker import Limits
    from hullscan.settings import get_settings

    if registry_triggered is None:
        registry_triggered = os.environ.get("REGISTRY_TRIGGERED", "").lower() == "true"
    settings = get_settings()
    limits = Limits(max_file_bytes=settings.scanner_max_file_bytes, max_layer_bytes=settings.scanner_max_layer_bytes)
    cache = _cache(no_cache)
    options = dict(cache=cache, limits=limits, insecure=insecure, username=username, password=password)
    try:
        inventories = analyze_all(image, **options) if all_platforms else [
            analyze(image, platform=platform, **options)]
    except SourceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for inventory in inventories:
        for warning in inventory.warnings:
            typer.echo(f"warning: {warning}", err=True)
    if output_format is OutputFormat.table:
        from rich.console import Console

        with (open(output, "w") if output else open(os.devnull, "w")) as fh:
            console = Console(file=fh if output else sys.stdout, width=200)
            for inventory in inventories:
                render_table(inventory, console)
        return
    writer = (lambda inv: write_cyclonedx(inv, registry_triggered)) if output_format is OutputFormat.cyclonedx \
        else write_spdx
    documents = [writer(inv) for inv in inventories]
    if output is None:
        if all_platforms and len(documents) > 1:
            sys.stdout.write("[\n" + ",\n".join(documents) + "\n]\n")
        else:
            sys.stdout.write(documents[0] + "\n")
        return
    if all_platforms and len(inventories) > 1:
        for inventory, document in zip(inventories, documents, strict=True):
            tag = (inventory.image.platform or "unknown").replace("/", "-")
            target = output.with_name(f"{output.name.split('.')[0]}.{tag}{''.join(output.suffixes)}")
            target.write_text(document)
            typer.echo(f"wrote {target}", err=True)
    else:
        output.write_text(documents[0])


@cache_app.command("prune")
def cache_prune(
    all_entries: bool = typer.Option(False, "--all", help="Empty the cache."),
    older_than_days: float | None = typer.Option(None, help="Drop entries unused for this many days."),
) -> None:
    """Drop cache entries made by other analyzer versions (and optionally old or all entries)."""
    from hullscan.scanner.analyzers import analyzer_set_version, default_analyzers

    cache = _cache(False)
    if all_entries:
        removed = cache.prune(older_than_seconds=-1)
    else:
        removed = cache.prune(keep_analyzers=analyzer_set_version(default_analyzers()),
                              older_than_seconds=older_than_days * 86400 if older_than_days is not None else None)
    typer.echo(f"removed {removed} cached layer analyses; {cache.count()} left in {cache.path}")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
    app.command("sbom")(sbom)
    app.add_typer(cache_app, name="cache")
