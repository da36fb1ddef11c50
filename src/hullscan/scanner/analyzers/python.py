"""Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and bare `*.egg-info` files, anywhere."""

from __future__ import annotations

import re
from packageurl import PackageURL

from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, FileEntry, warn
from hullscan.scanner.inventory import Package


def normalize_name(name: str) -> str:
    """PEP 503 normalised name, as PURLs and advisories use it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def licenses_from_metadata(msg) -> list[str]:
    if expression := (msg.get("License-Expression") or "").strip():
        return [expression]
    license_field = (msg.get("License") or "").strip()
    if license_field and license_field.upper() != "UNKNOWN" and "\n" not in license_field and len(license_field) < 100:
        return [license_field]
    found = []
    for classifier in msg.get_all("Classifier") or []:
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] == "License" and len(parts) > 1 and parts[-1] not in ("OSI Approved",):
            found.append(parts[-1])
    return found


def parse_metadata(data: bytes, path: str) -> Package | None:
    from email.parser import HeaderParser

    msg = HeaderParser().parsestr(data.decode("utf-8", "replace"))
    name = (msg.get("Name") or "").strip()
    if not name:
        raise ValueError("no Name field")
    version = (msg.get("Version") or "").strip()
    purl = PackageURL(type="pypi", name=normalize_name(name), version=version or None).to_string()
    return Package(name=name, version=version, type="python", purl=purl, licenses=licenses_from_metadata(msg),
                   path=path)


class PythonAnalyzer:
    name = "python"
    version = 1
    per_file = True

    def wants(self, path: str, size: int, mode: int) -> bool:
        lower = path.lower()
        if lower.endswith("dist-info/metadata") or lower.endswith("egg-info/pkg-info"):
            return True
        return lower.endswith(".egg-info") and mode & 0o170000 != 0o040000

    def analyze(self, files: list[FileEntry], ctx: AnalysisContext) -> AnalysisResult:
        result = AnalysisResult()
        for entry in files:
            try:
                if package := parse_metadata(entry.read(), entry.path):
                    result.packages.append(package)
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(warn(entry.path, exc))
        return result
