"""What a `container_scanning` job does: pull the image over the OCI API, analyse it with the scanner (the same
code as `hullscan sbom`), write the CycloneDX SBOM with the registry-triggered properties.

It runs in a child process (started from a fork server that preloaded the scanner), so a job can be killed on
cancel, timeout or shutdown, and a hostile image cannot take the runner down with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hullscan.scanner.command import ScanConfig

# What a registry answers while it is briefly unavailable (restarting, its database down): worth pulling again.
TRANSIENT = re.compile(r"\b(?:HTTP|answered) (?:429|50[234])\b|\b(?:Connect|Read|Write|Pool)(?:Error|Timeout)\b"
                       r"|RemoteProtocolError|Connection(?:Refused|Reset|Aborted)Error")
PRELOAD = ["hullscan.scanner.image", "hullscan.scanner.sbom", "hullscan.registry.client"]


@dataclasses.dataclass(frozen=True)
class ScanSpec:
    """Everything the child needs, picklable. `pull_ref` names the registry the runner can reach."""

    pull_ref: str  # HOST/REPOSITORY@DIGEST (or :TAG) at the reachable registry URL's host
    insecure: bool
    username: str | None
    password: str | None
    image_name: str  # CS_IMAGE without the tag: what the SBOM names the image
    tag: str
    digest: str | None
    cache_dir: str | None
    limits: tuple[int, int, int, int] = ScanConfig().limit_tuple  # ScanConfig's limits, in its order

    @classmethod
    def from_job(cls, job: dict[str, Any], cache_dir: Path | None,
                 config: ScanConfig | None = None) -> "ScanSpec":
        """The job's image, scanned with `config` (default: the scanner settings of this runner's environment,
        as `hullscan sbom` reads them) and the runner's own layer cache directory (None: no cache)."""
        config = config or ScanConfig.from_environment()
        registry = job["registry"]
        url = urlsplit(registry["url"])
        reference = f"@{job['digest']}" if job.get("digest") else f":{job['tag']}"
        return cls(pull_ref=f"{url.netloc}/{job['repository']}{reference}", insecure=url.scheme == "http",
                   username=registry.get("username"), password=registry.get("password"),
                   image_name=f"{registry['host']}/{job['repository']}", tag=job["tag"], digest=job.get("digest"),
                   cache_dir=str(cache_dir) if cache_dir else None, limits=config.limit_tuple)

    @property
    def config(self) -> ScanConfig:
        """How the child scans: the runner's limits, its cache directory (none: no layer cache)."""
        file_bytes, layer_bytes, layer_packages, spool_bytes = self.limits
        return ScanConfig(cache_dir=Path(self.cache_dir) if self.cache_dir else None, no_cache=not self.cache_dir,
                          max_file_bytes=file_bytes, max_layer_bytes=layer_bytes, max_layer_packages=layer_packages,
                          max_spool_bytes=spool_bytes)


def _die_with_parent() -> None:
    """SIGKILL this scan when its parent (the runner's fork server, which exits with the runner) dies: a runner
    killed with -9 leaves no scan running on for a job that is re-leased elsewhere."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _scan_platforms(spec: ScanSpec, sbom_path: Path) -> dict[str, Any]:
    """Every platform of a multi-platform index, one SBOM each next to `sbom_path` (named
    `gl-sbom-report.<os>-<arch>.cdx.json`, listed in the summary's `sboms`); an image or a one-platform index:
    the one SBOM at `sbom_path`. A platform the scanner cannot read is skipped with its reason (`skipped`), not
    a failure, as long as one platform was scanned; buildx attestations (`unknown/unknown`) are never scanned."""
    from hullscan.scanner import write_cyclonedx
    from hullscan.scanner.sbom import INDEX_DIGEST_PROPERTY
    from hullscan.scanner.source import ManifestSource, SourceError, open_source, platform_of

    source = f"docker://{spec.pull_ref}"
    opened = open_source(source, insecure=spec.insecure, username=spec.username, password=spec.password)
    try:
        platforms: list[str | None] = list(dict.fromkeys(opened.platforms()))
        top_data, index_digest = opened.top() if isinstance(opened, ManifestSource) else (b"null", spec.digest)
        top = json.loads(top_data)
    finally:
        opened.close()
    multi = len(platforms) > 1
    if not multi:
        platforms = [None]
    sboms: list[dict[str, Any]] = []
    skipped = [f"unknown/unknown {str(m.get('digest'))[:80]}: an attestation, not an image; nothing to scan"
               for m in (top.get("manifests") or [] if isinstance(top, dict) else [])
               if isinstance(m, dict) and platform_of(m) == "unknown/unknown"][:20]
    warnings: list[str] = []
    partial: list[Any] = []
    packages, os_name = 0, None
    for platform in platforms:
        try:
            inventory = spec.config.analyze(source, platform=platform, insecure=spec.insecure,
                                            username=spec.username, password=spec.password)
        except SourceError as exc:
            if not multi or TRANSIENT.search(str(exc)):  # an unavailable registry is pulled again, not skipped
                raise
            skipped.append(f"{platform}: {exc}"[:300])
            continue
        digest = inventory.image.digest if multi else spec.digest or inventory.image.digest
        inventory.image = dataclasses.replace(inventory.image, name=spec.image_name, tag=spec.tag, digest=digest,
                                              reference=f"{spec.image_name}:{spec.tag}")
        document = write_cyclonedx(inventory, registry_triggered=True)
        path = sbom_path
        if multi:  # one platform of the index: ingestion keeps its findings apart from the other platforms'
            doc = json.loads(document)
            doc["metadata"].setdefault("properties", []).append({"name": INDEX_DIGEST_PROPERTY,
                                                                 "value": spec.digest or index_digest})
            document = json.dumps(doc, indent=2)
            suffix = (inventory.image.platform or "unknown").replace("/", "-")
            path = sbom_path.with_name(sbom_path.name.replace(".cdx.json", f".{suffix}.cdx.json"))
        path.write_text(document, encoding="utf-8")
        sboms.append({"name": path.name, "platform": inventory.image.platform, "digest": inventory.image.digest,
                      "packages": len(inventory.packages)})
        os_name = os_name or (f"{inventory.os.family} {inventory.os.version}" if inventory.os else None)
        packages += len(inventory.packages)
        warnings += inventory.warnings[:200]
        partial += inventory.partial[:20]
    if not sboms:
        raise SourceError("no platform of the index could be scanned: " + "; ".join(skipped))
    return {"ok": True, "packages": packages, "os": os_name, "warnings": warnings[:200], "partial": partial[:20],
            "sboms": sboms if multi else None, "skipped": skipped}


def run_scan(spec: ScanSpec, sbom_path: str, summary_path: str) -> None:
    """Child process body: writes the SBOM and a JSON summary ({ok, packages, os, warnings} or {ok, error})."""
    summary: dict[str, Any]
    os.setsid()  # its own process group: the runner kills the whole tree on cancel, timeout or shutdown
    _die_with_parent()
    try:
        summary = _scan_platforms(spec, Path(sbom_path))
    except Exception as exc:  # noqa: BLE001 - reported to the server as the job's failure reason
        error = f"{exc.__class__.__name__}: {exc}"
        summary = {"ok": False, "error": error[:500], "traceback": traceback.format_exc()[-4000:],
                   "transient": isinstance(exc, ConnectionError) or bool(TRANSIENT.search(error))}
    with open(summary_path, "w", encoding="utf-8") as f:
        json.dump(summary, f)
