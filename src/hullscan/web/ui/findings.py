"""What the vulnerability page shows beside the finding itself: its history (detections, status changes and
comments as different kinds of entries, comments rendered as safe Markdown) and its issue link, with the
project's new-issue URL filled in when it has an issue-tracker template."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from markupsafe import Markup
from sqlalchemy.orm import Session

from hullscan.db.models import Project
from hullscan.db.models.vulnerabilities import Vulnerability
from hullscan.vulnerabilities import service as vulns
from hullscan.web.ui.markdown import render_markdown


def finding_context(request: Request, session: Session, project: Project, v: Vulnerability) -> dict[str, Any]:
    """What the vulnerability page shows about history and the issue link (its template reads these)."""
    limit = request.app.state.settings.ui_markdown_max_chars
    history = vulns.history(session, v.id)
    comments: dict[int, Markup] = {t.id: render_markdown(t.comment, limit) for t in history if t.comment}
    template = vulns.issue_tracker_template(session, project.id)
    try:
        new_issue_url = vulns.fill_issue_template(template, v) if template else None
    except vulns.VulnerabilityError:
        new_issue_url = None  # too long once filled in: the link is simply not offered
    return {"history": history, "rendered_comments": comments, "issue_link": vulns.issue_link(session, v.id),
            "new_issue_url": new_issue_url, "issue_errors": None, "issue_form": None}
