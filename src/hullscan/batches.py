"""Batches of bound values, for statements whose parameters must stay under the databases' limits (SQLite's
32,766, PostgreSQL's 65,535 per statement): one helper, so every IN-list and bulk insert chunks the same way.
It sits at the bottom of the house with `ecosystems`: it imports nothing, so matching's SQLAlchemy-free
reads may use it too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

IN_LIST = 500  # values per IN-list or rows per bulk statement unless a caller has a reason to differ

T = TypeVar("T")


def chunks(items: Iterable[T], size: int = IN_LIST) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, in order; reads the iterable once, so generators work."""
    if size < 1:
        raise ValueError("a batch holds at least one item")
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
