"""Commands of this part, added to the `hullscan` CLI by `register`."""

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the top-level CLI."""
