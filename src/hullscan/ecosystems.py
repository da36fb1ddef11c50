"""The one ecosystem table: package type → purl type → Trivy PkgType → advisory ecosystem → version scheme, and
for distributions: family → package type → ecosystem → release normalisation.

Every part reads these rows (scanner, SBOM reader and writer, matching, advisory import, version library);
nobody else spells the mappings. This module sits at the bottom of the house: it imports nothing from
hullscan, so any part may import it without a cycle.

Advisory ecosystems are OSV's names (https://ossf.github.io/osv-schema/#affectedpackage-field) with a
canonical release: `Debian:12`, `Ubuntu:22.04`, `Ubuntu:Pro:18.04`, `Alpine:v3.19`, `AlmaLinux:9`,
`Rocky Linux:9`, `Red Hat:9` (EUS/AUS/E4S/TUS streams `Red Hat:8.6+eus`), `Oracle Linux:8`, `Amazon Linux:2`,
`SUSE:Linux Enterprise 15.5`, `SUSE:Linux Enterprise Micro 5.5`, `openSUSE:Leap 15.5`, `openSUSE:Tumbleweed`,
`Photon OS:5.0`, `Azure Linux:3.0`, `Mariner:2.0`, and rolling distributions without a release (`Wolfi`,
`Chainguard`). An image's release and an advisory's release go through the SAME normaliser
(`Ecosystem.release`), so both sides agree by construction.

To support a new feed: add its `Ecosystem` row (name, scheme, release rule) and, when images of it can be
scanned, a `Distro` row (os-release ID and aliases). A feed parser then calls `normalize_ecosystem`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache


class UnknownEcosystem(ValueError):
    """An advisory ecosystem this table has no row for (nothing can compare its versions)."""


class UnsupportedRelease(ValueError):
    """An image's distribution or release has no advisory ecosystem (reported once, never fatal)."""


# --- package types ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageKind:
    """One `Package.type`: how it is written as a purl and as Trivy's PkgType, and where its advisories live."""

    type: str  # Package.type
    purl_types: tuple[str, ...]  # purl types read as this kind; the first is the one written
    trivy_type: str  # Trivy's `aquasecurity:trivy:PkgType` (OS kinds write the OS family instead when known)
    ecosystem: str | None  # advisory ecosystem of a language kind; None: the image's distribution decides
    scheme: str  # version scheme (`hullscan.versions`)
    namespace_sep: str = "/"  # how the advisory name joins purl namespace and name (Maven `group:artifact`)
    # OS kinds: which name and version distro advisories key a package by. deb/apk advisories name SOURCE
    # packages (DSA, secdb); rpm advisories (ALSA, RLSA, RHSA, ALAS, SUSE, ...) list BINARY packages, each with
    # its own fixed version (npm built from nodejs has npm's version), so an rpm is looked up by its own name.
    keyed_by: str = "source"

    @property
    def purl_type(self) -> str:
        return self.purl_types[0]

    @property
    def is_os(self) -> bool:
        return self.ecosystem is None


PACKAGE_KINDS: tuple[PackageKind, ...] = (
    PackageKind("deb", ("deb",), "debian", None, "deb"),
    PackageKind("apk", ("apk",), "alpine", None, "apk"),
    PackageKind("rpm", ("rpm",), "redhat", None, "rpm", keyed_by="binary"),
    PackageKind("python", ("pypi",), "python-pkg", "PyPI", "pypi"),
    PackageKind("npm", ("npm",), "node-pkg", "npm", "npm"),
    PackageKind("go", ("golang",), "gobinary", "Go", "go"),
    PackageKind("java", ("maven",), "jar", "Maven", "maven", namespace_sep=":"),
    PackageKind("gem", ("gem",), "gemspec", "RubyGems", "gem"),
    PackageKind("composer", ("composer",), "composer", "Packagist", "composer"),
    PackageKind("cargo", ("cargo",), "rust-binary", "crates.io", "cargo"),
    PackageKind("nuget", ("nuget",), "dotnet-core", "NuGet", "nuget"),
)
KINDS: dict[str, PackageKind] = {k.type: k for k in PACKAGE_KINDS}
KIND_BY_PURL_TYPE: dict[str, PackageKind] = {p: k for k in PACKAGE_KINDS for p in k.purl_types}
OS_PACKAGE_TYPES: frozenset[str] = frozenset(k.type for k in PACKAGE_KINDS if k.is_os)
LANGUAGE_PACKAGE_TYPES: frozenset[str] = frozenset(k.type for k in PACKAGE_KINDS if not k.is_os)
# Package.type -> advisory ecosystem of language packages.
LANGUAGE_ECOSYSTEMS: dict[str, str] = {k.type: k.ecosystem for k in PACKAGE_KINDS if k.ecosystem}


