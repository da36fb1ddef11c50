"""A UBI 9 image matches only the Red Hat products of its repositories (issue 15 item 2).

The image's content manifest (/root/buildinfo/content_manifests/*.json) names `rhel-9-for-x86_64-baseos-rpms`
and `-appstream-rpms`; a CSAF VEX statement for `enterprise_linux:9::baseos` applies to it, one made only for
RHEL for SAP Solutions (`enterprise_linux:9::sap`) does not. Without a content manifest every product of the
release applies, as before, and the scan says so. End to end through `hullscan scan` of the image and of its
own SBOM, with a real rpm database (scripts/build-rpm-test-image.sh) and the real CSAF importer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hullscan.matching.redhat_products import applies, content_set_cpes
from hullscan.scanner.analyzers.redhat_content import content_sets, tag_packages
from hullscan.scanner.inventory import Package
from tests.scanner.layouts import Entry, layer, write_layout

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "root/buildinfo/content_manifests/ubi9-container-9.4-1123.json"
UBI_RELEASE = (b'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nVERSION_ID="9.4"\n'
               b'PLATFORM_ID="platform:el9"\n')
CONTENT = {"metadata": {"icm_version": 1, "icm_spec": "https://raw.githubusercontent.com/containerbuildsystem/"
                        "atomic-reactor/master/atomic_reactor/schemas/content_manifest.json",
                        "image_layer_index": 0},
           "content_sets": ["rhel-9-for-x86_64-appstream-rpms", "rhel-9-for-x86_64-baseos-rpms"],
           "image_contents": []}


def _vex(cve: str, platform: str, cpe: str, fixed: str) -> dict:
    """A CSAF VEX document shaped like Red Hat's (tests/data/feeds-samples/rhel): glibc fixed on one platform."""
    comp = f"glibc-0:{fixed}.x86_64"
    return {
        "document": {"category": "csaf_vex", "title": cve, "tracking": {"current_release_date": "2024-11-19T00:00:00Z"}},
        "product_tree": {
            "branches": [{"category": "vendor", "name": "Red Hat", "branches": [
                {"category": "product_version", "name": platform,
                 "product": {"name": platform, "product_id": platform,
                             "product_identification_helper": {"cpe": cpe}}},
                {"category": "architecture", "name": "x86_64", "branches": [
                    {"category": "product_version", "name": comp,
                     "product": {"name": comp, "product_id": comp, "product_identification_helper": {
                         "purl": f"pkg:rpm/redhat/glibc@{fixed}?arch=x86_64"}}}]}]}],
            "relationships": [{"category": "default_component_of",
                               "full_product_name": {"name": f"{comp} on {platform}", "product_id": f"{platform}:{comp}"},
                               "product_reference": comp, "relates_to_product_reference": platform}]},
        "vulnerabilities": [{
            "cve": cve, "threats": [{"category": "impact", "details": "Important", "product_ids": [f"{platform}:{comp}"]}],
            "remediations": [{"category": "vendor_fix", "product_ids": [f"{platform}:{comp}"],
                              "url": "https://access.redhat.com/errata/RHSA-2024:9999"}]}],
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """UBI 9 layouts with and without a content manifest, holding the rpm database of the rpm test image."""
    assert shutil.which("rpmbuild"), "Debian's rpm package is needed (scripts/system-deps.sh installs it)"
    tmp = tmp_path_factory.mktemp("ubi")
    subprocess.run(["sh", str(ROOT / "scripts" / "build-rpm-test-image.sh"), str(tmp / "rpm")], check=True,
                   capture_output=True, timeout=300)
    rpmdb = None
    for blob in (tmp / "rpm" / "blobs" / "sha256").iterdir():
        try:
            with tarfile.open(blob) as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith("var/lib/rpm/rpmdb.sqlite")), None)
                if member is not None:
                    rpmdb = tar.extractfile(member).read()  # type: ignore[union-attr]
        except tarfile.TarError:
            continue
    assert rpmdb, "the rpm test image has no rpmdb.sqlite"
    base = [Entry("etc/os-release", UBI_RELEASE), Entry("var/lib/rpm/rpmdb.sqlite", rpmdb)]
    def with_sets(*sets: str) -> list[Entry]:
        return base + [Entry(MANIFEST, json.dumps({**CONTENT, "content_sets": list(sets)}).encode())]

    return {
        "manifest": write_layout(tmp / "ubi", [layer(base + [Entry(MANIFEST, json.dumps(CONTENT).encode())])]),
        "bare": write_layout(tmp / "bare", [layer(base)]),
        "eus": write_layout(tmp / "eus", [layer(with_sets("rhel-9-for-x86_64-appstream-eus-rpms",
                                                            "rhel-9-for-x86_64-baseos-eus-rpms"))]),
        "sap": write_layout(tmp / "sap", [layer(with_sets("rhel-9-for-x86_64-baseos-rpms",
                                                            "rhel-9-for-x86_64-sap-solutions-rpms"))]),
        "unknown": write_layout(tmp / "unknown", [layer(with_sets("rhel-9-for-x86_64-baseos-rpms",
                                                                    "rhel-9-for-x86_64-mystery-rpms"))]),
    }


