"""What `hullscan sbom` does, free of any CLI framework so the light `python -m hullscan.scanner` entry and
the Typer command share it (and a scan job starts fast)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

FORMATS = ("cyclonedx-json", "spdx-json", "table")


def open_cache(no_cache: bool, cache_dir: Path | None):
    from hullscan.scanner.cache import NullCache, SqliteLayerCache, default_cache_dir

    if no_cache:
        return NullCache()
    return SqliteLayerCache.in_dir(Path(cache_dir or default_cache_dir()).expanduser())


def run_sbom(image: str, *, output_format: str = "cyclonedx-json", output: Path | None = None,
             platform: str | None = None, all_platforms: bool = False, insecure: bool = False,
             username: str | None = None, password: str | None = None, no_cache: bool = False,
             registry_triggered: bool | None = None, cache_dir: Path | None = None,
             max_file_bytes: int | None = None, max_layer_bytes: int | None = None) -> int:
    """Analyse IMAGE and write its SBOM(s); returns the exit code (2: the image cannot be read)."""
    from hullscan.scanner.image import analyze, analyze_all
    from hullscan.scanner.source import SourceError
    from hullscan.scanner.walker import Limits

    if registry_triggered is None:
        registry_triggered = os.environ.get("REGISTRY_TRIGGERED", "").lower() == "true"
    defaults = Limits()
    limits = Limits(max_file_bytes=max_file_bytes or defaults.max_file_bytes,
                    max_layer_bytes=max_layer_bytes or defaults.max_layer_bytes)
    cache = open_cache(no_cache, cache_dir)
    hook = None
    if output_format == "cyclonedx-json":
        from hullscan.scanner.sbom import preload_writer

        hook = preload_writer
    options = dict(on_layer_walk=hook, cache=cache, limits=limits, insecure=insecure, username=username,
                   password=password)
    try:
        inventories = analyze_all(image, **options) if all_platforms else [
            analyze(image, platform=platform, **options)]
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for inventory in inventories:
        for warning in inventory.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if output_format == "table":
        from rich.console import Console

        from hullscan.scanner.sbom import render_table

        with open(output, "w") if output else open(os.devnull, "w") as fh:
            console = Console(file=fh if output else sys.stdout, width=200)
            for inventory in inventories:
                render_table(inventory, console)
        return 0
    from hullscan.scanner.sbom import write_cyclonedx, write_spdx

    memo = None if no_cache else cache
    documents = [write_cyclonedx(inv, registry_triggered, memo) if output_format == "cyclonedx-json" else write_spdx(inv)
                 for inv in inventories]
    if output is None:
        if all_platforms and len(documents) > 1:
            sys.stdout.write("[\n" + ",\n".join(documents) + "\n]\n")
        else:
            sys.stdout.write(documents[0] + "\n")
    elif all_platforms and len(inventories) > 1:
        for inventory, document in zip(inventories, documents, strict=True):
            tag = (inventory.image.platform or "unknown").replace("/", "-")
            target = output.with_name(f"{output.name.split('.')[0]}.{tag}{''.join(output.suffixes)}")
            target.write_text(document)
            print(f"wrote {target}", file=sys.stderr)
    else:
        output.write_text(documents[0])
    return 0
