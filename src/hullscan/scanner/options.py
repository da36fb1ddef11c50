"""The options `hullscan sbom` and `hullscan scan` share, spelled as Trivy spells them.

Defined once here and added to both argparse entries (which the Typer commands forward to), so the two
commands cannot drift apart. Standard library only: these entries must start without Typer or pydantic.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

MAX_SECRET_BYTES = 64 * 1024  # a password or token read from stdin; more is not a credential
_DURATION = re.compile(r"(?:(\d{1,6})h)?(?:(\d{1,6})m(?!s))?(?:(\d{1,9}(?:\.\d{1,9})?)s)?")


class ScanTimeout(BaseException):
    """Raised in the main thread when --timeout expires (a BaseException: no `except Exception` swallows it)."""


def parse_duration(text: str) -> float:
    """Trivy's `--timeout` values (`5m0s`, `90s`, `1h`, `1h30m`) or plain seconds; positive, else ValueError."""
    text = text.strip()
    if len(text) > 40:
        raise ValueError("duration too long")
    try:
        seconds = float(text)
    except ValueError:
        found = _DURATION.fullmatch(text)
        if not text or found is None:
            raise ValueError(f"{text!r} is not a duration like 300, 90s, 5m or 1h30m") from None
        hours, minutes, secs = (float(g) if g else 0.0 for g in found.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{text!r}: the timeout must be positive")
    return seconds


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options both commands take: version, quiet, timeout, cache, platform, TLS, registry credentials."""
    from hullscan import __version__

    parser.add_argument("--version", action="version", version=f"hullscan {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="Print only errors on stderr (no warnings).")
    parser.add_argument("--timeout", type=_duration_arg, metavar="DURATION",
                        help="Give up (exit 2) after this long, e.g. 5m0s, 90s or 300 (default: no limit).")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="Layer cache directory (default: the scanner_cache_dir setting, ~/.cache/hullscan).")
    parser.add_argument("--platform", help="OS/ARCH[/VARIANT] of a multi-platform image, e.g. linux/arm64.")
    parser.add_argument("--insecure", action="store_true",
                        help="Plain HTTP (and no TLS verification) for the registry.")
    parser.add_argument("--username", help="Registry user (env HULLSCAN_REGISTRY_USERNAME).")
    parser.add_argument("--password", help="Registry password (env HULLSCAN_REGISTRY_PASSWORD; visible to `ps`: prefer "
                             "--password-stdin).")
    parser.add_argument("--password-stdin", action="store_true", help="Read the registry password from stdin.")
    parser.add_argument("--registry-token", help="Bearer token sent to the registry instead of fetching one "
                             "(env HULLSCAN_REGISTRY_TOKEN).")


def _duration_arg(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def registry_credentials(args: argparse.Namespace, stdin: TextIO | None = None) -> None:
    """Settle username/password/token on `args` (--password-stdin read here) and export them for this process.

    The registry client reads HULLSCAN_REGISTRY_* itself, so however deep the pull happens the flags apply;
    raises ValueError for contradictory flags."""
    if args.password_stdin and args.password is not None:
        raise ValueError("--password and --password-stdin both given; use one")
    if args.username is None:  # the environment's user comes with the environment's password
        args.username = os.environ.get("HULLSCAN_REGISTRY_USERNAME")
        if args.password is None and not args.password_stdin:
            args.password = os.environ.get("HULLSCAN_REGISTRY_PASSWORD")
    if args.password_stdin:
        if args.username is None:
            raise ValueError("--password-stdin needs --username (or HULLSCAN_REGISTRY_USERNAME)")
        secret = (stdin or sys.stdin).read(MAX_SECRET_BYTES + 1)
        if len(secret) > MAX_SECRET_BYTES:
            raise ValueError(f"the password on stdin is longer than {MAX_SECRET_BYTES} bytes")
        args.password = secret.rstrip("\r\n")
    if args.password is not None and args.username is None:
        raise ValueError("--password needs --username (or HULLSCAN_REGISTRY_USERNAME)")
    for name, value in (("USERNAME", args.username), ("PASSWORD", args.password), ("TOKEN", args.registry_token)):
        if value is not None:
            os.environ[f"HULLSCAN_REGISTRY_{name}"] = value


def rewrite_deprecated(argv: Sequence[str], formats: Sequence[str], warn: TextIO | None = None) -> list[str]:
    """`hullscan sbom`'s old short flags (`-o FORMAT`, `-f FILE`) turned into the new long ones, with a warning.

    Until this release `sbom -o` was the format and `-f` the file; now `-f/--format` and `-o/--output` as in
    Trivy. The two meanings are told apart by the value: `-o` with a format name (`-o spdx-json`) is the old
    format flag — to write a file of that name say `-o ./spdx-json`; `-f` with anything that is not a format
    name (`-f out.json`) is the old file flag. Every other use has its new meaning and no warning."""
    warn = warn if warn is not None else sys.stderr
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        token = items[i]
        if token == "--":
            out.extend(items[i:])
            break
        flag, value, width = None, None, 1
        if token in ("-o", "-f") and i + 1 < len(items):
            flag, value, width = token, items[i + 1], 2
        elif len(token) > 2 and token[:2] in ("-o", "-f"):
            flag, value = token[:2], token[2:]
        if flag is None or value is None:
            out.append(token)
            i += 1
            continue
        if flag == "-o" and value in formats:
            print(f"warning: `-o {value}` (the format) is deprecated and goes in the next release: -o is now the "
                  f"output file, as in Trivy; use -f/--format {value}", file=warn)
            out += ["--format", value]
        elif flag == "-f" and value not in formats:
            print(f"warning: `-f {value}` (the output file) is deprecated and goes in the next release: -f is now "
                  f"the format, as in Trivy; use -o/--output {value}", file=warn)
            out += ["--output", value]
        else:
            out += ["--format" if flag == "-f" else "--output", value]
        i += width
    return out


class _ErrorsOnly:
    """A stderr that passes on only `error:` lines (and argparse's usage errors): what -q leaves."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        while "\n" in self.pending:
            line, _, self.pending = self.pending.partition("\n")
            if not line.startswith("warning:") and not line.startswith("wrote "):
                self.target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return False


@contextmanager
def quiet_and_timeout(quiet: bool, timeout: float | None) -> Iterator[None]:
    """-q: warnings and notes dropped from stderr; --timeout: ScanTimeout raised in the main thread when due."""
    saved_stderr = sys.stderr
    saved_handler = None
    if quiet:
        sys.stderr = _ErrorsOnly(saved_stderr)
    if timeout is not None:
        def expire(signum: int, frame: FrameType | None) -> None:
            raise ScanTimeout(timeout)

        saved_handler = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        if timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, saved_handler)
        sys.stderr = saved_stderr


def describe_timeout(seconds: float) -> str:
    """`error: ...` text for an expired --timeout."""
    return f"error: timed out after {seconds:g}s (--timeout)"


@contextmanager
def progress(label: str, quiet: bool, *, writes_terminal: bool = False) -> Iterator[None]:
    """A spinner with the elapsed time on stderr while a scan runs, when stderr is a terminal and not -q.

    rich is imported only then, so piped and CI runs start as light as before; stdout (the SBOM or report)
    is never captured, and warnings printed meanwhile appear above the spinner. `writes_terminal`: the
    block writes its result to a terminal on stdout, which a spinner redrawn meanwhile would garble."""
    if quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb" or (
            writes_terminal and sys.stdout.isatty()):
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=Console(file=sys.stderr), transient=True, redirect_stdout=False, redirect_stderr=True)
    with bar:
        bar.add_task(label[:200], total=None)
        yield
