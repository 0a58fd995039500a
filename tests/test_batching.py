"""Batching: helpers, and batched runs equal to clip-by-clip ones (tiny and full-size weights)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from eventsep.core.batching import (
    equal_length_runs,
    group_by_length,
    map_by_length,
    pad_batch,
    unpad,
)
from eventsep.core.errors import ConfigError, PromptError, SilentAudioError

RTOL = 1e-4


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: equivalence does not depend on it, and shared runners stay fast."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def _noise(n: int, seed: int) -> torch.Tensor:
    return 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------ helpers
def test_group_by_length_sorts_by_length_and_keeps_every_index_once() -> None:
    lengths = [30, 10, 20, 10, 30, 5, 20]
    groups = group_by_length(lengths, 3)
    assert [len(g) for g in groups] == [3, 3, 1]
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    # shortest first, ties in input order: 5, 10, 10 | 20, 20, 30 | 30
    assert groups == [[1, 3, 5], [0, 2, 6], [4]]
    assert group_by_length(lengths, 1) == [[5], [1], [3], [2], [6], [0], [4]]
    with pytest.raises(ConfigError, match="batch size"):
        group_by_length(lengths, 0)


def test_pad_batch_masks_the_padding_and_unpad_restores_the_rows() -> None:
    rows = [torch.arange(1.0, 4.0), torch.arange(1.0, 6.0), torch.ones(1)]
    batch = pad_batch(rows, multiple=4)
    assert batch.values.shape == (3, 8) and batch.lengths == (3, 5, 1)
    assert batch.mask.sum(dim=1).tolist() == [3, 5, 1]
    assert float(batch.values[~batch.mask].abs().sum()) == 0.0
    for got, want in zip(batch.unpad(), rows, strict=True):
        assert torch.equal(got, want)
    assert [r.shape[0] for r in unpad(torch.zeros(3, 8, 2), batch.lengths)] == [3, 5, 1]


def test_map_by_length_calls_once_per_length_and_keeps_the_order() -> None:
    calls = []

    def fn(stack: torch.Tensor, idx: list[int]) -> list[float]:
        calls.append((tuple(stack.shape), idx))
        return [float(row.sum()) for row in stack]

    rows = [torch.ones(4), torch.ones(2), 2 * torch.ones(4), torch.ones(3)]
    assert map_by_length(fn, rows) == [4.0, 2.0, 8.0, 3.0]
    assert calls == [((2, 4), [0, 2]), ((1, 2), [1]), ((1, 3), [3])]
    assert equal_length_runs([4, 2, 4, 3]) == [[0, 2], [1], [3]]


# ------------------------------------------------------------------ pipeline, tiny models
@pytest.fixture(scope="module")
def pipe():
    from eventsep.method.pipeline import EventSep

    return EventSep.from_pretrained("tiny-random")


ITEMS = [  # two lengths: one batch of two and a batch of one in the models
    (_noise(64000, 1), "dog barking"),
    (_noise(64000, 2), "a car engine"),
    (_noise(48000, 3), "speech"),
]


@pytest.mark.parametrize(
    "overrides",
    [
        {"mode": "ensemble", "mask": "soft", "segment": "random"},
        {"mode": "flowsep", "mask": "none", "segment": "full"},
        {"mode": "audiosep", "mask": "hard", "empty_mask": "silence", "threshold": 0.99},
    ],
)
def test_batch_equals_clip_by_clip(pipe, overrides) -> None:
    overrides = {**overrides, "flowsep_steps": 2, "seed": 7}
    batched = pipe.batch(ITEMS, 32000, **overrides)
    for (wave, prompt), got in zip(ITEMS, batched, strict=True):
        want = pipe(wave, 32000, prompt, **overrides)
        assert got.estimate.shape == want.estimate.shape
        if want.estimate.abs().sum() == 0:  # empty mask, "silence": separators skipped
            assert got.estimate.abs().sum() == 0 and not got.target_present
        else:
            assert _rel(got.estimate, want.estimate) < RTOL
        assert got.flowsep_start == want.flowsep_start
        assert got.target_present == want.target_present and got.notes == want.notes
        assert got.match.label == want.match.label
        if want.all_probs is not None:
            assert torch.allclose(got.all_probs, want.all_probs, rtol=RTOL, atol=1e-6)


def test_batch_follows_every_authors_protocol_stage(pipe) -> None:
    """Demucs-keyword routing, PCM16 input and the 0.5-peak level hold in batches too."""
    from eventsep.paper import authors
    from eventsep.paper.experiments import AUTHORS_OVERRIDES, AUTHORS_STAGES

    theirs = pipe.with_stages(AUTHORS_STAGES())
    overrides = {**AUTHORS_OVERRIDES, "mode": "ensemble", "flowsep_steps": 2, "seed": 3}
    items = [*ITEMS[:2], (_noise(64000, 4), "singing")]
    batched = theirs.batch(items, 32000, **overrides)
    for (wave, prompt), got in zip(items, batched, strict=True):
        want = theirs(wave, 32000, prompt, **overrides)
        assert got.notes == want.notes
        assert _rel(got.flowsep_estimate, want.flowsep_estimate) < RTOL
        assert _rel(got.estimate, want.estimate) < RTOL
    assert any("Demucs keyword" in note for note in batched[2].notes)
    # the level stage is honoured: FlowSep's output stays at the model's level, not the input's
    restored = theirs.with_stages(flowsep_io=authors.AuthorsFlowSepIO(unscaled=False))
    again = restored.batch(items[:2], 32000, **overrides)[0]
    assert _rel(again.flowsep_estimate, batched[0].flowsep_estimate) > 1e-2


def test_gated_batch_matches_gated_calls_and_says_so(pipe) -> None:
    overrides = {"mode": "audiosep", "mask": "soft", "threshold": 0.99, "gate_floor": 0.05}
    batched = pipe.batch(ITEMS[:2], 32000, **overrides)
    for (wave, prompt), got in zip(ITEMS[:2], batched, strict=True):
        want = pipe(wave, 32000, prompt, **overrides)
        assert got.notes == want.notes
        assert any(note.startswith("event gating") for note in got.notes)
        assert _rel(got.estimate, want.estimate) < RTOL


def test_batch_reports_or_raises_bad_items(pipe) -> None:
    items = [ITEMS[0], (torch.zeros(32000), "dog"), (ITEMS[1][0], "  ")]
    out = pipe.batch(items, 32000, on_error="return", mode="audiosep", mask="none")
    assert isinstance(out[1], SilentAudioError) and isinstance(out[2], PromptError)
    want = pipe(ITEMS[0][0], 32000, ITEMS[0][1], mode="audiosep", mask="none")
    assert _rel(out[0].estimate, want.estimate) < RTOL
    with pytest.raises(SilentAudioError):
        pipe.batch(items, 32000, mode="audiosep", mask="none")
    with pytest.raises(ConfigError, match="on_error"):
        pipe.batch(items, 32000, on_error="skip")


def test_flowsep_batch_draws_per_clip_seeds_like_single_calls() -> None:
    from eventsep.models.separators.flowsep import FlowSepSeparator

    model = FlowSepSeparator.tiny_random()
    waves = [_noise(30000, 4), _noise(9000, 5), _noise(30000, 6)]
    seeds = [11, 12, 13]
    got = model.extract_batch(waves, 16000, ["dog", "cat", "dog"], seed=seeds, steps=2)
    starts = set()
    for wave, prompt, seed, g in zip(waves, ["dog", "cat", "dog"], seeds, got, strict=True):
        want = model.extract(wave, 16000, prompt, seed=seed, steps=2)
        assert (g.start, g.length) == (want.start, want.length)
        assert _rel(g.waveform, want.waveform) < RTOL
        starts.add(g.start)
    assert len(starts) > 1  # the seeds really differ per clip
    with pytest.raises(ConfigError, match="seeds"):
        model.extract_batch(waves, 16000, ["dog"] * 3, seed=[1, 2])


# ------------------------------------------------------------------ full-size random weights
@pytest.mark.slow
def test_full_size_sed_and_audiosep_batches_equal_single_clips() -> None:
    """Cnn14 (published widths) and ResUNet30 (released channels) on 1 s clips."""
    from eventsep.core.seeding import seeded_init_
    from eventsep.models.sed import RANDOM_INIT as SED_INIT
    from eventsep.models.sed import Cnn14SED
    from eventsep.models.separators.audiosep import RANDOM_INIT, AudioSepSeparator
    from eventsep.models.separators.clap_text import ClapTextEncoder, clap_text_config
    from eventsep.models.separators.resunet import RELEASED_CHANNELS, ResUNet30
    from eventsep.models.tiny import tiny_tokenizer

    waves = [_noise(32000, 7), _noise(32000, 8), _noise(24000, 9)]
    sed = seeded_init_(Cnn14SED(head="att"), 0, SED_INIT).eval()
    with torch.inference_mode():
        probs = map_by_length(lambda stack, _: sed.detect(stack, 32000), waves)
        for wave, p in zip(waves, probs, strict=True):
            assert _rel(p, sed.detect(wave, 32000)[0]) < RTOL
    tok = tiny_tokenizer("roberta")
    text_cfg = clap_text_config(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        projection_dim=512,
    )
    text = seeded_init_(ClapTextEncoder(text_cfg, tok), 0, RANDOM_INIT)
    unet = seeded_init_(ResUNet30(channels=RELEASED_CHANNELS, condition_size=512), 1, RANDOM_INIT)
    model = AudioSepSeparator(unet, text).eval()
    prompts = ["dog barking", "a car engine", "dog barking"]
    with torch.inference_mode():
        got = model.extract_batch(waves, 32000, prompts)
        for wave, prompt, g in zip(waves, prompts, got, strict=True):
            want = model.extract(wave, 32000, prompt)
            assert g.waveform.shape == want.waveform.shape
            assert _rel(g.waveform, want.waveform) < RTOL


@pytest.mark.slow
def test_full_size_flowsep_networks_batch_equals_single_clips() -> None:
    """Released UNet, VAE and BigVGAN widths (one-layer T5, 1 s segments, 2 steps)."""
    from eventsep.models.separators.flowsep import FlowSepSeparator, full_config, tiny_config
    from eventsep.models.tiny import tiny_tokenizer

    tok = tiny_tokenizer("t5")
    t5 = dict(tiny_config(len(tok)).t5, d_model=1024, d_kv=64, num_heads=16, num_layers=1)
    cfg = dataclasses.replace(full_config(), segment_samples=16000, t5=t5)
    model = FlowSepSeparator.from_config(cfg, tok, seed=0)
    waves = [_noise(20000, 10), _noise(12000, 11)]
    with torch.inference_mode():
        got = model.extract_batch(waves, 16000, ["dog", "cat"], seed=[3, 4], steps=2)
        for wave, prompt, seed, g in zip(waves, ["dog", "cat"], [3, 4], got, strict=True):
            want = model.extract(wave, 16000, prompt, seed=seed, steps=2)
            assert g.start == want.start
            assert _rel(g.waveform, want.waveform) < RTOL


# ------------------------------------------------------------------ evaluate --batch-size
class _Counting:
    """EventSep (tiny) that records the size of every batch it is given."""

    def __init__(self, pipe) -> None:  # noqa: ANN001
        self.pipe, self.batches = pipe, []

    def __call__(self, waveform, sample_rate, prompt):  # noqa: ANN001, ANN204
        self.batches.append(1)
        return self.pipe(waveform, sample_rate, prompt, flowsep_steps=2)

    def batch(self, items, sample_rate, **kwargs):  # noqa: ANN001, ANN201
        self.batches.append(len(items))
        return self.pipe.batch(items, sample_rate, flowsep_steps=2, **kwargs)


def test_evaluate_in_batches_equals_clip_by_clip_and_resumes(pipe, tmp_path) -> None:
    from eventsep.evaluation.benchmarks import read_benchmark
    from eventsep.evaluation.evaluate import ResultsLog, evaluate, load_rows

    bench = read_benchmark("tiny")
    kw = {"metrics": ("sdr", "si_sdr"), "progress": False}
    one = _Counting(pipe)
    want = evaluate(bench, one, tmp_path / "one", limit=5, batch_size=1, **kw)
    assert one.batches == [1] * 5
    first = _Counting(pipe)
    evaluate(bench, first, tmp_path / "batched", limit=3, batch_size=2, **kw)
    assert sorted(first.batches) == [1, 2]
    rest = _Counting(pipe)  # a rerun over more clips: only the two new ones are separated
    got = evaluate(bench, rest, tmp_path / "batched", limit=5, batch_size=4, **kw)
    assert rest.batches == [2]
    ids = [r["id"] for r in ResultsLog(tmp_path / "batched" / "rows.jsonl").load()]
    assert sorted(ids) == sorted(r["id"] for r in want) and len(set(ids)) == 5
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want, strict=True):
        for key in ("sdr", "si_sdr"):
            assert g[key] == pytest.approx(w[key], rel=RTOL, abs=1e-5)
        assert (g["labels"], g["target_present"]) == (w["labels"], w["target_present"])
    assert [r["id"] for r in load_rows(tmp_path / "batched")] == ids
    with pytest.raises(ConfigError, match="batch size"):
        evaluate(bench, one, tmp_path / "x", batch_size=0, **kw)
    assert not (tmp_path / "x").exists()  # refused before anything is written
