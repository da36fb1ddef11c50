"""Import VEX statements into a project's triage, keep them applying to later findings, and export the triage
as OpenVEX.

The documents are read by `hullscan.matching.vex` (the one VEX reader, also behind `hullscan scan --vex`).
Import is all or nothing: a statement that is not understood refuses the whole document before anything is
written, and every change goes through `change_state` in the caller's transaction. Each change's history entry
names the document as its author, so a reviewer sees which VEX dismissed what. The statements are stored
(`VexStatement`) and `apply_stored` applies them to the findings ingestion and re-matching record afterwards,
as Trivy applies a VEX at every scan: a statement about a product keeps holding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

from packageurl import PackageURL
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from hullscan.batches import chunks
from hullscan.db.base import utcnow
from hullscan.db.models import Project
from hullscan.db.models.vex import VexStatement
from hullscan.db.models.vulnerabilities import Vulnerability, VulnerabilitySighting, VulnerabilityStateTransition
from hullscan.matching.vex import Product, Statement, VexDocument, VexError, applies_to, names_image
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
DEFAULT_MAX_STATEMENTS = 20_000  # the `vex_max_statements` setting's default
WITHDRAWN_NOTE = ("the document's statements no longer apply to findings recorded from now on; findings they already "
                  "changed keep their states (triage them again, or import a document that says otherwise)")


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
            last = _last_applying(v, by_name, doc.statements)
            if last is not None:
                verdicts[v.id] = doc.statements[last]
                used.add(last)
    return verdicts, used


def _last_applying(v: Vulnerability, by_name: dict[str, list[int]], statements: list[Statement],
                   allowed: Callable[[int], bool] | None = None) -> int | None:
    """The index (in `statements`, oldest first) of the last statement that names the finding, if any (among
    those `allowed`)."""
    identifiers = {v.primary_identifier, *v.identifiers}
    candidates = sorted({i for ident in identifiers for i in by_name.get(ident, ()) if allowed is None or allowed(i)})
    if not candidates:
        return None
    purl = package_purl(v.package_type, v.package_name, v.package_version)
    spellings, versions = _image_spellings(v)
    is_image = partial(names_image, name=v.image_name, candidates=spellings, versions=versions)
    last: int | None = None
    for index in candidates:
        if applies_to(statements[index], identifiers, purl, is_image, loose=True):
            last = index
    return last


def _target(stmt: Statement) -> tuple[str, str | None]:
    """The triage state and dismissal reason a statement asks for (our own export keeps the exact reason)."""
    state, reason = STATUS_STATES[stmt.status]
    if state == "dismissed":
        note = _REASON_NOTE.search(stmt.notes or "")
        if note and note.group(1) in vulns.DISMISSAL_REASONS:
            reason = note.group(1)
    return state, reason


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
               subject_digest: str | None = None, max_statements: int = DEFAULT_MAX_STATEMENTS) -> ImportResult:
    """Apply the document's statements to the project's findings (see STATUS_STATES) and store them, so they
    also apply to findings recorded later (`apply_stored`); all or nothing. With `subject_digest` (a VEX attached
    to an image) only the findings seen in that image are candidates, now and later. Importing a document with
    the same label (its @id) again replaces its stored statements; more than `max_statements` stored for the
    project refuses the import."""
    if doc.skipped:
        raise VexImportError(
            f"statement {doc.first_skipped} of {source} is not understood: each needs a vulnerability, products and "
            f"a status ({', '.join(sorted(STATUS_STATES))}); {doc.skipped} such statement(s), nothing was imported")
    label = document_label(doc, source)
    result = ImportResult(statements=len(doc.statements), author=f"vex:{label}"[:255])
    _store(session, project_id, doc, result.author, actor, subject_digest, max_statements)
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
        state, reason = _target(stmt)
        if current[vid] == (state, reason):
            continue
        groups.setdefault((state, reason, _comment(stmt, label, actor)), []).append(vid)
    _change(session, project_id, groups, result.author, result.changed)
    return result


def _change(session: Session, project_id: int, groups: dict[tuple[str, str | None, str], list[int]], author: str,
            changed: dict[str, int]) -> None:
    try:
        for (state, reason, comment), ids in groups.items():
            vulns.change_state(session, ids, state, author=author, comment=comment, dismissal_reason=reason,
                               project_id=project_id)
            changed[state] = changed.get(state, 0) + len(ids)
    except vulns.VulnerabilityError as exc:  # raised before the caller commits: the transaction rolls back
        raise VexImportError(str(exc)) from None


def _store(session: Session, project_id: int, doc: VexDocument, author: str, actor: str, subject_digest: str | None,
           max_statements: int) -> None:
    """Keep the document's statements (one row per vulnerability name), replacing an earlier import of it.
    Imports into one project take turns (its row locked): the same document imported through two nodes at once
    is stored once, and the statement limit holds for both."""
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update(key_share=True))
    session.execute(delete(VexStatement).where(VexStatement.project_id == project_id,
                                               VexStatement.document == author))
    now = utcnow()
    rows = [dict(project_id=project_id, document=author, position=position, vulnerability=name, status=stmt.status,
                 justification=(stmt.justification or None) and stmt.justification[:128],
                 notes=(stmt.notes or None) and stmt.notes[: vulns.MAX_COMMENT],
                 products=[[p.ident, list(p.subcomponents)] for p in stmt.products],
                 subject_digest=subject_digest, actor=actor[:255], created_at=now)
            for position, stmt in enumerate(doc.statements)
            for name in sorted(stmt.vulnerabilities) if len(name) <= 255]  # longer: never an identifier
    kept = session.scalar(select(func.count()).select_from(VexStatement).where(
        VexStatement.project_id == project_id)) or 0
    if kept + len(rows) > max_statements:
        raise VexImportError(
            f"the project would keep {kept + len(rows)} VEX statements (one per vulnerability name), more than "
            f"the {max_statements} allowed (setting vex_max_statements); nothing was imported")
    for batch in chunks(rows, BATCH):
        session.execute(insert(VexStatement), batch)


@dataclass(frozen=True)
class StoredDocument:
    """An imported document as it is stored: `id` is its first row's id, so it names this import (importing the
    document again stores it under a new id, and withdrawing the old id then finds nothing)."""

    id: int
    document: str  # the history author, vex:<label>
    statements: int
    names: int  # rows: one per vulnerability name of a statement
    actor: str
    imported_at: datetime
    subject_digest: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "document": self.document, "statements": self.statements,
                "vulnerability_names": self.names, "imported_by": self.actor,
                "imported_at": self.imported_at.astimezone(timezone.utc).isoformat(),
                "subject_digest": self.subject_digest}


def stored_documents(session: Session, project_id: int, *, document: str | None = None) -> list[StoredDocument]:
    """The project's imported documents whose statements are kept, newest first (one grouped query); only the
    one labelled `document` when given."""
    conditions = [VexStatement.project_id == project_id]
    if document is not None:
        conditions.append(VexStatement.document == document)
    q = (select(func.min(VexStatement.id), VexStatement.document, func.count(func.distinct(VexStatement.position)),
                func.count(), func.min(VexStatement.actor), func.min(VexStatement.created_at),
                func.min(VexStatement.subject_digest))
         .where(*conditions).group_by(VexStatement.document)
         .order_by(func.min(VexStatement.id).desc()))
    return [StoredDocument(int(i), doc, int(n), int(names), actor, created, subject)
            for i, doc, n, names, actor, created, subject in session.execute(q)]


def _document_of(session: Session, project_id: int, document_id: int) -> str | None:
    """The label of the project's document stored as `document_id` (its first row), or None."""
    label = session.scalar(select(VexStatement.document).where(VexStatement.id == document_id,
                                                               VexStatement.project_id == project_id))
    if label is None:
        return None
    first = session.scalar(select(func.min(VexStatement.id)).where(VexStatement.project_id == project_id,
                                                                   VexStatement.document == label))
    return label if first == document_id else None


