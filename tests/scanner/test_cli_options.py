"""`hullscan sbom` spelled as Trivy spells it: -f/--format, -o/--output (old short flags kept, with a warning),
--version, -q, --timeout, --cache-dir and registry credentials, run as real processes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullscan import __version__
from hullscan.scanner.options import parse_duration, rewrite_deprecated
from tests.scanner.conftest import image_layout

FORMATS = ["cyclonedx-json", "spdx-json", "table", "cyclonedx"]


def _sbom(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "hullscan", "sbom", *args], capture_output=True, text=True,
                          input=stdin, timeout=120, env={**os.environ, **(env or {})})


def test_durations_as_trivy_writes_them() -> None:
    assert parse_duration("5m0s") == 300 and parse_duration("90s") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("300") == 300 and parse_duration("0.5") == 0.5 and parse_duration("2m") == 120
    for bad in ("", "0", "-3", "5x", "m", "inf", "nan", "1" * 50, "5m0"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@given(st.text(max_size=60))
def test_any_duration_text_is_a_positive_number_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert 0 < seconds < float("inf")


def test_old_short_flags_are_told_apart_by_their_value() -> None:
    warnings = io.StringIO()
    assert rewrite_deprecated(["img", "-o", "spdx-json", "-f", "out.json"], FORMATS, warnings) == [
        "img", "--format", "spdx-json", "--output", "out.json"]
    assert warnings.getvalue().count("deprecated") == 2
    quiet = io.StringIO()  # the new spellings, and a file named like a format given as a path
    assert rewrite_deprecated(["-f", "spdx-json", "-o", "out.json", "-o", "./table", "-ftable", "--", "-o"],
                              FORMATS, quiet) == ["--format", "spdx-json", "--output", "out.json", "--output",
                                                  "./table", "--format", "table", "--", "-o"]
    assert quiet.getvalue() == ""


def test_new_and_old_spellings_write_the_same_sbom(tmp_path: Path, scan_home: Path) -> None:
    image = f"oci-dir:{image_layout('go-binary')}"
    new, old = tmp_path / "new.spdx.json", tmp_path / "old.spdx.json"
    fresh = _sbom(image, "-f", "spdx-json", "-o", str(new))
    assert fresh.returncode == 0 and "deprecated" not in fresh.stderr, fresh.stderr
    legacy = _sbom(image, "-o", "spdx-json", "-f", str(old))
    assert legacy.returncode == 0, legacy.stderr
    assert "use -f/--format spdx-json" in legacy.stderr and f"use -o/--output {old}" in legacy.stderr
    assert json.loads(new.read_text())["spdxVersion"] == json.loads(old.read_text())["spdxVersion"] == "SPDX-2.3"
    trivy_name = _sbom(image, "--format", "cyclonedx")
    assert trivy_name.returncode == 0 and json.loads(trivy_name.stdout)["bomFormat"] == "CycloneDX"


def test_version_quiet_timeout_and_cache_dir(tmp_path: Path, scan_home: Path) -> None:
    version = _sbom("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"hullscan {__version__}"
    image = f"oci-dir:{image_layout('go-binary')}"
    quiet = _sbom(image, "-q", "-o", "spdx-json", "--output", str(tmp_path / "q.json"))
    assert quiet.returncode == 0 and quiet.stderr == ""  # the deprecation warning too is dropped
    cache = tmp_path / "layers"
    assert _sbom(image, "--cache-dir", str(cache), "-o", str(tmp_path / "c.json")).returncode == 0
    assert cache.is_dir() and any(cache.iterdir())
    timed_out = _sbom(image, "--no-cache", "--timeout", "0.001")
    assert timed_out.returncode == 2 and timed_out.stdout == ""
    assert "timed out after 0.001s" in timed_out.stderr
    bad = _sbom(image, "--timeout", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_credentials_from_flags_and_stdin_are_checked(scan_home: Path) -> None:
    image = f"oci-dir:{image_layout('go-binary')}"
    no_user = _sbom(image, "--password-stdin", stdin="secret\n")
    assert no_user.returncode == 2 and "--password-stdin needs --username" in no_user.stderr
    both = _sbom(image, "--username", "u", "--password", "p", "--password-stdin", stdin="secret\n")
    assert both.returncode == 2 and "both given" in both.stderr
    huge = _sbom(image, "--username", "u", "--password-stdin", stdin="x" * 70_000)
    assert huge.returncode == 2 and "longer than" in huge.stderr


class _Registry(BaseHTTPRequestHandler):
    """A registry that asks for a Bearer token and records what it is sent (and whether its realm was asked)."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        auth = self.headers.get("Authorization")
        self.seen.append((self.path, auth))
        if self.path.startswith("/v2/") and auth is None:
            self.send_response(401)
            realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
            self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="test"')
        else:
            self.send_response(404 if auth else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("how", ["--password-stdin", "--registry-token"])
def test_credentials_reach_the_registry(scan_home: Path, how: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Registry.seen = []
    try:
        ref = f"docker://127.0.0.1:{server.server_address[1]}/group/app:latest"
        if how == "--registry-token":
            done = _sbom(ref, "--insecure", "--registry-token", "tok-123")
        else:
            done = _sbom(ref, "--insecure", "--username", "ci", "--password-stdin", stdin="pw-456\n")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 2 and "error:" in done.stderr  # the image is not there: 404, a clear error
    sent = [auth for path, auth in _Registry.seen if auth]
    if how == "--registry-token":
        assert sent and all(auth == "Bearer tok-123" for auth in sent)
        assert not any(path.startswith("/token") for path, _ in _Registry.seen)  # used as given, never fetched
    else:
        import base64

        assert any(path.startswith("/token") and auth == "Basic " + base64.b64encode(b"ci:pw-456").decode()
                   for path, auth in _Registry.seen)


def with_terminal_stderr(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a file): returns (exit code, stdout, what the terminal got)."""
    import os
    import pty
    import tempfile

    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as out:  # a file, not a pipe: a large report cannot block the child
        proc = subprocess.Popen([sys.executable, "-m", "hullscan", *args], stdout=out, stderr=slave,
                                env={**os.environ, **(env or {}), "TERM": "xterm", "COLUMNS": "120"})
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=120)
        os.close(master)
        out.seek(0)
        return code, out.read().decode(), b"".join(chunks).decode(errors="replace")


def test_a_spinner_on_a_terminal_only(tmp_path: Path, scan_home: Path) -> None:
    image = f"oci-dir:{image_layout('go-binary')}"
    code, _, terminal = with_terminal_stderr(["sbom", image, "--no-cache", "-o", str(tmp_path / "a.json")])
    assert code == 0 and f"Analysing {image}" in terminal
    assert json.loads((tmp_path / "a.json").read_text())["bomFormat"] == "CycloneDX"
    code, stdout, terminal = with_terminal_stderr(["sbom", image, "--no-cache", "-q"])
    assert code == 0 and "Analysing" not in terminal and json.loads(stdout)["bomFormat"] == "CycloneDX"
    piped = _sbom(image, "--no-cache", "-o", str(tmp_path / "b.json"))
    assert piped.returncode == 0 and "Analysing" not in piped.stderr  # not a terminal: no spinner
