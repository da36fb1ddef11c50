"""`hullscan sbom IMAGE` and `hullscan cache prune`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer


class OutputFormat(str, Enum):
    cyclonedx = "cyclonedx-json"
    spdx = "spdx-json"
    table = "table"


cache_app = typer.Typer(help="The scanner's local layer cache.", no_args_is_help=True)


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
    from hullscan.scanner.command import run_sbom
    from hullscan.settings import get_settings

    settings = get_settings()
    code = run_sbom(image, output_format=output_format.value, output=output, platform=platform,
                    all_platforms=all_platforms, insecure=insecure, username=username, password=password,
                    no_cache=no_cache, registry_triggered=registry_triggered, cache_dir=settings.scanner_cache_dir,
                    max_file_bytes=settings.scanner_max_file_bytes, max_layer_bytes=settings.scanner_max_layer_bytes)
    if code:
        raise typer.Exit(code)


@cache_app.command("prune")
def cache_prune(
    all_entries: bool = typer.Option(False, "--all", help="Empty the cache."),
    older_than_days: float | None = typer.Option(None, help="Drop entries unused for this many days."),
) -> None:
    """Drop cache entries made by other analyzer versions (and optionally old or all entries)."""
    from hullscan.scanner.analyzers import analyzer_set_version, default_analyzers
    from hullscan.scanner.command import open_cache
    from hullscan.settings import get_settings

    cache = open_cache(False, get_settings().scanner_cache_dir)
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
