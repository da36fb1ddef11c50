"""What the scanner finds in an image: the contract between scanner, SBOM writers, matching and ingestion.

Plain dataclasses so the scanner stays a pure library (no database, no HTTP server).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Package types (Package.type) are rows of the ecosystem table; importable from here as before.
from hullscan.ecosystems import LANGUAGE_PACKAGE_TYPES, OS_PACKAGE_TYPES  # noqa: F401


@dataclass(frozen=True)
class OperatingSystem:
    """The image's distribution. `family` is lower-case: debian, ubuntu, alpine, rhel, centos, rocky,
    almalinux, amazon, oracle, fedora, opensuse-leap, sles, wolfi, chainguard, ... `version` as the image states
    it (`12.15`, `3.19.1`, `24.04`, `edge`)."""

    family: str
    version: str
    pretty_name: str | None = None
    codename: str | None = None  # bookworm, noble, ...


@dataclass
class Package:
    """One installed package. For OS packages `source_name`/`source_version` name the source package that
    distro advisories are keyed by (equal to name/version when the database gives no source)."""

    name: str
    version: str
    type: str
    purl: str | None = None
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    licenses: list[str] = field(default_factory=list)
    path: str | None = None  # file the package was read from, e.g. /var/lib/dpkg/status
    layer_digest: str | None = None  # compressed layer blob digest that introduced it
    layer_diff_id: str | None = None  # uncompressed layer digest (rootfs.diff_ids)
    properties: dict[str, str] = field(default_factory=dict)  # analyzer-specific extras (epoch, release, ...)


@dataclass(frozen=True)
class ImageInfo:
    """Which image was analysed. `name` is `<host>/<repository>` (no tag), `reference` what the user gave."""

    name: str
    tag: str | None = None
    digest: str | None = None  # manifest digest
    platform: str | None = None  # os/arch[/variant]
    reference: str | None = None


@dataclass
class Inventory:
    image: ImageInfo
    os: OperatingSystem | None
    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # bad files, caps hit: named, never fatal
    #: Why some layer was not fully analysed (unreadable, unverified, over a cap): the inventory may miss
    #: packages, so the scan is "partial", never a plain success. Empty: every layer was read to its end.
    partial: list[str] = field(default_factory=list)
