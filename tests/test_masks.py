"""Tests of eventsep.method.masks: mask kinds, smoothing, interpolation, empty-mask policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from eventsep.core.errors import ConfigError
from eventsep.method.masks import (
    MASK_KINDS,
    combine_classes,
    fade_threshold_mask,
    frames_to_samples,
    gaussian_smooth,
    make_mask,
    resolve_empty,
)

probs_st = arrays(
    np.float32,
    st.integers(1, 300),
    elements=st.floats(0, 1, width=32, allow_nan=False),
)
tau_st = st.floats(0.01, 1.0)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(probs_st, tau_st, st.sampled_from(MASK_KINDS))
def test_values_in_unit_interval(p: np.ndarray, tau: float, kind: str) -> None:
    m = make_mask(torch.from_numpy(p), kind=kind, threshold=tau)
    assert m.shape == p.shape
    assert torch.isfinite(m).all()
    assert m.min() >= 0 and m.max() <= 1


@FAST
@given(probs_st, tau_st, st.sampled_from(["hard", "soft"]))
def test_pointwise_monotone_in_p(p: np.ndarray, tau: float, kind: str) -> None:
    x = torch.from_numpy(p)
    y = torch.clamp(x + 0.1, max=1.0)
    assert (make_mask(y, kind, tau) >= make_mask(x, kind, tau)).all()


@FAST
@given(probs_st)
def test_relative_mask_preserves_order(p: np.ndarray) -> None:
    x = torch.from_numpy(p)
    m = make_mask(x, "soft-rel")
    order = torch.argsort(x)
    assert (torch.diff(m[order]) >= -1e-6).all()


@FAST
@given(probs_st, tau_st)
def test_hard_and_soft_agree_above_tau(p: np.ndarray, tau: float) -> None:
    x = torch.from_numpy(p)
    above = x >= tau
    hard, soft = make_mask(x, "hard", tau), make_mask(x, "soft", tau)
    assert (hard[above] == 1).all() and (soft[above] == 1).all()
    assert (hard[~above] == 0).all()
    assert torch.allclose(soft[~above], x[~above] / tau)


@FAST
@given(probs_st, tau_st)
def test_fade_threshold_passes_above_tau(p: np.ndarray, tau: float) -> None:
    x = torch.from_numpy(p)
    m = fade_threshold_mask(x, tau)
    assert (m[x > tau] == 1).all()


@FAST
@given(
    arrays(np.float32, st.integers(1, 60), elements=st.floats(0, 1, width=32)),
    st.integers(0, 50000),
    st.sampled_from([8000, 16000, 22050, 32000, 44100, 48000]),
)
def test_interpolation_length_and_range(m: np.ndarray, n: int, sr: int) -> None:
    out = frames_to_samples(torch.from_numpy(m), n, sr)
    assert out.shape == (n,)
    if n:
        assert out.min() >= m.min() - 1e-6 and out.max() <= m.max() + 1e-6
        assert out[0] == pytest.approx(float(m[0]))


def test_interpolation_places_frames_at_their_times() -> None:
    m = torch.tensor([0.0, 1.0, 0.0, 0.5])
    out = frames_to_samples(m, 48000, 48000)  # frame i at i * 10 ms = sample i * 480
    assert out[480] == 1.0 and out[960] == 0.0 and out[1440] == 0.5
    assert out[240] == pytest.approx(0.5) and out[1200] == pytest.approx(0.25)
    assert (out[1440:] == 0.5).all()  # held after the last frame
    batched = frames_to_samples(torch.stack([m, 1 - m]), 1000, 16000)
    assert batched.shape == (2, 1000)
    torch.testing.assert_close(batched[0], frames_to_samples(m, 1000, 16000))


def test_gaussian_smoothing_matches_scipy() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    for n in (3, 7, 50, 301):
        x = rng.random(n).astype(np.float32) ** 3
        for sigma in (0.5, 5.0, 20.0):
            ref = ndimage.gaussian_filter1d(x, sigma=sigma)
            got = gaussian_smooth(torch.from_numpy(x), sigma).numpy()
            np.testing.assert_allclose(got, ref, atol=1e-6)
    x2 = torch.from_numpy(rng.random((2, 3, 40)).astype(np.float32))
    torch.testing.assert_close(gaussian_smooth(x2, 5.0)[1, 2], gaussian_smooth(x2[1, 2], 5.0))


def test_soft_gauss_and_fade_threshold_follow_the_authors_definition() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(1)
    p = (rng.random(200) ** 2).astype(np.float32)
    tau = 0.55
    rel = (p - p.min()) / (p.max() - p.min())
    expected_gauss = np.clip(ndimage.gaussian_filter1d(rel, sigma=5), 0, 1)
    got = make_mask(torch.from_numpy(p), "soft-fade").numpy()  # authors' name
    np.testing.assert_allclose(got, expected_gauss, atol=1e-6)
    low = np.minimum(p, tau)
    fade = ndimage.gaussian_filter1d((low - low.min()) / (tau - low.min()), sigma=5)
    fade[p > tau] = 1.0
    got = make_mask(torch.from_numpy(p), "soft-fade-th", threshold=tau).numpy()
    np.testing.assert_allclose(got, np.clip(fade, 0, 1), atol=1e-6)


def test_constant_probabilities() -> None:
    flat = torch.full((50,), 0.2)
    assert (make_mask(flat, "soft-rel") == 1).all()
    torch.testing.assert_close(make_mask(flat, "soft-gauss"), torch.ones(50))
    assert (make_mask(flat, "hard", 0.55) == 0).all()
    assert (make_mask(torch.full((5,), 0.7), "soft-fade-th", 0.55) == 1).all()


def test_resolve_empty_policies() -> None:
    zero = torch.zeros(20)
    m, present = resolve_empty(zero, "restore")
    assert present is False and (m == 1).all()
    m, present = resolve_empty(torch.full((20,), 1e-9), "silence")
    assert present is False and (m == 0).all()
    some = torch.zeros(20)
    some[3] = 0.4
    m, present = resolve_empty(some, "restore")
    assert present is True and torch.equal(m, some)
    batch = torch.stack([zero, some])
    m, present = resolve_empty(batch, "restore")
    assert present.tolist() == [False, True]
    assert (m[0] == 1).all() and torch.equal(m[1], some)
    with pytest.raises(ConfigError):
        resolve_empty(zero, "ignore")


def test_paper_masks_disabled_by_double_sigmoid_are_not_here() -> None:
    # the authors' double sigmoid puts p in [0.5, 0.73]: at tau=0.5 every frame passed.
    p = torch.tensor([0.01, 0.02, 0.9, 0.95, 0.03])
    assert make_mask(p, "hard", 0.5).tolist() == [0, 0, 1, 1, 0]
    assert (make_mask(torch.sigmoid(p), "hard", 0.5) == 1).all()


def test_combine_classes() -> None:
    probs = torch.rand(2, 30, 527)
    both = combine_classes(probs, [74, 75])
    torch.testing.assert_close(both, probs[..., [74, 75]].amax(-1))
    torch.testing.assert_close(combine_classes(probs, [74]), probs[..., 74])
    torch.testing.assert_close(combine_classes(probs, (1, 2), "mean"), probs[..., 1:3].mean(-1))
    with pytest.raises(ConfigError):
        combine_classes(probs, [])
    with pytest.raises(ConfigError):
        combine_classes(probs, [1], "median")


def test_bad_arguments() -> None:
    p = torch.rand(10)
    with pytest.raises(ConfigError):
        make_mask(p, "fuzzy")
    for tau in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError):
            make_mask(p, "soft", threshold=tau)
    with pytest.raises(ConfigError):
        make_mask(torch.zeros(0), "soft")
    with pytest.raises(ConfigError):
        gaussian_smooth(p, -1.0)
    with pytest.raises(ConfigError):
        frames_to_samples(p, 100, 0)
    with pytest.raises(ConfigError):
        frames_to_samples(torch.zeros(0), 100, 16000)