# --- release rules: one function per distribution style, shared by images and advisories --------------------

DEBIAN_CODENAMES = {
    "buzz": "1.1", "rex": "1.2", "bo": "1.3", "hamm": "2.0", "slink": "2.1", "potato": "2.2",
    "woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5", "squeeze": "6", "wheezy": "7",
    "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13",
    "forky": "14", "duke": "15", "sid": "unstable",
}
UBUNTU_CODENAMES = {
    "trusty": "14.04", "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04",
    "kinetic": "22.10", "lunar": "23.04", "mantic": "23.10", "noble": "24.04", "oracular": "24.10",
    "plucky": "25.04", "questing": "25.10", "resolute": "26.04",
}
_UBUNTU_LTS = re.compile(r"^\d*[02468]\.04$")  # releases with Expanded Security Maintenance
_LEADING_INT = re.compile(r"^(\d+)")
_MAJOR_MINOR = re.compile(r"^(\d+)(?:\.(\d+))?")


def _major(release: str) -> str:
    m = _LEADING_INT.match(release)
    if not m:
        raise UnsupportedRelease(f"no major version in {release!r}")
    return m.group(1)


def _debian(release: str) -> str:
    rel = DEBIAN_CODENAMES.get(release.lower(), release)
    if rel == "unstable":
        return rel
    m = re.fullmatch(r"(\d+)(?:\.\d+)*", rel)
    if not m:
        raise UnsupportedRelease(f"debian release {release!r}")
    return m.group(1) if int(m.group(1)) >= 4 else rel


def _ubuntu(release: str) -> str:
    """`22.04`, `22.04:LTS`, `jammy` → `22.04`; `Pro:18.04:LTS` → `Pro:18.04`; `16.04-ESM` stays `16.04`,
    but ESM of a non-LTS release does not exist."""
    parts = [p for p in re.split(r"[:\s]+", release) if p]
    pro = any(p.lower() == "pro" for p in parts)
    m = re.search(r"(?<!\d)(\d+\.\d+)", release)
    if m:
        rel = m.group(1)
    else:
        named = [UBUNTU_CODENAMES[p.lower()] for p in parts if p.lower() in UBUNTU_CODENAMES]
        if not named:
            raise UnsupportedRelease(f"ubuntu release {release!r}")
        rel = named[0]
    if re.search(r"-esm$", release, re.IGNORECASE) and not _UBUNTU_LTS.match(rel):
        raise UnsupportedRelease(f"ubuntu {rel} has no ESM; {release} is out of support")
    return f"Pro:{rel}" if pro else rel


def _alpine(release: str) -> str:
    if release == "edge" or re.search(r"_(alpha|beta|pre|rc)|edge", release):
        return "edge"
    m = re.match(r"^v?(\d+)\.(\d+)", release)
    if not m:
        raise UnsupportedRelease(f"alpine release {release!r}")
    return f"v{m.group(1)}.{m.group(2)}"


def _amazon(release: str) -> str:
    """Amazon Linux 2, 2022 and 2023 by number; the original AMI (`2018.03`, `1`, none) is `1`."""
    major = _LEADING_INT.match(release)
    if major and major.group(1) in ("2", "2022", "2023"):
        return major.group(1)
    if release and not major:
        raise UnsupportedRelease(f"amazon linux release {release!r}")
    return "1"


