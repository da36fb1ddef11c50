"""The remediation panel of an image: package upgrades, base image and rebuild hints (docs/remediation.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal
from hullscan.vulnerabilities import remediation
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, render

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)


@router.get("/projects/{project:path}/-/images/{digest}/remediation")
def remediation_page(request: Request, project: str,
                     digest: str = Path(max_length=160, pattern=r"^[a-z0-9]+:[a-f0-9]{32,128}$"),
                     principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_VULNERABILITIES)
    result = remediation.remediation(session, found.id, digest, remediation.readable_by(session, principal))
    if result is None:
        raise HTTPException(status_code=404, detail=f"There is no image {digest} in this project.")
    return render(request, "remediation.html", project=found, r=result)
