"""The Harbor Pluggable Scanner Adapter (spec v1.2) behind the HTTP routes: reading Harbor's ScanRequest, the
scans themselves (pull from Harbor's registry with the credentials it sends, scan, match), and Harbor's report
shapes. Scans run on a small thread pool; their state lives in memory (a restart forgets them and Harbor, which
then gets 404, schedules the scan again), bounded by `harbor_adapter_max_reports`."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import queue
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hullscan import __version__
from hullscan.matching.finding import Finding

if TYPE_CHECKING:
    from hullscan.db import Database
    from hullscan.scanner.inventory import Inventory
    from hullscan.settings import Settings

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONSUMES = [OCI_MANIFEST, DOCKER_MANIFEST]
VULN_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
VULN_REPORT_HARBOR = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
METADATA = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
SCANNER = {"name": "hullscan", "vendor": "hullscan", "version": __version__}
MAX_REQUEST_BYTES = 64 << 10
# Harbor's words for our severities (its scale also has Negligible, which we never rate).
HARBOR_SEVERITY = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "unknown": "Unknown"}
log = logging.getLogger("hullscan.harbor")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")


class ScanRequestError(Exception):
    """A ScanRequest Harbor's spec answers with an error: `status` 400 (not JSON, wrong types), 422 (a field's
    value is invalid) or 501 (an artifact type we do not scan)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HarborScanRequest:
    """What one scan needs: where to pull from, with which credentials, and the artifact."""

    registry_host: str
    insecure: bool  # an http:// registry
    username: str | None
    password: str | None
    repository: str
    digest: str
    mime_type: str
    tag: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.registry_host}/{self.repository}@{self.digest}"

    def artifact(self) -> dict[str, str]:
        """The Artifact object of Harbor's reports: what the request named."""
        out = {"repository": self.repository, "digest": self.digest, "mime_type": self.mime_type}
        if self.tag:
            out["tag"] = self.tag
        return out


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ScanRequestError(400, f"{where}.{key} must be a string")
    return value


