"""Image-level SBOM memo: a warm `hullscan sbom` is the manifest, the config and one cache lookup.

An image is identified by its manifest's layers: each layer's blob digest and diff_id, both verified when the
layer was first analysed (the walker hashes what it reads). The CycloneDX document of an image is a pure
function of those layers, the image's name/tag/digest/platform, the scan options and the code that analysed
and rendered it -- except for its serial number and timestamp, which are renewed on every reuse. So once an
image was analysed completely (every layer in the layer cache), the document is kept under that key and the
next scan of the same image reuses it without importing the analyzers, reading the layer analyses, merging
them or building the CycloneDX model again.

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
        files = [os.path.join(here, "..", "__init__.py")]
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


def image_key(image, registry_triggered: bool, limits: tuple[int, int]) -> str | None:  # type: ignore[no-untyped-def]
    """The memo key of a resolved image, or None when its content is not identified by verified digests
    (a `dir:` source, an image without layers, a layer without a diff_id)."""
    if image.rootfs_dir is not None or not image.layers or any(not layer.diff_id for layer in image.layers):
        return None
    info = image.info
    payload = json.dumps({
        "code": code_fingerprint(),
        "image": [info.name, info.tag, info.digest, info.platform, info.reference],
        "layers": [[layer.digest, layer.diff_id] for layer in image.layers],
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
