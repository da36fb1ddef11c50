"""The runner registration token generated into the data directory on first use (no setting): two runners
registering at once on a fresh server (two request threads), or two processes sharing one data directory, both
find no file. The one that does not create it must read the creator's whole token -- never the empty file the
creator has made but not yet written (an empty expected token accepts an empty one). The race is held open while
the first creator writes."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from hullscan.pipelines.pool import registration_token
from hullscan.settings import Settings


def test_a_token_being_written_is_never_read_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data", runner_registration_token=None)
    second_read = threading.Event()
    fdopen = os.fdopen

    def write_after_the_second_read(fd: int, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            second_read.wait(5)  # old code: the second reads the empty file meanwhile; new code: it never waits
        return fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", write_after_the_second_read)
    tokens: dict[str, str] = {}
    first_created = threading.Event()
    os_open = os.open

    def note_creation(*args: Any, **kwargs: Any) -> int:
        fd = os_open(*args, **kwargs)
        if threading.current_thread().name == "first":
            first_created.set()  # the first has created its file and not yet written it
        return fd

    monkeypatch.setattr(os, "open", note_creation)

    def first() -> None:
        tokens["first"] = registration_token(settings)

    def second() -> None:
        assert first_created.wait(5)
        try:
            tokens["second"] = registration_token(settings)
        finally:
            second_read.set()

    threads = [threading.Thread(target=first, name="first"), threading.Thread(target=second, name="second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert tokens["first"].startswith("hsreg_") and tokens["second"] == tokens["first"]
    assert (settings.resolved_data_dir / "runner-registration-token").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in settings.resolved_data_dir.iterdir()] == ["runner-registration-token"], "no temp file"
