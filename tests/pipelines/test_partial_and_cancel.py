"""Incomplete analysis is a visible result (job `partial`, its reasons, a count, a project setting that can
fail such scans) and cancel stops the scan's processes at once — the queue on SQLite and PostgreSQL, then the
real server, local runner and skopeo pushes."""

from __future__ import annotations

import os
import tarfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hullscan.auth import projects
from hullscan.db import Database
from hullscan.db.models.pipelines import JobArtifact, Pipeline
from hullscan.events import service as events
from hullscan.pipelines import service as pipelines
from tests.pipelines.e2e import (
    finished_pipelines,
    sbom_of,
    sbom_properties,
    start_server,
    wait_for,
)
from tests.pipelines.e2e import pipelines as list_pipelines
from tests.pipelines.helpers import add_event
from tests.registry.support import skopeo
from tests.scanner.layouts import (
    Entry,
    good_layer_entries,
    gz,
    layer,
    tar_bytes,
    write_layout,
)
from tests.support.auth import ADMIN_HTTP

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
REASON = "layer 2 (sha256:ab): unreadable, analysed up to the damage: ValueError: tar header checksum mismatch"


def _claimed_with_sbom(s, settings, tag: str):  # noqa: ANN001, ANN202
    add_event(s, "group/app", tag)
    assert len(events.process_pending_events(s, settings, now=T0).jobs) == 1
    runner, _ = pipelines.register_runner(s, f"r-{tag}", now=T0)
    claimed = pipelines.claim_job(s, runner, now=T0, lease_seconds=30)
    s.add(JobArtifact(job_id=claimed.job_id, name="gl-sbom-report.cdx.json", file_type="cyclonedx",
                      sha256="0" * 64, size=1))
    s.flush()
    return pipelines.authenticate_job(s, claimed.job_id, claimed.token)


def test_partial_scan_succeeds_marked_or_fails_by_project_setting(migrated_settings) -> None:
    db = Database(migrated_settings)
    with db.session() as s:
        project = projects.create_project(s, "group/app", cs4r_enabled=True)
        projects.update_project_settings(s, project, tag_patterns=["*"])
        assert pipelines.scan_settings(s, project.id).fail_partial_scans is False  # the default
        complete = _claimed_with_sbom(s, migrated_settings, "complete")
        pipelines.finish_job(s, complete, "success", now=T0)
        assert (complete.status, complete.partial, complete.partial_reasons) == ("success", False, None)
        job = _claimed_with_sbom(s, migrated_settings, "partial")
        pipelines.finish_job(s, job, "success", now=T0, partial_reasons=[REASON, "x" * 900] + ["more"] * 40)
        assert (job.status, job.partial) == ("success", True)
        assert job.partial_reasons[0] == REASON and len(job.partial_reasons[1]) == 500
        assert len(job.partial_reasons) == pipelines.MAX_PARTIAL_REASONS
        assert s.get(Pipeline, job.pipeline_id).status == "success"
        pipelines.set_fail_partial_scans(s, project.id, True)
        strict = _claimed_with_sbom(s, migrated_settings, "strict")
        pipelines.finish_job(s, strict, "success", now=T0, partial_reasons=[REASON])
        assert strict.status == "failed" and strict.partial
        assert strict.failure_reason == f"partial_scan: {REASON}"
        assert s.get(Pipeline, strict.pipeline_id).status == "failed"
        pipelines.finish_job(s, strict, "success", now=T0, partial_reasons=[REASON])  # a retried report: no-op
        assert strict.status == "failed"
        assert pipelines.count_partial_jobs(s, project.id) == 2
        pipelines.set_fail_partial_scans(s, project.id, False)
        assert pipelines.scan_settings(s, project.id).fail_partial_scans is False
    db.dispose()


def bad_header_layout(root: Path, hostname: bytes = b"x\n") -> Path:
    """The scan-evasion image: a tar header with a bad checksum before Django's METADATA."""
    django = Entry("usr/lib/python3/dist-packages/Django-3.2.0.dist-info/METADATA", b"Name: Django\nVersion: 3.2.0\n")
    raw = bytearray(tar_bytes([Entry("etc/hostname", hostname), django]))
    at = raw.find(b"usr/lib/python3/dist-packages/Django")
    header = at - at % 512
    raw[header + 148:header + 156] = b"0000000\0"
    return write_layout(root, [layer(good_layer_entries()), (gz(bytes(raw)), bytes(raw))])


def _push_layout(layout: Path, dest: str) -> None:
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{dest}")


