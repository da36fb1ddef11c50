from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from hullscan import __version__
from hullscan.db import Database
from hullscan.settings import Settings, get_settings



def _start_workers(app: FastAPI, artifact_path: Callable[[str], Path]) -> Any:
    """The background loops (`hullscan.workers`) on `worker` and `all` nodes; None on `api` nodes."""
    settings: Settings = app.state.settings
    if settings.role == "api":
        return None
    from hullscan.pipelines.signal import QueueSignal
    from hullscan.workers import WorkerContext, Workers, node_name

    ctx = WorkerContext(db=app.state.db, settings=settings, node=node_name(), queue=QueueSignal.of(app),
                        metrics=app.state.metrics, artifact_path=artifact_path)
    workers = app.state.workers = Workers(ctx)
    workers.start()
    return workers


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the one ASGI app that serves API, registry and UI on one port."""
    from hullscan.advisories import api as advisories_api
    from hullscan.auth import api as auth_api
    from hullscan.auth.http import install_error_handlers
    from hullscan.events import api as events_api
    from hullscan.ingestion.validation import warm_up
    from hullscan.pipelines import api as pipelines_api
    from hullscan.policy import api as policy_api
    from hullscan.registry import http as registry_http
    from hullscan.registry import webhook as registry_webhook
    from hullscan.vulnerabilities import api as vulnerabilities_api
    from hullscan.vulnerabilities import gitlab_api
    from hullscan.vex import api as vex_api
    from hullscan.web import health, metrics, outage

    api_parts = (auth_api, events_api, pipelines_api, advisories_api, vulnerabilities_api, policy_api, vex_api)
    pipelines_api.register_job_tokens()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await auth_api.start(app)  # the first administrator and the registry token issuer
        # Compile the SBOM schema off the event loop now rather than inside the first runner's upload.
        app.state.sbom_schema_warm_up = asyncio.get_running_loop().run_in_executor(None, warm_up)
        await pipelines_api.start(app)  # runners' long polls and the local runner pool (worker role)
        workers = _start_workers(app, pipelines_api.artifact_store(app.state.settings).path)
        try:
            yield
        finally:
            if workers is not None:
                await workers.stop()
            await pipelines_api.stop(app)
            app.state.harbor.close()
            app.state.db.dispose()

    settings = settings or get_settings()
    app = FastAPI(
        title="hullscan",
        version=__version__,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = Database(settings)
    app.state.metrics = metrics.install(app)
    outage.install(app)
    settings.blob_dir.mkdir(parents=True, exist_ok=True)

    app.include_router(health.router)
    from hullscan.web import ui
    from starlette.staticfiles import StaticFiles

    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    app.add_middleware(ui.UISecurityMiddleware, data_dir=settings.resolved_data_dir, secret_setting=settings.ui_secret,
                       machine_prefixes=(settings.harbor_adapter_prefix + "/",))
    app.include_router(registry_http.router)
    app.state.pull_gate = policy_api.registry_gate  # manifest GET/HEAD ask the project's pull policy
    app.include_router(auth_api.token_router)
    app.include_router(registry_webhook.router, prefix="/api/v1")
    for part in api_parts:
        app.include_router(part.router, prefix="/api/v1")
    app.include_router(gitlab_api.router, prefix="/api/v4")  # what GitLab's clients call
    from hullscan.harbor import api as harbor_api

    harbor_api.install(app)  # Harbor's scanner adapter API, on its own prefix

    install_error_handlers(app)
    app.openapi = lambda: _openapi_with_errors(app)  # type: ignore[method-assign]

    @app.get("/api/v1/version", tags=["meta"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    return app


ERROR_SCHEMA = {
    "type": "object", "required": ["error", "message"], "title": "Error",
    "properties": {
        "error": {"type": "string", "description": "A stable code: bad_request, not_found, ..."},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"},
                    "description": "Invalid fields (400: of the query string; 422: of the body)."},
    },
}
GITLAB_ERROR_SCHEMA = {  # /api/v4 answers GitLab's error bodies (auth.http.gitlab_error)
    "type": "object", "title": "GitLabError", "anyOf": [{"required": ["message"]}, {"required": ["error"]}],
    "properties": {"message": {"type": "string", "description": "\"<status> <text>\", e.g. \"404 project 'x' not found\""},
                   "error": {"type": "string", "description": "Why a parameter was refused (400, 422)"}},
}
REGISTRY_ERRORS_SCHEMA = {
    "type": "object", "required": ["errors"], "title": "RegistryErrors",
    "properties": {"errors": {"type": "array", "items": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "detail": {}}}}},
}
# Every API operation may answer these (one error body); route-specific ones come from `responses=`.
COMMON_ERRORS = {
    "400": "Bad request: a query parameter is invalid (an unknown filter value, a page out of range) or a value "
           "is refused (out of range, invalid, or in conflict with a rule)",
    "401": "No valid credentials", "403": "The caller may not do this",
    "404": "Not found, or hidden from the caller (as GitLab answers)", "405": "Method not allowed",
    "413": "Request too large", "415": "Unsupported media type",
    "422": "Invalid request: the body (or a path parameter) does not match this schema",
    "429": "Too many failed sign-ins",
}


def _openapi_with_errors(app: FastAPI) -> dict[str, object]:
    """The generated schema with the errors every operation can answer documented once, in the one error shape
    the API sends (FastAPI would document only its own 422 body), so clients and schemathesis know them."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["RegistryErrors"] = REGISTRY_ERRORS_SCHEMA
    schemas["GitLabError"] = GITLAB_ERROR_SCHEMA
    api_error = {"$ref": "#/components/schemas/Error"}
    token_error = {"anyOf": [api_error, {"$ref": "#/components/schemas/RegistryErrors"}]}  # /jwt/auth: as Docker's
    for path, operations in schema.get("paths", {}).items():
        ref = token_error if path.startswith("/jwt/") else api_error
        ref = {"$ref": "#/components/schemas/GitLabError"} if path.startswith("/api/v4/") else ref
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_ERRORS.items():
                current = responses.get(status)
                if current is None or status == "422":
                    responses[status] = {"description": description, "content": {"application/json": {"schema": ref}}}
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
