"""The pipeline's seams, used from outside the package: a custom masker through
``EventSep.with_stages``, and a custom protocol (stages and metric conventions) registered with
``experiments.register_protocol`` and run by ``Study`` and by ``eventsep evaluate``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from eventsep.core.errors import ConfigError
from eventsep.evaluation.evaluate import MetricConventions, load_rows
from eventsep.method.pipeline import EventSep, EventSepConfig
from eventsep.method.stages import Stages, TimeMasker, describe
from eventsep.models.clap.scorer import ClapScorer
from eventsep.paper import experiments
from eventsep.paper.authors import authors_stages
from eventsep.paper.study import Study
from tests.test_pipeline import FakeAudioSep, FakeDetector, FakeFlowSep, FakeMapper, _mixture

LEVEL = 0.25


class ConstantMasker(TimeMasker):
    """A user's masker: every frame of a detected prompt passes at ``LEVEL``; records calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def frame_mask(self, target: torch.Tensor, config: Any) -> torch.Tensor:
        self.calls += 1
        return torch.full_like(target, LEVEL)


class BatchDetector(FakeDetector):
    """:class:`FakeDetector` that also takes stacked clips ``(batch, samples)``."""

    def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        probs = super().detect(waveform, sample_rate)
        return probs.expand(waveform.shape[0] if waveform.dim() == 2 else 1, -1, -1)


def _fake_pipe(**cfg: Any) -> EventSep:
    return EventSep(
        FakeMapper(), BatchDetector(), FakeAudioSep(), FakeFlowSep(), config=EventSepConfig(**cfg)
    )


def test_a_custom_masker_changes_the_mask_and_nothing_else() -> None:
    pipe = _fake_pipe(mode="audiosep")
    mine = pipe.with_stages(masker=ConstantMasker())
    mix = _mixture(1.0)
    got = mine(mix, 32000, "dog")
    assert torch.equal(got.frame_mask, torch.full_like(got.frame_mask, LEVEL))
    assert torch.allclose(got.masked_input, LEVEL * got.mixture, atol=1e-7)
    assert torch.allclose(got.estimate, 0.5 * LEVEL * got.mixture, atol=1e-7)  # AudioSep halves
    assert mine.stages.masker.calls == 1
    # the same loaded models, the original pipeline untouched
    assert mine.audiosep is pipe.audiosep and mine.flowsep is pipe.flowsep
    assert mine.detectors is pipe.detectors and mine.config is pipe.config
    base = pipe(mix, 32000, "dog")
    assert type(pipe.stages.masker) is TimeMasker
    assert not torch.equal(base.frame_mask, got.frame_mask)
    # the masker is also what a batch uses (a call is a batch of one)
    batched = mine.batch([(mix, "dog"), (_mixture(1.0, seed=1), "dog")], 32000)
    assert all(torch.equal(r.frame_mask, got.frame_mask) for r in batched)
    assert mine.stages.masker.calls == 3


def test_with_stages_replaces_all_stages_at_once() -> None:
    pipe = _fake_pipe()
    stages = Stages(masker=ConstantMasker())
    assert pipe.with_stages(stages).stages is stages
    built = EventSep(FakeMapper(), FakeDetector(), FakeAudioSep(), FakeFlowSep(), stages=stages)
    assert built.stages is stages


def _stoi(result: Any, estimate: Any, reference: Any, sample_rate: int, *, extended: bool):
    """A user's STOI convention: a constant, to show it is the one used."""
    return 0.125 if not extended else 0.375


@pytest.fixture
def custom_protocol():
    masker = ConstantMasker()
    protocol = experiments.Protocol(
        "constant-mask",
        "a test's protocol: a constant time mask and constant STOI values",
        overrides={"mapping_method": "paper"},
        stages=lambda: Stages(masker=masker),
        metrics=MetricConventions(stoi=_stoi, plain_means=True, clap="authors"),
    )
    experiments.register_protocol(protocol)
    yield protocol, masker
    experiments.unregister_protocol(protocol.name)
    assert "constant-mask" not in experiments.PROTOCOLS
    assert not any(k[1] == "constant-mask" for k in experiments.EXPERIMENTS)


def test_register_protocol_adds_every_experiment_and_refuses_clashes(custom_protocol) -> None:
    protocol, _ = custom_protocol
    assert experiments.check_protocol("constant-mask") == "constant-mask"
    exp = experiments.get("eventsep@constant-mask")
    assert exp.fields()["mapping_method"] == "paper" and exp.run_name == "eventsep@constant-mask"
    assert len(experiments.names("constant-mask")) == len(experiments.names("corrected"))
    with pytest.raises(ConfigError, match="already registered"):
        experiments.register_protocol(protocol)
    with pytest.raises(ConfigError, match="already registered"):
        experiments.register_protocol(experiments.Protocol("authors", "x"), replace_existing=True)
    with pytest.raises(ConfigError, match="bad overrides"):
        experiments.Protocol("bad", "x", overrides={"double_sigmoid": True})


