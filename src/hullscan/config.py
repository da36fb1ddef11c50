"""Raw setting values, read without pydantic, for commands where start-up time counts (`hullscan sbom`,
`hullscan scan`): importing pydantic-settings costs ~0.25 s here, more than a warm scan.

The values are looked up the way `hullscan.settings.Settings` looks them up -- `HULLSCAN_<NAME>` in the
environment (any case) first, then `<name>` in `hullscan.toml` or `$HULLSCAN_CONFIG` -- and are converted by
the caller. tests/test_config.py holds every name read this way to `Settings` itself.
"""

from __future__ import annotations

import os
from pathlib import Path


def raw_settings(names: tuple[str, ...]) -> dict[str, str]:
    """The named settings that are set, as strings (environment over the TOML file). Raises OSError or
    ValueError (tomllib's TOMLDecodeError) for an unreadable or malformed file."""
    found: dict[str, str] = {}
    config = Path(os.environ.get("HULLSCAN_CONFIG", "hullscan.toml"))
    if config.is_file():
        import tomllib

        with config.open("rb") as fh:
            data = tomllib.load(fh)
        found.update({name: str(data[name]) for name in names if name in data})
    env = {key.lower(): value for key, value in os.environ.items()}
    found.update({name: env[f"hullscan_{name}"] for name in names if env.get(f"hullscan_{name}")})
    return found


def resolved_data_dir(data_dir: str | None) -> Path:
    """`Settings.resolved_data_dir` for a raw `data_dir` value."""
    return Path(data_dir if data_dir is not None else "./var").expanduser().resolve()
