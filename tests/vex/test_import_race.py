"""The same VEX document imported into a project through two nodes at once (a CI job uploading it while an
attached VEX referrer is taken in, or a retried upload): an import replaces the document's earlier statements,
then stores its own. Without taking turns both find nothing to replace and both store, and the project keeps the
document twice. Two `Database` objects play the two nodes on PostgreSQL; node 0 is held at its INSERT until node 1
reached its own or waits for node 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hullscan.auth import projects
from hullscan.db.models.vex import VexStatement
from hullscan.matching.vex import parse_vex
from hullscan.vex import service as vex
from tests.support.postgres import PostgresCluster
from tests.support.races import second_checks_while_first_holds, two_nodes

DOCUMENT = json.dumps({
    "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://vex.test/app/2026-12-01", "author": "security team",
    "timestamp": "2026-12-01T00:00:00Z", "version": 1,
    "statements": [{"vulnerability": {"name": "CVE-2099-0002", "aliases": ["GHSA-test-0002"]},
                    "products": [{"@id": "pkg:pypi/jinja2"}], "status": "not_affected",
                    "justification": "component_not_present"}]}).encode()


def test_one_document_imported_through_two_nodes_at_once_is_stored_once(
        postgres: PostgresCluster, tmp_path: Path) -> None:
    with two_nodes(postgres, tmp_path) as (settings, nodes):
        with nodes[0].session() as s:
            project_id = projects.create_project(s, "group/app").id

        def storing(state: Any) -> bool:
            return bool(state.is_insert and state.statement.table.name == VexStatement.__tablename__)

        def import_document(session: Session, n: int) -> None:
            vex.import_vex(session, project_id, parse_vex(DOCUMENT), source=f"node {n}", actor=f"node-{n}")

        outcomes = second_checks_while_first_holds(nodes, storing, import_document, on="do_orm_execute")
        assert outcomes == [None, None]
        with nodes[0].session() as s:
            assert s.scalar(select(func.count()).select_from(VexStatement)) == 2, "two names, one copy"
            assert [d.actor for d in vex.stored_documents(s, project_id)] == ["node-1"], "the later import"
