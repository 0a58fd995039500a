"""eventsep.core.dsp: the one cross-fade window of every overlap-add."""

from __future__ import annotations

import pytest
import torch

from eventsep.core.dsp import crossfade_window


def test_crossfade_window_shape() -> None:
    w = crossfade_window(100, 10, 10)
    assert w.shape == (100,) and w.dtype == torch.float32
    assert torch.all(w[10:90] == 1)
    assert 0 < w[0] < 0.05 and 0 < w[-1] < 0.05
    assert torch.all(w[1:10] > w[:9])
    assert torch.equal(w[90:], w[:10].flip(0))
    assert torch.equal(crossfade_window(100), torch.ones(100))
    assert torch.equal(crossfade_window(100, 0, 10)[:10], torch.ones(10))


def test_rising_and_falling_ramps_are_a_partition_of_unity() -> None:
    rise = crossfade_window(37, 37, 0, dtype=torch.float64)
    fall = crossfade_window(37, 0, 37, dtype=torch.float64)
    torch.testing.assert_close(rise + fall, torch.ones(37, dtype=torch.float64), atol=1e-15, rtol=0)
    assert rise[0] > 0 and rise[-1] < 1 and bool((rise[1:] > rise[:-1]).all())


def test_overlapping_ramps_multiply_and_bad_fades_raise() -> None:
    both = crossfade_window(10, 8, 6, dtype=torch.float64)
    rise = crossfade_window(10, 8, 0, dtype=torch.float64)
    fall = crossfade_window(10, 0, 6, dtype=torch.float64)
    torch.testing.assert_close(both, rise * fall, atol=0, rtol=0)
    with pytest.raises(ValueError):
        crossfade_window(10, 11, 0)
    with pytest.raises(ValueError):
        crossfade_window(10, 0, -1)
