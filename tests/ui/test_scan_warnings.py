"""No silent gaps on the server (issue 15): what the server's matching of a scan could not check — ecosystems with
no advisories loaded, an end-of-life OS release — is kept with the scan and shown on the job and image pages,
not only written to the server log."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hullscan.advisories.service import import_path
from hullscan.auth import projects
from hullscan.db.base import utcnow
from hullscan.db.models.pipelines import JobArtifact
from hullscan.db.models.registry import RegistryManifest, RegistryRepository, RegistryTag
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from hullscan.scanner import write_cyclonedx
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from tests.conftest import data_path
from tests.pipelines.helpers import add_event
from tests.support.auth import sign_in  # noqa: F401 - the client fixture signs in with it

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def test_gaps_and_end_of_life_are_kept_with_the_scan_and_shown(client, db, migrated_settings, tmp_path: Path) -> None:
    tracker = data_path("feeds-samples", "debian", "vunnel", "input", "debian.json")
    assert all(r.ok for r in import_path(db, migrated_settings, str(tracker)))  # Debian loaded; npm not
    with db.session() as s:
        pid = projects.create_project(s, "group/app", cs4r_enabled=True).id
        projects.update_project_settings(s, projects.get_project(s, "group/app"), tag_patterns=["latest"])
        add_event(s, "group/app", "latest")
        now = utcnow()
        assert len(events.process_pending_events(s, migrated_settings, now=now).jobs) == 1
        runner, _ = pipelines.register_runner(s, "r", now=now)
        claimed = pipelines.claim_job(s, runner, now=now, lease_seconds=30)
        job = pipelines.authenticate_job(s, claimed.job_id, claimed.token)
        inventory = Inventory(
            ImageInfo(name=job.variables.get("CS_IMAGE", "").rsplit(":", 1)[0], tag="latest", digest=job.digest),
            OperatingSystem("debian", "10.13"),
            [Package("chromium", "90.0.4430.212-1~deb10u1", "deb", source_name="chromium",
                     source_version="90.0.4430.212-1~deb10u1",
                     purl="pkg:deb/debian/chromium@90.0.4430.212-1~deb10u1?distro=debian-10.13"),
             Package("lodash", "4.17.20", "npm", purl="pkg:npm/lodash@4.17.20")])
        sbom = tmp_path / "gl-sbom-report.cdx.json"
        sbom.write_text(write_cyclonedx(inventory, registry_triggered=True))
        sha = hashlib.sha256(sbom.read_bytes()).hexdigest()
        s.add(JobArtifact(job_id=job.id, name=sbom.name, file_type="cyclonedx", sha256=sha, size=sbom.stat().st_size))
        s.flush()
        pipelines.finish_job(s, job, "success", now=now)
        assert pipelines.ingest_due_artifacts(s, lambda _sha: sbom, now=now) == 1
        job_id, pipeline_id = job.id, job.pipeline_id
        [artifact] = pipelines.artifacts_of(s, [job_id])[job_id]
        stored = list(artifact.ingest_warnings or [])
        repo = RegistryRepository(name="group/app", project_id=pid)
        s.add(repo)
        s.flush()
        manifest = RegistryManifest(repository_id=repo.id, digest=job.digest, media_type=OCI_MANIFEST, size=2,
                                    content=b"{}")
        s.add(manifest)
        s.flush()
        s.add(RegistryTag(repository_id=repo.id, name="latest", manifest_id=manifest.id))
    eol = next(w for w in stored if w.startswith("Debian:10 reached its end of life on 2024-06-30"))
    gap = next(w for w in stored if w.startswith("no advisories loaded for npm (1 package)"))

    job_page = client.get(f"/projects/group/app/-/jobs/{job_id}").text
    assert 'data-testid="scan-warnings"' in job_page and f"<li>{eol}</li>" in job_page and f"<li>{gap}</li>" in job_page
    pipeline_page = client.get(f"/projects/group/app/-/pipelines/{pipeline_id}").text
    assert 'data-testid="scan-warnings"' in pipeline_page and f"<li>{eol}</li>" in pipeline_page
    images_page = client.get("/projects/group/app/-/images").text
    assert 'data-testid="scan-warnings"' in images_page and f"<li>{eol}</li>" in images_page
    assert f"<li>{gap}</li>" in images_page