_RHEL_STREAMS = {"enterprise_linux": "", "rhel_eus": "+eus", "rhel_aus": "+aus", "rhel_e4s": "+e4s",
                 "rhel_tus": "+tus", "rhel_els": "+els"}


def _red_hat(release: str) -> str:
    """`9.4` (an image), `enterprise_linux:9::appstream` (OSV/CSAF cpe-like) → `9`; minor-release streams keep
    their minor and stream (`rhel_eus:8.6::baseos` → `8.6+eus`): their fixes do not apply to the main stream."""
    parts = release.split(":")
    product = parts[0].lower()
    if product in _RHEL_STREAMS and len(parts) > 1:
        stream = _RHEL_STREAMS[product]
        m = _MAJOR_MINOR.match(parts[1])
        if not m:
            raise UnsupportedRelease(f"red hat release {release!r}")
        if stream and m.group(2) is not None:
            return f"{m.group(1)}.{m.group(2)}{stream}"
        return m.group(1)
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?\+(eus|aus|e4s|tus|els)", release)
    if m and m.group(2) is not None:
        return release
    return _major(release)


def _major_minor(release: str) -> str:
    """`5.0`, `5`, `5.0.1` → `5.0` (Photon OS, Azure Linux, Mariner)."""
    m = _MAJOR_MINOR.match(release)
    if not m:
        raise UnsupportedRelease(f"release {release!r}")
    return f"{m.group(1)}.{m.group(2) or 0}"


_SLE_SP = re.compile(r"(\d+)(?:[ .-]?SP(\d+)|\.(\d+))?", re.IGNORECASE)


def _suse(release: str) -> str:
    """OSV `SUSE:<product> <version>`: SUSE Linux Enterprise products of one code base share fixes (vunnel and
    Trivy key them by version: `Linux Enterprise Server 15 SP5`, `... Module for Basesystem 15 SP5-LTSS` →
    `Linux Enterprise 15.5`); SLE Micro has its own versions (`Linux Enterprise Micro 5.5`)."""
    micro = "micro" in release.lower()
    # the last number is the version (product names hold none, `Module for Python 3 15 SP5` aside)
    matches = list(_SLE_SP.finditer(release))
    m = matches[-1] if matches else None
    if m is None:
        raise UnsupportedRelease(f"suse release {release!r}")
    minor = m.group(2) or m.group(3)
    version = f"{m.group(1)}.{minor}" if minor is not None else m.group(1)
    return f"Linux Enterprise Micro {version}" if micro else f"Linux Enterprise {version}"


def _opensuse(release: str) -> str:
    """`Leap 15.5`, `leap:15.5`, `Leap Micro 5.5`, `Tumbleweed`."""
    low = release.lower()
    if "tumbleweed" in low:
        return "Tumbleweed"
    m = re.search(r"(?<!\d)(\d+\.\d+)", release)
    if not m:
        raise UnsupportedRelease(f"opensuse release {release!r}")
    return f"Leap Micro {m.group(1)}" if "micro" in low else f"Leap {m.group(1)}"


def _rolling(release: str) -> str:
    """Rolling distributions have one advisory stream whatever the image says."""
    return ""


def _as_given(release: str) -> str:
    return release


