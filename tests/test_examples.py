"""Bundled recordings, their manifest, and the example mixtures with known spans."""

from __future__ import annotations

import json

import torch

from eventsep.core.labels import audioset_labels
from eventsep.evaluation.examples import MIXTURES, build_mixture, examples_dir, load_example, sounds


def test_manifest_labels_and_licences():
    snd = sounds()
    assert {"dog", "cat", "rooster", "speech"} <= set(snd)
    labels = set(audioset_labels())
    for s in snd.values():
        assert s.path.is_file(), s.path
        assert s.label in labels
        assert s.licence in {"CC0-1.0", "public domain"}


def test_examples_folder_stays_small():
    total = sum(p.stat().st_size for p in examples_dir().rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


def test_committed_mixtures_match_rebuild_and_spans():
    for spec in MIXTURES:
        x, sr, info = load_example(spec.name)
        built = build_mixture(spec)
        assert sr == built["sample_rate"] == 32000
        assert x.shape == built["mixture"].shape == (int(spec.duration * sr),)
        # FLAC stores 16-bit PCM: one quantisation step of difference at most.
        assert float((x - built["mixture"]).abs().max()) < 2 / 32768
        assert info == json.loads(json.dumps(built["info"]))
        spans = info["target_spans_s"]
        assert spans and spans[0][0] >= spec.target.offset - 1e-6
        assert all(0 <= a < b <= spec.duration for a, b in spans)
        # The target is silent outside its placement and present inside its spans.
        t = built["target"]
        start = int(spec.target.offset * sr)
        assert float(t[:start].abs().max()) == 0.0
        a, b = (int(v * sr) for v in spans[0])
        assert float(t[a:b].abs().max()) > 0.01
        assert torch.allclose(built["mixture"] - t, build_mixture(spec)["mixture"] - t)
