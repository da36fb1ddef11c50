"""GitLab's deduplication keys, so a vulnerability keeps its identity across rescans and upgrades.

location fingerprint   = SHA1("<image without tag>:<package name>")  (OS and version deliberately left out)
identifier fingerprint = SHA1("<type>:<value>")
finding UUID           = UUIDv5(namespace, "<report_type>-<identifier fp>-<location fp>-<project id>")
"""

from __future__ import annotations

import hashlib
import re
import uuid

# Gitlab::UUID's production namespace: UUIDs then equal GitLab.com's for the same inputs.
GITLAB_UUID_NAMESPACE = uuid.UUID("58dc0f06-936c-43b3-93bb-71693f1b6570")

REPORT_TYPES = {
    "sast": 0,
    "dependency_scanning": 1,
    "container_scanning": 2,
    "dast": 3,
    "secret_detection": 4,
    "coverage_fuzzing": 5,
    "api_fuzzing": 6,
    "cluster_image_scanning": 7,
    "container_scanning_for_registry": 8,
    "generic": 99,
}
REPORT_TYPE_NAMES = {v: k for k, v in REPORT_TYPES.items()}

SOURCE_TYPES = {"dependency_scanning": 0, "container_scanning": 1, "container_scanning_for_registry": 2}


def image_without_tag(image: str) -> str:
    """`host:5000/group/app:latest` -> `host:5000/group/app` (a port colon is not a tag)."""
    name = image.split("@", 1)[0]
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > last_slash else name


PLATFORM_SUFFIX = re.compile(r" \[([a-z0-9._-]{1,32}/[a-z0-9._-]{1,32}(?:/[a-z0-9._-]{1,32})?)\]$")


def platform_image_name(name: str, platform: str | None) -> str:
    """The image name one platform of a multi-platform index is recorded under: `host/app [linux/arm64]`.
    It is part of the identity (location fingerprint, SBOM source, "no longer detected"), so the amd64 and
    arm64 findings of one tag stay apart; a reference never holds a space or brackets, so it reads back."""
    return f"{name} [{platform}]" if platform else name


def split_platform(name: str) -> tuple[str, str | None]:
    """`host/app [linux/arm64]` -> (`host/app`, `linux/arm64`); a name without a platform -> (name, None)."""
    m = PLATFORM_SUFFIX.search(name)
    return (name[: m.start()], m.group(1)) if m else (name, None)


def location_fingerprint(image: str, package_name: str) -> str:
    return hashlib.sha1(f"{image_without_tag(image)}:{package_name}".encode()).hexdigest()


def identifier_type(identifier: str) -> str:
    """`CVE-2020-1234` -> `cve`; `GHSA-...` -> `ghsa`; `PYSEC-...` -> `pysec`."""
    prefix = identifier.split("-", 1)[0]
    return prefix.lower() if prefix and prefix != identifier else "hullscan"


def identifier_fingerprint(identifier: str) -> str:
    return hashlib.sha1(f"{identifier_type(identifier)}:{identifier}".encode()).hexdigest()


def finding_uuid(report_type: str, identifier_fp: str, location_fp: str, project_id: int) -> str:
    return str(uuid.uuid5(GITLAB_UUID_NAMESPACE, f"{report_type}-{identifier_fp}-{location_fp}-{project_id}"))