@dataclass(frozen=True)
class StoredStatementPage:
    rows: list[dict[str, Any]]
    total: int


def stored_statements(session: Session, project_id: int, *, vulnerability: str | None = None,
                      document_id: int | None = None, page: int = 1, per_page: int = 20) -> StoredStatementPage:
    """One page of the project's stored statement rows (one per vulnerability name), oldest first, optionally
    of one vulnerability name and one document; an unknown document gives an empty page."""
    conditions = [VexStatement.project_id == project_id]
    if vulnerability is not None:
        conditions.append(VexStatement.vulnerability == vulnerability)
    if document_id is not None:
        label = _document_of(session, project_id, document_id)
        if label is None:
            return StoredStatementPage([], 0)
        conditions.append(VexStatement.document == label)
    total = session.scalar(select(func.count()).select_from(VexStatement).where(*conditions)) or 0
    rows = list(session.scalars(select(VexStatement).where(*conditions).order_by(VexStatement.id)
                                .offset((page - 1) * per_page).limit(per_page)))
    firsts: dict[str, int] = {}
    if rows:
        q = (select(VexStatement.document, func.min(VexStatement.id))
             .where(VexStatement.project_id == project_id,
                    VexStatement.document.in_(sorted({r.document for r in rows})))
             .group_by(VexStatement.document))
        firsts = {doc: int(first) for doc, first in session.execute(q)}
    return StoredStatementPage([{
        "id": r.id, "document_id": firsts.get(r.document), "document": r.document, "position": r.position,
        "vulnerability": r.vulnerability, "status": r.status, "justification": r.justification, "notes": r.notes,
        "products": [{"@id": p[0], "subcomponents": list(p[1])} for p in r.products],
        "subject_digest": r.subject_digest, "imported_by": r.actor,
        "imported_at": r.created_at.astimezone(timezone.utc).isoformat()} for r in rows], total)


