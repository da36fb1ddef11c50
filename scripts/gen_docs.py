#!/usr/bin/env python3
"""Generate docs/configuration.md from `Settings` and docs/cli.md from every command's `--help`.

    .venv/bin/python scripts/gen_docs.py           # rewrite both files
    .venv/bin/python scripts/gen_docs.py --check   # exit 1 naming the stale file (tests/test_docs.py runs this)

Generated rather than written so that the reference cannot drift from the code: a new setting or option
shows up here the moment `gen_docs.py` runs, and the test fails until it has.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIGURATION = REPO / "docs" / "configuration.md"
CLI = REPO / "docs" / "cli.md"
WIDTH = 100
REGENERATE = "Regenerate with `.venv/bin/python scripts/gen_docs.py`; `tests/test_docs.py` fails when it is stale."


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation)
    return re.sub(r"\b(?:typing|pathlib|pydantic\.types)\.", "", text)


def _default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "(required)"
    if value is None:
        return "none"
    if isinstance(value, Path):
        return f"`{value if value.is_absolute() else './' + str(value)}`"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def configuration_md() -> str:
    """Every setting: its hullscan.toml key, environment variable, type, default and description."""
    from hullscan.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    lines = [
        "# Configuration reference",
        "",
        f"Generated from `hullscan.settings.Settings`. {REGENERATE}",
        "",
        "Every command (server or not) reads the same settings. Each value comes from, highest first: the",
        f"environment variable (`{prefix}<NAME>`), `hullscan.toml` in the working directory (another file with",
        "`HULLSCAN_CONFIG=path`), then the default below. List and object values are JSON in the environment",
        "(`HULLSCAN_ADVISORIES_SOURCES='[\"osv\",\"kev\"]'`) and TOML arrays or tables in the file. Sizes are",
        "bytes and durations seconds unless the name says otherwise.",
        "",
        "| setting (`hullscan.toml`) | environment | type | default | description |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        lines.append(f"| `{name}` | `{(prefix + name).upper()}` | `{_cell(_type_name(field.annotation))}` "
                     f"| {_cell(_default(field))} | {_cell(field.description or '')} |")
    return "\n".join(lines) + "\n"


def _commands() -> list[tuple[list[str], bool]]:
    """(path, is_group) of every command, depth first, alphabetical."""
    import typer.main

    from hullscan.cli import app

    out: list[tuple[list[str], bool]] = []

    def walk(command: Any, path: list[str]) -> None:  # a click Group has `commands` (typer may vendor click)
        children = getattr(command, "commands", None)
        out.append((path, children is not None))
        for name in sorted(children or {}):
            if not children[name].hidden:
                walk(children[name], [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def _help(path: list[str]) -> str:
    from typer.testing import CliRunner

    from hullscan.cli import app

    env = {"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"}
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="hullscan", env=env, terminal_width=WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"hullscan {' '.join(path)} --help exited {result.exit_code}: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines()).strip("\n")


def cli_md() -> str:
    """The `--help` of every command and group, as a man page would list them."""
    commands = _commands()
    lines = [
        "# Command-line reference",
        "",
        f"The `--help` output of every `hullscan` command, generated. {REGENERATE}",
        "",
        "Exit codes: 0 success. `hullscan scan` exits 1 (or the `--exit-code` given) only when `--fail-on` or",
        "`--exit-code` is set and a finding qualifies; errors (unreadable image or SBOM, bad options, an expired",
        "`--timeout`) exit 2, so CI can tell \"findings\" from \"the scan did not run\". This differs from Trivy on",
        "purpose: Trivy exits 1 on errors, the same code as its usual `--exit-code 1`, so a pipeline that gates on",
        "findings there cannot tell a broken scan from a vulnerable image. Scripts written for Trivy keep working:",
        "0 still means \"ran, nothing to report\" and any non-zero code still fails the job.",
        "",
        "`hullscan sbom` and `hullscan scan` take Trivy's spellings: `-f/--format`, `-o/--output`, `-s/--severity`,",
        "`--ignore-unfixed`/`--only-fixed`, `--exit-code`, `--ignorefile`, `--timeout`, `--cache-dir`, `--platform`,",
        "`--insecure`, `--username`/`--password`/`--password-stdin`, `--registry-token`, `-q`, `--version`.",
        "Until this release `sbom -o` was the format and `-f` the file. The old short flags still work for one",
        "release, with a warning on stderr, and are told apart by their value: `-o` followed by a format name",
        "(`-o spdx-json`) is the old format flag (to write a file of that name, write `-o ./spdx-json`), and `-f`",
        "followed by anything that is not a format name (`-f out.json`) is the old file flag.",
        "",
        "Images: `docker://HOST/REPO:TAG`, `oci-dir:`, `oci-archive:`, `docker-archive:`, `dir:`, and the local",
        "engines' images as `docker-daemon:IMAGE` and `podman:IMAGE` (the engine API socket the engine's CLI would",
        "use: `$DOCKER_HOST` or /var/run/docker.sock; `$CONTAINER_HOST`, `$XDG_RUNTIME_DIR/podman/podman.sock` or",
        "/run/podman/podman.sock; else `docker save`/`podman save`), exported into the scratch dir up to",
        "`scanner_max_daemon_image_bytes`.",
        "",
        "Ignore files (`hullscan scan`): `--ignorefile` reads Trivy's `.trivyignore` and `.trivyignore.yaml` and",
        "Grype's `.grype.yaml` `ignore:` rules (vulnerability, fix-state, package name/version/type/location);",
        "without it, `./.trivyignore`, else `./.grype.yaml`, is read when present. `--vex` (OpenVEX) is a",
        "`hullscan scan` option only: VEX statements say which findings do not apply, and `hullscan sbom` has no",
        "findings to apply them to; an SBOM stays the inventory, and VEX files are given to the scan of it.",
        "",
        "Shell completion: `eval \"$(hullscan completion bash)\"` (or `zsh`; fish: `hullscan completion fish >",
        "~/.config/fish/completions/hullscan.fish`) completes every command and option, `sbom` and `scan` included;",
        "the script is static (TAB runs no Python), so regenerate it after an upgrade. `hullscan advisories",
        "import|sync` draw a progress bar on a terminal only (stderr a TTY), none in pipes or CI, none with `-q`.",
        "",
        "## Commands",
        "",
    ]
    for path, _group in commands[1:]:
        anchor = "hullscan-" + "-".join(path)
        lines.append(f"{'  ' * (len(path) - 1)}- [`hullscan {' '.join(path)}`](#{anchor})")
    for path, _group in commands:
        lines += ["", f"## hullscan {' '.join(path)}".rstrip(), "", "```text", _help(path), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    import socket

    # `hullscan runner --name` defaults to the host's name, read when the CLI is imported: render it as a
    # placeholder so the reference is the same on every machine (this process imports the CLI only below).
    socket.gethostname = lambda: "<hostname>"
    wanted = {CONFIGURATION: configuration_md(), CLI: cli_md()}
    if argv == ["--check"]:
        stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(REPO)} is stale: run .venv/bin/python scripts/gen_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
