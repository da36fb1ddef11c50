"""The dependency list of a project or one of its images: packages, versions, types, licences, the images each is
in and (for those who may read vulnerabilities) its open vulnerabilities by severity, linked to the report
filtered to them; searchable by name prefix and type, paged, and exported as CSV or CycloneDX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from hullscan.auth import Action, Principal, is_allowed
from hullscan.ingestion import dependencies as deps
from hullscan.vulnerabilities import service as vulns
from hullscan.vulnerabilities.api import _csv_safe as csv_safe  # the report export's formula guard
from hullscan.web.ui.deps import project_for, ui_principal, ui_session
from hullscan.web.ui.render import HTMLErrorRoute, render
from hullscan.web.ui.report_pages import page_numbers

router = APIRouter(route_class=HTMLErrorRoute, include_in_schema=False)
PAGE_SIZES = (20, 50, 100)
CSV_COLUMNS = ("name", "version", "type", "purl", "licenses", "images")


def dependency_query(project_id: int, image: str | None, name: str | None, type: str | None) -> deps.DependencyQuery:
    return deps.DependencyQuery(project_id=project_id, image=image or None, name_prefix=(name or "").strip() or None,
                                type=type or None)


@router.get("/projects/{project:path}/-/dependencies")
def dependencies_page(request: Request, project: str, image: str | None = Query(default=None, max_length=600),
                      name: str | None = Query(default=None, max_length=200),
                      type: str | None = Query(default=None, max_length=32),
                      page: int = Query(default=1, ge=1, le=100_000), per_page: int = Query(default=PAGE_SIZES[0]),
                      principal: Principal = Depends(ui_principal), session: Session = Depends(ui_session)) -> Response:
    found = project_for(session, principal, project, Action.READ_PROJECT)
    if per_page not in PAGE_SIZES:
        raise HTTPException(status_code=400, detail=f"Show {', '.join(map(str, PAGE_SIZES))} dependencies a page.")
    query = dependency_query(found.id, image, name, type)
    try:
        rows, total = deps.list_dependencies(session, query, page=page, per_page=per_page)
        if not rows and page > 1 and total:  # past the end: the last page
            page = -(-total // per_page)
            rows, total = deps.list_dependencies(session, query, page=page, per_page=per_page)
    except deps.DependencyError as exc:
        raise HTTPException(status_code=404, detail=f"{exc}.") from None
    counts = None
    if is_allowed(principal, Action.READ_VULNERABILITIES, found.path):  # no counts the viewer may not read
        counts = vulns.package_severity_counts(session, found.id, [(d.name, d.version) for d in rows],
                                               images=sorted({i for d in rows for i in d.images}) if image else None)
    params = {k: v for k, v in (("image", image), ("name", name), ("type", type)) if v}
    if per_page != PAGE_SIZES[0]:
        params["per_page"] = str(per_page)
    last_page = max(1, -(-total // per_page))

    def link(**override: object) -> str:
        merged = {**params, **{k: str(v) for k, v in override.items() if v is not None}}
        return "?" + urlencode(merged) if merged else "?"

    return render(request, "dependencies.html", project=found, rows=rows, total=total, counts=counts,
                  image=image or "", name=name or "", type=type or "", types=deps.package_types(session, found.id),
                  page=page, last_page=last_page, pages=page_numbers(page, last_page), per_page=per_page,
                  page_sizes=PAGE_SIZES, link=link, filters=urlencode({k: v for k, v in params.items()
                                                                        if k != "per_page"}))


def _export_query(request: Request, principal: Principal, project: str, image: str | None, name: str | None,
                  type: str | None) -> tuple[deps.DependencyQuery, str]:
    with request.app.state.db.read_session() as session:
        found = project_for(session, principal, project, Action.READ_PROJECT)
        query = dependency_query(found.id, image, name, type)
        try:
            next(deps.iter_dependencies(session, query, batch=1), None)  # an unknown image or too many: refused now
        except deps.DependencyError as exc:
            raise HTTPException(status_code=400, detail=f"{exc}.") from None
        return query, found.path


def _filename(project_path: str, image: str | None, suffix: str) -> str:
    stem = "dependencies-" + project_path.replace("/", "-")
    if image:
        stem += "-" + image.rsplit("/", 1)[-1].replace(":", "-")
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in stem)[:150] + suffix


@router.get("/projects/{project:path}/-/dependencies/export.csv")
async def export_csv(request: Request, project: str, image: str | None = Query(default=None, max_length=600),
                     name: str | None = Query(default=None, max_length=200),
                     type: str | None = Query(default=None, max_length=32),
                     principal: Principal = Depends(ui_principal)) -> Response:
    """The list under the current filter as CSV (formula-safe), streamed batch by batch."""
    query, path = await run_in_threadpool(_export_query, request, principal, project, image, name, type)
    db = request.app.state.db

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        with db.read_session() as session:
            for dep in deps.iter_dependencies(session, query):
                writer.writerow([csv_safe(v) for v in (dep.name, dep.version, dep.type, dep.purl or "",
                                                       "; ".join(dep.licenses), "; ".join(dep.images))])
                if out.tell() > 64 * 1024:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_filename(path, image, ".csv")}"'})


@router.get("/projects/{project:path}/-/dependencies/export.cdx.json")
async def export_cyclonedx(request: Request, project: str, image: str | None = Query(default=None, max_length=600),
                           name: str | None = Query(default=None, max_length=200),
                           type: str | None = Query(default=None, max_length=32),
                           principal: Principal = Depends(ui_principal)) -> Response:
    """The list under the current filter as a CycloneDX 1.6 document (built by cyclonedx-python-lib)."""
    query, path = await run_in_threadpool(_export_query, request, principal, project, image, name, type)

    def build() -> str:
        with request.app.state.db.read_session() as session:
            return deps.cyclonedx_json(deps.iter_dependencies(session, query), image or path)

    body = await run_in_threadpool(build)
    return Response(body, media_type="application/vnd.cyclonedx+json", headers={
        "Content-Disposition": f'attachment; filename="{_filename(path, image, ".cdx.json")}"'})
