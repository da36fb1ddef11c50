"""Settings from `hullscan.toml` and `HULLSCAN_*` environment variables.

Every command, server or not, builds its settings here so that all of them agree on one data directory.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HULLSCAN_", extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Holds the SQLite database and blob storage.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in data_dir.")
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8080, description="Port `serve` listens on (registry, API, UI and health on one port).")
    public_url: str | None = Field(default=None, description="Base URL clients reach us at (registry host).")
    forwarded_allow_ips: str = Field(
        default="", description="Proxies whose X-Forwarded-For/-Proto are believed (comma-separated addresses or "
        "networks, \"*\" for any). Empty: none, not even loopback, so a client can never choose its audited address.")
    log_level: str = Field(default="INFO", description="Logging level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(default=True, description="Log one JSON object per line; false: plain text.")

    # registry
    registry_auto_create_projects: bool = Field(
        default=True, description="A push to an unknown path creates the project (admins; users in their namespace).")
    registry_max_manifest_bytes: int = Field(default=4 * 1024 * 1024, description="Largest manifest the registry accepts.")
    registry_webhook_secret: str | None = Field(
        default=None, description="Shared secret an external registry sends in its Authorization header."
    )
    harbor_adapter_api_key: SecretStr | None = Field(
        default=None, description="Key Harbor sends to the Harbor scanner adapter (docs/harbor.md); unset: the "
        "adapter is off and its routes answer 404.")
    harbor_adapter_prefix: str = Field(
        default="/harbor", pattern=r"^(/[A-Za-z0-9._-]+)+$",
        description="Path prefix of the Harbor scanner adapter's /api/v1 routes.")
    harbor_adapter_max_scans: int = Field(default=2, ge=1, le=64,
                                          description="Harbor adapter scans run at once; more wait in line.")
    harbor_adapter_max_reports: int = Field(
        default=1000, ge=1, le=1_000_000,
        description="Harbor adapter scans kept in memory (queued, running or reported); the oldest finished "
        "ones are forgotten first.")

    # --- auth settings ---
    admin_password: SecretStr | None = Field(
        default=None, description="Password of the `admin` user created on first start; None: generated and printed once.")
    registry_token_service: str = Field(default="hullscan-registry", description="`service` of registry tokens.")
    registry_token_ttl_seconds: int = Field(default=300, description="Lifetime of a registry (Docker) token.")
    session_ttl_seconds: int = Field(default=12 * 3600, description="Lifetime of a UI sign-in.")
    sign_in_max_failures: int = Field(default=10, description="Failed sign-ins in a row that lock a user.")
    sign_in_max_failures_per_ip: int = Field(default=50, description="Failed sign-ins in a row that lock a client IP.")
    sign_in_lockout_seconds: int = Field(default=600, description="How long a lock from failed sign-ins lasts.")

    # --- registry settings (registry part adds here) ---

    # --- storage settings (docs/operations.md) ---
    storage_driver: Literal["filesystem", "s3"] = Field(
        default="filesystem", description="Where blobs, upload sessions and SBOM artifacts live: data_dir or S3.")
    storage_s3_endpoint_url: str | None = Field(default=None, description="S3 API URL (MinIO, Ceph RGW); None: AWS.")
    storage_s3_bucket: str | None = Field(default=None, description="Bucket (created beforehand).")
    storage_s3_region: str = Field(default="us-east-1", description="Region of the bucket (signing region).")
    storage_s3_access_key_id: str | None = Field(default=None, description="None: boto3's usual credential chain.")
    storage_s3_secret_access_key: SecretStr | None = Field(default=None, description="Secret of storage_s3_access_key_id.")
    storage_s3_prefix: str = Field(default="", description="Key prefix, so several instances share a bucket.")
    storage_s3_path_style: bool = Field(default=False, description="Path-style addressing (MinIO, Ceph RGW, moto).")
    storage_s3_part_size: int = Field(default=16 << 20, ge=5 << 20, description="Multipart part size (>= 5 MiB).")
    storage_s3_redirect_seconds: int = Field(
        default=0, ge=0, description="Blob GETs redirect to pre-signed URLs valid this long; 0: stream through.")

    # --- secrets every node must share (None: generated into data_dir, for a single node) ---
    registry_token_key_file: Path | None = Field(
        default=None, description="PEM file with the registry token signing key and its certificate.")
    registry_token_key: SecretStr | None = Field(default=None, description="The same PEM, inline.")
    ui_secret: SecretStr | None = Field(default=None, description="Key UI CSRF tokens are signed with (>= 32 chars).")
    ui_markdown_max_chars: int = Field(
        default=50_000, ge=100, description="Longest comment rendered as Markdown; the rest is cut off (keeps pages fast).")

    # --- events / pipelines / runner settings ---
    feature_container_scanning_for_registry: bool = Field(
        default=True, description="Instance switch of Container Scanning for Registry; false: pushes start no scans.")
    runner_pool_size: int | None = Field(default=None, description="Local runners `serve` starts; None: one per core, 0: none.")
    runner_registration_token: str | None = Field(default=None, description="Token remote runners register with; None: generated into data_dir.")
    cs4r_coalesce_seconds: float = Field(default=0.0, description="Delay that coalesces rapid re-pushes of a tag (GitLab: 60).")
    job_lease_seconds: float = Field(default=30.0, description="A running job whose runner stops heart-beating for this long is re-queued.")
    job_max_attempts: int = Field(default=3, description="Times a scan job is tried before its pipeline fails.")
    job_timeout_seconds: int = Field(default=3600, description="Longest a scan job may run.")
    artifact_max_bytes: int = Field(default=512 * 1024 * 1024, description="Largest job artifact (SBOM) a runner may upload.")
    vex_max_bytes: int = Field(default=16 << 20, ge=1024, description="Largest VEX document a project may import.")
    vex_max_statements: int = Field(default=20_000, ge=1, description="Most VEX statements a project keeps (one per vulnerability name of a statement); an import past it is refused.")
    event_poll_seconds: float = Field(default=0.2, description="How often `serve` looks for new registry events.")
    reconcile_interval_seconds: float = Field(default=600.0, description="How often external registries are reconciled.")
    external_registries: list[dict[str, str]] = Field(
        default_factory=list,
        description="External registries to reconcile and pull from: [{host, url, username?, password?}].")

    # --- scanner settings ---
    scanner_cache_dir: Path | None = Field(default=None, description="Layer cache dir (default ~/.cache/hullscan).")
    scanner_max_file_bytes: int = Field(default=512 << 20, description="Largest single file read for analysis.")
    scanner_max_layer_bytes: int = Field(default=16 << 30, description="Largest decompressed size of one layer.")
    scanner_max_layer_packages: int = Field(
        default=50_000, ge=1, description="Most packages one layer may yield; past it the scan is partial.")
    scanner_max_spool_bytes: int = Field(
        default=2 << 30, ge=0, description="Most bytes of one layer's files spooled to the scratch dir at once; "
                                           "past it the scan is partial.")
    scanner_max_daemon_image_bytes: int = Field(
        default=32 << 30, ge=1, description="Largest image a docker-daemon:/podman: scan exports from the engine "
                                            "into the scratch dir (the docker-save archive, layers uncompressed).")

    # --- advisories settings ---
    advisories_sync_interval: int = Field(default=6 * 3600, description="Seconds between scheduled syncs; 0 disables.")
    advisories_sync_initial_delay: int = Field(default=120, description="Seconds after `serve` starts before the first sync.")
    advisories_sources: list[str] = Field(
        default=["osv", "alpine", "wolfi", "chainguard", "redhat", "amazon", "oracle", "mariner", "photon", "suse", "debian", "ubuntu", "kev", "epss", "nvd"], description="Sources `sync` runs by default."
    )
    advisories_osv_base_url: str = Field(
        default="https://osv-vulnerabilities.storage.googleapis.com", description="Where OSV exports are downloaded.")
    advisories_osv_ecosystems: list[str] = Field(default=[
        "PyPI", "Go", "npm", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet", "Debian", "Ubuntu", "Alpine",
        "AlmaLinux", "Rocky Linux",
    ], description="OSV ecosystems the `osv` source syncs.")
    advisories_osv_incremental_max: int = Field(default=2000, description="More changed records → fetch all.zip.")
    advisories_alpine_url: str = Field(default="https://secdb.alpinelinux.org", description="Alpine secdb base URL.")
    advisories_alpine_branches: list[str] = Field(
        default=["v3.18", "v3.19", "v3.20", "v3.21", "edge"], description="Alpine branches the `alpine` source syncs.")
    advisories_wolfi_url: str = Field(default="https://packages.wolfi.dev/os/security.json",
                                      description="Wolfi secdb (`wolfi` source).")
    advisories_chainguard_url: str = Field(default="https://packages.cgr.dev/chainguard/security.json",
                                           description="Chainguard OS secdb (`chainguard` source).")
    advisories_redhat_vex_url: str = Field(
        default="https://security.access.redhat.com/data/csaf/v2/vex",
        description="Red Hat CSAF VEX folder (`redhat` source: archive_latest.txt, changes.csv, <year>/cve-*.json).")
    advisories_redhat_repository_cpe_url: str = Field(
        default="https://security.access.redhat.com/data/metrics/repository-to-cpe.json",
        description="Red Hat's repository-to-CPE map (`redhat` and `redhat-cpe` sources): which products each "
                    "repository ships, so an image matches only its repositories' products.")
    advisories_redhat_repository_cpe_max_bytes: int = Field(
        default=64 << 20, ge=1024, description="Largest repository-to-CPE map accepted (bytes); a larger one is "
                                               "refused and the stored map kept.")
    advisories_amazon_mirror_lists: dict[str, str] = Field(default={
        "2": "https://cdn.amazonlinux.com/2/core/latest/x86_64/mirror.list",
        "2023": "https://cdn.amazonlinux.com/al2023/core/mirrors/latest/x86_64/mirror.list",
    }, description="Amazon Linux release → its repository mirror list (`amazon` source reads the updateinfo).")
    advisories_oracle_oval_url: str = Field(
        default="https://linux.oracle.com/security/oval/com.oracle.elsa-all.xml.bz2",
        description="Oracle Linux ELSA OVAL, every release (`oracle` source).")
    advisories_mariner_oval_urls: list[str] = Field(default=[
        "https://raw.githubusercontent.com/microsoft/CBL-MarinerVulnerabilityData/main/cbl-mariner-2.0-oval.xml",
        "https://raw.githubusercontent.com/microsoft/AzureLinuxVulnerabilityData/main/azurelinux-3.0-oval.xml",
    ], description="CBL-Mariner / Azure Linux OVAL files, one per release (`mariner` source).")
    advisories_photon_url: str = Field(
        default="https://packages.broadcom.com/photon/photon_cve_metadata/cve_data_photon{release}.json",
        description="Photon OS CVE data; `{release}` is each of advisories_photon_releases (`photon` source).")
    advisories_photon_releases: list[str] = Field(default=["3.0", "4.0", "5.0"],
                                                  description="Photon OS releases the `photon` source syncs.")
    advisories_suse_oval_url: str = Field(
        default="https://ftp.suse.com/pub/projects/security/oval/suse.linux.enterprise.server.{release}.xml.bz2",
        description="SUSE Linux Enterprise Server OVAL; `{release}` is each of advisories_suse_releases (`suse` source).")
    advisories_suse_releases: list[str] = Field(default=["12", "15"],
                                                description="SLES major releases the `suse` source syncs.")
    advisories_opensuse_leap_oval_url: str = Field(
        default="https://ftp.suse.com/pub/projects/security/oval/opensuse.leap.{release}.xml.bz2",
        description="openSUSE Leap OVAL; `{release}` is each of advisories_opensuse_leap_releases (`suse` source).")
    advisories_opensuse_leap_releases: list[str] = Field(default=["15.6", "16.0"],
                                                         description="openSUSE Leap releases the `suse` source syncs.")
    advisories_debian_tracker_url: str = Field(
        default="https://security-tracker.debian.org/tracker/data/json", description="Debian security tracker JSON.")
    advisories_ubuntu_oval_url: str = Field(
        default="https://security-metadata.canonical.com/oval/com.ubuntu.{release}.usn.oval.xml.bz2",
        description="Ubuntu OVAL URL; `{release}` is each of advisories_ubuntu_releases.")
    advisories_ubuntu_vex_url: str = Field(
        default="https://security-metadata.canonical.com/vex/vex-all.tar.xz",
        description="Canonical's OpenVEX archive, read by the `ubuntu` source for will-not-fix and end-of-life "
                    "states; empty to skip it.")
    advisories_ubuntu_releases: list[str] = Field(
        default=["resolute", "noble", "jammy", "focal"], description="Ubuntu releases the `ubuntu` source syncs.")
    advisories_kev_url: str = Field(
        default="https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
        description="CISA Known Exploited Vulnerabilities catalog.")
    advisories_epss_url: str = Field(
        default="https://epss.cyentia.com/epss_scores-current.csv.gz", description="FIRST EPSS scores (CSV, gzip).")
    advisories_nvd_url: str = Field(default="https://services.nvd.nist.gov/rest/json/cves/2.0",
                                    description="NVD CVE API 2.0 (`nvd` source: CVSS severities).")
    advisories_nvd_api_key: str | None = Field(default=None, description="NVD API key (higher rate limit).")
    advisories_nvd_request_interval: float = Field(default=6.0, description="Seconds between NVD requests "
                                                   "(NVD allows 5 per 30 s without a key, 50 with one).")
    advisories_cve_delta_log_url: str = Field(
        default="https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/deltaLog.json",
        description="cvelistV5 change log (`cve` source: CVE JSON 5 records changed in the last 30 days).")
    advisories_cve_records_url: str = Field(
        default="https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves",
        description="cvelistV5 record files (`<year>/<N>xxx/<CVE>.json` below it).")
    advisories_http_timeout: float = Field(default=120.0, description="Seconds an advisory download may stall.")
    advisories_http_retries: int = Field(default=3, description="Retries of a failed advisory download.")

    # --- matching settings ---
    matching_max_sbom_components: int = Field(
        default=250_000, description="Components read from one SBOM by `hullscan scan`; the rest are a warning."
    )

    # --- ingestion / vulnerabilities settings ---
    continuous_scan_interval: float = Field(
        default=15.0, description="Seconds between checks for new advisory changesets to re-match; 0 disables.")
    notification_timeout: float = Field(default=10.0, description="Seconds a notification webhook may take.")
    notification_max_attempts: int = Field(default=5, description="Deliveries of a webhook notification before it is given up.")

    # --- background work (hullscan.workers) ---
    role: str = Field(default="all", pattern="^(api|worker|all)$",
                      description="api: serve requests only; worker: run the background loops and local runners; all: both.")
    workers_disabled: list[str] = Field(
        default_factory=list, description="Names of background loops this node does not run (see docs/architecture.md).")
    webhook_delivery_interval: float = Field(default=2.0, description="Seconds between webhook delivery rounds; 0 disables.")
    webhook_delivery_lease_seconds: float = Field(
        default=120.0, description="A claimed delivery whose node vanished is retried by another after this long.")
    metrics_aggregate_seconds: float = Field(
        default=300.0, ge=0, description="How stale /metrics' full-table figures (scans by outcome, dropped pushes, "
        "registry blobs and bytes) may be: each node recomputes them at most this often; 0: on every scrape.")
    push_dedup_window_seconds: float = Field(
        default=24 * 3600.0, description="A push of the same repository, tag and digest within this window is one scan.")

    @property
    def resolved_data_dir(self) -> Path:
        from hullscan.config import resolved_data_dir

        return resolved_data_dir(str(self.data_dir))

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'hullscan.db'}"

    @property
    def unshared_secrets(self) -> list[str]:
        """Secret settings left to per-data-directory files: fine for one node, wrong for several (each node
        would generate its own and reject the others' tokens)."""
        missing = [] if self.registry_token_key or self.registry_token_key_file else ["registry_token_key_file"]
        return missing + [name for name in ("ui_secret", "runner_registration_token") if not getattr(self, name)]

    @property
    def blob_dir(self) -> Path:
        return self.resolved_data_dir / "blobs"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("HULLSCAN_CONFIG", "hullscan.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
            file_secret_settings,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
