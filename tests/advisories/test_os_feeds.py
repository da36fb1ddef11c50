"""New OS feeds on their upstream-format samples (../shared/feeds-samples): each provider's fixtures are imported,
then matched against installed packages built from that provider's own facts (installed < fixed → found,
= fixed → not found, not-affected and will-not-fix as the README states), plus sync from a local HTTP server
and property tests (any input: parsed or counted, never a crash)."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hullscan.advisories import service
from hullscan.advisories.parsers import alpine, redhat
from hullscan.advisories.parsers.base import Tally
from hullscan.advisories.service import SqlAdvisoryStore
from hullscan.db import Database
from hullscan.matching import match_inventory
from hullscan.matching.finding import Finding
from hullscan.scanner.inventory import ImageInfo, Inventory, OperatingSystem, Package
from hullscan.settings import Settings
from tests.conftest import data_path, shared_path

SAMPLES = shared_path("feeds-samples")
VEX = SAMPLES / "rhel" / "trivy-db" / "redhat-csaf" / "vuln-list-redhat" / "csaf-vex"


@pytest.fixture
def db(migrated_settings: Settings) -> Iterator[Database]:
    d = Database(migrated_settings)
    yield d
    d.dispose()


def _found(db: Database, family: str, version: str, *pkgs: Package) -> dict[str, Finding]:
    """Findings by vulnerability id for one image of `family version` with these packages installed."""
    inventory = Inventory(ImageInfo("example.test/feeds"), OperatingSystem(family, version), list(pkgs))
    with db.session() as s:
        return {f.vulnerability_id: f for f in match_inventory(inventory, SqlAdvisoryStore(s))}


def _apk(name: str, version: str) -> Package:
    return Package(name, version, "apk", source_name=name, source_version=version)


def _rpm(name: str, version: str, epoch: str | None = None, module: str | None = None) -> Package:
    props = {"epoch": epoch} if epoch else {}
    if module:
        props["modularitylabel"] = module
    return Package(name, version, "rpm", source_name=name, source_version=version, properties=props)


# --- Wolfi and Chainguard secdb --------------------------------------------------------------------------------


def test_wolfi_secdb_imports_and_matches_its_facts(db: Database, migrated_settings: Settings) -> None:
    [result] = service.import_path(db, migrated_settings, str(SAMPLES / "wolfi" / "vunnel" / "input" / "secdb"
                                                               / "security.json"))
    assert (result.source, result.ok, result.records) == ("wolfi-secdb", True, 27), result.error
    assert result.added == 59  # one advisory per id, as vunnel's 59 records
    # binutils: 2.39-r1 fixes CVE-2022-38126, -r2 CVE-2022-38533, -r3 CVE-2022-38128
    found = _found(db, "wolfi", "20230201", _apk("binutils", "2.39-r1"))
    assert {"CVE-2022-38533", "CVE-2022-38128"} <= set(found) and "CVE-2022-38126" not in found
    assert found["CVE-2022-38533"].fixed_versions == ["2.39-r2"]
    assert found["CVE-2022-38533"].advisory_ids == ["WOLFI-CVE-2022-38533"]
    assert found["CVE-2022-38533"].severity == "unknown"  # the feed rates nothing
    assert "CVE-2022-38126" in _found(db, "wolfi", "20230201", _apk("binutils", "2.39-r0"))
    # busybox 1.35.0-r3 fixes both CVE-2022-28391 and CVE-2022-30065
    assert {"CVE-2022-28391", "CVE-2022-30065"} <= set(_found(db, "wolfi", "20230201", _apk("busybox", "1.35.0-r2")))
    assert not {"CVE-2022-28391", "CVE-2022-30065"} & set(_found(db, "wolfi", "1", _apk("busybox", "1.35.0-r3")))
    # "0" = not affected, whatever the version; non-CVE ids are records too
    assert "CVE-2016-2781" not in _found(db, "wolfi", "1", _apk("coreutils", "9.1-r0"))
    with db.session() as s:
        assert SqlAdvisoryStore(s).affected_of("WOLFI-GHSA-jq35-85cj-fj4p")[0].fix_state == "not_affected"
    # Alpine images do not get Wolfi's statements
    assert "CVE-2022-38533" not in _found(db, "alpine", "3.19.1", _apk("binutils", "2.39-r1"))


def test_chainguard_secdb_is_its_own_ecosystem(db: Database, migrated_settings: Settings) -> None:
    path = SAMPLES / "chainguard" / "vunnel" / "input" / "secdb" / "security.json"
    [result] = service.import_path(db, migrated_settings, str(path))
    assert (result.source, result.ok) == ("chainguard-secdb", True), result.error
    doc = json.loads(path.read_text())
    name, fixes = next((p["pkg"]["name"], p["pkg"]["secfixes"]) for p in doc["packages"]
                       if any(v != "0" for v in p["pkg"]["secfixes"]))
    fixed, ids = next((v, i) for v, i in fixes.items() if v != "0")
    cve = next(i for i in ids if i.startswith("CVE-"))
    assert cve not in _found(db, "chainguard", "1", _apk(name, fixed))
    below = "0.0.1-r0"
    assert cve in _found(db, "chainguard", "1", _apk(name, below))
    assert cve not in _found(db, "wolfi", "1", _apk(name, below))


# --- Red Hat CSAF VEX --------------------------------------------------------------------------------------------


def _vex_with_states() -> dict:
    """cve-2024-10041 (real, trimmed by trivy's authors) with two statements added for the test (synthetic):
    RHEL 8 "Will not fix" and RHEL 7 "known_not_affected" for the `pam` source package."""
    doc = json.loads((VEX / "cve-2024-10041.json").read_text())
    vendor = doc["product_tree"]["branches"][0]["branches"]
    for major in ("7", "8"):
        vendor.append({"category": "product_version", "name": f"Red Hat Enterprise Linux {major}",
                       "product": {"name": f"Red Hat Enterprise Linux {major}",
                                   "product_id": f"red_hat_enterprise_linux_{major}",
                                   "product_identification_helper": {"cpe": f"cpe:/o:redhat:enterprise_linux:{major}"}}})
        doc["product_tree"]["relationships"].append({
            "category": "default_component_of", "product_reference": "pam",
            "relates_to_product_reference": f"red_hat_enterprise_linux_{major}",
            "full_product_name": {"name": "pam", "product_id": f"red_hat_enterprise_linux_{major}:pam"}})
    vuln = doc["vulnerabilities"][0]
    vuln["remediations"] = [r for r in vuln["remediations"] if r["category"] == "vendor_fix"] + [
        {"category": "no_fix_planned", "details": "Will not fix", "product_ids": ["red_hat_enterprise_linux_8:pam"]}]
    vuln["product_status"] = {"known_not_affected": ["red_hat_enterprise_linux_7:pam"]}
    return doc


def test_redhat_vex_imports_and_matches_its_facts(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "vex"
    folder.mkdir()
    for f in VEX.glob("*.json"):
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "cve-2024-10041.json").write_text(json.dumps(_vex_with_states()))
    [result] = service.import_path(db, migrated_settings, str(folder))
    assert (result.source, result.ok, result.records, result.added) == ("redhat-vex", True, 4, 4), result.error
    assert result.skipped == {"not_rpm": 2, "flatpak": 1}  # oci-image (twice), firefox:flatpak

    # pam: fixed in 1.5.1-21.el9_5 (RHSA-2024:9941, epoch 0 dropped), Moderate → medium from Red Hat itself
    f = _found(db, "rhel", "9.5", _rpm("pam", "1.5.1-20.el9"))["CVE-2024-10041"]
    assert f.fixed_versions == ["1.5.1-21.el9_5"] and f.fix_state == "fixed"
    assert (f.severity, f.severity_source) == ("medium", "redhat-vex")
    assert "https://access.redhat.com/errata/RHSA-2024:9941" in f.links
    assert "CVE-2024-10041" not in _found(db, "rhel", "9.5", _rpm("pam", "1.5.1-21.el9_5"))
    # will not fix on RHEL 8; not affected on RHEL 7
    wont = _found(db, "rhel", "8.10", _rpm("pam", "1.3.1-36.el8_10"))["CVE-2024-10041"]
    assert (wont.fix_state, wont.fixed_versions) == ("wont_fix", [])
    assert "CVE-2024-10041" not in _found(db, "rhel", "7.9", _rpm("pam", "1.1.8-23.el7"))

    # epochs: the fix is 1:1.0.0-1.el9
    assert "CVE-2024-11111" not in _found(db, "rhel", "9.5", _rpm("test-package", "1.0.0-1.el9", epoch="1"))
    assert "CVE-2024-11111" in _found(db, "rhel", "9.5", _rpm("test-package", "9.0.0-1.el9"))  # epoch 0 < 1
    # none_available "Affected": no fix, every version
    affected = _found(db, "rhel", "9.5", _rpm("affected-package", "99-1.el9"))["CVE-2024-11111"]
    assert (affected.fix_state, affected.severity) == ("unfixed", "high")
    # module streams: only the module's build of the package, keyed module:stream::name
    mod = "module:2.4:8100020240612075645:489197e6"
    hit = _found(db, "rhel", "9.5", _rpm("modular-package", "2.4.37-64.module+el8.10.0+1+1", module=mod))
    assert hit["CVE-2024-11111"].fixed_versions == ["2.4.37-65.module+el8.10.0+21982+14717793"]
    assert hit["CVE-2024-11111"].severity == "medium"  # its own impact, not the document's Important
    assert "CVE-2024-11111" not in _found(db, "rhel", "9.5", _rpm("modular-package", "2.4.37-64.el9"))
    # another release gets nothing from RHEL 9 statements
    assert not _found(db, "rhel", "8.10", _rpm("test-package", "0.1-1.el8"))


def _vex_archive(docs: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in docs.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(raw.getvalue())


class _Site:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                body = site.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def site() -> Iterator[_Site]:
    s = _Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_redhat_and_secdb_sync_from_their_urls(db: Database, migrated_settings: Settings, site: _Site) -> None:
    settings = migrated_settings.model_copy(update={
        "advisories_redhat_vex_url": f"{site.url}/vex", "advisories_wolfi_url": f"{site.url}/os/security.json",
        "advisories_redhat_repository_cpe_url": f"{site.url}/repository-to-cpe.json", "advisories_http_retries": 1})
    site.files["/repository-to-cpe.json"] = data_path("redhat-repository-cpe", "repository-to-cpe.json").read_bytes()
    docs = {f"2024/{f.name}": f.read_bytes() for f in VEX.glob("cve-2024-*.json")}
    site.files["/vex/archive_latest.txt"] = b"csaf_vex_2026-12-01.tar.zst\n"
    site.files["/vex/csaf_vex_2026-12-01.tar.zst"] = _vex_archive(docs)
    site.files["/vex/changes.csv"] = b"".join(f'"{p}","2026-12-01T00:00:00+00:00"\n'.encode() for p in docs)
    site.files["/vex/deletions.csv"] = b'"2023/cve-2023-0001.json","2026-11-01T00:00:00+00:00"\n'
    site.files["/os/security.json"] = (SAMPLES / "wolfi" / "vunnel" / "input" / "secdb" / "security.json").read_bytes()
    first = {r.source: r for r in service.sync(db, settings, ["redhat", "wolfi"])}
    assert first["redhat-vex"].ok and first["redhat-vex"].added == 3, first["redhat-vex"].error
    assert first["wolfi-secdb"].ok and first["wolfi-secdb"].added == 59
    assert first["redhat-repository-cpes"].ok, first["redhat-repository-cpes"].error  # `redhat` syncs the map too

    # incremental: only the document changes.csv lists as newer is fetched
    site.requests.clear()
    changed = json.loads(docs["2024/cve-2024-10041.json"])
    changed["vulnerabilities"][0]["threats"][0]["details"] = "Important"
    site.files["/vex/2024/cve-2024-10041.json"] = json.dumps(changed).encode()
    site.files["/vex/changes.csv"] += b'"2024/cve-2024-10041.json","2026-12-02T00:00:00+00:00"\n'
    second, _ = service.sync(db, settings, ["redhat"])
    assert (second.ok, second.modified, second.added, second.withdrawn) == (True, 1, 0, 0), second.error
    assert site.requests == ["/vex/changes.csv", "/vex/deletions.csv", "/vex/2024/cve-2024-10041.json",
                             "/repository-to-cpe.json"]
    f = _found(db, "rhel", "9.5", _rpm("pam", "1.5.1-20.el9"))["CVE-2024-10041"]
    assert f.severity == "high"


# --- untrusted input ---------------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["document", "category", "csaf_vex", "vulnerabilities", "cve", "product_tree", "branches",
                         "product", "product_id", "product_identification_helper", "cpe", "purl", "relationships",
                         "full_product_name", "product_reference", "relates_to_product_reference", "remediations",
                         "product_ids", "threats", "details", "product_status", "known_affected", "packages", "pkg",
                         "name", "secfixes"]) | st.text(max_size=8),
        inner, max_size=6),
    max_leaves=40)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json, cve=st.sampled_from(["CVE-2024-1", "CVE-2024-10041"]),
       purl=st.sampled_from(["pkg:rpm/redhat/pam@1-1?arch=x86_64&epoch=x", "pkg:rpm/redhat/p?rpmmod=:",
                             "pkg:/", "cpe:/o:redhat:enterprise_linux:zz", "pkg:rpm/redhat/a@?epoch=0"]))
def test_any_vex_document_is_parsed_or_counted(doc: object, cve: str, purl: str) -> None:
    base = json.loads((VEX / "cve-2024-11111.json").read_text())
    for candidate in (doc, {**base, "vulnerabilities": [{"cve": cve, "remediations": doc}]},
                      {**base, "product_tree": {"branches": [{"product": {"product_id": "x", "product_identification_helper": {"purl": purl, "cpe": purl}}}],
                                                "relationships": doc}}):
        tally = Tally()
        parsed = redhat.parse_document(copy.deepcopy(candidate), tally)
        assert parsed is None or parsed.advisory.id.startswith("REDHAT-CVE-")


@hsettings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=500) | _json.map(lambda d: json.dumps(d).encode()))
def test_any_secdb_bytes_are_parsed_or_counted(data: bytes) -> None:
    tally = Tally()
    for feed in (alpine.ALPINE, alpine.SECDB_FEEDS["wolfi"]):
        list(alpine.iter_documents([("x.json", data)], tally, feed))


# --- Amazon Linux updateinfo -------------------------------------------------------------------------------------

AMAZON = SAMPLES / "amazon" / "trivy-db" / "amazon" / "happy" / "vuln-list" / "amazon"


def _updateinfo() -> bytes:
    """updateinfo.xml of the three vuln-list samples (vuln-list's JSON is a field-by-field conversion of the
    repository's updateinfo `<update>` elements; written back to XML here), plus ALAS2023-2023-126 from the
    facts of vunnel's AL2023 fixture (3 CVEs, important, 0.8.7-16.amzn2023.0.1)."""
    from xml.sax.saxutils import quoteattr

    updates = [json.loads(f.read_text()) for f in sorted(AMAZON.rglob("*.json"))]
    updates.append({"id": "ALAS2023-2023-126", "title": "ALAS2023-2023-126: device-mapper-multipath",
                    "severity": "important", "issued": {"date": "2023-03-02 00:00"},
                    "references": [{"id": c, "type": "cve"} for c in ("CVE-2022-3787", "CVE-2022-41973",
                                                                     "CVE-2022-41974")],
                    "packages": [{"name": n, "epoch": "0", "version": "0.8.7", "release": "16.amzn2023.0.1",
                                  "arch": "x86_64"} for n in ("device-mapper-multipath", "kpartx", "libdmmp")]})
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<updates>']
    for u in updates:
        out.append(f'<update status="final" type="security" version="1.4"><id>{u["id"]}</id>'
                   f'<title>{u["title"]}</title><issued date="{u["issued"]["date"]}"/>'
                   f'<severity>{u["severity"]}</severity><references>')
        out += [f'<reference id="{r["id"]}" type="{r["type"]}" href="https://x/{r["id"]}"/>' for r in u["references"]]
        out.append('</references><pkglist><collection short="core">')
        out += [f'<package name={quoteattr(p["name"])} epoch="{p["epoch"]}" version="{p["version"]}" '
                f'release="{p["release"]}" arch="{p["arch"]}"><filename>x.rpm</filename></package>'
                for p in u["packages"]]
        out.append("</collection></pkglist></update>")
    out.append('<update type="bugfix"><id>ALAS2-2021-9999</id></update></updates>')
    return "".join(out).encode()


def test_amazon_updateinfo_imports_and_matches_its_facts(db: Database, migrated_settings: Settings,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "updateinfo.xml"
    path.write_bytes(_updateinfo())
    [result] = service.import_path(db, migrated_settings, str(path))
    assert (result.ok, result.records, result.added, result.skipped) == (True, 5, 4, {"not_security": 1}), \
        result.error
    # AMI (release 1): epoch 0 dropped, a non-zero epoch kept
    git = _found(db, "amazon", "2018.03", _rpm("git", "2.14.4-1.58.amzn1"))["CVE-2018-17456"]
    assert git.fixed_versions == ["2.14.5-1.59.amzn1"] and git.advisory_ids == ["ALAS-2018-1093"]
    assert git.severity == "high" and git.severity_source.startswith("amazon:")  # "important", Amazon's own
    assert "CVE-2018-17456" not in _found(db, "amazon", "2018.03", _rpm("git", "2.14.5-1.59.amzn1"))
    debuginfo = _found(db, "amazon", "2018.03", _rpm("git-debuginfo", "2.14.5-1.59.amzn1"))["CVE-2018-17456"]
    assert debuginfo.fixed_versions == ["1:2.14.5-1.59.amzn1"]
    assert not _found(db, "amazon", "2018.03", _rpm("git-debuginfo", "2.14.5-1.59.amzn1", epoch="1"))
    # Amazon Linux 2 (low) and 2022 (critical); releases stay apart
    kernel = _found(db, "amazon", "2", _rpm("kernel", "4.14.200-1.amzn2"))
    assert {f.severity for f in kernel.values()} == {"low"} and kernel
    assert not _found(db, "amazon", "2", _rpm("kernel", "4.14.243-185.433.amzn2"))
    assert not _found(db, "amazon", "2023", _rpm("kernel", "4.14.200-1.amzn2"))
    log4j = _found(db, "amazon", "2022", _rpm("log4j", "2.14.1-1.amzn2022"))["CVE-2021-44228"]
    assert (log4j.severity, log4j.fixed_versions) == ("critical", ["2.15.0-1.amzn2022.0.1"])
    # one record per ALAS with all its CVEs
    mp = _found(db, "amazon", "2023", _rpm("kpartx", "0.8.7-15.amzn2023"))
    assert set(mp) == {"CVE-2022-3787", "CVE-2022-41973", "CVE-2022-41974"}
    assert {f.advisory_ids[0] for f in mp.values()} == {"ALAS2023-2023-126"}
    assert not _found(db, "amazon", "2023", _rpm("kpartx", "0.8.7-16.amzn2023.0.1"))


def test_amazon_sync_follows_mirror_list_and_repomd(db: Database, migrated_settings: Settings, site: _Site) -> None:
    import gzip

    site.files["/al2/mirror.list"] = f"{site.url}/mirror/2/core\n".encode()
    site.files["/mirror/2/core/repodata/repomd.xml"] = (
        b'<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo">'
        b'<data type="primary"><location href="repodata/p.xml.gz"/></data>'
        b'<data type="updateinfo"><location href="repodata/abc-updateinfo.xml.gz"/></data></repomd>')
    site.files["/mirror/2/core/repodata/abc-updateinfo.xml.gz"] = gzip.compress(_updateinfo())
    settings = migrated_settings.model_copy(update={"advisories_amazon_mirror_lists": {"2": f"{site.url}/al2/mirror.list"},
                                                    "advisories_http_retries": 1})
    [result] = service.sync(db, settings, ["amazon"])
    assert (result.source, result.ok, result.added) == ("amazon:2", True, 4), result.error
    assert _found(db, "amazon", "2", _rpm("kernel", "4.14.200-1.amzn2"))


@hsettings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400) | st.sampled_from([b"<updates><update><id>ALAS2-2021-1</id><pkglist><package "
                                                       b'name="a" version="1" release="x"/></pkglist></update>'
                                                       b"</updates>", b"<!DOCTYPE x [<!ENTITY a 'b'>]><updates/>"]))
def test_any_updateinfo_bytes_are_parsed_or_counted(data: bytes) -> None:
    from hullscan.advisories.parsers import amazon

    list(amazon.iter_updateinfo(io.BytesIO(data), Tally()))


# --- Oracle Linux ELSA OVAL --------------------------------------------------------------------------------------

ORACLE = SAMPLES / "oracle" / "vunnel"


def test_oracle_oval_imports_and_matches_its_facts(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    results = [service.import_path(db, migrated_settings, str(ORACLE / name), source=f"oracle-{name}")[0]
               for name in ("mock_data", "mock_per_arch_data", "mock_ksplice_data")]
    assert [(r.ok, r.records) for r in results] == [(True, 2), (True, 3), (True, 1)], [r.error for r in results]
    assert results[2].skipped == {"ksplice_or_fips": 10}
    # explicit epochs: bind-devel is earlier than 30:9.3.3-8.el5; MODERATE → medium from Oracle itself
    bind = _found(db, "ol", "5.11", _rpm("bind-devel", "9.3.3-7.el5", epoch="30"))
    assert set(bind) == {"CVE-2007-0493", "CVE-2007-0494"}
    assert {(f.severity, f.fixed_versions[0]) for f in bind.values()} == {("medium", "30:9.3.3-8.el5")}
    assert not _found(db, "ol", "5.11", _rpm("bind-devel", "9.3.3-8.el5", epoch="30"))
    assert _found(db, "ol", "5.11", _rpm("bind-devel", "9.9.9-1.el5"))  # epoch 0 is older than 30
    assert not _found(db, "ol", "6.10", _rpm("bind-devel", "9.3.3-7.el5", epoch="30"))  # another release
    uek = _found(db, "ol", "6.10", _rpm("kernel-uek", "2.6.39-400.300.1.el6uek"))
    assert {f.severity for f in uek.values()} == {"high"} and "CVE-2018-7566" in uek
    assert not _found(db, "ol", "6.10", _rpm("kernel-uek", "2.6.39-400.302.2.el6uek"))
    # per-arch respins: the lowest build is kept (x86_64's), so no patched package is flagged
    assert not _found(db, "ol", "7.9", _rpm("rsyslog", "8.24.0-57.0.1.el7_9.3"))
    assert "CVE-2022-24903" in _found(db, "ol", "7.9", _rpm("rsyslog", "8.24.0-57.el7_9.3"))
    assert "CVE-2024-2307" in _found(db, "ol", "8.9", _rpm("osbuild", "109-1.el8"))
    assert "CVE-2024-2307" not in _found(db, "ol", "8.9", _rpm("osbuild", "110-1.el8"))
    assert "CVE-2025-6424" in _found(db, "ol", "10.0", _rpm("firefox", "128.11.0-1.el10_0"))
    # ksplice builds are not fixes of the normal package: nothing is claimed either way
    assert not _found(db, "ol", "8.3", _rpm("openssl", "1.1.1g-15.el8_3", epoch="1"))


def test_hostile_or_cut_oval_fails_the_source_and_keeps_its_data(db: Database, migrated_settings: Settings,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "com.oracle.elsa-all.xml"
    path.write_bytes((ORACLE / "mock_data").read_bytes())
    assert service.import_path(db, migrated_settings, str(path))[0].ok
    cut = (ORACLE / "mock_data").read_bytes()
    path.write_bytes(cut[: len(cut) * 2 // 3])
    [result] = service.import_path(db, migrated_settings, str(path))
    assert not result.ok and "OvalError" in result.error
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><oval_definitions>Oracle Errata System&a;</oval_definitions>'
    path.write_bytes(bomb)
    assert not service.import_path(db, migrated_settings, str(path), fmt="oracle-oval")[0].ok
    assert _found(db, "ol", "5.11", _rpm("bind-devel", "9.3.3-7.el5", epoch="30"))  # the first import stands


@hsettings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=6000))
def test_any_oval_bytes_are_parsed_or_rejected_with_the_parsers_error(data: bytes, cut: int) -> None:
    from hullscan.advisories.parsers import oracle

    for blob in (data, (ORACLE / "mock_data").read_bytes()[:cut] + data):
        try:
            list(oracle.iter_oval(io.BytesIO(blob), Tally()))
        except oracle.OvalError:
            pass


# --- CBL-Mariner and Azure Linux OVAL ----------------------------------------------------------------------------

MARINER = SAMPLES / "mariner" / "vunnel"


def test_mariner_and_azure_linux_oval_import_and_match_their_facts(db: Database, migrated_settings: Settings) -> None:
    results = [service.import_path(db, migrated_settings, str(MARINER / name))[0]
               for name in ("mariner-truncated-2.0-oval.xml", "azure-linux-truncated-3.0-oval.xml")]
    assert [(r.source, r.ok, r.added) for r in results] == [
        ("mariner-oval:mariner-truncated-2.0", True, 4), ("mariner-oval:azure-linux-truncated-3.0", True, 3)], \
        [r.error for r in results]
    assert results[0].skipped == {"not_applicable": 1}
    # less than: fixed in it; greater than: the range starts there
    golang = _found(db, "mariner", "2.0", _rpm("golang", "1.20.6-1.cm2"))["CVE-2023-29404"]
    assert (golang.severity, golang.fixed_versions) == ("critical", ["1.20.7-1.cm2"])
    assert not _found(db, "mariner", "2.0", _rpm("golang", "1.20.7-1.cm2"))
    assert not _found(db, "mariner", "2.0", _rpm("golang", "1.18.5-1.cm2"))
    assert set(_found(db, "mariner", "2.0", _rpm("mysql", "8.0.32-1.cm2"))) == {"CVE-2023-21977", "CVE-2023-21980"}
    # less than or equal: no fix, the listed build is the last affected
    bind = _found(db, "mariner", "2.0", _rpm("bind", "9.16.33-1.cm2"))["CVE-2022-3736"]
    assert (bind.fix_state, bind.fixed_versions, bind.severity) == ("unfixed", [], "high")
    assert not _found(db, "mariner", "2.0", _rpm("bind", "9.16.34-1.cm2"))
    # Not Applicable: nothing, whatever the version
    assert not _found(db, "mariner", "2.0", _rpm("glibc", "2.35-4.cm2"))
    # Azure Linux 3.0 is its own release
    assert set(_found(db, "azurelinux", "3.0", _rpm("freeglut", "3.2.2-1.azl3"))) == {"CVE-2024-24258", "CVE-2024-24259"}
    assert not _found(db, "azurelinux", "3.0", _rpm("ceph", "18.2.1-1.azl3"))
    assert not _found(db, "mariner", "2.0", _rpm("freeglut", "3.2.2-1.azl3"))


@hsettings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=9000))
def test_any_mariner_bytes_are_parsed_or_rejected_with_the_parsers_error(data: bytes, cut: int) -> None:
    from hullscan.advisories.parsers import mariner

    for blob in (data, (MARINER / "mariner-truncated-2.0-oval.xml").read_bytes()[:cut] + data):
        try:
            list(mariner.iter_oval(io.BytesIO(blob), Tally()))
        except mariner.OvalError:
            pass


# --- Photon OS ---------------------------------------------------------------------------------------------------

PHOTON = SAMPLES / "photon" / "vunnel" / "input"


def test_photon_cve_data_imports_and_matches_its_facts(db: Database, migrated_settings: Settings, site: _Site) -> None:
    [four] = service.import_path(db, migrated_settings, str(PHOTON / "cve_data_photon4.0.json"))
    assert (four.source, four.ok, four.records) == ("photon:4.0", True, 7), four.error
    assert four.skipped == {"no_version_information": 1}  # python3 CVE-2023-50447: "NA" everywhere
    # res_ver is the fix; the severity is the score's band (9.8 → critical, 3.7 → low)
    curl = _found(db, "photon", "4.0", _rpm("curl", "7.88.1-3.ph4"))
    assert {k: (f.severity, f.fixed_versions) for k, f in curl.items()} == {
        "CVE-2023-38545": ("critical", ["7.88.1-4.ph4"]), "CVE-2023-38546": ("low", ["7.88.1-4.ph4"])}
    assert curl["CVE-2023-38545"].severity_source.startswith("photon")
    assert not _found(db, "photon", "4.0", _rpm("curl", "7.88.1-4.ph4"))
    assert "CVE-2023-38546" in _found(db, "photon", "4.0", _rpm("curl-libs", "7.88.1-3.ph4"))
    # Not Affected: httpd gets nothing for CVE-2023-44487, nghttp2 does
    assert not _found(db, "photon", "4.0", _rpm("httpd", "2.4.57-1.ph4"))
    assert "CVE-2023-44487" in _found(db, "photon", "4.0", _rpm("nghttp2", "1.56.0-1.ph4"))
    [bdsa] = _found(db, "photon", "4.0", _rpm("krb5-devel", "1.17-14.ph4")).values()  # non-CVE ids are records too
    assert "BDSA-2025-0719" in bdsa.identifiers and bdsa.fixed_versions == ["1.17-15.ph4"]
    # releases stay apart; sync fetches each configured release's file
    assert not _found(db, "photon", "1.0", _rpm("curl", "7.88.1-3.ph4"))
    site.files["/photon/cve_data_photon1.0.json"] = (PHOTON / "cve_data_photon1.0.json").read_bytes()
    settings = migrated_settings.model_copy(update={
        "advisories_photon_url": f"{site.url}/photon/cve_data_photon{{release}}.json",
        "advisories_photon_releases": ["1.0"], "advisories_http_retries": 1})
    [one] = service.sync(db, settings, ["photon"])
    assert (one.source, one.ok, one.added) == ("photon:1.0", True, 2), one.error
    assert set(_found(db, "photon", "1.0", _rpm("linux-esx", "4.4.31-1.ph1"))) == {"CVE-2016-9178"}
    assert not _found(db, "photon", "1.0", _rpm("perl", "5.22.1-4.ph1"))


@hsettings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300) | st.lists(st.dictionaries(
    st.sampled_from(["cve_id", "pkg", "cve_score", "aff_ver", "res_ver", "status"]),
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=12) | st.just("CVE-2024-1234")),
    max_size=5).map(lambda rows: json.dumps(rows).encode()))
