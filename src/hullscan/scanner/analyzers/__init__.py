"""The analyzer registry: every package format hullscan reads. A new format is one new module listed here."""

from __future__ import annotations

import hashlib

from hullscan.scanner.analyzers.apk import APK
from hullscan.scanner.analyzers.base import AnalysisContext, AnalysisResult, Analyzer, FileEntry
from hullscan.scanner.analyzers.cargo import CARGO
from hullscan.scanner.analyzers.composer import COMPOSER
from hullscan.scanner.analyzers.dotnet import DOTNET
from hullscan.scanner.analyzers.dpkg import DpkgAnalyzer
from hullscan.scanner.analyzers.gem import GEM
from hullscan.scanner.analyzers.golang import GO_BINARY
from hullscan.scanner.analyzers.java import JavaAnalyzer
from hullscan.scanner.analyzers.npm import NpmAnalyzer
from hullscan.scanner.analyzers.python import PYTHON
from hullscan.scanner.analyzers.rpm import RpmAnalyzer

__all__ = ["AnalysisContext", "AnalysisResult", "Analyzer", "FileEntry", "default_analyzers", "analyzer_set_version"]


def default_analyzers() -> list[Analyzer]:
    return [DpkgAnalyzer(), APK, RpmAnalyzer(), PYTHON, NpmAnalyzer(), GO_BINARY,
            JavaAnalyzer(), GEM, COMPOSER, CARGO, DOTNET]


WALKER_VERSION = 2  # bump when the walker's output for a layer changes


def analyzer_set_version(analyzers: list[Analyzer]) -> str:
    """Part of the layer-cache key: changes whenever an analyzer (or the walker) would answer differently."""
    text = ";".join(sorted(f"{a.name}:{a.version}" for a in analyzers)) + f";walker:{WALKER_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
