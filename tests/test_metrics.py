"""Tests of eventsep.evaluation.metrics: known values and agreement with torchmetrics and pystoi."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pystoi import stoi as pystoi_stoi
from torchmetrics.audio import ScaleInvariantSignalDistortionRatio, SignalNoiseRatio

from eventsep.core.errors import AudioError
from eventsep.evaluation import metrics
from eventsep.models.clap.scorer import ClapScorer

SR = 16000


def _speechlike(seconds: float = 2.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """Amplitude-modulated noise (syllable-rate bursts), enough active frames for STOI."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return (rng.standard_normal(t.size) * env * 0.1).astype(np.float32)


# ----------------------------------------------------------------- SDR family
def test_sdr_known_values() -> None:
    ref = _speechlike()
    assert float(metrics.sdr(ref, ref)) == pytest.approx(10 * math.log10(np.mean(ref**2) / 1e-10))
    # est = 2 ref -> error = ref -> 0 dB; est = 0.5 ref -> error = -0.5 ref -> 6.02 dB
    assert float(metrics.sdr(2 * ref, ref)) == pytest.approx(0.0, abs=1e-9)
    assert float(metrics.sdr(0.5 * ref, ref)) == pytest.approx(20 * math.log10(2), abs=1e-6)
    # estimate of zeros: error = -ref -> 0 dB
    assert float(metrics.sdr(np.zeros_like(ref), ref)) == pytest.approx(0.0, abs=1e-9)


def test_si_sdr_is_scale_invariant_and_identity_is_large() -> None:
    ref = _speechlike()
    assert float(metrics.si_sdr(ref, ref)) > 80.0  # limited only by the epsilon
    est = ref + 0.1 * _speechlike(seed=20)
    base = float(metrics.si_sdr(est, ref))
    assert float(metrics.si_sdr(3.0 * est, ref)) == pytest.approx(base, abs=1e-4)
    assert float(metrics.si_sdr(0.2 * est, ref)) == pytest.approx(base, abs=1e-4)


def test_pure_noise_estimate_is_very_negative() -> None:
    ref = _speechlike(seed=1)
    noise = np.random.default_rng(2).standard_normal(ref.size).astype(np.float32)
    assert float(metrics.si_sdr(noise, ref)) < -20.0
    assert float(metrics.sdr(noise, ref)) < -10.0


def test_sdri_of_mixture_is_zero_and_of_reference_is_gain() -> None:
    ref = _speechlike(seed=3)
    mix = ref + _speechlike(seed=4)
    assert float(metrics.sdri(mix, ref, mix)) == pytest.approx(0.0, abs=1e-12)
    expected = float(metrics.sdr(0.9 * ref, ref)) - float(metrics.sdr(mix, ref))
    assert float(metrics.sdri(0.9 * ref, ref, mix)) == pytest.approx(expected)


def test_sdr_family_matches_torchmetrics_batched() -> None:
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(4, 8000, generator=g, dtype=torch.float64)
    est = ref + 0.3 * torch.randn(4, 8000, generator=g, dtype=torch.float64) + 0.1
    ours_sdr = metrics.sdr(est, ref)
    ours_si = metrics.si_sdr(est, ref)
    assert ours_sdr.shape == (4,) and ours_si.shape == (4,)
    tm_sdr = SignalNoiseRatio(zero_mean=False)
    tm_si = ScaleInvariantSignalDistortionRatio(zero_mean=False)
    for i in range(4):
        assert float(ours_sdr[i]) == pytest.approx(float(tm_sdr(est[i], ref[i])), abs=1e-6)
        assert float(ours_si[i]) == pytest.approx(float(tm_si(est[i], ref[i])), abs=1e-5)
        tm_sdr.reset()
        tm_si.reset()


def test_shape_mismatch_raises() -> None:
    with pytest.raises(AudioError, match="same shape"):
        metrics.sdr(np.zeros(10), np.zeros(11))


# ----------------------------------------------------------------- STOI family
def test_stoi_and_estoi_match_pystoi() -> None:
    ref = _speechlike(3.0, seed=5)
    est = ref + 0.05 * np.random.default_rng(6).standard_normal(ref.size).astype(np.float32)
    s = metrics.stoi(est, ref, SR)
    e = metrics.estoi(est, ref, SR)
    assert s.valid and e.valid and s.active_frames >= 30
    assert s.value == pytest.approx(pystoi_stoi(ref, est, SR), abs=1e-9)
    assert e.value == pytest.approx(pystoi_stoi(ref, est, SR, extended=True), abs=1e-9)
    assert metrics.stoi(ref, ref, SR).value == pytest.approx(1.0, abs=1e-6)


def test_stoi_too_few_frames_is_nan_with_reason() -> None:
    ref = np.zeros(SR * 2, dtype=np.float32)
    ref[:2000] = _speechlike(0.125, seed=7)  # 125 ms of sound: < 30 active frames
    est = ref.copy()
    with pytest.warns(RuntimeWarning):
        assert pystoi_stoi(ref, est, SR) == pytest.approx(1e-5)  # what pystoi would report
    r = metrics.stoi(est, ref, SR)
    assert math.isnan(r.value) and not r.valid
    assert r.active_frames < 30 and "active" in r.reason
    silent = metrics.estoi(est, np.zeros_like(ref), SR)
    assert math.isnan(silent.value) and "silent" in silent.reason


