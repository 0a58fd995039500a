"""The command line: every subcommand is present and fully documented."""

from __future__ import annotations

import argparse
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
