"""Which distribution an image is: os-release (both paths) first, then the distro-specific release files,
and for distroless Debian (no os-release) `/etc/debian_version` or the base-files package."""

from __future__ import annotations

import re
import shlex

from hullscan.ecosystems import canonical_family, distro
from hullscan.scanner.inventory import OperatingSystem, Package

OS_FILES = (
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/alpine-release",
    "/etc/debian_version",
    "/etc/redhat-release",
    "/etc/centos-release",
    "/etc/lsb-release",
    "/etc/system-release",
)
OS_FILE_CAP = 64 * 1024
_REDHAT = re.compile(r"^(?P<name>.+?) release (?P<version>[\d.]+)")


def parse_kv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            try:
                parts = shlex.split(value, comments=False)
                values[key.strip()] = parts[0] if parts else ""
            except ValueError:
                values[key.strip()] = value.strip().strip("\"'")
    return values


def detect(files: dict[str, str], packages: list[Package]) -> OperatingSystem | None:
    release = files.get("/etc/os-release") or files.get("/usr/lib/os-release")
    debian_version = (files.get("/etc/debian_version") or "").strip()
    if release:
        kv = parse_kv(release)
        family = kv.get("ID", "").lower()
        if family:
            version = kv.get("VERSION_ID", "")
            if family == "debian" and re.fullmatch(r"\d+(\.\d+)*", debian_version):
                version = debian_version  # point release (12.15), as Trivy reports it
            elif family == "alpine" and (alpine := (files.get("/etc/alpine-release") or "").strip()):
                version = alpine
            if family == "debian" and not version:  # testing/sid: no VERSION_ID
                version = debian_version
            return OperatingSystem(family=canonical_family(family),
                                   version=version, pretty_name=kv.get("PRETTY_NAME"),
                                   codename=kv.get("VERSION_CODENAME") or None)
    if alpine := (files.get("/etc/alpine-release") or "").strip():
        return OperatingSystem(family="alpine", version=alpine.splitlines()[0])
    for path in ("/etc/redhat-release", "/etc/centos-release", "/etc/system-release"):
        if match := _REDHAT.match((files.get(path) or "").strip()):
            family = canonical_family(match["name"])  # "Rocky Linux" → rocky, "Red Hat Enterprise Linux" → rhel
            return OperatingSystem(family=family if distro(family) else "rhel", version=match["version"])
    if lsb := files.get("/etc/lsb-release"):
        kv = parse_kv(lsb)
        if kv.get("DISTRIB_ID"):
            return OperatingSystem(family=kv["DISTRIB_ID"].lower(), version=kv.get("DISTRIB_RELEASE", ""),
                                   codename=kv.get("DISTRIB_CODENAME") or None)
    if debian_version:
        return OperatingSystem(family="debian", version=debian_version.splitlines()[0])
    for package in packages:
        if package.type == "deb" and package.name == "base-files":
            match = re.match(r"^(\d+(?:\.\d+)?)", package.version)
            if match:
                return OperatingSystem(family="debian", version=match[1])
    return None
