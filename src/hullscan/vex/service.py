"""Import VEX statements into a project's triage, and export the triage as OpenVEX.

The documents are read by `hullscan.matching.vex` (the one VEX reader, also behind `hullscan scan --vex`).
Import is all or nothing: a statement that is not understood refuses the whole document before anything is
written, and every change goes through `change_state` in the caller's transaction. Each change's history entry
names the document as its author, so a reviewer sees which VEX dismissed what.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

from packageurl import PackageURL
from sqlalchemy import select
from sqlalchemy.orm import Session

from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilitySighting, VulnerabilityStateTransition
from hullscan.matching.vex import Statement, VexDocument, VexError, applies_to, names_image
from hullscan.vulnerabilities import service as vulns

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
# OpenVEX status -> (triage state, dismissal reason)
STATUS_STATES: dict[str, tuple[str, str | None]] = {
    "not_affected": ("dismissed", "not_applicable"), "fixed": ("resolved", None),
    "under_investigation": ("confirmed", None), "affected": ("confirmed", None)}
JUSTIFICATIONS = ("component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist")
# Our package types -> purl types (the purl spec's names), for the packages named in an export.
PURL_TYPES = {"python": "pypi", "go": "golang", "java": "maven", "rust": "cargo"}
_REASON_NOTE = re.compile(r"hullscan dismissal_reason: ([a-z_]+)")
_JUSTIFICATION_LINE = re.compile(r"^justification: ([a-z_]+)$", re.MULTILINE)
BATCH = 1000


class VexImportError(ValueError):
    """The document cannot be imported (nothing was changed)."""


@dataclass
class ImportResult:
    statements: int = 0
    matched: int = 0  # findings a statement is about
    changed: dict[str, int] = field(default_factory=dict)  # new state -> how many findings moved to it
    unmatched_statements: int = 0
    author: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"statements": self.statements, "matched": self.matched, "changed": self.changed,
                "unmatched_statements": self.unmatched_statements, "author": self.author}


def package_purl(package_type: str | None, name: str, version: str | None) -> str | None:
    """A stored finding's package as a purl (stored findings keep no purl: type, name and version make one)."""
    ptype = PURL_TYPES.get(package_type or "", package_type or "generic")
    namespace = None
    if ptype == "maven" and ":" in name:
        namespace, _, name = name.partition(":")
    elif ptype in ("golang", "npm", "composer") and "/" in name:
        namespace, _, name = name.rpartition("/")
    try:
        return PackageURL(type=ptype, namespace=namespace, name=name, version=version or None).to_string()
    except ValueError:
        return None


def _image_spellings(v: Vulnerability) -> tuple[set[str], tuple[str | None, ...]]:
    names = {v.image_name, v.image}
    if v.image_digest:
        names.update({v.image_digest, f"{v.image_name}@{v.image_digest}"})
    return names, (v.image_digest, v.image_tag)


def _rows(session: Session, project_id: int, states: list[str] | None = None) -> Iterator[list[Vulnerability]]:
    return vulns.iter_vulnerability_batches(session, vulns.VulnerabilityFilter(project_id=project_id, states=states),
                                            BATCH)


def _verdicts(session: Session, project_id: int, doc: VexDocument,
              only: set[int] | None = None) -> tuple[dict[int, Statement], set[int]]:
    """The last applying statement per finding (OpenVEX: later statements win), and which statements applied.
    Statements are indexed by vulnerability name, so the work is linear in findings plus statements."""
    by_name: dict[str, list[int]] = {}
    for index, stmt in enumerate(doc.statements):
        for name in stmt.vulnerabilities:
            by_name.setdefault(name, []).append(index)
    verdicts: dict[int, Statement] = {}
    used: set[int] = set()
    for rows in _rows(session, project_id):
        for v in rows:
            if only is not None and v.id not in only:
                continue
            identifiers = {v.primary_identifier, *v.identifiers}
            candidates = sorted({i for ident in identifiers for i in by_name.get(ident, ())})
            if not candidates:
                continue
            purl = package_purl(v.package_type, v.package_name, v.package_version)
            spellings, versions = _image_spellings(v)
            is_image = partial(names_image, name=v.image_name, candidates=spellings, versions=versions)
            for index in candidates:
                stmt = doc.statements[index]
                if applies_to(stmt, identifiers, purl, is_image, loose=True):
                    verdicts[v.id] = stmt
                    used.add(index)
    return verdicts, used


def _comment(stmt: Statement, label: str, actor: str) -> str:
    lines = [f"VEX {stmt.status} ({label}, imported by {actor})"]
    if stmt.justification:
        lines.append(f"justification: {stmt.justification}")
    if stmt.notes:
        lines.append(stmt.notes)
    return "\n".join(lines)[: vulns.MAX_COMMENT]


def document_label(doc: VexDocument, source: str) -> str:
    """How history and audit name the document: its own id when it has one, else where it came from."""
    return (doc.id or source)[:200]