def withdraw_document(session: Session, project_id: int, document_id: int) -> StoredDocument | None:
    """Delete the stored statements of one imported document, so they no longer apply to findings recorded
    later; None when the project has no such document. Findings it already changed keep their states (as after
    any import: a withdrawal is not an undo; triage them again, or import a document that says otherwise)."""
    label = _document_of(session, project_id, document_id)
    if label is None:
        return None
    found = stored_documents(session, project_id, document=label)[0]
    session.execute(delete(VexStatement).where(VexStatement.project_id == project_id,
                                               VexStatement.document == label))
    return found


@dataclass
class ApplyResult:
    matched: int = 0  # recorded findings a stored statement names
    changed: dict[str, int] = field(default_factory=dict)  # new state -> how many
    manual: int = 0  # left as a later manual triage decided


def _stored_verdicts(session: Session, projects: list[int],
                     found: list[Vulnerability]) -> dict[int, tuple[Statement, VexStatement]]:
    """The last stored statement (and its first row) that names each finding of `found`, per finding id. One
    indexed query of the statements per 1000 vulnerability names."""
    names = sorted({n for v in found for n in (v.primary_identifier, *v.identifiers) if len(n) <= 255})
    stored: dict[tuple[int, str, int], list[VexStatement]] = {}  # (project, document, position) -> its rows
    for chunk in chunks(names, BATCH):
        for row in session.scalars(select(VexStatement).where(VexStatement.project_id.in_(projects),
                                                              VexStatement.vulnerability.in_(chunk))
                                   .order_by(VexStatement.id)):
            stored.setdefault((row.project_id, row.document, row.position), []).append(row)
    if not stored:
        return {}
    # Per project: its statements oldest first (later imports win) and an index by vulnerability name.
    statements: dict[int, list[tuple[Statement, VexStatement]]] = {}
    by_name: dict[int, dict[str, list[int]]] = {}
    for rows in sorted(stored.values(), key=lambda r: r[0].id):
        first = rows[0]
        stmt = Statement(frozenset(r.vulnerability for r in rows),
                         tuple(Product(str(p[0]), tuple(p[1])) for p in first.products),
                         first.status, first.justification, first.notes)
        own = statements.setdefault(first.project_id, [])
        for r in rows:
            by_name.setdefault(first.project_id, {}).setdefault(r.vulnerability, []).append(len(own))
        own.append((stmt, first))
    plain = {pid: [pair[0] for pair in own] for pid, own in statements.items()}
    verdicts: dict[int, tuple[Statement, VexStatement]] = {}
    for v in found:
        own = statements.get(v.project_id, [])

        def for_this_image(i: int, own: list[tuple[Statement, VexStatement]] = own,
                           digest: str | None = v.image_digest) -> bool:
            return own[i][1].subject_digest in (None, digest)  # a referrer's statement: its subject image only

        index = _last_applying(v, by_name.get(v.project_id, {}), plain.get(v.project_id, []), for_this_image)
        if index is not None:
            verdicts[v.id] = own[index]
    return verdicts


