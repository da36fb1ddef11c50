"""The web UI: server-rendered pages of the vulnerability report, images, pipelines, settings and admin.

`router` holds every page; `STATIC_DIR` is served at /static; `UISecurityMiddleware` adds the
Content-Security-Policy and other headers and enforces CSRF tokens on UI forms.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from hullscan.web.ui import (auth_pages, dependencies_pages, findings_pages, images_pages, members_pages,
                             pipelines_pages, policy_pages, projects_pages, report_pages, settings_pages, user_pages,
                             remediation_pages, vex_pages)
from hullscan.web.ui.security import UISecurityMiddleware

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)
for _part in (auth_pages, report_pages, findings_pages, images_pages, dependencies_pages, pipelines_pages,
              settings_pages, vex_pages, remediation_pages, policy_pages, members_pages, user_pages, projects_pages):  # projects_pages last: its catch-all answers unknown pages
    router.include_router(_part.router)

__all__ = ["STATIC_DIR", "UISecurityMiddleware", "router"]