# --- end of life of distribution releases -----------------------------------------------------------------
# The day a release stops getting security fixes from its publisher (Debian: the end of LTS, as the tracker
# still follows LTS; Ubuntu: the end of standard support, ESM images scan as `Ubuntu:Pro:<release>`; RHEL: the
# end of maintenance support, ELS is a paid extension; Alpine: the branch's end of support). Scans of an image on
# one of these warn (matching MatchStats.warnings): no feed will ever say "fixed" for it again.
# Sources: https://wiki.debian.org/LTS and https://www.debian.org/releases/, https://ubuntu.com/about/release-cycle
# and https://wiki.ubuntu.com/Releases, https://alpinelinux.org/releases/, https://access.redhat.com/support/policy/updates/errata,
# https://www.centos.org/centos-linux-eol/, https://aws.amazon.com/amazon-linux-2/faqs/ and
# https://aws.amazon.com/linux/amazon-linux-ami/faqs/, https://learn.microsoft.com/azure/azure-linux/ (Mariner 2.0),
# https://blogs.vmware.com/ (Photon OS 3.0 end of support), https://en.opensuse.org/Lifetime.
RELEASE_END_OF_LIFE: dict[str, str] = {
    "Debian:7": "2018-05-31", "Debian:8": "2020-06-30", "Debian:9": "2022-06-30", "Debian:10": "2024-06-30",
    "Debian:11": "2026-08-31",
    "Ubuntu:14.04": "2019-04-30", "Ubuntu:16.04": "2021-04-30", "Ubuntu:18.04": "2023-05-31",
    "Ubuntu:20.04": "2025-05-29", "Ubuntu:22.10": "2023-07-20", "Ubuntu:23.04": "2024-01-25",
    "Ubuntu:23.10": "2024-07-11", "Ubuntu:24.10": "2025-07-10", "Ubuntu:25.04": "2026-01-15",
    "Alpine:v3.12": "2022-05-01", "Alpine:v3.13": "2022-11-01", "Alpine:v3.14": "2023-05-01",
    "Alpine:v3.15": "2023-11-01", "Alpine:v3.16": "2024-05-23", "Alpine:v3.17": "2024-11-22",
    "Alpine:v3.18": "2025-05-09", "Alpine:v3.19": "2025-11-01", "Alpine:v3.20": "2026-04-01",
    "Red Hat:6": "2020-11-30", "Red Hat:7": "2024-06-30",
    "CentOS:6": "2020-11-30", "CentOS:7": "2024-06-30", "CentOS:8": "2021-12-31",
    "Amazon Linux:1": "2023-12-31", "Amazon Linux:2": "2026-06-30", "Amazon Linux:2022": "2023-03-15",
    "Mariner:1.0": "2023-07-31", "Mariner:2.0": "2025-07-31", "Photon OS:3.0": "2024-03-01",
    "openSUSE:Leap 15.4": "2023-12-07", "openSUSE:Leap 15.5": "2024-12-31",
}


def end_of_life(ecosystem_name: str, today: str) -> str | None:
    """The end-of-life date (ISO) of an OS ecosystem's release when `today` (ISO date) is on or past it."""
    ended = RELEASE_END_OF_LIFE.get(ecosystem_name)
    return ended if ended is not None and today >= ended else None


# --- advisory ecosystems ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ecosystem:
    """An advisory ecosystem: its OSV name, version scheme, rule for package names and for releases."""

    name: str
    scheme: str
    names: str = "lower"  # "pep503", "lower", "crates" (lower, `_` = `-`) or "exact" (case-sensitive)
    release: Callable[[str], str] = _as_given  # canonical release; raises UnsupportedRelease
    aliases: tuple[str, ...] = ()  # other spellings of the name feeds use