def test_study_runs_a_protocol_registered_from_outside(
    custom_protocol, tmp_path, monkeypatch
) -> None:
    from eventsep.models import registry

    _, masker = custom_protocol
    asked: list[str] = []

    def load_clap_scorer(models, *, device=None, protocol="corrected"):
        asked.append(protocol)
        return ClapScorer.tiny_random(seed=0, protocol=protocol)

    monkeypatch.setattr(registry, "load_clap_scorer", load_clap_scorer)
    study = Study("fake", tmp_path / "results", max_clips=2, protocol="constant-mask")
    study._pipe = _fake_pipe()
    study.evaluate("tiny", ["eventsep"])
    out = tmp_path / "results" / "tiny" / "eventsep@constant-mask"
    rows = load_rows(out)
    assert len(rows) == 2 and {r["protocol"] for r in rows} == {"constant-mask"}
    assert [(r["stoi"], r["estoi"]) for r in rows] == [(0.125, 0.375)] * 2  # its STOI function
    assert masker.calls == 2  # its masker, once per clip
    assert asked == ["authors"]  # its CLAP protocol
    info = json.loads((out / "run.json").read_text())
    assert info["stages"]["masker"].startswith("ConstantMasker(")
    assert info["config_fields"]["mapping_method"] == "paper"
    assert info["metric_conventions"] == {"stoi_placeholder": True, "plain_means": True}
    # the corrected protocol on the same folder tree: its own folder, the method's masker
    corrected = Study("fake", tmp_path / "results", max_clips=2)
    corrected._pipe = study._pipe
    corrected.evaluate("tiny", ["eventsep"])
    assert masker.calls == 2
    plain = load_rows(tmp_path / "results" / "tiny" / "eventsep")
    assert all(r["stoi"] != 0.125 for r in plain)


def test_evaluate_cli_runs_a_protocol_registered_from_outside(
    custom_protocol, tmp_path, monkeypatch
) -> None:
    from eventsep.cli import evaluate as cli_evaluate
    from eventsep.cli import main

    _, masker = custom_protocol
    monkeypatch.setattr(cli_evaluate, "build_separator", lambda *a: _fake_pipe(**a[1]))
    out = tmp_path / "out"
    argv = ["evaluate", "--benchmark", "tiny", "--config", "audiosep+soft0.55", "--out", str(out)]
    argv += ["--protocol", "constant-mask", "--metrics", "sdr,stoi", "--limit", "1", "--quiet"]
    assert main(argv) == 0
    rows = load_rows(out)
    assert [r["stoi"] for r in rows] == [0.125] and rows[0]["protocol"] == "constant-mask"
    assert masker.calls == 1
    info = json.loads((out / "run.json").read_text())
    assert info["config"] == "audiosep+soft0.55@constant-mask"
    assert info["stages"]["masker"].startswith("ConstantMasker(")


def test_a_folder_of_other_stages_is_not_resumed(tmp_path) -> None:
    from eventsep.evaluation.evaluate import evaluate
    from tests.test_evaluate import _bench, _Half

    bench = _bench(tmp_path / "bench", n=1)
    run = {"benchmark": "folder", "config": "half", "models": "m", "stages": {"masker": "A"}}
    evaluate(bench, _Half(), tmp_path / "out", run=run, metrics=["sdr"], progress=False)
    with pytest.raises(ConfigError, match="stages differ"):
        evaluate(
            bench,
            _Half(),
            tmp_path / "out",
            run={**run, "stages": {"masker": "B"}},
            metrics=["sdr"],
            progress=False,
        )
    # a folder written before stages were recorded resumes
    old = {k: v for k, v in run.items() if k != "stages"}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.json").write_text(json.dumps({**old, "metrics": ["sdr"]}))
    rows = evaluate(bench, _Half(), tmp_path / "old", run=run, metrics=["sdr"], progress=False)
    assert len(rows) == 1


def _imports(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_method_or_evaluation_module_imports_the_paper_layer() -> None:
    from pathlib import Path

    import eventsep

    root = Path(eventsep.__file__).parent
    files = [*(root / "method").rglob("*.py"), *(root / "evaluation").rglob("*.py")]
    assert any(f.name == "stages.py" for f in files)
    upward = {
        str(f.relative_to(root)): sorted(m for m in _imports(f) if m.startswith("eventsep.paper"))
        for f in files
    }
    assert {f: m for f, m in upward.items() if m} == {}


def test_the_default_and_the_authors_stages_are_recorded_by_name() -> None:
    assert describe(Stages()) == {
        "mapper": "PromptMapping()",
        "masker": "TimeMasker(skip_unconfident=True)",
        "flowsep_io": "FlowSepIO()",
        "fusion": "STFTFusion()",
    }
    got = describe(authors_stages())
    assert got["flowsep_io"] == "AuthorsFlowSepIO(pcm16=True, unscaled=True)"
    assert got["fusion"] == "BenchmarkFusion()" and got["mapper"] == "CommaSplitMapping()"
