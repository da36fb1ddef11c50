"""The Harbor Pluggable Scanner Adapter API v1.2 (`{harbor_adapter_prefix}/api/v1/...`): metadata, scan, report.

Harbor is the only caller: it is judged by `harbor_adapter_api_key` (Bearer, Basic with the key as password, or
`X-ScannerAdapter-API-Key`), not as a user; without the setting every route answers 404. Bodies and errors are
Harbor's own shapes and MIME types (tests/data/harbor/), so these routes are left out of our OpenAPI schema."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from hullscan.harbor import service
from hullscan.harbor.service import Adapter, QueueFull, ScanRequestError

router = APIRouter(include_in_schema=False)
REFRESH_AFTER_SECONDS = 2  # what a pending report tells Harbor to wait before asking again


def install(app: FastAPI) -> None:
    """Mount the adapter's routes on their prefix; the scans run on the app's Adapter."""
    settings = app.state.settings
    app.state.harbor = Adapter(settings, app.state.db)
    app.include_router(router, prefix=settings.harbor_adapter_prefix)


def _json(status: int, body: Any, media_type: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type=media_type,
                    headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The spec's ErrorResponse: {"error": {"message": ...}}."""
    return _json(status, {"error": {"message": message}}, service.ERROR, headers)


def _key_matches(request: Request, key: str) -> bool:
    """Constant-time: `Bearer KEY`, `Basic base64(any:KEY)`, or the `X-ScannerAdapter-API-Key: KEY` header."""
    expected = key.encode()
    header = request.headers.get("x-scanneradapter-api-key")
    if header is not None:
        return hmac.compare_digest(header.encode(), expected)
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), expected)
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).partition(b":")
        except binascii.Error:
            return False
        return hmac.compare_digest(password, expected)
    return False


def _check(request: Request) -> Response | None:
    """None when Harbor may go on; else the 404 of a disabled adapter or the 401 of a wrong key."""
    key = request.app.state.settings.harbor_adapter_api_key
    if key is None or not key.get_secret_value():
        return _error(404, "not found")
    if not _key_matches(request, key.get_secret_value()):
        return _error(401, "invalid or missing scanner adapter API key", {"WWW-Authenticate": 'Bearer realm="harbor-adapter"'})
    return None


@router.get("/api/v1/metadata")
async def get_metadata(request: Request) -> Response:
    """Scanner name, vendor, version and capabilities, for Harbor's scanner registration."""
    refused = _check(request)
    if refused:
        return refused
    updated = await anyio.to_thread.run_sync(request.app.state.harbor.database_updated_at)
    return _json(200, service.metadata(updated), service.METADATA)


@router.post("/api/v1/scan")
async def accept_scan(request: Request) -> Response:
    """Queue a scan of the artifact Harbor names; 202 with the id to poll the report with."""
    refused = _check(request)
    if refused:
        return refused
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > service.MAX_REQUEST_BYTES:
            return _error(400, f"the scan request is larger than {service.MAX_REQUEST_BYTES} bytes")
    try:
        scan = service.parse_scan_request(bytes(body))
        scan_id = request.app.state.harbor.submit(scan)
    except ScanRequestError as exc:
        return _error(exc.status, str(exc))
    except QueueFull as exc:
        return _error(429, str(exc), {"Retry-After": str(REFRESH_AFTER_SECONDS)})
    return _json(202, {"id": scan_id}, service.SCAN_RESPONSE)


def _wanted(accept: str | None, sbom_media_type: str | None) -> str | Response:
    """The report type the Accept header asks for (the vulnerability report when it names none we know)."""
    types = [t.strip() for t in (accept or "").split(",") if t.strip()]
    for wanted in types:
        normal = wanted.replace(" ", "").lower()
        if normal == service.SBOM_REPORT.replace(" ", ""):
            if sbom_media_type not in (service.CYCLONEDX, service.SPDX):
                return _error(400, f"an SBOM report needs ?sbom_media_type={service.CYCLONEDX} or {service.SPDX}")
            return service.SBOM_REPORT
        for known in (service.VULN_REPORT, service.VULN_REPORT_HARBOR):
            if normal == known.replace(" ", ""):
                return known
        if normal.split(";")[0] in ("*/*", "application/*", "application/json"):
            return service.VULN_REPORT
    if not types:
        return service.VULN_REPORT
    return _error(501, f"no report of type {(accept or '')[:200]!r}; this scanner produces "
                       f"{service.VULN_REPORT}, {service.VULN_REPORT_HARBOR} and {service.SBOM_REPORT}")


@router.get("/api/v1/scan/{scan_request_id}/report")
async def get_report(request: Request, scan_request_id: str) -> Response:
    """302 with Refresh-After while the scan runs; then the report of the Accept header's type, or 500 and why
    the scan failed."""
    refused = _check(request)
    if refused:
        return refused
    adapter: Adapter = request.app.state.harbor
    job = adapter.get(scan_request_id)
    if job is None:
        return _error(404, f"no scan request {scan_request_id[:100]!r}")
    wanted = _wanted(request.headers.get("accept"), request.query_params.get("sbom_media_type"))
    if isinstance(wanted, Response):
        return wanted
    if not job.done.is_set():
        # no Location: an HTTP client that follows redirects (Go's does by default) must see this 302 itself
        return Response(status_code=302, headers={"Refresh-After": str(REFRESH_AFTER_SECONDS)})
    if job.error is not None or job.inventory is None or job.finished is None:
        return _error(500, job.error or "the scan failed")
    if wanted == service.SBOM_REPORT:
        media = request.query_params["sbom_media_type"]
        inventory, finished = job.inventory, job.finished
        body = await anyio.to_thread.run_sync(lambda: service.sbom_report(job.request, inventory, media, finished))
    else:
        body = service.vulnerability_report(job.request, job.findings, job.finished)
    return _json(200, body, wanted)
