"""Severity enrichment (docs/severity.md): CVE JSON 5 and NVD API 2.0 parsing on the real samples, the `cve`
and `nvd` sources (import, incremental sync over HTTP), the store filling in advisories without a severity,
re-matching when a score changes, the acceptance on the shared images, and imports that use nothing failing."""

from __future__ import annotations

import copy
import csv
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hullscan.advisories import service
from hullscan.advisories.parsers import cve
from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.service import SqlAdvisoryStore, changesets_since
from hullscan.db import Database
from hullscan.settings import Settings
from tests.conftest import shared_path

SAMPLES = shared_path("feeds-samples")
CVELIST = SAMPLES / "cve" / "cvelist-subset.jsonl.gz"
NVD_PAGE = SAMPLES / "nvd" / "vunnel" / "full-page.json"


def _expected() -> dict[str, dict[str, str]]:
    with (SAMPLES / "cve" / "expected-severity.tsv").open() as fh:
        return {r["cve_id"]: r for r in csv.DictReader(fh, delimiter="\t")}


def _records() -> list[dict]:
    with gzip.open(CVELIST, "rt") as fh:
        return [json.loads(line) for line in fh]


# --- parsing ------------------------------------------------------------------------------------------------


def test_cve_records_give_the_expected_severity_score_and_container() -> None:
    tally = Tally()
    got = {c.cve_id: c for c in cve.iter_path(CVELIST, tally)}
    expected = _expected()
    assert len(got) == len(expected) == 118
    for cve_id, row in expected.items():
        c = got[cve_id]
        if row["best_cvss_version"] == "none":
            assert (c.severity, c.score, c.source) == (None, None, None), cve_id
        else:
            assert (c.score, c.severity, c.source) == (
                float(row["base_score"]), row["base_severity"].lower(), row["source_container"]), cve_id
            assert c.vector.startswith("CVSS:3.1/")
    assert tally.records == 118 and tally.skipped == {"no_cvss": 74}


def test_cisa_adp_is_preferred_over_other_adp_containers_and_cna_over_both() -> None:
    record = next(r for r in _records() if r["cveMetadata"]["cveId"] == "CVE-2021-45116")
    adp = record["containers"]["adp"]
    other = {"providerMetadata": {"shortName": "Other-ADP"},
             "metrics": [{"cvssV3_1": {"vectorString": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}}]}
    record["containers"]["adp"] = [other, *adp]
    assert cve.parse_cve5(record, Tally()).source == "adp:CISA-ADP"
    record["containers"]["cna"]["metrics"] = [
        {"format": "CVSS", "scenarios": [], "cvssV4_0": {"vectorString": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}}]
    found = cve.parse_cve5(record, Tally())
    assert (found.source, found.cvss_version, found.severity, found.score) == ("cna:mitre", "4", "critical", 9.3)


def test_nvd_primary_metric_first_then_the_cna_secondary() -> None:
    tally = Tally()
    got = {c.cve_id: c for c in cve.iter_path(NVD_PAGE, tally)}
    assert len(got) == 38 and tally.skipped == {"no_cvss": 3}
    sources = [c.source.split(":")[0] for c in got.values() if c.source]
    assert sources.count("primary") == 25 and sources.count("secondary") == 10
    [c] = cve.iter_path(SAMPLES / "nvd" / "vunnel" / "single-entry.json", Tally())
    assert (c.score, c.severity, c.vector) == (6.5, "medium", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N")
    bare = {c.cve_id: c for c in cve.iter_path(SAMPLES / "nvd" / "trivy-db" / "nvd" / "happy", Tally())}
    assert bare["CVE-2024-5732"].cvss_version == "4" and bare["CVE-2024-0069"].severity is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["cveMetadata", "cveId", "containers", "cna", "adp", "metrics", "cvssV3_1", "cvssV4_0",
                         "vectorString", "providerMetadata", "shortName", "vulnerabilities", "cve", "id", "type",
                         "cvssData", "cvssMetricV31", "Primary", "source"]) | st.text(max_size=8),
        inner, max_size=5),
    max_leaves=30)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json)
def test_any_json_document_is_parsed_or_counted_never_crashes(doc: object) -> None:
    tally = Tally()
    found = list(cve.parse_document(doc, tally))
    assert all(cve.CVE_ID.match(c.cve_id) for c in found)
    assert tally.records >= len(found)