ECOSYSTEMS: tuple[Ecosystem, ...] = (
    # language ecosystems
    Ecosystem("PyPI", "pypi", names="pep503"),
    Ecosystem("npm", "npm"),
    Ecosystem("Go", "go", names="exact", aliases=("golang",)),
    Ecosystem("Maven", "maven", names="exact"),
    Ecosystem("RubyGems", "gem", names="exact"),
    Ecosystem("Packagist", "composer"),
    Ecosystem("crates.io", "cargo", names="crates"),
    Ecosystem("NuGet", "nuget"),
    Ecosystem("Hex", "semver"),
    Ecosystem("Pub", "semver"),
    Ecosystem("SwiftURL", "semver", names="exact"),
    Ecosystem("Bitnami", "semver"),
    # distributions
    Ecosystem("Debian", "deb", release=_debian),
    Ecosystem("Ubuntu", "deb", release=_ubuntu),
    Ecosystem("Echo", "deb", release=_rolling),
    Ecosystem("Alpine", "apk", release=_alpine),
    Ecosystem("Wolfi", "apk", release=_rolling),
    Ecosystem("Chainguard", "apk", release=_rolling),
    Ecosystem("MinimOS", "apk", release=_rolling),
    Ecosystem("Alpaquita", "apk"),
    Ecosystem("Red Hat", "rpm", release=_red_hat, aliases=("redhat", "rhel")),
    Ecosystem("AlmaLinux", "rpm", release=_major, aliases=("alma",)),
    Ecosystem("Rocky Linux", "rpm", release=_major, aliases=("rocky",)),
    Ecosystem("CentOS", "rpm", release=_major),
    Ecosystem("Fedora", "rpm", release=_major),
    Ecosystem("Oracle Linux", "rpm", release=_major, aliases=("oracle", "ol")),
    Ecosystem("Amazon Linux", "rpm", release=_amazon, aliases=("amazon", "amzn")),
    Ecosystem("SUSE", "rpm", release=_suse),
    Ecosystem("openSUSE", "rpm", release=_opensuse),
    Ecosystem("Photon OS", "rpm", release=_major_minor, aliases=("photon",)),
    Ecosystem("Azure Linux", "rpm", release=_major_minor, aliases=("azurelinux",)),
    Ecosystem("Mariner", "rpm", release=_major_minor, aliases=("cbl-mariner",)),
    Ecosystem("Mageia", "rpm"),
    Ecosystem("openEuler", "rpm"),
)
_ECOSYSTEM_BY_KEY: dict[str, Ecosystem] = {
    key.lower(): e for e in ECOSYSTEMS for key in (e.name, *e.aliases)
}


def ecosystem(name: str) -> Ecosystem:
    """The row of an ecosystem (`Debian:12` or `debian` finds Debian); UnknownEcosystem when there is none."""
    row = _ECOSYSTEM_BY_KEY.get(name.split(":", 1)[0].strip().lower())
    if row is None:
        raise UnknownEcosystem(f"unknown ecosystem {name!r}")
    return row


MAX_ECOSYSTEM = 256  # longest ecosystem string read; longer ones are hostile (and would bloat the caches)
MAX_CACHED_NAME = 1024  # package names longer than this are normalised without caching


def normalize_ecosystem(name: str) -> str:
    """An advisory's ecosystem as the store keys it: `Debian:bookworm` → `Debian:12`, `Alpine:3.19` →
    `Alpine:v3.19`, `Ubuntu:22.04:LTS` → `Ubuntu:22.04`, `pypi` → `PyPI`, `Wolfi:rolling` → `Wolfi`.

    A release the rule cannot read is kept as written (it then matches no image). UnknownEcosystem for a name
    without a row or longer than MAX_ECOSYSTEM."""
    if not isinstance(name, str) or len(name) > MAX_ECOSYSTEM:
        raise UnknownEcosystem(f"unknown ecosystem {str(name)[:80]!r}")
    return _normalize_ecosystem(name)


@lru_cache(maxsize=4096)
def _normalize_ecosystem(name: str) -> str:
    raw = name.strip()
    base, _, release = raw.partition(":")
    row = ecosystem(base)
    release = release.strip()
    if not release:
        return row.name
    try:
        canonical = row.release(release)
    except UnsupportedRelease:
        canonical = release
    return f"{row.name}:{canonical}" if canonical else row.name


def scheme_for_ecosystem(name: str) -> str:
    """The version scheme of an ecosystem (`Debian:12` → deb); UnknownEcosystem (a ValueError) otherwise."""
    return ecosystem(name).scheme


def normalize_name(ecosystem_name: str, name: str) -> str:
    """A package name as advisories are stored and looked up: PEP 503 for PyPI, lower case where the ecosystem
    ignores case, as written where it does not (Go, Maven, RubyGems). Cached (inventories and feeds repeat
    names), except for names too long to be worth keeping."""
    if len(name) > MAX_CACHED_NAME or len(ecosystem_name) > MAX_ECOSYSTEM:
        return _normalize_name(ecosystem_name, name)
    return _cached_name(ecosystem_name, name)


