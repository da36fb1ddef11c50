"""`hullscan advisories sync|import|status|show|search`: the advisory store from the command line."""

from __future__ import annotations

import json
from typing import Optional

import typer

advisories_app = typer.Typer(help="Advisory database: sync sources, import files, look advisories up.",
                             no_args_is_help=True)


def _open():  # type: ignore[no-untyped-def]
    from hullscan.db import Database, upgrade
    from hullscan.settings import get_settings

    settings = get_settings()
    upgrade(settings)
    return settings, Database(settings)


def _report(results, quiet: bool = False) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Column, Table

    if not quiet:
        # source names are never shortened, whatever the width (a pipe's 80 columns): scripts grep them
        source = Column("source", no_wrap=True, min_width=max((len(r.source) for r in results), default=6))
        table = Table(source, "ok", "records", "skipped", "added", "modified", "withdrawn", "unchanged", "error")
        for r in results:
            table.add_row(r.source, "yes" if r.ok else "NO", str(r.records), str(sum(r.skipped.values())),
                          str(r.added), str(r.modified), str(r.withdrawn), str(r.unchanged), r.error or "")
        Console().print(table)
    failed = [r for r in results if not r.ok]
    for r in failed:  # the whole reason, unwrapped, where scripts look for it
        typer.echo(f"error: {r.source}: {r.error}", err=True)
    if failed:
        raise typer.Exit(1)


def _with_progress(run, quiet: bool):  # type: ignore[no-untyped-def]
    """Run `run(progress)` with a bar per source on stderr, only when stderr is a terminal and not -q: piped
    and CI runs get no bar at all (nor rich's last frame), only the summary table and errors."""
    import os
    import sys

    if quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return run(None)
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn,
                               TimeElapsedColumn)

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(file=sys.stderr), transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(source: str, advanced: int, total: int | None) -> None:
            if source not in tasks:
                tasks[source] = bar.add_task(source, total=total)
            bar.update(tasks[source], advance=advanced, total=total)

        return run(progress)


QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary table: only errors (stderr).")


@advisories_app.command("sync")
def sync_cmd(
    source: Optional[list[str]] = typer.Option(  # noqa: UP007
        None, "--source", "-s",
        help="osv, osv:<ecosystem>, alpine, wolfi, chainguard, redhat, redhat-cpe, amazon, oracle, mariner, photon, suse, "
             "debian, ubuntu, kev, epss, nvd, cve (default: settings)."),
    quiet: bool = QUIET,
) -> None:
    """Fetch the configured sources (incrementally where the source allows) into the store."""
    from hullscan.advisories import service

    settings, db = _open()
    try:
        results = _with_progress(lambda p: service.sync(db, settings, source or None, progress=p), quiet)
    finally:
        db.dispose()
    _report(results, quiet)


@advisories_app.command("import")
def import_cmd(
    target: str = typer.Argument(..., help="File, folder or http(s) URL."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f",  # noqa: UP007
                                      help="osv, alpine, wolfi, chainguard, redhat-vex, amazon-updateinfo, oracle-oval, "
                                           "mariner-oval, photon, suse-oval, debian-list, "
                                           "debian-json, ubuntu-oval, kev, epss, cve, nvd."),
    source: Optional[str] = typer.Option(None, "--source", help="Source name to file the data under."),  # noqa: UP007
    quiet: bool = QUIET,
) -> None:
    """Import advisory data from a file, folder (formats detected per file) or URL; one atomic write per source.

    Exits 1, writing nothing for that source, when none of its records could be used."""
    from hullscan.advisories import service

    settings, db = _open()
    try:
        results = _with_progress(lambda p: service.import_path(db, settings, target, fmt, source, progress=p),
                                 quiet)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    _report(results, quiet)


@advisories_app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Sources (records, skipped by reason, last sync, last error), and records and age per ecosystem."""
    from rich.console import Console
    from rich.table import Table

    from hullscan.advisories import service

    settings, db = _open()
    try:
        with db.session() as session:
            data = service.status(session, per_ecosystem=True)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("source", "kind", "records", "advisories", "skipped", "skipped by reason", "last success", "error")
    for s in data["sources"]:
        reasons = ", ".join(f"{k}={v['count']}" for k, v in sorted(s["skipped_reasons"].items()))
        table.add_row(s["name"], s["kind"], str(s["records"]), str(s["advisories"]), str(s["skipped"]), reasons,
                      s["last_success_at"] or "never", s["last_error"] or "")
    console = Console()
    console.print(table)
    by_eco = Table("ecosystem / release", "advisories", "entries", "packages", "newest record", "age (days)")
    for e in data["ecosystems"]:
        by_eco.add_row(e["ecosystem"], str(e["advisories"]), str(e["affected_entries"]), str(e["packages"]),
                       (e["newest_modified"] or "unknown")[:10], str(e["newest_modified_age_days"] or 0)
                       if e["newest_modified"] else "")
    console.print(by_eco if data["ecosystems"] else "no advisories loaded for any ecosystem")
    console.print(" ".join(f"{k}={v}" for k, v in data["totals"].items()))


@advisories_app.command("show")
def show_cmd(advisory_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """One advisory with all its identifiers, enrichment and affected packages."""
    from hullscan.advisories import service

    settings, db = _open()
    try:
        with db.session() as session:
            store = service.SqlAdvisoryStore(session)
            found = store.advisories([advisory_id]).get(advisory_id)
            if found is None:
                typer.echo(f"error: advisory {advisory_id!r} not found", err=True)
                raise typer.Exit(1)
            doc = service.advisory_document(found, store.affected_of(advisory_id))
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{doc['id']}[/bold] ({doc['source']}) severity={doc['severity']} "
                  f"cvss={doc['cvss_score']} kev={doc['known_exploited']} epss={doc['epss_score']}")
    console.print(f"aliases: {', '.join(doc['aliases']) or '-'}")
    if doc["summary"]:
        console.print(doc["summary"])
    table = Table("ecosystem", "package", "state", "ranges", "versions")
    for a in doc["affected"]:
        ranges = "; ".join(", ".join(f"{k} {v}" for e in r["events"] for k, v in e.items()) for r in a["ranges"])
        table.add_row(a["ecosystem"], a["package"], a["fix_state"], ranges, str(len(a["versions"])))
    console.print(table)


@advisories_app.command("search")
def search_cmd(
    package: str = typer.Argument(...),
    ecosystem: Optional[str] = typer.Option(None, "--ecosystem", "-e"),  # noqa: UP007
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Advisories affecting a package (name normalised per ecosystem)."""
    from hullscan.advisories import service

    settings, db = _open()
    try:
        with db.session() as session:
            entries = service.SqlAdvisoryStore(session).search(package, ecosystem)
            docs = [service.affected_document(a) for a in entries]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(docs, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("advisory", "ecosystem", "package", "state", "ranges")
    for a in docs:
        ranges = "; ".join(", ".join(f"{k} {v}" for e in r["events"] for k, v in e.items()) for r in a["ranges"])
        table.add_row(a["advisory_id"], a["ecosystem"], a["package"], a["fix_state"], ranges)
    Console().print(table)
    if not docs:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
    app.add_typer(advisories_app, name="advisories")