def parse_scan_request(body: bytes) -> HarborScanRequest:
    """Harbor's ScanRequest JSON (spec v1.2), checked field by field; raises ScanRequestError saying why."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ScanRequestError(400, f"the scan request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScanRequestError(400, f"the scan request is not JSON: {exc}") from None
    except RecursionError:  # json's decoder recurses per nesting level: `[[[[...` would be a 500
        raise ScanRequestError(400, "the scan request is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ScanRequestError(400, "the scan request must be a JSON object")
    registry, artifact = doc.get("registry"), doc.get("artifact")
    if not isinstance(registry, dict) or not isinstance(artifact, dict):
        raise ScanRequestError(400, "the scan request needs the objects registry and artifact")
    url = _text(registry, "url", "registry") or ""
    authorization = _text(registry, "authorization", "registry", required=False)
    repository = _text(artifact, "repository", "artifact") or ""
    digest = _text(artifact, "digest", "artifact") or ""
    mime_type = _text(artifact, "mime_type", "artifact", required=False) or DOCKER_MANIFEST
    tag = _text(artifact, "tag", "artifact", required=False)
    capabilities = doc.get("enabled_capabilities")
    if capabilities is not None and not (isinstance(capabilities, list) and all(
            isinstance(c, dict) and isinstance(c.get("type"), str) for c in capabilities)):
        raise ScanRequestError(400, "enabled_capabilities must be a list of objects with a type")
    parts = urlsplit(url) if len(url) <= 2048 else None
    if parts is None or parts.scheme not in ("http", "https") or not _HOST.fullmatch(parts.netloc or "") \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ScanRequestError(422, "registry.url must be an http(s) base URL such as https://core.harbor.domain")
    if len(repository) > 255 or not _REPOSITORY.fullmatch(repository):
        raise ScanRequestError(422, "artifact.repository is not a valid repository name")
    if not _DIGEST.fullmatch(digest):
        raise ScanRequestError(422, "artifact.digest must be sha256: and 64 lowercase hex digits")
    if mime_type not in CONSUMES:
        raise ScanRequestError(501, f"artifacts of type {mime_type[:100]!r} are not scanned; "
                                    f"only {', '.join(CONSUMES)}")
    username, password = _credentials(authorization)
    return HarborScanRequest(parts.netloc, parts.scheme == "http", username, password, repository, digest,
                             mime_type, tag if tag and len(tag) <= 128 else None)


def _credentials(authorization: str | None) -> tuple[str | None, str | None]:
    """Harbor sends its robot account as `Basic base64(user:password)`; the registry client then answers the
    registry's challenge with them (Basic, or a token from the registry's token service)."""
    if not authorization:
        return None, None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise ScanRequestError(422, "registry.authorization must be Basic credentials (Harbor's robot account)")
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ScanRequestError(422, "registry.authorization is not base64 of user:password") from None
    if not sep:
        raise ScanRequestError(422, "registry.authorization is not base64 of user:password")
    return user, password


DATABASE_UPDATED_AT = "harbor.scanner-adapter/vulnerability-database-updated-at"


def metadata(database_updated_at: datetime | None = None) -> dict[str, Any]:
    """ScannerAdapterMetadata: who we are and what we consume and produce; with `database_updated_at` (the
    advisory database's newest successful sync) the property Harbor's scanner list shows as the database's age."""
    properties = {"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"}
    if database_updated_at is not None:
        when = database_updated_at.astimezone(UTC).isoformat(timespec="milliseconds")
        properties[DATABASE_UPDATED_AT] = when.replace("+00:00", "Z")  # RFC 3339, as the spec's example
    return {
        "scanner": SCANNER,
        "capabilities": [
            {"type": "vulnerability", "consumes_mime_types": CONSUMES,
             "produces_mime_types": [VULN_REPORT, VULN_REPORT_HARBOR]},
            {"type": "sbom", "consumes_mime_types": CONSUMES, "produces_mime_types": [SBOM_REPORT],
             "additional_attributes": {"sbom_media_types": [CYCLONEDX, SPDX]}},
        ],
        "properties": properties,
    }


def _cvss(f: Finding) -> dict[str, Any] | None:
    if f.cvss_score is None:
        return None
    vector = f.cvss_vector or ""
    if vector.startswith("CVSS:3"):
        return {"score_v3": f.cvss_score, "vector_v3": vector}
    if vector and not vector.startswith("CVSS:"):
        return {"score_v2": f.cvss_score, "vector_v2": vector}
    return None  # CVSS v4 has no field in Harbor's report: it is in vendor_attributes


def vulnerability_item(f: Finding) -> dict[str, Any]:
    """One VulnerabilityItem of Harbor's report."""
    item: dict[str, Any] = {
        "id": f.vulnerability_id, "package": f.package.name, "version": f.package.version,
        "severity": HARBOR_SEVERITY.get(f.severity, "Unknown"),
        "links": [u for u in f.links if u.startswith(("https://", "http://"))],
    }
    if f.fixed_versions:
        item["fix_version"] = ", ".join(f.fixed_versions)
    if f.description or f.title:
        item["description"] = f.description or f.title
    cvss = _cvss(f)
    if cvss:
        item["preferred_cvss"] = cvss
    vendor: dict[str, Any] = {"identifiers": f.identifiers, "ecosystem": f.ecosystem, "fix_state": f.fix_state,
                              "known_exploited": f.known_exploited}
    for key, value in (("purl", f.package.purl), ("cvss_score", f.cvss_score), ("cvss_vector", f.cvss_vector),
                       ("epss_score", f.epss_score), ("epss_percentile", f.epss_percentile),
                       ("layer_digest", f.package.layer_digest)):
        if value is not None:
            vendor[key] = value
    item["vendor_attributes"] = vendor
    return item


def vulnerability_report(request: HarborScanRequest, findings: list[Finding], generated: datetime) -> dict[str, Any]:
    """HarborVulnerabilityReport: the findings, worst first, and the worst severity as the report's."""
    items = [vulnerability_item(f) for f in sorted(findings, key=lambda f: -f.severity_rank)]
    worst = max(findings, key=lambda f: f.severity_rank).severity if findings else "unknown"
    return {"generated_at": generated.isoformat().replace("+00:00", "Z"), "artifact": request.artifact(),
            "scanner": SCANNER, "severity": HARBOR_SEVERITY.get(worst, "Unknown"), "vulnerabilities": items}


def sbom_report(request: HarborScanRequest, inventory: Inventory, media_type: str,
                generated: datetime) -> dict[str, Any]:
    """HarborSbomReport: the scanner's own CycloneDX (or SPDX) document of the image in Harbor's envelope."""
    from hullscan.scanner.sbom import write_cyclonedx, write_spdx

    document = write_cyclonedx(inventory) if media_type == CYCLONEDX else write_spdx(inventory)
    return {"generated_at": generated.isoformat().replace("+00:00", "Z"), "artifact": request.artifact(),
            "scanner": SCANNER, "media_type": media_type, "sbom": json.loads(document),
            "vendor_attributes": {"packages": len(inventory.packages)}}


@dataclass
class Job:
    """One accepted scan: pending until `done` is set; then `error`, or the inventory and findings."""

    request: HarborScanRequest
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    inventory: Inventory | None = None
    findings: list[Finding] = field(default_factory=list)
    finished: datetime | None = None


class QueueFull(Exception):
    """Every kept scan is still queued or running: Harbor is asked to try later."""


class Adapter:
    """The scans Harbor asked for, run `harbor_adapter_max_scans` at a time on a thread pool."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []  # started on the first scan; daemons: a stopping server does
        # not wait for a pull that hangs (the state is in memory, so an abandoned scan loses nothing kept)

    def submit(self, request: HarborScanRequest) -> str:
        """Queue a scan; its id for the report. Forgets the oldest finished scans beyond the bound."""
        scan_id = str(uuid.uuid4())
        with self.lock:
            while len(self.jobs) >= self.settings.harbor_adapter_max_reports:
                oldest = next((k for k, j in self.jobs.items() if j.done.is_set()), None)
                if oldest is None:
                    raise QueueFull(f"{len(self.jobs)} scans are queued or running; retry later")
                del self.jobs[oldest]
            job = self.jobs[scan_id] = Job(request)
            if len(self.threads) < self.settings.harbor_adapter_max_scans:
                thread = threading.Thread(target=self._work, name=f"harbor-scan-{len(self.threads)}", daemon=True)
                self.threads.append(thread)
                thread.start()
        self.queue.put(job)
        return scan_id

    def database_updated_at(self) -> datetime | None:
        """The advisory database's newest successful sync (the advisories service's answer); None when no
        source ever succeeded, or while the database cannot be read (the metadata still answers, without it)."""
        from sqlalchemy.exc import SQLAlchemyError

        from hullscan.advisories.service import last_successful_sync

        try:
            with self.db.read_session() as session:
                return last_successful_sync(session)
        except SQLAlchemyError as exc:
            log.warning("advisory database age unknown", extra={"fields": {"error": type(exc).__name__}})
            return None

    def get(self, scan_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(scan_id)

    def close(self) -> None:
        """Ask the scan threads to end after the scans queued so far (being daemons, they do not hold up the
        process's exit)."""
        with self.lock:
            for _ in self.threads:
                self.queue.put(None)

    def _work(self) -> None:
        while (job := self.queue.get()) is not None:
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            job.inventory, job.findings = self._scan(job.request)
        except Exception as exc:  # noqa: BLE001 - any failure is the report's 500, with its reason
            job.error = f"cannot scan {job.request.reference}: {str(exc)[:500] or type(exc).__name__}"
        finally:
            job.finished = datetime.now(UTC)
            job.done.set()

    def _scan(self, request: HarborScanRequest) -> tuple[Inventory, list[Finding]]:
        """Pull and analyse the image as `hullscan scan` does, and match it against the server's advisories."""
        from hullscan.advisories.reader import SqlAdvisoryStore
        from hullscan.matching.service import ScanRequest, run_scan
        from hullscan.scanner.command import ScanConfig

        config = ScanConfig.from_raw(self.settings.model_dump())
        inventory = config.analyze(f"docker://{request.reference}", insecure=request.insecure, username=request.username,
                                   password=request.password)
        with self.db.read_session() as session:
            report = run_scan(ScanRequest(target=request.reference), SqlAdvisoryStore(session), inventory=inventory)
        return inventory, report.findings
