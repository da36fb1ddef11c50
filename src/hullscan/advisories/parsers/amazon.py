"""Amazon Linux security updates (ALAS) from a repository's `updateinfo.xml` (repodata, usually gzip).

Each `<update type="security">` is one advisory (`ALAS-2018-1093`, `ALAS2-2021-1699`, `ALAS2023-2023-126`):
its CVEs as `<reference type="cve">`, Amazon's priority as `<severity>` (low, medium, important, critical), and
the fixed builds in `<pkglist>` (name, epoch, version, release; epoch 0 written without it). The release
comes from the id's prefix (`ALAS` is the original AMI, `ALAS2` Amazon Linux 2, `ALAS2023` 2023), read
through the ecosystem table's Amazon Linux rule.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime, timezone

from defusedxml import ElementTree as SafeET

from hullscan.advisories.normalize import severity_word
from hullscan.advisories.parsers.base import Parsed, Tally, fixed_range, gunzipped, make_affected
from hullscan.advisories.types import Advisory, AffectedPackage

MAX_UPDATEINFO_BYTES = 512 * 1024 * 1024  # Amazon Linux 2's updateinfo is ~40 MB uncompressed
_ID = re.compile(r"^ALAS(\d*)-\d{4}-\d+$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


class TooLarge(ValueError):
    """An updateinfo larger than MAX_UPDATEINFO_BYTES."""


def _read_bounded(stream: io.BufferedIOBase) -> bytes:
    buffered = gunzipped(stream)
    data = buffered.read(MAX_UPDATEINFO_BYTES + 1)
    if len(data) > MAX_UPDATEINFO_BYTES:
        raise TooLarge(f"updateinfo larger than {MAX_UPDATEINFO_BYTES} bytes")
    return data


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip()[:19].replace(" ", "T")).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def iter_updateinfo(stream: io.BufferedIOBase, tally: Tally) -> Iterator[Parsed]:
    """Security updates of one updateinfo document; other update types are not advisories."""
    try:
        root = SafeET.fromstring(_read_bounded(stream))
    except TooLarge as exc:
        tally.skip("document_too_large", str(exc))
        return
    except Exception as exc:  # defusedxml's own errors, ParseError, gzip/zlib errors
        tally.skip("malformed_xml", str(exc)[:200])
        return
    for update in root.iter("update"):
        tally.records += 1
        adv_id = (update.findtext("id") or "").strip()
        m = _ID.match(adv_id)
        if not m:
            tally.skip("invalid_record", f"update id {adv_id[:80]!r}")
            continue
        if (update.get("type") or "security") != "security":
            tally.skip("not_security", adv_id)
            continue
        ecosystem = f"Amazon Linux:{m.group(1) or '1'}"
        word = severity_word(update.findtext("severity"))
        severity = word if word and word != "unknown" else None
        cves = sorted({ref.get("id", "") for ref in update.iter("reference")
                       if ref.get("type") == "cve" and _CVE.match(ref.get("id", ""))})
        entries: dict[str, AffectedPackage] = {}
        for pkg in update.iter("package"):
            name, version, release = pkg.get("name"), pkg.get("version"), pkg.get("release")
            if not name or not version or not release:
                tally.skip("invalid_package", f"{adv_id}: {dict(pkg.attrib)!r}"[:200])
                continue
            epoch = (pkg.get("epoch") or "0").strip()
            evr = f"{version}-{release}" if epoch in ("", "0") else f"{epoch}:{version}-{release}"
            if name in entries:
                continue  # one build per arch, all the same EVR
            item = make_affected(tally, adv_id, ecosystem, name, fixed_range(evr), severity=severity)
            if item is not None:
                entries[name] = item
        yield Parsed(
            Advisory(id=adv_id, source="amazon-updateinfo", aliases=cves,
                     summary=(update.findtext("title") or "").strip() or None,
                     details=(update.findtext("description") or "").strip() or None,
                     published=_date(update.find("issued").get("date") if update.find("issued") is not None
                                      else None),
                     modified=_date(update.find("updated").get("date") if update.find("updated") is not None
                                     else None),
                     severity=severity, severity_source="amazon" if severity else None,
                     references=[f"https://alas.aws.amazon.com/{_page(adv_id)}"]),
            sorted(entries.values(), key=lambda e: e.package),
        )


def _page(adv_id: str) -> str:
    """ALAS pages: `ALAS-2018-1093.html`, `AL2/ALAS-2021-1699.html`, `AL2023/ALAS-2023-126.html`."""
    m = _ID.match(adv_id)
    release = m.group(1) if m else ""
    number = adv_id.split("-", 1)[1]
    return f"AL{release}/ALAS-{number}.html" if release else f"ALAS-{number}.html"
