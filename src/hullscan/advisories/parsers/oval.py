"""What the OVAL parsers (SUSE, Oracle, CBL-Mariner/Azure Linux) share: the definitions namespace, the error
that fails a source as a whole, and reading one document within a size bound through defusedxml."""

from __future__ import annotations

from typing import IO, Any

from defusedxml import ElementTree as SafeET

from hullscan.advisories.parsers.base import Tally

D = "{http://oval.mitre.org/XMLSchema/oval-definitions-5}"


class OvalError(ValueError):
    """A broken or hostile OVAL document: the source fails as a whole, its previous data stays."""


def unreadable(exc: Exception, tally: Tally) -> OvalError:
    """The error for a document the XML parser refused (counted as malformed_xml): nothing of it is written."""
    tally.skip("malformed_xml", str(exc)[:200])
    return OvalError(f"unreadable OVAL (nothing of it is written): {str(exc)[:200]}")


def read_oval(stream: IO[bytes], max_bytes: int, tally: Tally) -> Any:
    """The root element of a whole OVAL document read into memory, at most `max_bytes` of it."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OvalError(f"OVAL larger than {max_bytes} bytes")
    try:
        return SafeET.fromstring(data)
    except Exception as exc:  # defusedxml's own errors and ParseError
        raise unreadable(exc, tally) from exc
