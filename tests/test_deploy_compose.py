"""deploy/compose.yaml and the Dockerfile, checked against this hullscan without building or running anything
(the image itself is built and run by `make image-smoke`, scripts/image_smoke.py): every HULLSCAN_* variable is
a real setting (or the envvar of an option of the command it is given to), every hullscan command and option
exists, API nodes and runners run one image, migrations run once before the API nodes, secrets come from
outside the file, the public URL is not a loopback address (runner containers fetch registry tokens there),
and the Dockerfile's entry point, command and health check name what exists."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from hullscan.cli import app
from hullscan.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")  # names whose values must come from .env or a secret file
LOOPBACK = re.compile(r"//(localhost|127\.[0-9.]+|\[::1\])[:/]")
INTERPOLATION = re.compile(r"\$\{[A-Z0-9_]+(?::?-[^}]*)?\}")


def _compose(text: str | None = None) -> dict[str, Any]:
    return yaml.safe_load(text if text is not None else COMPOSE.read_text())  # anchors and merges resolved


def _setting_names() -> set[str]:
    return {f"HULLSCAN_{name.upper()}" for name in Settings.model_fields}


def _click_command(words: list[str]) -> tuple[Any, list[str]]:
    """The click command `words` name (subcommands followed as far as they go) and the words left over."""
    command: Any = typer.main.get_command(app)
    rest = list(words)
    while rest and getattr(command, "commands", None) and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


def _hullscan_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if str(svc.get("image", "")).split(":")[0].endswith("hullscan") or "build" in svc}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def check_compose(compose: dict[str, Any]) -> list[str]:
    """What is wrong with a compose file (empty: nothing): the rules this module's docstring lists."""
    problems: list[str] = []
    services = compose["services"]
    ours = _hullscan_services(compose)
    settings = _setting_names()
    for name, svc in ours.items():
        words = svc.get("command")
        if isinstance(words, str):
            words = shlex.split(words)
        if not words:
            problems.append(f"{name}: no command (the image's default is implicit)")
            continue
        command, rest = _click_command(words)
        if getattr(command, "commands", None) is not None or command.name == "hullscan":
            problems.append(f"{name}: {' '.join(words)!r} is not a hullscan command")
            continue
        options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("-")}
        envvars = {e for p in command.params for e in ([p.envvar] if isinstance(p.envvar, str) else p.envvar or [])}
        for word in rest:
            if word.startswith("-") and word.split("=", 1)[0] not in options:
                problems.append(f"{name}: {word} is not an option of hullscan {' '.join(words[:len(words) - len(rest)])}")
        for var in _environment(svc):
            if var.startswith("HULLSCAN_") and var not in settings | envvars:
                problems.append(f"{name}: {var} is neither a setting nor an option's variable")
    for name, svc in services.items():
        for var, value in _environment(svc).items():
            literal = INTERPOLATION.sub("", value)
            if any(w in var for w in SECRET_WORDS) and not var.endswith("_FILE") and literal.strip():
                problems.append(f"{name}: {var} is an inline literal, not ${{...}} or a secret file")
            if var == "HULLSCAN_PUBLIC_URL" and LOOPBACK.search(value):
                problems.append(f"{name}: {var} is a loopback address: inside a runner container that is the "
                                "container itself (the registry's token realm is the public URL)")
            if "://" in value and "@" in value:  # a URL with credentials: its password must be interpolated
                userinfo = value.split("://", 1)[1].split("@", 1)[0]
                if ":" in userinfo and not INTERPOLATION.fullmatch(userinfo.split(":", 1)[1]):
                    problems.append(f"{name}: {var} carries an inline password")

    images = {name: svc.get("image") for name, svc in ours.items()}
    if len(set(images.values())) != 1:
        problems.append(f"hullscan services run different images: {images}")
    migrate = [n for n, s in ours.items() if _click_command(list(s.get("command") or []))[0].name == "upgrade"]
    apis = [n for n, s in ours.items() if (s.get("command") or [None])[0] == "serve"]
    runners = [n for n, s in ours.items() if (s.get("command") or [None])[0] == "runner"]
    if len(migrate) != 1:
        problems.append(f"migrations must run in exactly one service, not {migrate}")
    elif (services[migrate[0]].get("deploy") or {}).get("replicas", 1) != 1:
        problems.append(f"{migrate[0]}: migrations run more than once")
    if len(apis) < 2 or not runners:
        problems.append(f"expected several API nodes and runners: {apis}, {runners}")
    for name in apis:
        condition = ((ours[name].get("depends_on") or {}).get(migrate[0] if migrate else "") or {}).get("condition")
        if condition != "service_completed_successfully":
            problems.append(f"{name} does not wait for the migrations to finish")
    return problems


def test_compose_matches_this_hullscan() -> None:
    assert check_compose(_compose()) == []


