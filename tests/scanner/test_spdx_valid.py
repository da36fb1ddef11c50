"""Every SPDX document hullscan writes is valid SPDX 2.3 by the reference validator (spdx-tools), on every
test image: `hullscan sbom -o spdx-json`, and the SPDX download the UI makes from a stored CycloneDX SBOM.
Licence names that are not SPDX ids (Debian's `GPL-2`, `Expat`, ...) are `LicenseRef-` ids backed by
`hasExtractedLicensingInfos`, and hullscan's own SBOM reader reads the documents back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from typer.testing import CliRunner

from hullscan.cli import app
from hullscan.matching.sbom import read_sbom
from hullscan.scanner.sbom import write_spdx
from tests.scanner.conftest import IMAGES, cyclonedx_edges, image_layout


def _validate(path: Path) -> list[str]:
    return [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)))]


def _sbom(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["sbom", *args])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", IMAGES)
def test_spdx_of_every_image_is_valid(name: str, tmp_path: Path, scan_home: Path) -> None:
    image = f"oci-dir:{image_layout(name)}"
    spdx, cdx = tmp_path / "out.spdx.json", tmp_path / "out.cdx.json"
    _sbom([image, "-o", "spdx-json", "--output", str(spdx)])
    _sbom([image, "-o", "cyclonedx-json", "--output", str(cdx)])
    assert _validate(spdx) == []
    doc = json.loads(spdx.read_text())
    # the CycloneDX graph below the image, as DEPENDS_ON relationships
    label = {p["SPDXID"]: "OS" if p.get("primaryPackagePurpose") == "OPERATING_SYSTEM"
             else f"{p['name']}@{p['versionInfo']}" for p in doc["packages"]}
    depends_on = {(label[r["spdxElementId"]], label[r["relatedSpdxElement"]]) for r in doc["relationships"]
                  if r["relationshipType"] == "DEPENDS_ON"}
    assert depends_on == {(a, b) for a, b in cyclonedx_edges(json.loads(cdx.read_text())) if a != "IMAGE"}
    if name.startswith("debian"):
        assert ("OS", "apt@" + next(p["versionInfo"] for p in doc["packages"] if p["name"] == "apt")) in depends_on

    # the UI's SPDX download: the stored CycloneDX SBOM read back and written as SPDX
    ui = tmp_path / "ui.spdx.json"
    ui.write_text(write_spdx(read_sbom(cdx)))
    assert _validate(ui) == []

    refs = {x["licenseId"]: x for x in doc.get("hasExtractedLicensingInfos", [])}
    declared = " ".join(p.get("licenseDeclared", "") for p in doc["packages"])
    used = {word.strip("()") for word in declared.split() if word.strip("()").startswith("LicenseRef-")}
    assert used == set(refs)  # every reference is defined and every definition used
    assert all(x["extractedText"] for x in refs.values())

    back = read_sbom(spdx)
    assert len(back.packages) == len(doc["packages"]) - 1 - (1 if back.os else 0)
    if name.startswith("debian"):
        assert [p.get("primaryPackagePurpose") for p in doc["packages"][:2]] == ["CONTAINER",
            "OPERATING_SYSTEM"]
        assert back.os is not None and back.os.family == "debian"
        libc = next(p for p in doc["packages"] if p["name"] == "libc6")
        gpl2 = next(ref for ref, x in refs.items() if x["extractedText"] == "GPL-2")  # Debian's, no SPDX id
        assert gpl2 in libc["licenseDeclared"].split()


def test_licence_texts_become_ids_expressions_or_references(tmp_path: Path) -> None:
    from hullscan.scanner.inventory import ImageInfo, Inventory, Package

    packages = [Package("a", "1", "npm", licenses=["mit", "MIT OR Apache-2.0"]),
                Package("b", "1", "npm", licenses=["GPL 2", "GPL-2", "public domain", "MIT or Apache"]),
                Package("c", "1", "npm", licenses=[])]
    out = tmp_path / "t.spdx.json"
    out.write_text(write_spdx(Inventory(ImageInfo(name="t"), None, packages)))
    assert _validate(out) == []
    doc = json.loads(out.read_text())
    declared = [p["licenseDeclared"] for p in doc["packages"][1:]]
    assert declared == ["MIT AND (MIT OR Apache-2.0)",
                        ("LicenseRef-GPL-2 AND LicenseRef-GPL-2-2 AND LicenseRef-public-domain AND "
                         "LicenseRef-MIT-or-Apache"),
                        "NOASSERTION"]
    assert {x["licenseId"]: x["extractedText"] for x in doc["hasExtractedLicensingInfos"]} == {
        "LicenseRef-GPL-2": "GPL 2", "LicenseRef-GPL-2-2": "GPL-2", "LicenseRef-public-domain": "public domain",
        "LicenseRef-MIT-or-Apache": "MIT or Apache"}