@hsettings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2000))
def test_any_bytes_are_parsed_or_rejected_with_the_parsers_error(tmp_path_factory: pytest.TempPathFactory,
                                                                  data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "x.jsonl"
    path.write_bytes(data)
    try:
        list(cve.iter_path(path, Tally()))
    except cve.NotCveData:
        pass


# --- the store: fill-in, precedence, changesets ---------------------------------------------------------------


def _osv(adv_id: str, aliases: list[str], package: str, **extra: object) -> dict:
    return {"id": adv_id, "aliases": aliases, "modified": "2024-01-01T00:00:00Z", **extra,
            "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]}


def _write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_store_fills_unscored_advisories_from_their_cves_and_keeps_their_own(migrated_settings: Settings,
                                                                             tmp_path: Path) -> None:
    db = Database(migrated_settings)
    try:
        ghsa_vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C"
        osv_file = _write_jsonl(tmp_path / "pypi.jsonl", [
            _osv("PYSEC-1", ["CVE-2021-45116"], "django"),  # CISA-ADP 7.5 HIGH in the CVE record
            _osv("GHSA-aaaa-bbbb-cccc", ["CVE-2023-49083"], "cryptography",  # GitHub's word beats the vector
                 severity=[{"type": "CVSS_V3", "score": ghsa_vector}], database_specific={"severity": "MODERATE"}),
            _osv("PYSEC-2", ["CVE-2018-18074"], "requests"),  # no score anywhere: stays unknown
        ])
        assert all(r.ok for r in service.import_path(db, migrated_settings, str(osv_file)))
        [result] = service.import_path(db, migrated_settings, str(CVELIST))
        assert (result.source, result.ok, result.records, result.added) == ("cve", True, 118, 118)
        with db.session() as s:
            advs = SqlAdvisoryStore(s).advisories(["PYSEC-1", "GHSA-aaaa-bbbb-cccc", "PYSEC-2"])
        p1 = advs["PYSEC-1"]
        assert (p1.severity, p1.cvss_score, p1.severity_source) == ("high", 7.5, "cve:adp:CISA-ADP")
        assert p1.cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
        g = advs["GHSA-aaaa-bbbb-cccc"]
        assert (g.severity, g.severity_source, g.cvss_score) == ("medium", "ghsa", 9.8)
        assert (advs["PYSEC-2"].severity, advs["PYSEC-2"].severity_source) == (None, None)

        # an NVD score ranks before the CVE record's
        page = json.loads(NVD_PAGE.read_text())
        item = copy.deepcopy(page["vulnerabilities"][0])
        item["cve"]["id"] = "CVE-2021-45116"
        nvd_file = tmp_path / "nvd.json"
        nvd_file.write_text(json.dumps({**page, "vulnerabilities": [item], "totalResults": 1}))
        [nvd] = service.import_path(db, migrated_settings, str(nvd_file))
        assert (nvd.source, nvd.ok, nvd.added) == ("nvd", True, 1)
        with db.session() as s:
            p1 = SqlAdvisoryStore(s).advisories(["PYSEC-1"])["PYSEC-1"]
            assert p1.severity_source == "nvd:primary:nvd@nist.gov"
            # the changeset names the advisories of the CVE whose score changed, with their package keys
            last = changesets_since(s, 0)[-1]
            assert last.source == "nvd"
            assert [(c.advisory_id, c.change, c.keys) for c in last.changes] == [
                ("PYSEC-1", "modified", [("PyPI", "django")])]
        # the same data again changes nothing and names nothing
        [again] = service.import_path(db, migrated_settings, str(nvd_file))
        assert (again.added, again.modified, again.unchanged) == (0, 0, 1)
        with db.session() as s:
            assert changesets_since(s, 0)[-1].changes == []
    finally:
        db.dispose()


# --- sync over HTTP: NVD windows and cvelistV5 deltas ---------------------------------------------------------


class _Feeds:
    """NVD's API (pages by startIndex, the query recorded) and cvelistV5's raw files, on a loopback port."""

    def __init__(self) -> None:
        self.nvd: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.queries: list[dict[str, list[str]]] = []
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/nvd":
                    q = parse_qs(url.query)
                    feeds.queries.append(q)
                    start, size = int(q["startIndex"][0]), min(int(q["resultsPerPage"][0]), 15)
                    body = json.dumps({"resultsPerPage": size, "startIndex": start, "totalResults": len(feeds.nvd),
                                       "format": "NVD_CVE", "version": "2.0",
                                       "vulnerabilities": feeds.nvd[start:start + size]}).encode()
                else:
                    body = feeds.files.get(url.path, b"")
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def feeds() -> Iterator[_Feeds]:
    f = _Feeds()
    yield f
    f.server.shutdown()
    f.server.server_close()


def _sync_settings(base: Settings, feeds: _Feeds) -> Settings:
    return base.model_copy(update={
        "advisories_nvd_url": f"{feeds.url}/nvd", "advisories_nvd_request_interval": 0,
        "advisories_cve_delta_log_url": f"{feeds.url}/deltaLog.json",
        "advisories_cve_records_url": f"{feeds.url}/cves", "advisories_http_retries": 1})


def test_nvd_sync_pages_then_asks_only_for_what_changed_since(migrated_settings: Settings, feeds: _Feeds) -> None:
    settings = _sync_settings(migrated_settings, feeds)
    feeds.nvd = json.loads(NVD_PAGE.read_text())["vulnerabilities"]
    db = Database(settings)
    try:
        [first] = service.sync(db, settings, ["nvd"])
        assert (first.ok, first.records, first.added) == (True, 38, 38), first.error
        assert [q["startIndex"] for q in feeds.queries] == [["0"], ["15"], ["30"]]
        assert not any("lastModStartDate" in q for q in feeds.queries)
        with db.session() as s:
            state = {x["name"]: x for x in service.status(s)["sources"]}["nvd"]
        assert state["advisories"] == 35 and state["cursor"]

        feeds.queries.clear()
        changed = copy.deepcopy(feeds.nvd[0])
        changed["cve"]["metrics"]["cvssMetricV31"][0]["cvssData"]["vectorString"] = \
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        feeds.nvd = [changed]
        [second] = service.sync(db, settings, ["nvd"])
        assert (second.ok, second.modified, second.added) == (True, 1, 0)
        [q] = feeds.queries
        assert q["lastModStartDate"][0][:19] == state["cursor"][:19] and "lastModEndDate" in q
        with db.session() as s:
            from hullscan.db.models.advisories import CveSeverityRecord
            row = s.get(CveSeverityRecord, (changed["cve"]["id"], "nvd"))
            assert (row.severity, row.score) == ("critical", 9.8)
    finally:
        db.dispose()


def test_cve_sync_reads_the_delta_log_after_its_cursor(migrated_settings: Settings, feeds: _Feeds) -> None:
    settings = _sync_settings(migrated_settings, feeds)
    records = {r["cveMetadata"]["cveId"]: r for r in _records()}
    for cve_id, r in records.items():
        year, number = cve_id.split("-")[1:]
        feeds.files[f"/cves/{year}/{int(number) // 1000}xxx/{cve_id}.json"] = json.dumps(r).encode()
    log = [{"fetchTime": "2026-09-10T10:00:00.000Z", "new": [{"cveId": "CVE-2021-45116"}],
            "updated": [{"cveId": "CVE-2020-28493"}]},
           {"fetchTime": "2026-09-09T10:00:00.000Z", "new": [], "updated": [{"cveId": "CVE-2018-18074"}]}]
    feeds.files["/deltaLog.json"] = json.dumps(log).encode()
    db = Database(settings)
    try:
        [first] = service.sync(db, settings, ["cve"])
        assert (first.ok, first.records, first.added) == (True, 3, 3), first.error
        log.insert(0, {"fetchTime": "2026-09-11T10:00:00.000Z", "new": [{"cveId": "CVE-2023-49083"}], "updated": []})
        feeds.files["/deltaLog.json"] = json.dumps(log).encode()
        [second] = service.sync(db, settings, ["cve"])
        assert (second.ok, second.records, second.added) == (True, 1, 1)
        with db.session() as s:
            state = {x["name"]: x for x in service.status(s)["sources"]}["cve"]
        assert state["cursor"] == "2026-09-11T10:00:00.000Z" and state["advisories"] == 3
    finally:
        db.dispose()


# --- the CLI: acceptance on the shared images, and imports that use nothing ----------------------------------


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    out.update({"HULLSCAN_DATA_DIR": str(tmp_path / "data"), "HULLSCAN_DATABASE_URL": database_url,
                "HULLSCAN_SCANNER_CACHE_DIR": str(tmp_path / "cache"), "HULLSCAN_LOG_JSON": "false"})
    if database_url.startswith("sqlite"):  # the embedded default: `scan` reads the file without SQLAlchemy
        out.pop("HULLSCAN_DATABASE_URL")
    return out


def _hullscan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hullscan", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=str(Path(env["HULLSCAN_DATA_DIR"]).parent))


def test_shared_images_show_the_cve_record_severity_of_every_scored_finding(env: dict[str, str],
                                                                            tmp_path: Path) -> None:
    for data in (shared_path("advisories", "osv", "pypi.jsonl.gz"), shared_path("advisories", "osv", "go.jsonl.gz"),
                 CVELIST):
        done = _hullscan(env, "advisories", "import", str(data))
        assert done.returncode == 0, done.stderr
    expected = _expected()
    scored = unknown = 0
    for image in ("debian-python-app", "go-binary"):
        out = tmp_path / f"{image}.json"
        done = _hullscan(env, "scan", "--offline", f"oci-dir:{shared_path('testdata', 'images', image)}",
                         "--format", "json", "--output", str(out))
        assert done.returncode == 0, done.stderr
        for f in json.loads(out.read_text())["findings"]:
            rows = [expected[i] for i in f["identifiers"] if i in expected]
            with_score = [r for r in rows if r["best_cvss_version"] != "none"]
            if with_score:
                scored += 1
                assert f["severity"] != "unknown" and f["cvss_score"] is not None, f
                assert f["severity_source"], f
                if f["severity_source"].startswith("cve:"):  # filled in from the CVE record
                    row = with_score[0]
                    assert (f["cvss_score"], f["severity"]) == (float(row["base_score"]),
                                                                row["base_severity"].lower())
                    assert f["severity_source"] == f"cve:{row['source_container']}"
            elif f["severity"] == "unknown":
                unknown += 1
                assert f["severity_source"] is None
    assert scored == 44 and unknown >= 70


def test_an_import_that_uses_no_record_exits_non_zero_and_says_why(env: dict[str, str], tmp_path: Path) -> None:
    done = _hullscan(env, "advisories", "import", "--format", "osv", str(CVELIST))
    assert done.returncode == 1
    assert "all 118 records" in done.stderr and "invalid_record=118" in done.stderr
    assert "nothing was written" in done.stderr
    junk = tmp_path / "notes.jsonl"
    junk.write_text("\n\n")
    done = _hullscan(env, "advisories", "import", "--format", "osv", str(junk))
    assert done.returncode == 1 and "no osv record recognised" in done.stderr
    status = json.loads(_hullscan(env, "advisories", "status", "--json").stdout)
    assert status["totals"]["advisories"] == 0
    assert {s["name"]: bool(s["last_error"]) for s in status["sources"]} == {"osv:cvelist-subset": True,
                                                                           "osv:notes": True}


def test_stored_vulnerabilities_take_a_cve_feeds_scores_when_re_matched(migrated_settings: Settings,
                                                                       tmp_path: Path) -> None:
    """Continuous scanning of severities: the go-binary image is ingested with the Go OSV data only (no
    scores), then the CVE records arrive; their changeset re-matches the stored packages and the stored
    vulnerabilities take severity, score and source, without a rescan."""
    from sqlalchemy import select

    from hullscan.auth import projects
    from hullscan.db.models.vulnerabilities import Vulnerability
    from hullscan.ingestion.service import ingest_sbom, rematch_advisory_changes
    from hullscan.scanner import analyze, write_cyclonedx
    from hullscan.scanner.inventory import ImageInfo

    inventory = analyze(f"oci-dir:{shared_path('testdata', 'images', 'go-binary')}")
    inventory.image = ImageInfo(name="registry.test:5000/group/app/go", tag="1", digest=inventory.image.digest)
    sbom = tmp_path / "sbom.cdx.json"
    sbom.write_text(write_cyclonedx(inventory, registry_triggered=True))
    db = Database(migrated_settings)
    try:
        assert all(r.ok for r in service.import_path(db, migrated_settings,
                                                     str(shared_path("advisories", "osv", "go.jsonl.gz"))))
        with db.session() as s:
            pid = projects.create_project(s, "group/app").id
            ingest_sbom(s, pid, sbom)
            rematch_advisory_changes(s, limit=1000)  # consume the OSV import's changesets first
        with db.session() as s:
            before = {v.primary_identifier: (v.severity, v.severity_source) for v in s.scalars(select(Vulnerability))}
        assert before and {sev for sev, _ in before.values()} == {"unknown"}

        [result] = service.import_path(db, migrated_settings, str(CVELIST))
        assert result.ok
        with db.session() as s:
            rematch_advisory_changes(s, limit=1000)
        with db.session() as s:
            after = {v.primary_identifier: (v.severity, v.severity_source, v.cvss_score)
                     for v in s.scalars(select(Vulnerability))}
        expected = _expected()
        scored = {c for c in after if c in expected and expected[c]["best_cvss_version"] != "none"}
        assert len(scored) >= 30
        for cve_id in scored:
            row = expected[cve_id]
            assert after[cve_id] == (row["base_severity"].lower(), f"cve:{row['source_container']}",
                                     float(row["base_score"])), cve_id
        assert all(after[c][0] == "unknown" for c in after if c not in scored)
    finally:
        db.dispose()