def test_compose_has_two_api_nodes_three_runners_postgres_and_s3() -> None:
    compose = _compose()
    ours = _hullscan_services(compose)
    apis = [s for s in ours.values() if s["command"][0] == "serve"]
    assert len(apis) == 2 and all("--no-runner" in s["command"] for s in apis)
    runner = next(s for s in ours.values() if s["command"][0] == "runner")
    assert runner["deploy"]["replicas"] == 3
    env = _environment(apis[0])
    assert env["HULLSCAN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["HULLSCAN_STORAGE_DRIVER"] == "s3"
    # every node shares the secrets `serve` refuses to start without on PostgreSQL
    assert {"HULLSCAN_UI_SECRET", "HULLSCAN_RUNNER_REGISTRATION_TOKEN", "HULLSCAN_REGISTRY_TOKEN_KEY_FILE"} <= set(env)
    assert all(_environment(s) == env for s in apis)


def test_every_interpolated_variable_is_written_by_make_secrets() -> None:
    """`${VAR}` without a default must come from deploy/.env, which deploy/make-secrets.sh writes."""
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)\}", COMPOSE.read_text()))
    written = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / "deploy" / "make-secrets.sh").read_text(), re.M))
    assert needed and needed <= written, needed - written
    public = re.search(r"^HULLSCAN_PUBLIC_URL=(.*)$", (ROOT / "deploy" / "make-secrets.sh").read_text(), re.M)
    assert public and not LOOPBACK.search(public.group(1))


@pytest.mark.parametrize("mutation, expected", [
    (("HULLSCAN_STORAGE_DRIVER: s3", "HULLSCAN_STORAGE_DRIVR: s3"), "HULLSCAN_STORAGE_DRIVR is neither"),
    (('["serve", "--no-runner"]', '["serve", "--no-runners"]'), "--no-runners is not an option"),
    (('["db", "upgrade"]', '["db", "upgrad"]'), "is not a hullscan command"),
    (("HULLSCAN_UI_SECRET: ${HULLSCAN_UI_SECRET}", "HULLSCAN_UI_SECRET: hunter2"), "HULLSCAN_UI_SECRET is an inline"),
    (("hullscan:${POSTGRES_PASSWORD}@", "hullscan:hunter2@"), "carries an inline password"),
    (("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}", "POSTGRES_PASSWORD: hunter2"), "POSTGRES_PASSWORD is an inline"),
    (("HULLSCAN_PUBLIC_URL: ${HULLSCAN_PUBLIC_URL}", "HULLSCAN_PUBLIC_URL: ${HULLSCAN_PUBLIC_URL:-http://localhost:8080}"),
     "HULLSCAN_PUBLIC_URL is a loopback address"),
    (("migrate: {condition: service_completed_successfully}", "migrate: {condition: service_started}"),
     "does not wait for the migrations"),
    (('command: ["runner"', 'image: hullscan:other\n    command: ["runner"'), "run different images"),
])
def test_the_check_catches_what_it_guards_against(mutation: tuple[str, str], expected: str) -> None:
    text = COMPOSE.read_text()
    assert mutation[0] in text
    problems = check_compose(_compose(text.replace(mutation[0], mutation[1], 1)))
    assert any(expected in p for p in problems), problems


# --- Dockerfile --------------------------------------------------------------------------------------------

def _final_stage() -> dict[str, str]:
    """The final stage's instructions (continuation lines joined), last one of each kind."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages = re.split(r"^FROM\s", text, flags=re.M)
    out: dict[str, str] = {}
    for line in stages[-1].splitlines()[1:]:
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out[word.upper()] = (out.get(word.upper(), "") + " " + rest).strip() if word.upper() == "ENV" else rest
    return out


def test_dockerfile_entrypoint_command_and_health_check_exist(tmp_path: Path) -> None:
    final = _final_stage()
    entrypoint, command = json.loads(final["ENTRYPOINT"]), json.loads(final["CMD"])
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert entrypoint == ["hullscan"] and re.search(r'^hullscan = "hullscan.__main__:main"$', pyproject, re.M)
    leaf, rest = _click_command(command)
    assert leaf.name == "serve" and rest == []
    health = json.loads(final["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert health[0] == "python"
    path = re.search(r"http://127\.0\.0\.1:%s(/[^'\"]*)", health[-1])
    assert path, health
    from hullscan.web.app import create_app

    # the route `hullscan.web.health.ready` (database and storage answer) is served at that path
    assert create_app(Settings(data_dir=tmp_path)).url_path_for("ready") == path.group(1) == "/-/ready"
    compile(health[-1], "healthcheck", "exec")  # the inline program is valid Python


def test_dockerfile_settings_user_and_build_secrets() -> None:
    final = _final_stage()
    env = dict(re.findall(r"(\w+)=(\S+)", final["ENV"]))
    assert {k for k in env if k.startswith("HULLSCAN_")} <= _setting_names()
    assert env["HULLSCAN_DATA_DIR"] == "/var/lib/hullscan" and env["HULLSCAN_HOST"] == "0.0.0.0"
    assert final["USER"].split(":")[0] not in ("0", "root")
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=", text, re.M)  # deploy/build-base.sh's base goes in here
    # pip's index and CA are build-stage arguments and a secret mount, never in the final stage
    assert "PIP_INDEX_URL" not in text.split("\nFROM ")[-1] and "type=secret" not in text.split("\nFROM ")[-1]
    assert final["COPY"].split()[-1] == "/opt/hullscan"  # where the systemd units expect it, too