def import_vex(session: Session, project_id: int, doc: VexDocument, *, source: str, actor: str,
               subject_digest: str | None = None) -> ImportResult:
    """Apply the document's statements to the project's findings (see STATUS_STATES); all or nothing. With
    `subject_digest` (a VEX attached to an image) only the findings seen in that image are candidates."""
    if doc.skipped:
        raise VexImportError(
            f"statement {doc.first_skipped} of {source} is not understood: each needs a vulnerability, products and "
            f"a status ({', '.join(sorted(STATUS_STATES))}); {doc.skipped} such statement(s), nothing was imported")
    label = document_label(doc, source)
    result = ImportResult(statements=len(doc.statements), author=f"vex:{label}"[:255])
    only = None
    if subject_digest is not None:
        only = set(session.scalars(select(VulnerabilitySighting.vulnerability_id).where(
            VulnerabilitySighting.image_digest == subject_digest)))
    verdicts, used = _verdicts(session, project_id, doc, only)
    result.matched = len(verdicts)
    result.unmatched_statements = len(doc.statements) - len(used)
    groups: dict[tuple[str, str | None, str], list[int]] = {}
    current = {v.id: (v.state, v.dismissal_reason) for v in _by_ids(session, list(verdicts))}
    for vid, stmt in verdicts.items():
        state, reason = STATUS_STATES[stmt.status]
        if state == "dismissed":
            note = _REASON_NOTE.search(stmt.notes or "")
            if note and note.group(1) in vulns.DISMISSAL_REASONS:
                reason = note.group(1)  # our own export keeps the exact reason
        if current[vid] == (state, reason):
            continue
        groups.setdefault((state, reason, _comment(stmt, label, actor)), []).append(vid)
    try:
        for (state, reason, comment), ids in groups.items():
            vulns.change_state(session, ids, state, author=result.author, comment=comment, dismissal_reason=reason,
                               project_id=project_id)
            result.changed[state] = result.changed.get(state, 0) + len(ids)
    except vulns.VulnerabilityError as exc:  # raised before the caller commits: the transaction rolls back
        raise VexImportError(str(exc)) from None
    return result


def _by_ids(session: Session, ids: list[int]) -> list[Vulnerability]:
    out: list[Vulnerability] = []
    for i in range(0, len(ids), BATCH):
        out.extend(session.scalars(select(Vulnerability).where(Vulnerability.id.in_(ids[i:i + BATCH]))))
    return out


def _last_changes(session: Session, ids: list[int]) -> dict[int, VulnerabilityStateTransition]:
    out: dict[int, VulnerabilityStateTransition] = {}
    for i in range(0, len(ids), BATCH):
        q = (select(VulnerabilityStateTransition)
             .where(VulnerabilityStateTransition.vulnerability_id.in_(ids[i:i + BATCH]),
                    VulnerabilityStateTransition.kind == vulns.STATE_CHANGE)
             .order_by(VulnerabilityStateTransition.id))
        for t in session.scalars(q):
            out[t.vulnerability_id] = t  # the newest wins
    return out


def _image_product(v: Vulnerability) -> str:
    """The image as an oci purl of its digest (matches the same image in any project and registry), with its
    full name as repository_url; without a digest, the image name."""
    if not v.image_digest:
        return v.image_name
    return PackageURL(type="oci", name=v.image_name.rsplit("/", 1)[-1].lower(), version=v.image_digest,
                      qualifiers={"repository_url": v.image_name}).to_string()


def export_openvex(session: Session, project_id: int, project_path: str, *, now: datetime | None = None,
                   author: str = "hullscan") -> dict[str, Any]:
    """The project's triage decisions (dismissed, resolved, confirmed findings) as an OpenVEX document; detected
    findings are undecided and left out. Importing it into a project with the same images gives the same states."""
    now = now or datetime.now(timezone.utc)
    statements: list[dict[str, Any]] = []
    for decided in _rows(session, project_id, ["dismissed", "resolved", "confirmed"]):
        changes = _last_changes(session, [v.id for v in decided])
        for v in decided:
            change = changes.get(v.id)
            when = (change.created_at if change else v.updated_at).astimezone(timezone.utc)
            stmt: dict[str, Any] = {
                "vulnerability": {"name": v.primary_identifier,
                                  **({"aliases": aliases} if (aliases := [i for i in v.identifiers
                                                                           if i != v.primary_identifier]) else {})},
                "timestamp": when.isoformat().replace("+00:00", "Z"),
                "products": [_product(v)],
            }
            comment = (change.comment or "") if change else ""
            if v.state == "dismissed":
                stmt["status"] = "not_affected"
                justification = _JUSTIFICATION_LINE.search(comment)
                if justification and justification.group(1) in JUSTIFICATIONS:
                    stmt["justification"] = justification.group(1)
                else:  # OpenVEX: not_affected needs a justification or an impact statement
                    stmt["impact_statement"] = comment.strip() or f"dismissed in hullscan ({v.dismissal_reason})"
                stmt["status_notes"] = f"hullscan dismissal_reason: {v.dismissal_reason}"
            elif v.state == "resolved":
                stmt["status"] = "fixed"
            else:
                stmt["status"] = "affected"  # OpenVEX: affected needs an action statement
                stmt["action_statement"] = comment.strip() or "confirmed in hullscan; see the finding's solution"
            statements.append(stmt)
    stamp = now.isoformat().replace("+00:00", "Z")
    return {"@context": OPENVEX_CONTEXT, "@id": f"urn:hullscan:vex:{project_path}:{stamp}", "author": author,
            "timestamp": stamp, "version": 1, "tooling": "hullscan", "statements": statements}


def _product(v: Vulnerability) -> dict[str, Any]:
    product: dict[str, Any] = {"@id": _image_product(v)}
    purl = package_purl(v.package_type, v.package_name, v.package_version)
    if purl:
        product["subcomponents"] = [{"@id": purl}]
    return product


__all__ = ["VexError", "VexImportError", "ImportResult", "import_vex", "export_openvex", "package_purl"]
