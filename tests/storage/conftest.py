"""Fixtures of the storage tests: one local S3-compatible server (moto) per test session and worker."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.s3 import S3Server

_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh empty bucket per test."""
    return s3_server.create_bucket(f"hullscan-test-{next(_buckets)}")
