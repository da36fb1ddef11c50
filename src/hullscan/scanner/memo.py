"""Image-level SBOM memo: a warm `hullscan sbom` is one manifest request and one cache lookup.

An image is identified by its manifest: the config blob's digest (which names the diff_ids) and every layer
blob's digest, each verified whenever the blob is read (the walker hashes what it reads). The CycloneDX
document of an image is a pure function of those blobs, the image's name/tag/digest/platform, the scan
options and the code that analysed and rendered it -- except for its serial number and timestamp, which are
renewed on every reuse. So once an image was analysed completely (every layer read to its end, from the
layer cache or the blob), the document is kept under that key and the next scan of the same image reuses it
without fetching the config, importing the analyzers, merging layer analyses or building the CycloneDX model.

The code is part of the key as a fingerprint of the scanner's source files and of the libraries that shape the
output (size and modification time, as Python's own bytecode cache does), so an edited analyzer or writer
never serves an old document.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.util import find_spec

_fingerprint: str | None = None


def code_fingerprint() -> str:
    """Changes whenever a scanner module, hullscan's version or the purl/CycloneDX libraries change."""
    global _fingerprint
    if _fingerprint is None:
        here = os.path.dirname(os.path.abspath(__file__))
        files = [os.path.join(here, "..", "__init__.py"), os.path.join(here, "..", "ecosystems.py")]
        for directory in (here, os.path.join(here, "analyzers")):
            files += [entry.path for entry in os.scandir(directory) if entry.name.endswith(".py")]
        for library in ("packageurl", "cyclonedx"):
            spec = find_spec(library)
            if spec is not None and spec.origin:
                files.append(spec.origin)
        parts = []
        for path in sorted(files):
            st = os.stat(path)
            parts.append(f"{os.path.basename(path)}:{st.st_size}:{st.st_mtime_ns}")
        _fingerprint = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return _fingerprint


def image_key(peek, registry_triggered: bool, limits: tuple[int, ...]) -> str | None:  # type: ignore[no-untyped-def]
    """The memo key of an image as its manifest names it (`ManifestPeek`), or None when the source cannot
    name its content by digests (`dir:`, `docker-archive:`) or the image has no layers."""
    if peek is None or not peek.layer_digests:
        return None
    payload = json.dumps({
        "code": code_fingerprint(),
        "image": [peek.name, peek.tag, peek.digest, peek.platform, peek.reference],
        "config": peek.config_digest,  # names the diff_ids and, for a single-platform image, the platform
        "layers": list(peek.layer_digests),
        "registry_triggered": registry_triggered,
        "limits": list(limits),
    }, sort_keys=True)
    return "image:" + hashlib.sha256(payload.encode()).hexdigest()


def recall(memo, key: str) -> tuple[str, list[str]] | None:  # type: ignore[no-untyped-def]
    """The remembered document (with a fresh serial number and timestamp) and the scan's warnings."""
    from hullscan.scanner.sbom import _with_fresh_identity

    stored = memo.get_document(key)
    if stored is None:
        return None
    header, _, document = stored.partition("\n")
    try:
        warnings = json.loads(header)
    except ValueError:
        return None
    fresh = _with_fresh_identity(document)
    if fresh is None or not isinstance(warnings, list):
        return None
    return fresh, [str(w) for w in warnings]


def remember(memo, key: str, document: str, warnings: list[str]) -> None:  # type: ignore[no-untyped-def]
    memo.put_document(key, json.dumps(warnings) + "\n" + document)