@pytest.mark.slow
def test_bad_header_image_is_a_partial_scan_in_the_api_and_can_fail_the_job(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}")
    try:
        api = f"{server.url}/api/v1/projects/group%2Fapp"
        image = bad_header_layout(tmp_path / "evasion")
        _push_layout(image, f"{server.host}/group/app/web:latest")
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=180)
        (job,) = pipeline["jobs"]
        assert pipeline["status"] == "success" and pipeline["partial"] is True, pipeline
        assert job["partial"] is True and any("checksum" in r for r in job["partial_reasons"]), job
        assert sbom_properties(sbom_of(server, "group/app", job))["hullscan:scan:partial"] == "true"
        trace = ADMIN_HTTP.get(f"{api}/jobs/{job['id']}/trace").text
        assert "partial scan" in trace
        assert ADMIN_HTTP.get(f"{api}/scan_settings").json() == {"fail_partial_scans": False, "partial_scans": 1}
        r = ADMIN_HTTP.put(f"{api}/scan_settings", json={"fail_partial_scans": True})
        assert r.status_code == 200 and r.json()["fail_partial_scans"] is True
        assert ADMIN_HTTP.put(f"{api}/scan_settings", json={"fail_partial_scans": "sometimes"}).status_code == 422
        assert ADMIN_HTTP.get(f"{server.url}/api/v1/projects/no%2Fsuch/scan_settings").status_code == 404
        _push_layout(bad_header_layout(tmp_path / "evasion2", b"y\n"), f"{server.host}/group/app/web2:latest")
        done = finished_pipelines(server, "group/app", 2, timeout=180)
        strict = next(p for p in done if p["id"] != pipeline["id"])
        assert strict["status"] == "failed" and strict["partial"] is True
        assert strict["jobs"][0]["failure_reason"].startswith("partial_scan: ")
        assert ADMIN_HTTP.get(f"{api}/scan_settings").json()["partial_scans"] == 2
        whole = write_layout(tmp_path / "whole", [layer(good_layer_entries())])
        _push_layout(whole, f"{server.host}/group/app/web3:latest")
        done = finished_pipelines(server, "group/app", 3, timeout=180)
        assert [p["partial"] for p in done if p["id"] not in (pipeline["id"], strict["id"])] == [False]
    finally:
        server.stop()


def slow_layout(root: Path, gigabytes: int = 15) -> Path:
    """An image whose second layer inflates to `gigabytes` GB from ~1 MB per GB (gzip members repeated):
    a scan that runs for a long while, spooling nothing (the file is over the per-file cap)."""
    info = tarfile.TarInfo("app/huge.bin")
    chunk_size = 1 << 30
    info.size = gigabytes * chunk_size
    def member(data: bytes) -> bytes:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        return comp.compress(data) + comp.flush()
    zeros = member(b"\0" * chunk_size)
    blob = member(info.tobuf(format=tarfile.GNU_FORMAT)) + zeros * gigabytes + member(b"\0" * 1024)
    raw_digest_stand_in = b"not the real tar"  # the diff_id will not match: irrelevant, the scan is cancelled
    return write_layout(root, [layer(good_layer_entries()), (blob, raw_digest_stand_in)])


def _open_under(directory: Path, prefix: str = "") -> list[int]:
    """Processes with a file open under `directory`/`prefix`* (a scan holds its scratch dir's lock while it
    runs; `scan-` dirs are the scan's, `job-` dirs the runner's)."""
    found = []
    prefix = str(directory.resolve() / prefix)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix) for fd in fds):
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_cancel_kills_the_scan_at_once_and_the_runner_takes_the_next_job(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}")  # one local runner
    scratch = server.data_dir / "runner-cache" / "tmp"
    try:
        api = f"{server.url}/api/v1/projects/group%2Fapp"
        _push_layout(slow_layout(tmp_path / "slow"), f"{server.host}/group/app/slow:latest")
        wait_for(lambda: scratch.exists() and _open_under(scratch, "scan-"), 120, "the scan walking its layers",
                 server)
        (pipeline,) = list_pipelines(server, "group/app")
        job = pipeline["jobs"][0]
        assert job["status"] == "running"
        scanners = _open_under(scratch, "scan-")
        cancel = ADMIN_HTTP.post(f"{api}/jobs/{job['id']}/cancel")
        assert cancel.status_code == 200 and cancel.json()["status"] == "canceled"
        cancelled_at = time.monotonic()
        wait_for(lambda: not _open_under(scratch) and not any(os.path.exists(f"/proc/{p}") for p in scanners),
                 10, "the cancelled scan's processes to die", server)
        assert time.monotonic() - cancelled_at < 5
        assert not list(scratch.iterdir())  # its scratch dir is gone with it
        whole = write_layout(tmp_path / "whole", [layer(good_layer_entries())])
        _push_layout(whole, f"{server.host}/group/app/next:latest")
        done = finished_pipelines(server, "group/app", 2, timeout=180)
        assert sorted(p["status"] for p in done) == ["canceled", "success"]
        wait_for(lambda: not _open_under(scratch) and not list(scratch.iterdir()), 10, "the job's scratch gone",
                 server)
    finally:
        server.stop()


@pytest.mark.slow
def test_the_runner_applies_the_scanner_caps_of_its_settings(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", f"sqlite:///{tmp_path / 'hs.db'}",
                          HULLSCAN_SCANNER_MAX_LAYER_PACKAGES="2")
    try:
        _push_layout(write_layout(tmp_path / "whole", [layer(good_layer_entries())]),
                     f"{server.host}/group/app/web:latest")
        (pipeline,) = finished_pipelines(server, "group/app", 1, timeout=180)
        job = pipeline["jobs"][0]
        assert pipeline["status"] == "success" and job["partial"] is True, pipeline
        assert any("per-layer cap" in r for r in job["partial_reasons"])
    finally:
        server.stop()
