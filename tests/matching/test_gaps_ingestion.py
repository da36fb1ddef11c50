"""No silent gaps on the server path (issue 15): a registry-triggered SBOM ingested with only PyPI advisories
loaded reports the npm and Debian packages it could not check, and the server logs it for the job."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db import Database
from hullscan.ingestion.service import SbomArtifact, ingest_sbom_artifact
from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory
from hullscan.settings import Settings
from tests.conftest import data_path


def test_ingestion_names_the_ecosystems_without_advisories(migrated_settings: Settings, app_inventory: Inventory,
                                                           tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(migrated_settings)
    try:
        assert all(r.ok for r in import_path(db, migrated_settings,
                                             str(data_path("advisories", "osv", "pypi.jsonl.gz"))))
        image = dataclasses.replace(app_inventory, image=ImageInfo(name="registry.test/app", tag="1",
                                                                   digest="sha256:" + "a" * 64))
        sbom = tmp_path / "app.cdx.json"
        sbom.write_text(write_cyclonedx(image, registry_triggered=True))
        with db.session() as s:
            pid = projects.create_project(s, "test/app").id
        with caplog.at_level(logging.WARNING, logger="hullscan.ingestion.service"), db.session() as s:
            result = ingest_sbom_artifact(s, SbomArtifact(project_id=pid, pipeline_id=1, job_id=7, artifact_id=1,
                                                          path=sbom, image="registry.test/app:1", digest=None))
    finally:
        db.dispose()
    assert result.findings > 0  # the PyPI packages were checked
    gap = next(w for w in result.warnings if w.startswith("no advisories loaded for"))
    assert "npm (" in gap and "Debian:12 (" in gap and "PyPI" not in gap
    logged = [r for r in caplog.records if r.getMessage() == "ingestion warnings"]
    assert logged and gap in logged[0].fields["warnings"] and logged[0].fields["job_id"] == 7