def test_stoi_batched_returns_list() -> None:
    ref = np.stack([_speechlike(seed=8), _speechlike(seed=9)])
    out = metrics.stoi(ref, ref, SR)
    assert isinstance(out, list) and len(out) == 2
    assert all(r.value == pytest.approx(1.0, abs=1e-6) for r in out)


def test_summarize_skips_and_counts_undefined() -> None:
    s = metrics.summarize([0.5, float("nan"), None, 0.7, float("inf")])
    assert s.mean == pytest.approx(0.6) and s.count == 2 and s.skipped == 3
    empty = metrics.summarize([float("nan")])
    assert math.isnan(empty.mean) and empty.count == 0 and empty.skipped == 1


# ----------------------------------------------------------------------- CLAP
@pytest.fixture(scope="module")
def scorer() -> ClapScorer:
    return ClapScorer.tiny_random(seed=0)


def test_clap_tiny_embeddings_are_unit_and_deterministic(scorer: ClapScorer) -> None:
    x = torch.as_tensor(_speechlike(2.0, seed=10, sr=32000))
    a = scorer.audio_embedding(x, 32000)
    b = ClapScorer.tiny_random(seed=0).audio_embedding(x, 32000)
    assert a.shape == (16,)
    assert float(a.norm()) == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(a, b)
    t = scorer.text_embedding(["Dog", "Cat"])
    assert t.shape == (2, 16)
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(2))


def test_clap_score_a_identity_and_cosine(scorer: ClapScorer) -> None:
    x = torch.as_tensor(_speechlike(2.0, seed=11, sr=32000))
    y = torch.as_tensor(_speechlike(2.0, seed=12, sr=32000)) * 3
    assert float(metrics.clap_score_a(x, x, 32000, model=scorer)) == pytest.approx(1.0, abs=1e-5)
    expected = float(scorer.audio_embedding(x, 32000) @ scorer.audio_embedding(y, 32000))
    got = float(metrics.clap_score_a(x, y, 32000, model=scorer))
    assert got == pytest.approx(expected, abs=1e-6)
    batched = metrics.clap_score_a(torch.stack([x, x]), torch.stack([x, y]), 32000, model=scorer)
    torch.testing.assert_close(batched, torch.tensor([1.0, expected]), atol=1e-5, rtol=0)


def test_clap_score_text_and_embedding_agree(scorer: ClapScorer) -> None:
    x = torch.as_tensor(_speechlike(1.0, seed=13, sr=32000))
    by_text = float(metrics.clap_score(x, "Dog", 32000, model=scorer))
    emb = scorer.text_embedding("Dog")[0] * 5.0  # unnormalised input is normalised
    by_emb = float(metrics.clap_score(x, emb, 32000, model=scorer))
    manual = float(scorer.audio_embedding(x, 32000) @ scorer.text_embedding("Dog")[0])
    assert by_text == pytest.approx(manual, abs=1e-6)
    assert by_emb == pytest.approx(manual, abs=1e-6)
    assert -1.0 <= by_text <= 1.0


def test_clap_long_audio_averages_10s_windows(scorer: ClapScorer) -> None:
    sr = 48000
    first = torch.as_tensor(_speechlike(10.0, seed=14, sr=sr))
    second = torch.as_tensor(_speechlike(5.0, seed=15, sr=sr))
    whole = scorer.audio_embedding(torch.cat([first, second]), sr)
    e1 = scorer.audio_embedding(first, sr)
    e2 = scorer.audio_embedding(second, sr)
    expected = torch.nn.functional.normalize(e1 + 0.5 * e2, dim=-1)
    torch.testing.assert_close(whole, expected, atol=1e-5, rtol=0)


# ------------------------------------------------------- CLAP input handling
def test_repeat_pad_copies_then_zeros() -> None:
    from eventsep.models.clap import repeat_pad

    got = repeat_pad(torch.tensor([1.0, 2.0, 3.0]), length=8)
    torch.testing.assert_close(got, torch.tensor([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 0.0, 0.0]))
    same = torch.arange(8.0)
    assert repeat_pad(same, length=8) is same
    with pytest.raises(AudioError):
        repeat_pad(torch.zeros(9), length=8)


