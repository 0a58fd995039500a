"""Event lists: hysteresis, minimum duration, DCASE TSV written and read back by psds_eval."""

from __future__ import annotations

import numpy as np
import pytest

from eventsep.core.errors import ConfigError
from eventsep.method.events import (
    COLUMNS,
    SoundEvent,
    find_events,
    hysteresis_runs,
    read_events_tsv,
    write_events_tsv,
)

FPS = 100.0


def test_hysteresis_keeps_runs_that_reach_on() -> None:
    p = np.array([0.0, 0.4, 0.6, 0.35, 0.2, 0.4, 0.45, 0.0, 0.9, 0.0])
    # 1-3 reaches 0.6 (kept, the dip to 0.35 >= off does not split); 5-6 never reaches on
    assert hysteresis_runs(p, on=0.5, off=0.3) == [(1, 4), (8, 9)]
    assert hysteresis_runs(p, on=0.4, off=0.4) == [(1, 3), (5, 7), (8, 9)]
    with pytest.raises(ConfigError, match="off <= on"):
        hysteresis_runs(p, on=0.3, off=0.5)


def test_find_events_times_labels_and_min_duration() -> None:
    probs = np.zeros((300, 2))
    probs[10:60, 0] = 0.8  # 0.10-0.60 s
    probs[100:105, 0] = 0.9  # 50 ms: dropped by min_duration 0.1
    probs[200:250, 1] = 0.7
    probs[220, 1] = 0.2  # a dip below off splits it: 2.00-2.20 and 2.21-2.50
    ev = find_events(probs, ["Dog", "Speech"], FPS, on=0.5, off=0.3, min_duration=0.1)
    assert ev == [
        SoundEvent(0.1, 0.6, "Dog", 0.8),
        SoundEvent(2.0, 2.2, "Speech", 0.7),
        SoundEvent(2.21, 2.5, "Speech", 0.7),
    ]
    merged = find_events(probs, ["Dog", "Speech"], FPS, min_duration=0.1, min_gap=0.05)
    assert [(e.onset, e.offset, e.event_label) for e in merged][1:] == [(2.0, 2.5, "Speech")]


def test_find_events_of_class_sets_take_the_max() -> None:
    probs = np.zeros((100, 3))
    probs[0:30, 1] = 0.6
    probs[30:60, 2] = 0.7
    ev = find_events(probs, {"dog": [1, 2]}, FPS, min_duration=0.0)
    assert ev == [SoundEvent(0.0, 0.6, "dog", 0.7)]
    with pytest.raises(ConfigError, match="labels for"):
        find_events(probs, ["a"], FPS)


def test_tsv_round_trip_and_strict_format(tmp_path) -> None:
    events = [SoundEvent(0.1, 0.6, "Dog", 0.8), SoundEvent(2.0, 2.5, "Chicken, rooster", 0.66)]
    path = tmp_path / "out.tsv"
    write_events_tsv(path, events, "clip.wav")
    lines = path.read_text().splitlines()
    assert lines[0] == "\t".join(COLUMNS)
    assert lines[2] == "clip.wav\t2.000\t2.500\tChicken, rooster\t0.6600"
    assert read_events_tsv(path) == [("clip.wav", e) for e in events]
    with pytest.raises(ConfigError, match="tab"):
        write_events_tsv(path, [SoundEvent(0, 1, "a\tb", 1.0)], "clip.wav")
    bad = tmp_path / "bad.tsv"
    bad.write_text("onset\toffset\tevent_label\n0\t1\tDog\n")
    with pytest.raises(ConfigError, match="header"):
        read_events_tsv(bad)


@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_psds_eval_reads_the_file(tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    psds_eval = pytest.importorskip("psds_eval")
    path = tmp_path / "det.tsv"
    probs = np.zeros((1000, 2))
    probs[100:300, 0] = 0.9  # Dog 1-3 s
    probs[500:800, 1] = 0.8  # Speech 5-8 s
    write_events_tsv(path, find_events(probs, ["Dog", "Speech"], FPS), "clip.wav")
    det = pd.read_csv(path, sep="\t")
    assert list(det.columns) == list(COLUMNS)
    gt = pd.DataFrame(
        {
            "filename": ["clip.wav", "clip.wav"],
            "onset": [1.0, 5.0],
            "offset": [3.0, 8.0],
            "event_label": ["Dog", "Speech"],
        }
    )
    meta = pd.DataFrame({"filename": ["clip.wav"], "duration": [10.0]})
    ev = psds_eval.PSDSEval(0.5, 0.5, 0.3, ground_truth=gt, metadata=meta)
    f1, per_class = ev.compute_macro_f_score(det[["filename", "onset", "offset", "event_label"]])
    assert f1 == pytest.approx(1.0)


class _Detector:
    """Dog (index 74) at p=0.9 from 0.5 s to 1.5 s of the input, nothing else."""

    frames_per_second = 100.0

    def detect(self, waveform, sample_rate):
        import torch

        frames = int(waveform.shape[-1] / sample_rate * 100) + 1
        probs = torch.zeros(1, frames, 527)
        probs[0, 50:150, 74] = 0.9
        return probs


def _wav(tmp_path):
    import torch

    from eventsep.core.audio import save_audio

    path = tmp_path / "clip.wav"
    save_audio(path, 0.1 * torch.randn(64000, generator=torch.Generator().manual_seed(0)), 32000)
    return path


def test_cli_detect_writes_the_event_list(tmp_path, monkeypatch, capsys) -> None:
    from eventsep.cli import main
    from eventsep.models import registry as modelsets

    monkeypatch.setattr(modelsets, "load_detector", lambda *a, **k: _Detector())
    path, tsv = _wav(tmp_path), tmp_path / "ev" / "out.tsv"
    argv = ["detect", str(path), "--models", "tiny-random", "--events", str(tsv)]
    assert main(argv + ["--on", "0.6", "--off", "0.4", "--min-duration", "0.2"]) == 0
    assert "event list:" in capsys.readouterr().out
    assert read_events_tsv(tsv) == [("clip.wav", SoundEvent(0.5, 1.5, "Dog", 0.9))]
    # with prompts: one list per prompt, over its class set (the ontology's dog family)
    assert main(argv + ["--prompt", "a dog", "--prompt", "rain"]) == 0
    assert read_events_tsv(tsv) == [("clip.wav", SoundEvent(0.5, 1.5, "a dog", 0.9))]


def test_cli_detect_event_options_are_checked_first(tmp_path, monkeypatch, capsys) -> None:
    from eventsep.cli import main
    from eventsep.models import registry as modelsets

    def fail(*a, **k):
        raise AssertionError("the detector must not load")

    monkeypatch.setattr(modelsets, "load_detector", fail)
    argv = ["detect", str(_wav(tmp_path)), "--events", str(tmp_path / "o.tsv")]
    assert main(argv + ["--on", "0.2", "--off", "0.4"]) == 2
    assert "off <= on" in capsys.readouterr().err
