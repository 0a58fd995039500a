"""The command line: every subcommand is present and fully documented."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from eventsep.cli import build_parser, main

SUBCOMMANDS = (
    "separate",
    "detect",
    "evaluate",
    "build-benchmark",
    "reproduce",
    "convert-flowsep",
    "list-models",
    "download",
    "download-data",
    "check-data",
    "demo",
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_is_registered_and_documented():
    subs = _subparsers(build_parser())
    assert set(SUBCOMMANDS) <= set(subs)
    for name in SUBCOMMANDS:
        sub = subs[name]
        assert sub.description, f"{name} has no description"
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"eventsep {name} {action.option_strings or action.dest}: no help"


def test_python_m_eventsep_matches_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "eventsep", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for name in SUBCOMMANDS:
        assert name in proc.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["separate"])  # INPUT and --prompt missing
    assert info.value.code == 2


def test_evaluate_presets_are_the_registry_experiments(tmp_path, monkeypatch, capsys):
    from eventsep.cli import evaluate as cli_evaluate
    from eventsep.paper import experiments

    description = _subparsers(build_parser())["evaluate"].description
    assert all(name in description for name in experiments.names())
    assert main(["evaluate", "--benchmark", "tiny", "--config", "bogus", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown config 'bogus'" in err and "audiosep+soft0.55, audiosep+soft0.60" in err

    # a preset is evaluated with its registry metrics and records its protocol
    import torch

    from eventsep.core.audio import save_audio

    bench = tmp_path / "bench"
    bench.mkdir()
    noise = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    save_audio(bench / "segment-0.wav", 0.1 * noise[0], 16000, subtype="FLOAT")
    save_audio(bench / "mixture-0.wav", 0.1 * noise.sum(0), 16000, subtype="FLOAT")
    (bench / "metadata.csv").write_text("idx,caption,src_wav,noise_wav\n0,dog,a.wav,b.wav\n")
    monkeypatch.setattr(
        cli_evaluate, "build_separator", lambda name, fields, models, device: lambda w, sr, p: w
    )
    out = tmp_path / "out"
    args = ["evaluate", "--benchmark", "folder", "--data", str(bench), "--out", str(out)]
    assert main([*args, "--config", "audiosep+soft0.55", "--quiet"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["metrics"] == ["sdr", "sdri", "si_sdr"] and run["protocol"] == "corrected"
    assert run["config_fields"] == experiments.get("audiosep+soft0.55").fields()
    assert "sdri" in capsys.readouterr().out


MODEL_COMMANDS = ("separate", "detect", "evaluate", "reproduce", "demo")


def test_models_option_is_the_same_on_every_command(tmp_path):
    subs = _subparsers(build_parser())
    helps = set()
    for name in MODEL_COMMANDS:
        (models,) = [a for a in subs[name]._actions if "--models" in a.option_strings]
        assert models.dest == "models" and models.metavar == "SET"
        helps.add(models.help.split(" (default:")[0])
    assert len(helps) == 1  # one helper, one text
    # --profile: the run profile on reproduce only; elsewhere a hidden alias of --models
    for name in MODEL_COMMANDS:
        (profile,) = [a for a in subs[name]._actions if "--profile" in a.option_strings]
        if name == "reproduce":
            assert profile.dest == "profile" and profile.choices == ("smoke", "paper")
        else:
            assert profile.dest == "models" and profile.help == argparse.SUPPRESS
    required = {"separate": ["x.wav", "-p", "dog"], "detect": ["x.wav"]}
    required["evaluate"] = ["--benchmark", "tiny", "--out", "o"]
    for name, rest in required.items():
        args = subs[name].parse_args([*rest, "--models", str(tmp_path)])
        assert args.models == str(tmp_path.resolve())
        assert subs[name].parse_args(rest).models == "paper"
    assert subs["reproduce"].parse_args([]).models is None  # derived from the run profile


def test_deprecated_profile_alias_warns_once(capsys):
    subs = _subparsers(build_parser())
    args = subs["evaluate"].parse_args(
        ["--benchmark", "tiny", "--out", "o", "--profile", "tiny-random"]
    )
    assert args.models == "tiny-random"
    err = capsys.readouterr().err
    assert err.count("deprecated") == 1 and "--models tiny-random" in err


def test_unknown_model_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["detect", "x.wav", "--models", "nonsense"])
    assert info.value.code == 2
    assert "unknown model set 'nonsense'" in capsys.readouterr().err