@pytest.mark.parametrize(
    "n, copies", [(320_000, 1), (160_000, 3), (200_000, 2), (480_000, 1), (100_000, 4)]
)
def test_authors_input_reads_samples_as_48k_and_repeat_pads(n: int, copies: int) -> None:
    """A 10 s clip at 32 kHz: one copy + 160,000 zeros; 5 s: exactly three copies."""
    from eventsep.models.clap import authors_input

    x = torch.randn(2, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    out = authors_input(x)
    assert out.shape == (2, 480_000) and out.dtype == torch.float32
    for c in range(copies):
        torch.testing.assert_close(out[:, c * n : (c + 1) * n], x.float())
    assert not out[:, copies * n :].any()
    with pytest.raises(AudioError, match="480000"):
        authors_input(torch.zeros(1, 480_001))


def test_corrected_windows_resample_then_cut_and_pad() -> None:
    from eventsep.core.audio import resample
    from eventsep.models.clap import corrected_windows

    x = torch.randn(1, 600_000, generator=torch.Generator().manual_seed(1))
    windows, owner, weight = corrected_windows(x, 48_000)  # no resampling at 48 kHz
    assert windows.shape == (2, 480_000)
    torch.testing.assert_close(windows[0], x[0, :480_000])
    torch.testing.assert_close(windows[1], x[0, 480_000:].repeat(4))  # 120,000 x 4 copies
    assert owner.tolist() == [0, 0] and weight.tolist() == [1.0, 0.25]
    y = torch.randn(2, 32_000, generator=torch.Generator().manual_seed(2))
    windows, owner, weight = corrected_windows(y, 32_000)
    up = resample(y, 32_000, 48_000)
    assert up.shape == (2, 48_000) and windows.shape == (2, 480_000)
    torch.testing.assert_close(windows[1], up[1].repeat(10))
    assert owner.tolist() == [0, 1] and weight.tolist() == pytest.approx([0.1, 0.1])


@pytest.fixture(scope="module")
def authors_scorer() -> ClapScorer:
    return ClapScorer.tiny_random(seed=0, protocol="authors")


def test_authors_scorer_uses_its_two_models_on_raw_samples(authors_scorer) -> None:
    from eventsep.models.clap import authors_input

    s = authors_scorer
    assert s.model.fusion and not s.model_a.fusion
    x = torch.as_tensor(_speechlike(2.0, seed=20, sr=32000)).float()
    y = torch.as_tensor(_speechlike(2.0, seed=21, sr=32000)).float()
    with torch.no_grad():
        e_clap = s.model.audio_embedding(authors_input(x[None]))[0]
        e_x = s.model_a.audio_embedding(authors_input(x[None]))[0]
        e_y = s.model_a.audio_embedding(authors_input(y[None]))[0]
    # the sample rate is not used: the samples are read as 48 kHz
    torch.testing.assert_close(s.audio_embedding(x, 32000), e_clap)
    torch.testing.assert_close(s.audio_embedding(x, 16000), e_clap)
    clap, clap_a = s.scores(x, y, "Dog", 32000)
    assert float(clap) == pytest.approx(float(e_clap @ s.text_embedding("Dog")[0]), abs=1e-6)
    assert float(clap_a) == pytest.approx(float(e_x @ e_y), abs=1e-6)
    assert float(s.score(x, "Dog", 32000)) == pytest.approx(float(clap), abs=1e-6)
    assert float(s.score_a(x, y, 32000)) == pytest.approx(float(clap_a), abs=1e-6)


def test_corrected_scorer_resamples_and_shares_one_audio_pass(scorer, monkeypatch) -> None:
    from eventsep.core.audio import resample
    from eventsep.models.clap import repeat_pad

    x = torch.as_tensor(_speechlike(2.0, seed=22, sr=32000)).float()
    y = torch.as_tensor(_speechlike(2.0, seed=23, sr=32000)).float()
    with torch.no_grad():
        want = scorer.model.audio_embedding(repeat_pad(resample(x, 32000, 48000))[None])[0]
    torch.testing.assert_close(scorer.audio_embedding(x, 32000), want, atol=1e-6, rtol=0)
    calls = []
    real = scorer.model.audio_embedding
    monkeypatch.setattr(scorer.model, "audio_embedding", lambda w: calls.append(1) or real(w))
    clap, clap_a = scorer.scores(x, y, "Dog", 32000)
    assert len(calls) == 1  # estimate and reference in one batch, shared by both scores
    assert float(clap) == pytest.approx(float(scorer.score(x, "Dog", 32000)), abs=1e-6)
    assert float(clap_a) == pytest.approx(float(scorer.score_a(x, y, 32000)), abs=1e-6)


def test_unknown_clap_protocol_is_a_config_error() -> None:
    from eventsep.core.errors import ConfigError

    with pytest.raises(ConfigError, match="protocol"):
        ClapScorer.tiny_random(protocol="paper")


def test_estoi_of_a_near_silent_estimate_is_deterministic_and_leaves_numpy_rng_alone() -> None:
    g = torch.Generator().manual_seed(3)
    ref = torch.randn(32000, generator=g)
    est = 1e-3 * torch.randn(32000, generator=g)  # pystoi's eps noise matters at this level
    np.random.seed(123)  # noqa: NPY002 - pystoi draws from the legacy global RNG
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - the state pystoi draws from
    values = [metrics.estoi(est, ref, 16000).value for _ in range(3)]
    after = np.random.get_state()[1]  # noqa: NPY002
    assert values[0] == values[1] == values[2]
    assert np.array_equal(before, after)
