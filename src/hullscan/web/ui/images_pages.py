"""Images page: the project's repositories and tags, their last scan and severity summary, SBOM downloads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.matching.sbom import SbomError, read_sbom
from hullscan.pipelines import service as pipelines
from hullscan.pipelines.api import artifact_store
from hullscan.policy import service as policy
from hullscan.scanner.sbom import write_spdx
from hullscan.http_deps import IdQuery
from hullscan.web.ui import queries
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)


@router.get("/projects/{project:path}/-/images")
def images_page(request: Request, project: str, principal: Principal = Depends(ui_principal),
                session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_PROJECT)
    tags = queries.image_tags(session, found.id)
    return render(request, "images.html", project=found, tags=tags, max_tags=queries.MAX_TAGS,
                  blocked=policy.blocked_pulls(session, found.path, limit=20))


@router.get("/projects/{project:path}/-/images/sbom")
async def sbom_download(request: Request, project: str, job: IdQuery,
                        format: str = Query(default="cyclonedx", pattern="^(cyclonedx|spdx)$"),
                        principal: Principal = Depends(ui_principal)) -> Response:
    """The SBOM a scan job stored (CycloneDX as stored, or converted to SPDX 2.3)."""
    def find() -> tuple[str, str]:
        # On a worker thread: waiting for the database here must never stop the event loop (and the streams on it).
        with request.app.state.db.read_session() as session:
            found = project_for(session, principal, project, Action.READ_PROJECT)
            artifact = pipelines.sbom_artifact(session, found.id, job)
            if artifact is None:
                raise HTTPException(status_code=404, detail=f"Scan job {job} has no SBOM in this project.")
            return artifact.sha256, artifact.name

    sha256, name = await run_in_threadpool(find)
    path = artifact_store(request.app.state.settings).path(sha256)
    if not path.is_file():
        raise HTTPException(status_code=404, detail="The SBOM file is missing from artifact storage.")
    if format == "cyclonedx":
        return FileResponse(path, media_type="application/vnd.cyclonedx+json", filename=name)

    def convert() -> str:
        return write_spdx(read_sbom(path, with_dependencies=True))

    try:
        body = await run_in_threadpool(convert)
    except SbomError as exc:
        raise HTTPException(status_code=400, detail=f"The stored SBOM cannot be converted: {exc}") from None
    spdx_name = name.removesuffix(".cdx.json").removesuffix(".json") + ".spdx.json"
    return Response(body, media_type="application/spdx+json",
                    headers={"Content-Disposition": f'attachment; filename="{spdx_name}"'})