def kept_resolved(session: Session, candidates: dict[int, dict[str, Any]]) -> set[int]:
    """Of resolved findings that a recording finds again (id -> their new columns, as
    `vulnerabilities.record_findings` passes them), those a stored `fixed` statement keeps resolved: the
    statement resolved it last and still names it as it is now (same digest or version when it is scoped), and
    no person changed it since the statement was imported. These stay resolved with no "detected again" and no
    second resolution in their history. Nothing is read for a project that never imported a VEX."""
    if not candidates:
        return set()
    projects = list(session.scalars(select(VexStatement.project_id).where(
        VexStatement.project_id.in_(sorted({int(c["project_id"]) for c in candidates.values()}))).distinct()))
    if not projects:
        return set()
    last = _last_changes(session, sorted(candidates))
    by_vex = [vid for vid, t in last.items() if t.to_state == "resolved" and t.author.startswith("vex:")
              and candidates[vid]["project_id"] in projects]
    if not by_vex:
        return set()
    columns = {c.key for c in Vulnerability.__table__.columns}
    # as the finding will be once recorded (not added to the session: only read)
    found = [Vulnerability(id=vid, **{k: v for k, v in candidates[vid].items() if k in columns}) for vid in by_vex]
    verdicts = _stored_verdicts(session, projects, found)
    manual = _last_manual_changes(session, sorted(verdicts))
    kept: set[int] = set()
    for vid, (stmt, row) in verdicts.items():
        when = manual.get(vid)
        if _target(stmt)[0] == "resolved" and (when is None or when < row.created_at):
            kept.add(vid)
    return kept


def apply_stored(session: Session, project_ids: Iterable[int], ids: Iterable[int]) -> ApplyResult:
    """Apply the project's stored statements to findings just recorded (`ids`: new and detected-again ones, as
    ingestion and re-matching give them). Only a finding still "detected" is changed: a triage carried over or
    made by hand is left alone. A finding detected again after a resolution or dismissal made by hand after the
    statement was imported keeps following that person (a later manual triage wins; counted in `manual`). A
    statement from an image's referrer applies to findings of that image digest only. One indexed query of the
    statements per 1000 names; nothing at all for a project that never imported a VEX."""
    result = ApplyResult()
    wanted = sorted({int(i) for i in ids})
    projects = sorted(set(project_ids))
    if not wanted or not projects:
        return result
    projects = list(session.scalars(select(VexStatement.project_id).where(
        VexStatement.project_id.in_(projects)).distinct()))
    if not projects:
        return result
    session.flush()
    found: list[Vulnerability] = []
    for chunk in chunks(wanted, BATCH):
        found.extend(session.scalars(select(Vulnerability).where(
            Vulnerability.id.in_(chunk), Vulnerability.project_id.in_(projects),
            Vulnerability.state == "detected")))
    verdicts = _stored_verdicts(session, projects, found)
    result.matched = len(verdicts)
    manual = _last_manual_changes(session, sorted(verdicts))
    groups: dict[tuple[int, str, str, str | None, str], list[int]] = {}
    for vid, (stmt, row) in verdicts.items():
        when = manual.get(vid)
        if when is not None and when >= row.created_at:
            result.manual += 1
            continue
        state, reason = _target(stmt)
        label = row.document.removeprefix("vex:")
        comment = _comment(stmt, label, row.actor) + "\n(a stored statement, applied to a finding recorded after it)"
        groups.setdefault((row.project_id, row.document, state, reason, comment), []).append(vid)
    for (project_id, author, state, reason, comment), vids in groups.items():
        _change(session, project_id, {(state, reason, comment): vids}, author, result.changed)
    return result


def _last_manual_changes(session: Session, ids: list[int]) -> dict[int, datetime]:
    """When each finding's status was last changed by a person (neither hullscan nor a VEX document)."""
    out: dict[int, datetime] = {}
    for chunk in chunks(ids, BATCH):
        q = (select(VulnerabilityStateTransition.vulnerability_id, VulnerabilityStateTransition.created_at)
             .where(VulnerabilityStateTransition.vulnerability_id.in_(chunk),
                    VulnerabilityStateTransition.kind == vulns.STATE_CHANGE,
                    VulnerabilityStateTransition.author != vulns.SYSTEM_AUTHOR,
                    ~VulnerabilityStateTransition.author.startswith("vex:"))
             .order_by(VulnerabilityStateTransition.id))
        for vid, created in session.execute(q):
            out[vid] = created
    return out


def _by_ids(session: Session, ids: list[int]) -> list[Vulnerability]:
    out: list[Vulnerability] = []
    for chunk in chunks(ids, BATCH):
        out.extend(session.scalars(select(Vulnerability).where(Vulnerability.id.in_(chunk))))
    return out


def _last_changes(session: Session, ids: list[int]) -> dict[int, VulnerabilityStateTransition]:
    out: dict[int, VulnerabilityStateTransition] = {}
    for chunk in chunks(ids, BATCH):
        q = (select(VulnerabilityStateTransition)
             .where(VulnerabilityStateTransition.vulnerability_id.in_(chunk),
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


__all__ = ["VexError", "VexImportError", "ImportResult", "ApplyResult", "StoredDocument", "import_vex", "apply_stored",
           "kept_resolved", "export_openvex", "package_purl", "stored_documents", "stored_statements", "withdraw_document"]
