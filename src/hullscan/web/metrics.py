"""`GET /metrics` in Prometheus's text format (see `hullscan.workers.metrics` for what is exported)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hullscan.workers.metrics import Metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Counts only (no names of images or users); read on a worker thread since it queries the database."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> Metrics:
    found = Metrics(app.state.db, app.state.settings.metrics_aggregate_seconds)
    app.include_router(router)
    return found