def _normalize_name(ecosystem_name: str, name: str) -> str:
    row = _ECOSYSTEM_BY_KEY.get(ecosystem_name.split(":", 1)[0].strip().lower())
    rule = row.names if row else "lower"
    name = name.strip()
    if rule == "pep503":
        return re.sub(r"[-_.]+", "-", name).lower()
    if rule == "crates":
        return name.lower().replace("_", "-")
    if rule == "exact":
        return name
    return name.lower()


_cached_name = lru_cache(maxsize=65536)(_normalize_name)


# --- distributions (images) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Distro:
    """A distribution an image can be: `OperatingSystem.family` (its os-release ID), the names other tools
    write for it, its package type and the advisory ecosystem its packages are looked up in."""

    family: str
    package_type: str
    ecosystem: str
    aliases: tuple[str, ...] = ()
    release_prefix: str = ""  # SUSE/openSUSE: the product the os-release ID names (`Leap `)


DISTROS: tuple[Distro, ...] = (
    Distro("debian", "deb", "Debian", aliases=("debian gnu/linux",)),
    Distro("ubuntu", "deb", "Ubuntu"),
    Distro("alpine", "apk", "Alpine", aliases=("alpine linux",)),
    Distro("wolfi", "apk", "Wolfi"),
    Distro("chainguard", "apk", "Chainguard"),
    Distro("rhel", "rpm", "Red Hat", aliases=("redhat", "red hat", "red hat enterprise linux")),
    Distro("centos", "rpm", "CentOS"),
    Distro("almalinux", "rpm", "AlmaLinux", aliases=("alma", "alma linux")),
    Distro("rocky", "rpm", "Rocky Linux", aliases=("rocky linux",)),
    Distro("fedora", "rpm", "Fedora"),
    Distro("oracle", "rpm", "Oracle Linux", aliases=("ol", "oracle linux")),
    Distro("amazon", "rpm", "Amazon Linux", aliases=("amzn", "amazon linux")),
    Distro("sles", "rpm", "SUSE", aliases=("suse", "sle", "sles_sap", "suse linux enterprise server"),
           release_prefix="Server "),
    Distro("sle-micro", "rpm", "SUSE", aliases=("suse linux enterprise micro",), release_prefix="Micro "),
    Distro("opensuse-leap", "rpm", "openSUSE", aliases=("opensuse", "opensuse.leap", "opensuse leap"),
           release_prefix="Leap "),
    Distro("opensuse-leap-micro", "rpm", "openSUSE", release_prefix="Leap Micro "),
    Distro("opensuse-tumbleweed", "rpm", "openSUSE", aliases=("opensuse.tumbleweed",), release_prefix="Tumbleweed"),
    Distro("photon", "rpm", "Photon OS", aliases=("photon os",)),
    Distro("azurelinux", "rpm", "Azure Linux", aliases=("azure linux",)),
    Distro("mariner", "rpm", "Mariner", aliases=("cbl-mariner", "common base linux mariner")),
)
_DISTRO_BY_KEY: dict[str, Distro] = {key: d for d in DISTROS for key in (d.family, *d.aliases)}


def canonical_family(name: str) -> str:
    """`OperatingSystem.family` for an os-release ID or a distribution name another tool wrote (`amzn`,
    `Red Hat Enterprise Linux`, `ol`); unknown names lower-cased, first word (they match nothing)."""
    n = name.strip().lower()
    row = _DISTRO_BY_KEY.get(n)
    if row is not None:
        return row.family
    return n.split()[0] if n else n


def distro(family: str) -> Distro | None:
    """The row of an image's distribution family (or one of its aliases), None for an unknown one."""
    return _DISTRO_BY_KEY.get(family.strip().lower())


def package_type_for_family(family: str) -> str | None:
    """The OS package type of a distribution (deb for Ubuntu), None when unknown."""
    row = distro(family)
    return row.package_type if row else None


