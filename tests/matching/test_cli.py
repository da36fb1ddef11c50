"""`hullscan scan` end to end as a real process: formats, filters, exit codes, VEX, clear errors. The store is
the real one, on SQLite, with the real PyPI OSV file imported (the matching itself is covered on both backends
by test_acceptance)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.advisories.service import SqlAdvisoryStore, import_path
from hullscan.db import Database, upgrade
from hullscan.matching import match
from hullscan.settings import Settings
from tests.conftest import data_path, image_layout


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Settings:
    tmp = tmp_path_factory.mktemp("cli-store")
    settings = Settings(data_dir=tmp)  # the embedded default: the data directory's SQLite file
    upgrade(settings)
    db = Database(settings)
    for result in import_path(db, settings, str(data_path("advisories", "osv", "pypi.jsonl.gz"))):
        assert result.ok, result
    db.dispose()
    return settings


@pytest.fixture
def store(imported) -> Iterator[SqlAdvisoryStore]:
    db = Database(imported)
    with db.session() as session:
        yield SqlAdvisoryStore(session)
    db.dispose()


def _hullscan(settings: Settings, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os
    import sys

    env = {key: value for key, value in os.environ.items() if key != "HULLSCAN_DATABASE_URL"}
    env.update({"HULLSCAN_DATA_DIR": str(settings.data_dir),  # the test's own layer cache
                "HULLSCAN_SCANNER_CACHE_DIR": str(settings.data_dir / "layer-cache"), **(env_extra or {})})
    if settings.database_url:
        env["HULLSCAN_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "hullscan", "scan", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def app_sbom(tmp_path_factory, app_inventory) -> Path:
    """The app image's inventory as a CycloneDX SBOM (hullscan's own writer, no vulnerabilities)."""
    from hullscan.matching.reports import ScanReport, write_report

    path = tmp_path_factory.mktemp("sbom") / "app.cdx.json"
    with path.open("w") as fh:
        write_report("cyclonedx", ScanReport(inventory=app_inventory, findings=[]), fh)
    return path


def test_scan_image_end_to_end_gitlab_report(imported, store, app_inventory, tmp_path) -> None:
    out = tmp_path / "gl-container-scanning-report.json"
    image = image_layout("debian-python-app")
    proc = _hullscan(imported, f"oci-dir:{image}", "--format", "gitlab", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    expected = match(app_inventory, store).findings
    assert len(doc["vulnerabilities"]) == len({(f.vulnerability_id, f.package.name, f.package.version)
                                               for f in expected}) > 30
    assert {v["identifiers"][0]["value"] for v in doc["vulnerabilities"]} == {f.vulnerability_id for f in expected}
    assert not list(tmp_path.glob("*.part"))


def test_scan_image_uses_the_layer_cache_and_the_scanner_limits(imported, tmp_path) -> None:
    """`hullscan scan IMAGE` scans as `hullscan sbom` and the runners do (one ScanConfig): through the layer
    cache of `scanner_cache_dir`, within `scanner_max_*`."""
    import sqlite3

    cache = tmp_path / "cache"
    image = f"oci-dir:{image_layout('debian-python-app')}"
    env = {"HULLSCAN_SCANNER_CACHE_DIR": str(cache)}
    first = _hullscan(imported, image, "--format", "json", env_extra=env)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(cache / "layers.sqlite") as conn:
        layers = conn.execute("SELECT count(*) FROM layer_analysis").fetchone()[0]
    assert layers == 3  # every layer of the image analysed once and kept
    again = _hullscan(imported, image, "--format", "json", env_extra=env)
    assert json.loads(again.stdout)["findings"] == json.loads(first.stdout)["findings"]
    nocache = _hullscan(imported, image, "--format", "json", "--no-cache",
                        env_extra={"HULLSCAN_SCANNER_CACHE_DIR": str(tmp_path / "unused")})
    assert json.loads(nocache.stdout)["findings"] == json.loads(first.stdout)["findings"]
    assert not (tmp_path / "unused" / "layers.sqlite").exists()  # (the directory may hold scratch space)
    capped = _hullscan(imported, image, "--format", "json", "--no-cache",
                       env_extra={"HULLSCAN_SCANNER_MAX_LAYER_BYTES": "4096"})
    assert capped.returncode == 0, capped.stderr
    assert "4096" in capped.stderr or any("4096" in w for w in json.loads(capped.stdout).get("warnings", []))


def test_scan_sbom_filters_exit_codes_and_vex(imported, app_sbom, tmp_path) -> None:
    everything = _hullscan(imported, str(app_sbom), "--format", "json")
    assert everything.returncode == 0, everything.stderr
    doc = json.loads(everything.stdout)
    findings = doc["findings"]
    assert {f["package"]["name"] for f in findings} >= {"urllib3", "requests", "Jinja2", "Django"}
    high = [f for f in findings if f["severity"] == "high"]
    assert high

    failing = _hullscan(imported, str(app_sbom), "--format", "json", "--severity", "HIGH,CRITICAL",
                        "--fail-on", "high", "--exit-code", "3")
    assert failing.returncode == 3
    kept = json.loads(failing.stdout)
    assert {f["vulnerability_id"] for f in kept["findings"]} == {f["vulnerability_id"] for f in high}
    assert kept["summary"]["filtered"] == len(findings) - len(high)
    assert _hullscan(imported, str(app_sbom), "--format", "json", "--fail-on", "critical").returncode == 0

    target = next(f for f in findings if f["package"]["name"] == "urllib3")
    vex = tmp_path / "app.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.invalid/vex/1",
        "author": "test",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {"vulnerability": {"name": target["identifiers"][-1]},  # any alias names the vulnerability
             "products": [{"@id": "pkg:pypi/urllib3@1.24.1"}], "status": "not_affected",
             "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": {"name": target["vulnerability_id"]}, "products": [{"@id": "pkg:pypi/other@1.0"}],
             "status": "not_affected"},
            {"vulnerability": {"name": "CVE-2018-18074"}, "products": [{"@id": "pkg:pypi/requests"}], "status": "affected"},
            {"status": "fixed"},
        ],
    }))
    suppressed = _hullscan(imported, str(app_sbom), "--format", "json", "--vex", str(vex))
    assert suppressed.returncode == 0, suppressed.stderr
    sdoc = json.loads(suppressed.stdout)
    assert sdoc["summary"]["suppressed_by_vex"] == 1
    assert [s["vulnerability_id"] for s in sdoc["suppressed"]] == [target["vulnerability_id"]]
    assert len(sdoc["findings"]) == len(findings) - 1
    assert "1 VEX statement(s) skipped" in suppressed.stderr

    unfixed_only = _hullscan(imported, str(app_sbom), "--format", "json", "--ignore-unfixed")
    assert all(f["fixed_versions"] for f in json.loads(unfixed_only.stdout)["findings"])

    device = _hullscan(imported, str(app_sbom), "--format", "json", "--output", "/dev/stdout")
    assert device.returncode == 0 and json.loads(device.stdout)["findings"]  # written through, never replaced
    assert not Path("/dev/stdout.part").exists() and Path("/dev/null").is_char_device()

    table = _hullscan(imported, str(app_sbom))
    assert table.returncode == 0 and "urllib3" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_embedded_default_reads_the_file_as_the_database_url_path_does(imported, tmp_path) -> None:
    """On the embedded default `hullscan scan` reads the SQLite file with the standard library's driver and
    loads neither SQLAlchemy, pydantic nor Typer; through a database URL (SQLAlchemy) it reports the same."""
    import os
    import sys

    image = f"oci-dir:{image_layout('debian-python-app')}"
    out = tmp_path / "file.json"
    probe = (
        "import sys\n"
        f"sys.argv = ['hullscan', 'scan', {image!r}, '--format', 'json', '--output', {str(out)!r}]\n"
        "from hullscan.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print(code, sorted(m for m in ('sqlalchemy', 'pydantic', 'typer') if m in sys.modules))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "HULLSCAN_DATABASE_URL"}
    env["HULLSCAN_DATA_DIR"] = str(imported.data_dir)
    env["HULLSCAN_SCANNER_CACHE_DIR"] = str(tmp_path / "layer-cache")
    light = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert light.stdout.strip() == "0 []", light.stderr
    via_url = _hullscan(Settings(data_dir=imported.data_dir, database_url=imported.sqlalchemy_url), image,
                        "--format", "json")
    assert via_url.returncode == 0, via_url.stderr
    file_findings, url_findings = json.loads(out.read_text())["findings"], json.loads(via_url.stdout)["findings"]
    assert len(file_findings) > 30 and file_findings == url_findings


def test_scan_errors_are_clear(imported, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"bomFormat": "CycloneDX", "components": [')
    proc = _hullscan(imported, str(bad))
    assert proc.returncode == 2
    assert "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    vex = tmp_path / "vex.json"
    vex.write_text("[]")
    proc = _hullscan(imported, str(bad), "--vex", str(vex))
    assert proc.returncode == 2 and "OpenVEX" in proc.stderr
    proc = _hullscan(imported, str(bad), "--format", "xml")
    assert proc.returncode == 2 and "unknown --format" in proc.stderr
    proc = _hullscan(imported, "oci-dir:/nonexistent/image")
    assert proc.returncode == 2 and "cannot analyse" in proc.stderr and "Traceback" not in proc.stderr


def test_scan_with_an_empty_store_says_what_to_do(tmp_path, app_sbom) -> None:
    settings = Settings(data_dir=tmp_path / "empty")
    proc = _hullscan(settings, str(app_sbom), "--offline")
    assert proc.returncode == 2
    assert "no advisories" in proc.stderr and "hullscan advisories sync" in proc.stderr
    upgrade(settings)
    proc = _hullscan(settings, str(app_sbom), "--offline")
    assert proc.returncode == 2 and "no advisories" in proc.stderr and "syncing" not in proc.stderr


def test_a_store_that_is_not_a_database_is_a_clear_error(tmp_path, app_sbom) -> None:
    garbage = Settings(data_dir=tmp_path / "garbage")
    garbage.data_dir.mkdir()
    (garbage.data_dir / "hullscan.db").write_bytes(b"\x00not sqlite\xff" * 400)
    directory = Settings(data_dir=tmp_path / "directory")
    (directory.data_dir / "hullscan.db").mkdir(parents=True)
    for settings, says in ((garbage, "run `hullscan db upgrade` first"), (directory, "cannot open the advisory store")):
        proc = _hullscan(settings, str(app_sbom), "--offline")
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_scan_syncs_an_empty_store_unless_offline(tmp_path, app_sbom) -> None:
    """Without --offline an empty store is synced first: from a local server shaped like CISA's KEV feed here
    (KEV alone gives no affected packages, so the scan then reports the store still empty, naming nothing failed)
    and, with an unreachable source, a clear error naming the source."""
    import http.server
    import threading

    kev = data_path("advisories", "kev", "known_exploited_vulnerabilities.json").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(kev)))
            self.end_headers()
            self.wfile.write(kev)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(data_dir=tmp_path / "online")
        proc = _hullscan(settings, str(app_sbom), env_extra={
            "HULLSCAN_ADVISORIES_SOURCES": '["kev"]',
            "HULLSCAN_ADVISORIES_KEV_URL": f"http://127.0.0.1:{server.server_port}/kev.json",
        })
        assert "syncing the configured sources" in proc.stderr
        assert proc.returncode == 2 and "no advisories" in proc.stderr
        proc = _hullscan(settings, str(app_sbom), env_extra={
            "HULLSCAN_ADVISORIES_SOURCES": '["kev"]',
            "HULLSCAN_ADVISORIES_KEV_URL": "http://127.0.0.1:9/unreachable.json",
            "HULLSCAN_ADVISORIES_HTTP_RETRIES": "0",
        })
        assert proc.returncode == 2 and "sync failed" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        server.shutdown()


def test_scan_names_the_ecosystems_it_had_no_advisories_for(imported, tmp_path) -> None:
    """No silent gaps (issue 15): with only PyPI advisories loaded, the app image's npm and Debian packages go
    unchecked, and every output format and stderr say so, naming them and counting the packages."""
    image = f"oci-dir:{image_layout('debian-python-app')}"
    as_json = _hullscan(imported, image, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    unchecked = doc["summary"]["unchecked_ecosystems"]
    assert set(unchecked) == {"npm", "Debian:12"} and all(n > 0 for n in unchecked.values()), unchecked
    assert "PyPI" not in unchecked and doc["findings"]  # PyPI is loaded: checked and matched
    gap = next(w for w in doc["warnings"] if w.startswith("no advisories loaded for"))
    assert "npm (" in gap and "Debian:12 (" in gap and f"{sum(unchecked.values())} package(s) not checked" in gap
    assert gap in as_json.stderr

    sarif = _hullscan(imported, image, "--format", "sarif")
    assert sarif.returncode == 0, sarif.stderr
    run = json.loads(sarif.stdout)["runs"][0]
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert gap in notes and run["properties"]["uncheckedEcosystems"] == unchecked
    assert gap in sarif.stderr

    cdx = _hullscan(imported, image, "--format", "cyclonedx")
    assert cdx.returncode == 0, cdx.stderr
    props = {p["name"]: p["value"] for p in json.loads(cdx.stdout)["metadata"]["properties"]}
    assert {k: int(v) for k, v in props.items() if k.startswith("hullscan:unchecked:")} == {
        f"hullscan:unchecked:{eco}": n for eco, n in unchecked.items()}

    table_file = tmp_path / "report.txt"
    table = _hullscan(imported, image, "--output", str(table_file))
    assert table.returncode == 0, table.stderr
    text = " ".join(table_file.read_text().split())  # rich wraps at 80 columns
    assert "no advisories loaded for" in text and "npm (" in text and "Debian:12 (" in text
    assert "npm (" in table.stderr and "Debian:12 (" in table.stderr


def test_scan_takes_trivys_spellings(imported, app_sbom, tmp_path) -> None:
    """--only-fixed is --ignore-unfixed, -q leaves only errors on stderr, --version, -o FILE, --timeout."""
    fixed = _hullscan(imported, str(app_sbom), "-f", "json", "--ignore-unfixed")
    only = _hullscan(imported, str(app_sbom), "-f", "json", "--only-fixed", "-o", str(tmp_path / "r.json"))
    assert fixed.returncode == only.returncode == 0, only.stderr
    kept = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert kept == json.loads(fixed.stdout)["findings"] and kept and all(f["fixed_versions"] for f in kept)
    version = _hullscan(imported, "--version")
    assert version.returncode == 0 and version.stdout.startswith("hullscan ")
    vex = tmp_path / "empty.openvex.json"
    vex.write_text(json.dumps({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "x", "author": "t",
                               "timestamp": "2026-01-01T00:00:00Z", "version": 1, "statements": [{"status": "fixed"}]}))
    noisy = _hullscan(imported, str(app_sbom), "-f", "json", "--vex", str(vex))
    assert "warning:" in noisy.stderr
    quiet = _hullscan(imported, str(app_sbom), "-f", "json", "--vex", str(vex), "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["findings"] == json.loads(noisy.stdout)["findings"]
    failed = _hullscan(imported, str(tmp_path / "missing.json"), "-q")
    assert failed.returncode == 2 and failed.stderr.startswith("error:")  # -q keeps errors


def test_scan_cache_dir_and_timeout(imported, tmp_path) -> None:
    image = f"oci-dir:{image_layout('debian-python-app')}"
    cache = tmp_path / "layers"
    done = _hullscan(imported, image, "-f", "json", "--offline", "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert cache.is_dir() and any(cache.iterdir())
    late = _hullscan(imported, image, "-f", "json", "--no-cache", "--timeout", "0.001")
    assert late.returncode == 2 and "timed out after 0.001s" in late.stderr and late.stdout == ""


def _scan_in(directory, imported, sbom) -> subprocess.CompletedProcess:
    """`hullscan scan SBOM -f json` run in `directory` (where default ignore files are looked for)."""
    import os
    import sys

    env = {key: value for key, value in os.environ.items() if key != "HULLSCAN_DATABASE_URL"}
    env.update({"HULLSCAN_DATA_DIR": str(imported.data_dir),
                "HULLSCAN_SCANNER_CACHE_DIR": str(imported.data_dir / "layer-cache")})
    return subprocess.run([sys.executable, "-m", "hullscan", "scan", str(sbom), "-f", "json"], cwd=directory,
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_scan_reads_trivy_ignore_files(imported, app_sbom, tmp_path) -> None:
    """`.trivyignore` in the working directory is read by default, as Trivy does; --ignorefile names another
    file, plain or YAML; a bad file is a clear error (exit 2) before any scanning."""
    findings = json.loads(_hullscan(imported, str(app_sbom), "-f", "json").stdout)["findings"]
    first, second = findings[0], findings[1]
    (tmp_path / ".trivyignore").write_text(f"# accepted\n{first['identifiers'][-1]}\n"
                                           f"{second['vulnerability_id']} exp:2000-01-01\n")
    in_dir = _scan_in(tmp_path, imported, app_sbom)
    assert in_dir.returncode == 0, in_dir.stderr
    doc = json.loads(in_dir.stdout)
    left = {(f["vulnerability_id"], f["package"]["name"]) for f in doc["findings"]}
    assert (first["vulnerability_id"], first["package"]["name"]) not in left  # ignored through an alias
    assert (second["vulnerability_id"], second["package"]["name"]) in left  # its rule expired
    assert len(doc["findings"]) == len(findings) - sum(f["vulnerability_id"] == first["vulnerability_id"]
                                                       for f in findings)
    assert doc["summary"]["filtered"] == len(findings) - len(doc["findings"])

    as_yaml = tmp_path / "ignore.yaml"
    as_yaml.write_text(f"vulnerabilities:\n  - id: {second['vulnerability_id']}\n"
                       f"    purls: ['pkg:pypi/{second['package']['name'].lower()}']\n    statement: tested\n")
    yaml_run = _hullscan(imported, str(app_sbom), "-f", "json", "--ignorefile", str(as_yaml), "--exit-code", "1")
    assert yaml_run.returncode == 1  # findings remain, and the exit code still counts only those kept
    assert second["vulnerability_id"] not in {f["vulnerability_id"] for f in json.loads(yaml_run.stdout)["findings"]}

    bad = tmp_path / "bad.trivyignore"
    bad.write_text("CVE-2021-1 exp:someday\n")
    refused = _hullscan(imported, str(app_sbom), "--ignorefile", str(bad))
    assert refused.returncode == 2 and refused.stdout == ""
    assert f"error: {bad}: line 1: 'someday' is not a date (YYYY-MM-DD)" in refused.stderr


def test_scan_shows_a_spinner_on_a_terminal(imported, app_sbom) -> None:
    from tests.scanner.test_cli_options import with_terminal_stderr

    env = {"HULLSCAN_DATA_DIR": str(imported.data_dir)}
    code, stdout, terminal = with_terminal_stderr(["scan", str(app_sbom), "-f", "json"], env)
    assert code == 0 and f"Scanning {app_sbom}" in terminal and json.loads(stdout)["findings"]
    code, stdout, terminal = with_terminal_stderr(["scan", str(app_sbom), "-f", "json", "-q"], env)
    assert code == 0 and "Scanning" not in terminal and json.loads(stdout)["findings"]


def test_scan_reads_grype_ignore_rules(imported, app_sbom, tmp_path) -> None:
    """A project's `.grype.yaml` is read from the working directory (when there is no .trivyignore), its
    `ignore:` rules by package and by fix state, as Grype reads them."""
    findings = json.loads(_hullscan(imported, str(app_sbom), "-f", "json").stdout)["findings"]
    first = findings[0]
    name, version = first["package"]["name"], first["package"]["version"]
    (tmp_path / ".grype.yaml").write_text(f"ignore:\n  - package: {{name: {name}, version: '{version}'}}\n"
                                          "    reason: accepted\n  - fix-state: wont-fix\n")
    run = _scan_in(tmp_path, imported, app_sbom)
    assert run.returncode == 0, run.stderr
    left = json.loads(run.stdout)["findings"]
    expected = [f for f in findings if (f["package"]["name"], f["package"]["version"]) != (name, version)
                and f.get("fix_state") not in ("wont_fix", "end_of_life")]
    assert len(left) == len(expected) < len(findings)
    assert all(f["package"]["name"] != name or f["package"]["version"] != version for f in left)
