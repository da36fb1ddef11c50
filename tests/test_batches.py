"""`hullscan.batches.chunks`, which every IN-list and bulk statement goes through: nothing lost, nothing
reordered, no batch over its size, and a generator read once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullscan.batches import chunks


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=50))
def test_batches_keep_every_item_in_order_and_stay_under_their_size(items: list[int], size: int) -> None:
    batches = list(chunks(items, size))
    assert [x for batch in batches for x in batch] == items
    assert all(1 <= len(batch) <= size for batch in batches)
    assert all(len(batch) == size for batch in batches[:-1])


def test_a_generator_is_read_once() -> None:
    assert list(chunks((i for i in range(1001)))) == [list(range(500)), list(range(500, 1000)), [1000]]


def test_an_empty_batch_size_is_refused() -> None:
    with pytest.raises(ValueError):
        list(chunks([1], 0))
