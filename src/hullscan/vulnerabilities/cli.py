"""`hullscan remediation PROJECT DIGEST`: the image page's remediation hints from the command line, straight from
the database as the other parts' commands (an operator on the server reads every project)."""

from __future__ import annotations

import json

import typer

from hullscan.auth.cli import project_session


def remediation_cmd(project: str = typer.Argument(..., help="GROUP/PROJECT or numeric id."),
                    digest: str = typer.Argument(..., help="The image's manifest digest (sha256:...)."),
                    as_json: bool = typer.Option(False, "--json", help="The API's JSON instead of sentences.")) -> None:
    """Which package upgrades fix the image's open findings, its base image, and whether rebuilding on the base's
    tag (now a newer scanned digest) fixes some (docs/remediation.md)."""
    from hullscan.vulnerabilities import remediation

    with project_session(project) as (session, found):
        result = remediation.remediation(session, found.id, digest, lambda project_id: project_id is not None)
        if result is None:
            typer.echo(f"error: image {digest} not found in project {found.path}", err=True)
            raise typer.Exit(1)
        data = result.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    base = data["base"]
    if base:
        typer.echo(f"base image: {base['repository']}@{base['digest']} (found by {base['found_by']})")
    for line in [p["hint"] for p in data["packages"]] + [r["hint"] for r in data["rebuild"]]:
        typer.echo(line)
    if not data["packages"] and not data["rebuild"]:
        typer.echo("no remediation known: no open finding has a fixed version")


def register(app: typer.Typer) -> None:
    """Add `hullscan remediation` to the top-level CLI."""
    app.command("remediation")(remediation_cmd)