def os_ecosystem(family: str, version: str, repository_release: str | None = None) -> str:
    """The ecosystem whose advisories apply to an image of `family` at `version` (`Debian:12`, `Alpine:v3.19`,
    `Red Hat:9`, `Wolfi`); Alpine images prefer the release their repositories name. Raises
    UnsupportedRelease for a distribution or release nothing publishes advisories for."""
    row = distro(family)
    if row is None:
        raise UnsupportedRelease(f"no advisory source for {family} {version}".strip())
    eco = ecosystem(row.ecosystem)
    release = (version or "").strip()
    if row.ecosystem == "Alpine" and repository_release:
        release = repository_release.strip()
    if row.release_prefix:
        release = f"{row.release_prefix}{release}"
    elif row.ecosystem == "Ubuntu" and not re.fullmatch(r"\d+\.\d+(-esm)?", release, re.IGNORECASE):
        raise UnsupportedRelease(f"ubuntu release {version!r}")
    canonical = eco.release(release)
    return f"{eco.name}:{canonical}" if canonical else eco.name


# --- modular rpms -----------------------------------------------------------------------------------------
# A package built in a module stream carries the label `module:stream:version:context` (rpm's MODULARITYLABEL,
# `Package.properties["modularitylabel"]`). Advisories of one stream must not apply to another (a nodejs:20 fix
# says nothing about a nodejs:18 install), and not to the distribution's non-modular package of the same name.
# The store therefore keys modular entries `module:stream::name`, as Red Hat's data does; AlmaLinux/Rocky OSV
# records name them plainly and give the stream only in the summary ("Moderate: nodejs:18 security update") and
# a `.module_el9...`/`.module+el9...` release, which `advisory_package_names` turns into the same key.

_MODULE_TOKEN = re.compile(r"(?<![\w.+:-])([A-Za-z0-9][\w.+-]{0,99}):([A-Za-z0-9][\w.+-]{0,99})(?![\w.+:-])")
_MODULAR_RELEASE = re.compile(r"[.+]module[_+.]")
MAX_SUMMARY = 512  # characters of a summary searched for module streams


def module_stream(label: str | None) -> str | None:
    """`nodejs:18:9040020240807144226:rhel9` → `nodejs:18`; None for a package built outside a module."""
    if not label:
        return None
    module, _, rest = label.partition(":")
    stream = rest.split(":", 1)[0]
    return f"{module}:{stream}" if module and stream else None


def modular_name(stream: str, name: str) -> str:
    """The store key of a package built in a module stream (`nodejs:18::npm`)."""
    return f"{stream}::{name}"


def summary_streams(summary: str | None) -> list[str]:
    """Module streams an advisory summary names: "Important: nodejs:18 security update" → [`nodejs:18`]."""
    if not summary:
        return []
    return list(dict.fromkeys(f"{m}:{s}" for m, s in _MODULE_TOKEN.findall(summary[:MAX_SUMMARY])))


def is_modular_version(version: str) -> bool:
    """An rpm EVR built in a module (`3:10.3.39-1.module_el8.8.0+3609+204d4ab0`, `0:3.3.1-2.module+el9.4.0+...`)."""
    return bool(_MODULAR_RELEASE.search(version.rpartition("-")[2]))


def advisory_package_names(ecosystem_name: str, name: str, summary: str | None, fixed: list[str]) -> list[str]:
    """The package names an rpm advisory entry is stored under: `stream::name` for each stream its summary
    names when its fixes are modular builds, else the name as written (also for every non-rpm ecosystem)."""
    if not isinstance(name, str) or "::" in name:
        return [name]
    row = _ECOSYSTEM_BY_KEY.get(ecosystem_name.split(":", 1)[0].strip().lower())
    if row is None or row.scheme != "rpm" or not any(is_modular_version(v) for v in fixed):
        return [name]
    streams = summary_streams(summary)
    return [modular_name(s, name) for s in streams] or [name]
