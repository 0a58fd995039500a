"""The notebooks' runner (eventsep.paper.study.Study) on a synthetic benchmark with a stand-in
pipeline.

The stand-in records every call, so the tests check what is separated how often, what each
results folder records, and that a second run resumes without separating again.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from eventsep.core.audio import save_audio
from eventsep.core.errors import ConfigError
from eventsep.method.pipeline import EventSepConfig
from eventsep.models.clap.scorer import ClapScorer
from eventsep.paper import experiments, tables
from eventsep.paper.study import Study

SR = 32000
GAIN = {"rate": 0.1, "band": 0.2, "reverse-band": 0.3, "progressive": 0.4}


@dataclasses.dataclass(frozen=True)
class _Result:
    estimate: torch.Tensor
    config: EventSepConfig
    sample_rate: int = SR


class _Pipe:
    """Scales the mixture by 0.5 when separating and by a per-rule gain when fusing."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fused: list[dict[str, Any]] = []

    def __call__(self, waveform: torch.Tensor, sample_rate: int, prompt: str, **fields: Any):
        self.calls.append(fields)
        return _Result(0.5 * waveform, EventSepConfig().replace(**fields))

    def fuse(self, result: _Result, **fields: Any) -> torch.Tensor:
        self.fused.append(fields)
        return GAIN.get(fields["rule"], 0.9) * result.estimate


def _data(root: Path, n: int = 2) -> Path:
    """``root/vggsound``: ``n`` one-second clips in the AudioSep evaluation layout."""
    folder = root / "vggsound"
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    rows = ["idx,caption,src_wav,noise_wav"]
    for i in range(n):
        ref = torch.randn(SR, generator=g) * 0.1
        save_audio(folder / f"segment-{i}.wav", ref, SR, subtype="FLOAT")
        mix = ref + 0.1 * torch.randn(SR, generator=g)
        save_audio(folder / f"mixture-{i}.wav", mix, SR, subtype="FLOAT")
        rows.append(f"{i},label{i},a.wav,b.wav")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def _study(tmp_path: Path, **kw: Any) -> tuple[Study, _Pipe]:
    study = Study(
        "tiny-random",
        tmp_path / "results",
        data_dir=_data(tmp_path / "data"),
        config_overrides={"flowsep_steps": 2},
        **kw,
    )
    pipe = _Pipe()
    study._pipe = pipe
    return study, pipe


def test_fusion_rules_are_refused_from_one_separation_per_clip(tmp_path: Path) -> None:
    study, pipe = _study(tmp_path)
    study._clap = ClapScorer.tiny_random()
    study.run_table("table3", "vggsound")
    # once per clip, with the profile's overrides on top of the shared run's fields
    assert pipe.calls == [{"mode": "both", "fusion": {"rate": 0.1}, "flowsep_steps": 2}] * 2
    rules = [e.fields()["fusion"]["rule"] for e in experiments.for_table("table3")]
    assert [f["rule"] for f in pipe.fused] == rules * 2
    assert all(f["rate"] == 0.1 for f in pipe.fused)
    for exp in experiments.for_table("table3"):
        folder = tmp_path / "results" / "vggsound" / exp.run_name
        run = json.loads((folder / "run.json").read_text())
        assert run["config"] == exp.name and run["protocol"] == "corrected"
        assert run["metrics"] == ["clap", "clap_a"] and run["models"] == "tiny-random"
        assert run["config_fields"] == {"flowsep_steps": 2, **exp.fields()}
    runs = study.runs()
    assert {r["protocol"] for rows in runs.values() for r in rows} == {"corrected"}
    table = tables.table3(runs, benchmark="vggsound")
    assert table["n"].tolist() == [2] * len(rules) and table["CLAP"].notna().all()
    study.run_table("table3", ["vggsound"])  # resumes: nothing left to separate
    assert len(pipe.calls) == 2 and len(pipe.fused) == 2 * len(rules)


def test_mask_table_evaluates_each_experiment_with_its_metrics(tmp_path: Path) -> None:
    study, pipe = _study(tmp_path, max_clips=1)
    study._clap = ClapScorer.tiny_random()
    study.run_table("table2", "vggsound")
    entries = experiments.for_table("table2")
    assert pipe.calls == [{**e.fields(), "flowsep_steps": 2} for e in entries]  # table order
    for exp in entries:
        run = json.loads((tmp_path / "results" / "vggsound" / exp.name / "run.json").read_text())
        assert tuple(run["metrics"]) == exp.metrics
    table = tables.table2(study.runs(), benchmark="vggsound")
    assert table["n"].tolist() == [1] * len(entries)
    # the estimate is half the mixture: SDRi is the same for every row (about -6 dB + SDR_mix)
    assert table["SDRi"].nunique() == 1


def test_evaluate_by_name_and_the_mixture_baseline(tmp_path: Path) -> None:
    study, pipe = _study(tmp_path)
    study.evaluate("vggsound", ["mixture"])
    assert pipe.calls == []  # the mixture needs no model
    rows = study.runs()[("vggsound", "mixture")]
    assert [r["sdri"] for r in rows] == pytest.approx([0.0, 0.0], abs=1e-4)
    with pytest.raises(ConfigError, match="unknown experiment"):
        study.evaluate("vggsound", ["audiosep+soft0.5"])
    with pytest.raises(ConfigError, match="unknown protocol"):
        Study("tiny-random", tmp_path, protocol="other")
