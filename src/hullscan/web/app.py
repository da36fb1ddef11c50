from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from hullscan import __version__
from hullscan.db import Database
from hullscan.settings import Settings, get_settings

log = logging.getLogger("hullscan.web")


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
    from hullscan.registry import http as registry_http
    from hullscan.registry import webhook as registry_webhook
    from hullscan.vulnerabilities import api as vulnerabilities_api
    from hullscan.web import health, metrics, outage

    api_parts = (auth_api, events_api, pipelines_api, advisories_api, vulnerabilities_api)
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
    if settings.database_url and not settings.database_url.startswith("sqlite") and settings.unshared_secrets:
        log.warning("secrets generated per data directory; set them for every node of a multi-node instance",
                    extra={"fields": {"settings": settings.unshared_secrets}})
    app.state.metrics = metrics.install(app)
    outage.install(app)
    settings.blob_dir.mkdir(parents=True, exist_ok=True)

    app.include_router(health.router)
    from hullscan.web import ui
    from starlette.staticfiles import StaticFiles

    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    app.add_middleware(ui.UISecurityMiddleware, data_dir=settings.resolved_data_dir, secret_setting=settings.ui_secret)
    app.include_router(registry_http.router)
    app.include_router(auth_api.token_router)
    app.include_router(registry_webhook.router, prefix="/api/v1")
    for part in api_parts:
        app.include_router(part.router, prefix="/api/v1")

    install_error_handlers(app)

    @app.get("/api/v1/version", tags=["meta"])
    async def version() -> dict[str, str]:
        return {"version": __version__}

    return app
