from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter()


@router.get("/-/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/-/ready", include_in_schema=False)
def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers and the blob storage is writable."""
    problems = []
    try:
        with request.app.state.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report any failure as not ready
        problems.append(f"database: {exc.__class__.__name__}")
    settings = request.app.state.settings
    if settings.storage_driver == "s3":  # the bucket answers (a HEAD of a key that need not exist)
        from hullscan.registry.storage import driver_for

        try:
            driver_for(settings, "blobs").stat("_ready")
        except Exception as exc:  # noqa: BLE001 - report any failure as not ready
            problems.append(f"storage: {exc.__class__.__name__}")
    elif not settings.blob_dir.is_dir():
        problems.append("blob storage missing")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})
