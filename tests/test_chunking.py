"""Tests of eventsep.models.separators.chunking (overlap-add chunked inference)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsep.models.separators.chunking import chunk_starts, chunked_apply


@settings(max_examples=200, deadline=None)
@given(
    num=st.integers(1, 5000),
    chunk=st.integers(2, 600),
    frac=st.floats(0.0, 0.95),
)
def test_chunk_starts_tile_the_signal(num: int, chunk: int, frac: float) -> None:
    overlap = min(int(frac * chunk), chunk - 1)
    spans = chunk_starts(num, chunk, overlap)
    assert spans[0][0] == 0
    assert spans[-1][1] == num
    for s, e in spans:
        assert 0 < e - s <= chunk
    for (s0, e0), (s1, e1) in zip(spans, spans[1:], strict=False):
        assert e0 - s1 == overlap  # consecutive chunks overlap by exactly `overlap`
        assert s1 - s0 == chunk - overlap
        assert e1 - s1 > overlap
    if num > chunk:
        assert all(e - s == chunk for s, e in spans[:-1])


def test_chunk_starts_rejects_bad_geometry() -> None:
    with pytest.raises(ValueError):
        chunk_starts(100, 10, 10)
    with pytest.raises(ValueError):
        chunk_starts(0, 10, 2)


@pytest.mark.parametrize("num", [1, 99, 100, 101, 457, 1000])
@pytest.mark.parametrize("batch_chunks", [1, 3])
def test_identity_is_reconstructed(num: int, batch_chunks: int) -> None:
    x = torch.randn(2, num, generator=torch.Generator().manual_seed(num))
    y = chunked_apply(lambda c: c, x, chunk=100, overlap=30, batch_chunks=batch_chunks)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-6, rtol=0)


def test_pointwise_model_equals_unchunked_and_each_chunk_runs_once() -> None:
    x = torch.randn(3, 1234, generator=torch.Generator().manual_seed(0))
    seen: list[int] = []

    def fn(c: torch.Tensor) -> torch.Tensor:
        seen.append(c.shape[0] * c.shape[1])
        return torch.tanh(2 * c) + 0.1

    y = chunked_apply(fn, x, chunk=200, overlap=50, batch_chunks=2)
    torch.testing.assert_close(y, torch.tanh(2 * x) + 0.1, atol=1e-6, rtol=0)
    spans = chunk_starts(1234, 200, 50)
    assert sum(seen) == 3 * sum(e - s for s, e in spans)  # every chunk exactly once


def test_batch_rows_keep_their_identity() -> None:
    # fn that depends on the row's content only: scale by the row mean of the whole chunk
    x = torch.stack([torch.full((500,), 1.0), torch.full((500,), -2.0)])
    y = chunked_apply(lambda c: c * c.mean(dim=1, keepdim=True), x, 120, 20, batch_chunks=4)
    torch.testing.assert_close(y, torch.stack([torch.ones(500), torch.full((500,), 4.0)]))


def test_single_chunk_is_fn_itself() -> None:
    x = torch.randn(1, 50)
    y = chunked_apply(lambda c: c.flip(-1), x, chunk=100, overlap=10)
    torch.testing.assert_close(y, x.flip(-1))


def test_rejects_non_2d_input() -> None:
    with pytest.raises(ValueError):
        chunked_apply(lambda c: c, torch.zeros(10), 4, 1)
