"""Tests of ``eventsep separate`` run in-process through ``eventsep.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_pipeline import DOG, FakeAudioSep, FakeDetector, FakeFlowSep, FakeMapper

from eventsep.cli import main
from eventsep.cli.separate import output_stem, prompt_slug
from eventsep.core.audio import load_audio, resample, save_audio
from eventsep.core.gating import CLI_GATE_FLOOR
from eventsep.method.pipeline import EventSep, EventSepConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "mixtures"


@pytest.fixture
def fake_models(monkeypatch):
    """Make every model set load the small fake components; record the calls."""
    built: list[EventSep] = []

    def fake_from_pretrained(name="paper", *, device=None, config=None, seed=0):
        pipe = EventSep(
            FakeMapper(), FakeDetector(), FakeAudioSep(), FakeFlowSep(), config=config, models=name
        )
        built.append(pipe)
        return pipe

    monkeypatch.setattr(EventSep, "from_pretrained", staticmethod(fake_from_pretrained))
    return built


def _write_mixture(path: Path, seconds: float = 1.0, sr: int = 16000, seed: int = 0) -> Path:
    g = torch.Generator().manual_seed(seed)
    save_audio(path, 0.1 * torch.randn(int(seconds * sr), generator=g), sr)
    return path


def test_slug_and_stem():
    assert prompt_slug("Dog barking!") == "dog-barking"
    assert prompt_slug("  ?? ") == "prompt"
    assert prompt_slug("a" * 100) == "a" * 60
    stem = output_stem(Path("in/sub/x.wav"), Path("in"), Path("out"), "Cat")
    assert stem == Path("out/sub/x_cat")


def test_separate_writes_audio_and_report(tmp_path, fake_models):
    src = _write_mixture(tmp_path / "in" / "mix.wav")
    out = tmp_path / "out"
    code = main(
        ["separate", str(src), "--prompt", "dog barking", "--prompt", "cat", "--out", str(out)]
        + ["--residual", "-q"]
    )
    assert code == 0
    assert len(fake_models) == 1  # models loaded once for both prompts
    for slug in ("dog-barking", "cat"):
        wav, sr = load_audio(out / f"mix_{slug}.wav")
        assert sr == 32000 and wav.shape == (1, 32000)
        rep = json.loads((out / f"mix_{slug}.json").read_text())
        assert rep["classes"] == [{"label": "Dog", "index": DOG}]
        assert rep["target_present"] is True
        assert 0.4 < rep["mask_coverage"] < 0.6
        assert rep["mode"] == "ensemble" and rep["fusion_rule"] == "rate"
        assert set(rep["timings_s"]) >= {"sed", "audiosep", "flowsep", "fusion", "total"}
        res, _ = load_audio(out / f"mix_{slug}_residual.wav")
        mix32 = resample(load_audio(src)[0], 16000, 32000)
        assert torch.allclose(res + wav, mix32, atol=1e-5)
    assert not list(out.glob(".*part"))  # no temporary leftovers


def test_flags_reach_the_config(tmp_path, fake_models):
    src = _write_mixture(tmp_path / "mix.flac")
    args = ["separate", str(src), "-p", "dog", "-o", str(tmp_path / "o"), "-q"]
    extra = ["--mode", "audiosep", "--mask", "hard", "--threshold", "0.4", "--fusion", "band"]
    assert main(args + extra + ["--seed", "3", "--steps", "5"]) == 0
    cfg = fake_models[0].config
    assert (cfg.mode, cfg.mask, cfg.threshold, cfg.fusion.rule) == ("audiosep", "hard", 0.4, "band")
    assert (cfg.seed, cfg.flowsep_steps) == (3, 5)
    rep = json.loads((tmp_path / "o" / "mix_dog.json").read_text())
    assert rep["mode"] == "audiosep" and rep["fusion_rule"] is None


def test_gate_and_precision_flags(tmp_path, fake_models):
    src = _write_mixture(tmp_path / "mix.wav")
    args = ["separate", str(src), "-p", "dog", "-o", str(tmp_path / "o"), "-q"]
    assert main([*args, "--no-gate", "--precision", "bf16", "--segment", "active"]) == 0
    cfg = fake_models[-1].config
    assert (cfg.gate_floor, cfg.precision, cfg.segment) == (0.0, "bf16", "active")
    assert main([*args, "--gate-floor", "0.2"]) == 0
    assert fake_models[-1].config.gate_floor == 0.2


def test_defaults_come_from_config(tmp_path, fake_models):
    src = _write_mixture(tmp_path / "mix.wav")
    assert main(["separate", str(src), "-p", "dog", "-o", str(tmp_path / "o"), "-q"]) == 0
    # the library defaults, but the command line gates (its one deliberate difference)
    assert fake_models[0].config == EventSepConfig(gate_floor=CLI_GATE_FLOOR)
    assert fake_models[0].models == "paper"
    assert json.loads((tmp_path / "o" / "mix_dog.json").read_text())["models"] == "paper"


def test_models_folder_and_deprecated_profile_reach_from_pretrained(tmp_path, fake_models, capsys):
    src = _write_mixture(tmp_path / "mix.wav")
    (tmp_path / "ckpts").mkdir()
    argv = ["separate", str(src), "-p", "dog", "-o", str(tmp_path / "o"), "-q"]
    assert main([*argv, "--models", str(tmp_path / "ckpts")]) == 0
    assert fake_models[0].models == str((tmp_path / "ckpts").resolve())
    report = json.loads((tmp_path / "o" / "mix_dog.json").read_text())
    assert report["models"] == str((tmp_path / "ckpts").resolve())
    assert "deprecated" not in capsys.readouterr().err
    assert main([*argv, "--profile", "tiny-random"]) == 0  # the old spelling still works
    assert fake_models[1].models == "tiny-random"
    assert capsys.readouterr().err.count("deprecated") == 1


def test_folder_input_is_searched_recursively(tmp_path, fake_models):
    _write_mixture(tmp_path / "in" / "a.wav")
    _write_mixture(tmp_path / "in" / "deep" / "b.flac", seed=1)
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    assert (
        main(["separate", str(tmp_path / "in"), "-p", "dog", "-o", str(tmp_path / "o"), "-q"]) == 0
    )
    assert (tmp_path / "o" / "a_dog.wav").is_file()
    assert (tmp_path / "o" / "deep" / "b_dog.wav").is_file()
    assert (tmp_path / "o" / "deep" / "b_dog.json").is_file()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file or folder"),
        ("empty-folder", "holds no audio file"),
        ("empty-prompt", "empty --prompt"),
        ("bad-mode", "unknown mode"),
        ("bad-rule", "unknown fusion rule"),
        ("silent", "silent"),
    ],
)
def test_bad_inputs_fail_with_one_line(tmp_path, fake_models, capsys, case, message):
    out = tmp_path / "out"
    src = _write_mixture(tmp_path / "mix.wav")
    argv = ["separate", str(src), "-p", "dog", "-o", str(out), "-q"]
    if case == "missing":
        argv[1] = str(tmp_path / "nope.wav")
    elif case == "empty-folder":
        (tmp_path / "empty").mkdir()
        argv[1] = str(tmp_path / "empty")
    elif case == "empty-prompt":
        argv[3] = "  "
    elif case == "bad-mode":
        argv += ["--mode", "karaoke"]
    elif case == "bad-rule":
        argv += ["--fusion", "median"]
    elif case == "silent":
        save_audio(src, torch.zeros(16000), 16000)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("eventsep separate: error:")
    assert message in err[0]
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    if case != "silent":
        assert fake_models == []  # failed before loading any model


def test_help_lists_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["separate", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--prompt", "--mask", "--threshold", "--fusion", "--mode", "--residual"):
        assert flag in text
    assert "0.55" in text and "soft" in text


def test_end_to_end_tiny_random_on_example(tmp_path):
    from eventsep.method.mapping import map_prompt

    mixtures = sorted(EXAMPLES.glob("*.flac")) + sorted(EXAMPLES.glob("*.wav"))
    if mixtures:
        src = mixtures[0]
        meta = json.loads(src.with_suffix(".json").read_text())
        prompt = meta["prompt"]
    else:  # examples not bundled: synthesise a mixture
        src = _write_mixture(tmp_path / "synth.wav", seconds=3.0, sr=32000)
        prompt = "dog barking"
    out = tmp_path / "out"
    argv = ["separate", str(src), "-p", prompt, "-o", str(out), "--models", "tiny-random"]
    assert main(argv + ["--steps", "2", "--residual", "-q"]) == 0
    stem = out / f"{src.stem}_{prompt_slug(prompt)}"
    wav, sr = load_audio(stem.with_suffix(".wav"))
    mix, _ = load_audio(src, 32000)
    assert sr == 32000 and wav.shape == mix.shape and torch.isfinite(wav).all()
    assert Path(str(stem) + "_residual.wav").is_file()
    rep = json.loads(stem.with_suffix(".json").read_text())
    assert rep["models"] == "tiny-random"
    match = map_prompt(prompt)
    assert [c["index"] for c in rep["classes"]] == list(match.indices)
    assert rep["match"]["label"] == match.label
    # target_present agrees with the mask: a present target leaves a non-empty mask
    if rep["mask_coverage"] == 1.0 and not rep["target_present"]:
        assert any("not detected" in n for n in rep["notes"])
    else:
        assert rep["target_present"] is True and rep["mask_coverage"] > 0


def test_stems_exclude_and_classes_from_the_command_line(tmp_path, fake_models):
    src = _write_mixture(tmp_path / "mix.wav")
    out = tmp_path / "out"
    argv = ["separate", str(src), "-p", "dog barking", "-p", "cat", "-o", str(out), "-q"]
    argv += ["--stems", "--exclude", "speech", "--classes", "Dog; Bark", "--classes", "Cat"]
    assert main(argv) == 0
    (pipe,) = fake_models
    assert pipe.detector.calls == 1  # one SED pass for both prompts and the negative prompt
    stems = [load_audio(out / f"mix_{s}.wav")[0] for s in ("dog-barking", "cat")]
    residual, sr = load_audio(out / "mix_residual.wav")
    mix32 = resample(load_audio(src)[0], 16000, 32000)
    assert sr == 32000 and torch.allclose(stems[0] + stems[1] + residual, mix32, atol=1e-5)
    rep = json.loads((out / "mix_dog-barking.json").read_text())
    assert [c["label"] for c in rep["classes"]] == ["Dog", "Bark"]
    assert rep["match"]["method"] == "classes"
    assert rep["exclude"][0]["prompt"] == "speech"
    assert rep["stems_residual"] == str(out / "mix_residual.wav")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--classes", "Dog"], "--classes given 1 times for 2"),
        (["--classes", "Dgo", "--classes", "Cat"], "did you mean 'Dog'"),
        (["--exclude", " "], "prompt is empty"),
    ],
)
def test_bad_prompt_options_fail_before_loading(tmp_path, fake_models, capsys, extra, message):
    src = _write_mixture(tmp_path / "mix.wav")
    argv = ["separate", str(src), "-p", "dog", "-p", "cat", "-o", str(tmp_path / "o"), "-q"]
    assert main(argv + extra) == 2
    assert message in capsys.readouterr().err
    assert fake_models == []