def _hullscan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hullscan", *args], check=False, env=env, capture_output=True,
                          text=True, timeout=600, cwd=env["HULLSCAN_DATA_DIR"])


def test_ubi_image_matches_only_its_repositories_products(images: dict[str, Path], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(tmp_path), "HULLSCAN_SCANNER_CACHE_DIR": str(tmp_path / "cache"),
                "HULLSCAN_LOG_JSON": "false", "PYTHONPATH": str(ROOT / "src")})
    vex = tmp_path / "vex"
    vex.mkdir()
    (vex / "cve-2024-50001.json").write_text(json.dumps(_vex(
        "CVE-2024-50001", "BaseOS-9.4.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos", "2.34-101.el9_4")))
    (vex / "cve-2024-50002.json").write_text(json.dumps(_vex(
        "CVE-2024-50002", "SAP-9.4.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::sap", "2.34-102.el9_4")))
    done = _hullscan(env, "advisories", "import", str(vex))
    assert done.returncode == 0, done.stderr

    sbom = tmp_path / "sbom.json"
    done = _hullscan(env, "sbom", f"oci-dir:{images['manifest']}", "--output", str(sbom))
    assert done.returncode == 0, done.stderr
    for target in (f"oci-dir:{images['manifest']}", str(sbom)):
        done = _hullscan(env, "scan", "--offline", target, "--format", "json")
        assert done.returncode in (0, 1), done.stderr
        report = json.loads(done.stdout)
        got = {f["vulnerability_id"] for f in report["findings"] if f["package"]["name"] == "glibc"}
        assert got == {"CVE-2024-50001"}, (target, got)
        assert "content manifest" not in done.stdout, target  # no fallback warning

    done = _hullscan(env, "scan", "--offline", f"oci-dir:{images['bare']}", "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    got = {f["vulnerability_id"] for f in report["findings"] if f["package"]["name"] == "glibc"}
    assert got == {"CVE-2024-50001", "CVE-2024-50002"}  # today's behaviour: every product of Red Hat:9
    assert "no content manifest" in done.stdout


def _glibc_findings(env: dict[str, str], image: Path) -> tuple[set[str], str]:
    done = _hullscan(env, "scan", "--offline", f"oci-dir:{image}", "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    return {f["vulnerability_id"] for f in report["findings"] if f["package"]["name"] == "glibc"}, done.stdout


def test_images_on_other_repositories_match_their_products_through_red_hats_map(
        images: dict[str, Path], tmp_path: Path) -> None:
    """EUS, SAP and unknown repositories: Red Hat's repository-to-CPE map (synced from a loopback server serving
    tests/data/redhat-repository-cpe) scopes each image to its products; before the map is synced, and for a
    repository the map does not name, every product of the release applies and the scan says why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HULLSCAN_")}
    env.update({"HULLSCAN_DATA_DIR": str(tmp_path), "HULLSCAN_SCANNER_CACHE_DIR": str(tmp_path / "cache"),
                "HULLSCAN_LOG_JSON": "false", "PYTHONPATH": str(ROOT / "src")})
    vex = tmp_path / "vex"
    vex.mkdir()
    statements = {"CVE-2024-50011": ("BaseOS-9.4.0.Z.MAIN", "cpe:/o:redhat:enterprise_linux:9::baseos"),
                  "CVE-2024-50012": ("SAP-9.4.0.Z.MAIN", "cpe:/a:redhat:enterprise_linux:9::sap"),
                  "CVE-2024-50013": ("HighAvailability-9.4.0.Z.MAIN",
                                     "cpe:/a:redhat:enterprise_linux:9::highavailability"),
                  "CVE-2024-50014": ("BaseOS-9.4.0.Z.EUS", "cpe:/a:redhat:rhel_eus:9.4::baseos")}
    for cve, (platform, cpe) in statements.items():
        (vex / f"{cve.lower()}.json").write_text(json.dumps(_vex(cve, platform, cpe, "2.34-105.el9_4")))
    done = _hullscan(env, "advisories", "import", str(vex))
    assert done.returncode == 0, done.stderr
    main_release = {"CVE-2024-50011", "CVE-2024-50012", "CVE-2024-50013"}  # every product of `Red Hat:9`

    got, out = _glibc_findings(env, images["eus"])  # the map was never synced: the built-in rule knows no EUS
    assert got == main_release and "was never synced" in out

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler,
                                                           directory=str(ROOT / "tests" / "data")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env["HULLSCAN_ADVISORIES_REDHAT_REPOSITORY_CPE_URL"] = \
            f"http://127.0.0.1:{server.server_port}/redhat-repository-cpe/repository-to-cpe.json"
        done = _hullscan(env, "advisories", "sync", "--source", "redhat-cpe")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        server.shutdown()
        server.server_close()

    got, out = _glibc_findings(env, images["eus"])  # EUS 9.4: only the EUS stream's statement
    assert got == {"CVE-2024-50014"} and "map to no known product" not in out
    got, out = _glibc_findings(env, images["sap"])  # BaseOS + SAP, not High Availability
    assert got == {"CVE-2024-50011", "CVE-2024-50012"} and "map to no known product" not in out
    got, out = _glibc_findings(env, images["unknown"])
    assert got == main_release
    assert "rhel-9-for-x86_64-mystery-rpms map to no known product, so" in out and "never synced" not in out


def test_content_manifests_are_read_with_warnings_on_bad_input() -> None:
    warnings: list[str] = []
    files = {"/" + MANIFEST: json.dumps(CONTENT), "/root/buildinfo/content_manifests/bad.json": "{",
             "/root/buildinfo/content_manifests/odd.json": json.dumps({"content_sets": ["ok-rpms", "../x", 3]}),
             "/root/buildinfo/content_manifests/sub/x.json": json.dumps({"content_sets": ["hidden-rpms"]})}
    sets = content_sets(files, warnings)
    assert sets == ["ok-rpms", "rhel-9-for-x86_64-appstream-rpms", "rhel-9-for-x86_64-baseos-rpms"]
    assert len(warnings) == 2 and "bad.json" in warnings[0] and "odd.json" in warnings[1]
    packages = [Package("glibc", "2.34-1.el9", "rpm"), Package("requests", "2.0", "python")]
    tag_packages(packages, sets)
    assert packages[0].properties["redhat_content_sets"].split() == sets and not packages[1].properties


def test_content_set_products_and_cpe_prefixes() -> None:
    assert content_set_cpes("rhel-9-for-x86_64-baseos-rpms") == "redhat:enterprise_linux:9::baseos"
    assert content_set_cpes("rhel-8-for-aarch64-appstream-rpms") == "redhat:enterprise_linux:8::appstream"
    assert content_set_cpes("rhel-9-for-x86_64-sap-solutions-rpms") is None  # not certain: every product applies
    ubi = frozenset({"redhat:enterprise_linux:9::baseos", "redhat:enterprise_linux:9::appstream"})
    assert applies(["cpe:/o:redhat:enterprise_linux:9::baseos"], ubi)
    assert applies(["cpe:/a:redhat:enterprise_linux:9"], ubi)  # a release-wide statement
    assert not applies(["cpe:/a:redhat:enterprise_linux:9::sap"], ubi)
    assert not applies(["cpe:/o:redhat:enterprise_linux:90::baseos"], ubi)  # field prefix, not text prefix