def test_any_photon_bytes_are_parsed_or_counted(data: bytes) -> None:
    from hullscan.advisories.parsers import photon

    list(photon.iter_cve_data(data, "4.0", Tally()))


# --- SUSE Linux Enterprise Server OVAL ---------------------------------------------------------------------------

SUSE_OVAL = SAMPLES / "sles" / "vunnel" / "suse_truncated.xml"


def test_suse_oval_imports_and_matches_its_facts(db: Database, migrated_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "suse.linux.enterprise.server.15.xml"
    path.write_bytes(SUSE_OVAL.read_bytes())
    [result] = service.import_path(db, migrated_settings, str(path))
    assert (result.source, result.ok, result.records, result.added) == ("suse-oval:15", True, 4, 3), result.error
    # CVE-1999-0524 names only Module platforms: no SLES record; krb5's state has the operation "6" (edited by
    # vunnel's authors): counted, not guessed
    assert result.skipped["no_sles_platform"] == 1 and result.skipped["unknown_operation"] >= 1
    # SLES 15 (LTSS only) and 15 SP1 (BCL and LTSS) have their own kernel fixes; Important → high, SUSE's own
    ga = _found(db, "sles", "15", _rpm("kernel-default", "4.12.14-150.71.1"))["CVE-2021-29154"]
    assert (ga.fixed_versions, ga.severity) == (["4.12.14-150.72.1"], "high")
    assert ga.severity_source.startswith("suse-oval")
    assert not _found(db, "sles", "15", _rpm("kernel-default", "4.12.14-150.72.1"))
    sp1 = _found(db, "sles", "15.1", _rpm("kernel-default", "4.12.14-150.72.1"))["CVE-2021-29154"]
    assert sp1.fixed_versions == ["4.12.14-197.89.2"]
    assert not _found(db, "sles", "15.1", _rpm("kernel-default", "4.12.14-197.89.2"))
    # "is not affected"
    assert not _found(db, "sles", "15", _rpm("python3-cryptography", "2.8-3.1"))
    with db.session() as s:
        [entry] = SqlAdvisoryStore(s).affected_of("SUSE-15-CVE-2026-34073")
    assert (entry.package, entry.fix_state) == ("python3-cryptography", "not_affected")


@hsettings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=40000))
def test_any_suse_bytes_are_parsed_or_rejected_with_the_parsers_error(data: bytes, cut: int) -> None:
    from hullscan.advisories.parsers import suse

    for blob in (data, SUSE_OVAL.read_bytes()[:cut] + data):
        try:
            list(suse.iter_oval(io.BytesIO(blob), Tally()))
        except suse.OvalError:
            pass
