"""What `hullscan sbom` does, free of any CLI framework so the light `python -m hullscan.scanner` entry and
the Typer command share it (and a scan job starts fast)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hullscan.scanner.cache import LayerCache
    from hullscan.scanner.inventory import Inventory
    from hullscan.scanner.walker import Limits

FORMATS = ("cyclonedx-json", "spdx-json", "table")
DEFAULT_MAX_FILE_BYTES = 512 << 20  # walker.Limits' defaults, here so a remembered scan need not import it
DEFAULT_MAX_LAYER_BYTES = 16 << 30
DEFAULT_MAX_LAYER_PACKAGES = 50_000
DEFAULT_MAX_SPOOL_BYTES = 2 << 30
# The settings a scan reads (hullscan.config.raw_settings names), wherever it runs.
SETTINGS = ("scanner_cache_dir", "scanner_max_file_bytes", "scanner_max_layer_bytes", "scanner_max_layer_packages",
            "scanner_max_spool_bytes")


@dataclass(frozen=True)
class ScanConfig:
    """How an image is scanned, the same for `hullscan sbom`, `hullscan scan IMAGE`, the embedded runner and
    remote runners: the safety limits, the layer cache (and, for a CycloneDX document, the image memo in it).
    So the same image gives the same inventory whichever entry point scanned it, and none re-reads layers it
    has analysed before."""

    cache_dir: Path | None = None  # None: ~/.cache/hullscan
    no_cache: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_layer_bytes: int = DEFAULT_MAX_LAYER_BYTES
    max_layer_packages: int = DEFAULT_MAX_LAYER_PACKAGES
    max_spool_bytes: int = DEFAULT_MAX_SPOOL_BYTES

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], *, no_cache: bool = False) -> ScanConfig:
        """From raw settings (`hullscan.config.raw_settings(SETTINGS)` or `Settings.model_dump()`); raises
        ValueError for a value that is not a number."""
        cache_dir = raw.get("scanner_cache_dir")
        spool = raw.get("scanner_max_spool_bytes")
        return cls(cache_dir=Path(cache_dir).expanduser() if cache_dir else None, no_cache=no_cache,
                   max_file_bytes=int(raw.get("scanner_max_file_bytes") or 0) or DEFAULT_MAX_FILE_BYTES,
                   max_layer_bytes=int(raw.get("scanner_max_layer_bytes") or 0) or DEFAULT_MAX_LAYER_BYTES,
                   max_layer_packages=int(raw.get("scanner_max_layer_packages") or 0) or DEFAULT_MAX_LAYER_PACKAGES,
                   max_spool_bytes=DEFAULT_MAX_SPOOL_BYTES if spool is None or spool == "" else int(spool))

    @classmethod
    def from_environment(cls, *, no_cache: bool = False) -> ScanConfig:
        """The configuration the settings (environment, config file) give, read without pydantic."""
        from hullscan.config import raw_settings

        return cls.from_raw(raw_settings(SETTINGS), no_cache=no_cache)

    @property
    def limit_tuple(self) -> tuple[int, int, int, int]:
        """walker.Limits' fields in order (part of the image memo's key)."""
        return (self.max_file_bytes, self.max_layer_bytes, self.max_layer_packages, self.max_spool_bytes)

    def limits(self) -> Limits:
        """walker.Limits (imported only when layers are read: a remembered scan never needs it)."""
        from hullscan.scanner.walker import Limits

        return Limits(*self.limit_tuple)

    def open_cache(self) -> LayerCache:
        return open_cache(self.no_cache, self.cache_dir)

    def analyze(self, source: str, *, platform: str | None = None, insecure: bool = False,
                username: str | None = None, password: str | None = None) -> Inventory:
        """The inventory of one image, through the layer cache and within the limits."""
        from hullscan.scanner.image import analyze

        cache = self.open_cache()
        try:
            return analyze(source, platform=platform, cache=cache, limits=self.limits(), insecure=insecure,
                           username=username, password=password, cache_dir=self.cache_dir)
        finally:
            close = getattr(cache, "close", None)
            if close is not None:
                close()


def open_cache(no_cache: bool, cache_dir: Path | None) -> LayerCache:
    from hullscan.scanner.cache import NullCache, SqliteLayerCache, default_cache_dir

    if no_cache:
        return NullCache()
    return SqliteLayerCache.in_dir(Path(cache_dir or default_cache_dir()).expanduser())


def run_sbom(image: str, *, output_format: str = "cyclonedx-json", output: Path | None = None,
             platform: str | None = None, all_platforms: bool = False, insecure: bool = False,
             username: str | None = None, password: str | None = None, no_cache: bool = False,
             registry_triggered: bool | None = None, cache_dir: Path | None = None,
             max_file_bytes: int | None = None, max_layer_bytes: int | None = None,
             max_layer_packages: int | None = None, max_spool_bytes: int | None = None) -> int:
    """Analyse IMAGE and write its SBOM(s); returns the exit code (2: the image cannot be read).

    A CycloneDX SBOM of an image analysed before comes from the image-level memo (`memo.py`): only the
    manifest is read, nothing else is imported or computed."""
    from hullscan.scanner.source import SourceError, open_source

    if registry_triggered is None:
        registry_triggered = os.environ.get("REGISTRY_TRIGGERED", "").lower() == "true"
    config = ScanConfig(cache_dir=cache_dir, no_cache=no_cache,
                        max_file_bytes=max_file_bytes or DEFAULT_MAX_FILE_BYTES,
                        max_layer_bytes=max_layer_bytes or DEFAULT_MAX_LAYER_BYTES,
                        max_layer_packages=max_layer_packages or DEFAULT_MAX_LAYER_PACKAGES,
                        max_spool_bytes=DEFAULT_MAX_SPOOL_BYTES if max_spool_bytes is None else max_spool_bytes)
    limits = config.limit_tuple
    cache = config.open_cache()
    memo = None if no_cache or output_format != "cyclonedx-json" else cache
    results: list[tuple[object, str | None]] = []  # (inventory or ImageInfo, CycloneDX document if known)
    try:
        src = open_source(image, insecure=insecure, username=username, password=password,
                          cache_dir=cache_dir)
        try:
            choices: list[str | None] = ([*src.platforms()] or [None]) if all_platforms else [platform]
            for one in choices:
                results.append(_analyse(src, one, cache, memo, limits, registry_triggered, output_format,
                                        cache_dir))
        finally:
            src.close()
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if output_format == "table":
        from rich.console import Console

        from hullscan.scanner.sbom import render_table

        with open(output, "w") if output else open(os.devnull, "w") as fh:
            console = Console(file=fh if output else sys.stdout, width=200)
            for inventory, _ in results:
                render_table(inventory, console)  # type: ignore[arg-type]
        return 0
    documents: list[str] = []
    for inventory, document in results:
        if document is None:
            from hullscan.scanner.sbom import write_spdx

            document = write_spdx(inventory)  # type: ignore[arg-type]
        documents.append(document)
    if output is None:
        if all_platforms and len(documents) > 1:
            sys.stdout.write("[\n" + ",\n".join(documents) + "\n]\n")
        else:
            sys.stdout.write(documents[0] + "\n")
    elif all_platforms and len(results) > 1:
        for (inventory, _), document in zip(results, documents, strict=True):
            info: Any = getattr(inventory, "image", inventory)
            tag = (info.platform or "unknown").replace("/", "-")
            target = output.with_name(f"{output.name.split('.')[0]}.{tag}{''.join(output.suffixes)}")
            target.write_text(document)
            print(f"wrote {target}", file=sys.stderr)
    else:
        output.write_text(documents[0])
    return 0


def _analyse(src, platform: str | None, cache, memo, limits: tuple[int, ...],  # type: ignore[no-untyped-def]
             registry_triggered: bool, output_format: str, cache_dir: Path | None) -> tuple[object, str | None]:
    """One platform's inventory and, for CycloneDX, its document: remembered, or analysed and rendered."""
    key = None
    if memo is not None:
        from hullscan.scanner import memo as image_memo

        peek = src.peek(platform)
        key = image_memo.image_key(peek, registry_triggered, limits)
        recalled = image_memo.recall(memo, key) if key else None
        if recalled is not None:
            from hullscan.scanner.inventory import ImageInfo

            document, warnings = recalled
            for warning in warnings:
                print(f"warning: {warning}", file=sys.stderr)
            return ImageInfo(name=peek.name, tag=peek.tag, digest=peek.digest, platform=peek.platform,
                             reference=peek.reference), document
    image = src.resolve(platform)
    from hullscan.scanner.image import analyze_resolved
    from hullscan.scanner.walker import Limits

    hook = None
    if output_format == "cyclonedx-json":
        from hullscan.scanner.sbom import preload_writer

        hook = preload_writer
    outcome: dict[str, Any] = {}
    inventory = analyze_resolved(image, cache=cache, limits=Limits(*limits), on_layer_walk=hook, outcome=outcome,
                                 cache_dir=cache_dir)
    for warning in inventory.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if inventory.partial:
        print(f"warning: partial scan: {len(inventory.partial)} layer problem(s) left packages unanalysed",
              file=sys.stderr)
    if output_format != "cyclonedx-json":
        return inventory, None
    from hullscan.scanner.sbom import write_cyclonedx

    document = write_cyclonedx(inventory, registry_triggered)
    if key is not None and outcome.get("complete"):
        from hullscan.scanner import memo as image_memo

        image_memo.remember(memo, key, document, inventory.warnings)
    return inventory, document
