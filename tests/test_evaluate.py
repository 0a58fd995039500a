"""Tests of eventsep.evaluation.evaluate: durable rows, resume, one writer per folder, SIGKILL
mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eventsep.core.audio import save_audio
from eventsep.core.errors import BenchmarkError, ConfigError, ResultsLockedError, SilentAudioError
from eventsep.evaluation import benchmarks as B
from eventsep.evaluation.evaluate import (
    LOCK_FILE,
    RESULTS_FILE,
    ResultsLog,
    evaluate,
    load_rows,
    summarize_rows,
)

REPO = Path(__file__).resolve().parents[1]
SR = 32000


def test_results_log_repairs_torn_last_line(tmp_path: Path) -> None:
    log = ResultsLog(tmp_path / "rows.jsonl")
    log.append({"id": "a", "x": 1})
    log.append({"id": "b", "x": 2})
    with open(log.path, "ab") as fh:
        fh.write(b'{"id": "c", "x"')  # killed mid-write
    assert [r["id"] for r in log.load()] == ["a", "b"]
    assert log.path.read_bytes().endswith(b'"x": 2}\n')  # torn bytes cut off
    log.append({"id": "c", "x": 3})
    assert [r["id"] for r in log.load()] == ["a", "b", "c"]
    with open(log.path, "ab") as fh:
        fh.write(b"garbage\n")
    log.append({"id": "d"})
    with pytest.raises(BenchmarkError, match="line 4"):
        log.load()


def _bench(tmp_path: Path, n: int = 3) -> B.Benchmark:
    g = torch.Generator().manual_seed(0)
    rows = ["idx,caption,src_wav,noise_wav"]
    for i in range(n):
        ref = torch.randn(SR, generator=g) * 0.1
        save_audio(tmp_path / f"segment-{i}.wav", ref, SR, subtype="FLOAT")
        save_audio(
            tmp_path / f"mixture-{i}.wav",
            ref + 0.1 * torch.randn(SR, generator=g),
            SR,
            subtype="FLOAT",
        )
        rows.append(f"{i},label{i},a.wav,b.wav")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    return B.read_benchmark("folder", tmp_path)


class _Half:
    """Separator returning half the mixture; fails with a typed error on prompt ``label1``."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, waveform: torch.Tensor, sample_rate: int, prompt: str) -> torch.Tensor:
        self.calls += 1
        if prompt == "label1":
            raise SilentAudioError("nothing there")
        return 0.5 * waveform


def test_evaluate_rows_resume_and_errors(tmp_path: Path) -> None:
    bench = _bench(tmp_path / "bench")
    sep = _Half()
    out = tmp_path / "res"
    run = {"benchmark": "folder", "config": "half", "models": "test"}
    metrics = ("sdr", "sdri", "si_sdr", "stoi")
    rows = evaluate(bench, sep, out, run=run, metrics=metrics, limit=2, progress=False)
    assert [r["id"] for r in rows] == ["0", "1"] and sep.calls == 2
    assert rows[0]["sdr"] == pytest.approx(10 * torch.log10(torch.tensor(2.0)).item(), abs=0.3)
    assert rows[0]["si_sdr"] == pytest.approx(0.0, abs=0.5) and rows[0]["config"] == "half"
    assert rows[1]["error"].startswith("SilentAudioError") and rows[1]["sdr"] is None
    rows = evaluate(bench, sep, out, run=run, metrics=metrics, progress=False)
    assert sep.calls == 3  # only clip 2 was new
    assert [r["id"] for r in load_rows(out)] == ["0", "1", "2"]
    summary = summarize_rows(rows, metrics)
    assert summary["sdr"].count == 2 and summary["sdr"].skipped == 1
    with pytest.raises(ConfigError, match="config differ"):
        evaluate(bench, sep, out, run={**run, "config": "other"}, metrics=metrics)
    with pytest.raises(ConfigError, match="ClapScorer"):
        evaluate(bench, sep, tmp_path / "r2", metrics=("clap",))
    assert rows[0]["models"] == "test" and "profile" not in rows[0]


def test_resume_reads_a_run_json_that_names_the_model_set_profile(tmp_path: Path) -> None:
    bench = _bench(tmp_path / "bench")
    out = tmp_path / "old"
    out.mkdir()
    metrics = ["sdr"]
    old = {"benchmark": "folder", "config": "half", "profile": "tiny-random", "metrics": metrics}
    (out / "run.json").write_text(json.dumps(old))  # written before "models" had its name
    run = {"benchmark": "folder", "config": "half", "models": "tiny-random"}
    rows = evaluate(bench, _Half(), out, run=run, metrics=metrics, limit=1, progress=False)
    assert len(rows) == 1 and rows[0]["models"] == "tiny-random"
    with pytest.raises(ConfigError, match=r"models differ: \['tiny-random'\] vs \['paper'\]"):
        evaluate(bench, _Half(), out, run={**run, "models": "paper"}, metrics=metrics)


def test_held_lock_stops_evaluate_before_it_writes(tmp_path: Path) -> None:
    bench = _bench(tmp_path / "bench", n=1)
    out = tmp_path / "res"
    sep = _Half()
    holder = ResultsLog(out / RESULTS_FILE)
    with holder.lock():
        with pytest.raises(ResultsLockedError, match="another evaluation is writing there"):
            evaluate(bench, sep, out, run={"config": "half"}, metrics=("sdr",), progress=False)
        assert sep.calls == 0 and sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    rows = evaluate(bench, sep, out, run={"config": "half"}, metrics=("sdr",), progress=False)
    assert [r["id"] for r in rows] == ["0"] and sep.calls == 1  # released: the next run works


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable,
        "-m",
        "eventsep",
        "evaluate",
        "--benchmark",
        "tiny",
        "--config",
        "mixture",
        "--models",
        "tiny-random",
        "--out",
        str(out),
        "--limit",
        "4",
        "--quiet",
        *extra,
    ]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _assert_rows_equal(got: list[dict], want: list[dict]) -> None:
    """Equal rows except timings; floats to 1e-6 (BLAS threads may change the last bits)."""
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w)
        for key in g.keys() - {"timing"}:
            if isinstance(w[key], float):
                assert g[key] == pytest.approx(w[key], rel=1e-6, abs=1e-9), (g["id"], key)
            else:
                assert g[key] == w[key], (g["id"], key)


def _wait_for(path: Path, proc: subprocess.Popen, lines: int = 0) -> None:
    """Wait until ``path`` exists (and has ``lines`` newlines) while ``proc`` runs."""
    deadline = time.monotonic() + 80
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and path.read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    raise AssertionError(f"{path} did not appear")


def test_second_writer_on_the_same_folder_stops_at_once(tmp_path: Path) -> None:
    out = tmp_path / "res"
    first = _cli(out, "--throttle", "3.0", "--metrics", "sdr")  # >= 12 s holding the lock
    _wait_for(out / LOCK_FILE, first)
    second = _cli(out, "--metrics", "sdr")
    _, err = second.communicate()
    still_running = first.poll() is None
    out_first, err_first = first.communicate()
    assert second.returncode == 2
    message = err.decode().strip()
    assert len(message.splitlines()) == 1, message
    assert "eventsep evaluate: error:" in message and str(out) in message
    assert "another evaluation is writing there" in message
    assert still_running  # the second run gave up while the first one held the lock
    assert first.returncode == 0, err_first.decode()[-2000:]
    assert "4 rows" in out_first.decode()
    assert [r["id"] for r in load_rows(out)] == [it.id for it in B.read_benchmark("tiny")][:4]


def test_sigkill_midway_then_restart_equals_uninterrupted_run(tmp_path: Path) -> None:
    from eventsep.models.clap.scorer import ClapScorer

    bench = B.read_benchmark("tiny")  # built once in the shared test cache
    killed = tmp_path / "killed"
    proc = _cli(killed, "--throttle", "1.0")
    rows_file = killed / RESULTS_FILE
    _wait_for(rows_file, proc, lines=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(ResultsLog(rows_file).load(repair=False))
    assert 2 <= n_before < 4
    assert (killed / LOCK_FILE).is_file()  # left behind by the killed holder: must not block
    restart = _cli(killed)
    out, err = restart.communicate()
    assert restart.returncode == 0, err.decode()[-2000:]
    assert "4 rows" in out.decode()
    run = json.loads((killed / "run.json").read_text())
    assert run["benchmark"] == "tiny" and run["config"] == "mixture"
    assert run["protocol"] == "corrected"
    # the uninterrupted reference run, in-process through the same harness
    clean = evaluate(
        bench,
        lambda waveform, sample_rate, prompt: waveform,
        tmp_path / "fresh",
        run={
            k: run[k]
            for k in ("benchmark", "config", "protocol", "config_fields", "models", "data")
        },
        clap=ClapScorer.tiny_random(),
        limit=4,
        progress=False,
    )
    resumed = load_rows(killed)
    ids = [r["id"] for r in resumed]
    assert len(ids) == len(set(ids)) == 4
    _assert_rows_equal(resumed, clean)
    assert {r["protocol"] for r in resumed} == {"corrected"}  # the row records the protocol
    assert all(r["clap"] is not None and r["stoi"] is not None for r in clean)


def test_cli_models_folder_is_recorded_and_used_for_clap(tmp_path: Path, capsys) -> None:
    from eventsep.cli import main

    folder = tmp_path / "ckpts"
    folder.mkdir()
    base = ["evaluate", "--benchmark", "tiny", "--config", "mixture", "--limit", "1", "--quiet"]
    out = tmp_path / "res"
    argv = [*base, "--models", str(folder), "--metrics", "sdr", "--out", str(out)]
    assert main(argv) == 0
    assert json.loads((out / "run.json").read_text())["models"] == str(folder.resolve())
    assert load_rows(out)[0]["models"] == str(folder.resolve())
    # CLAP metrics with a folder: the real scorer, looked up in that folder
    argv = [*base, "--models", str(folder), "--metrics", "clap", "--out", str(tmp_path / "r2")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "clap-music-speech" in err and str(folder) in err


def test_second_writer_stops_before_loading_models(tmp_path: Path, monkeypatch, capsys) -> None:
    from eventsep.cli import evaluate as cli_evaluate
    from eventsep.cli import main

    def load_models(*args, **kwargs):
        raise AssertionError("models were loaded although --out is locked")

    monkeypatch.setattr(cli_evaluate, "build_separator", load_models)
    out = tmp_path / "res"
    argv = ["evaluate", "--benchmark", "tiny", "--config", "eventsep", "--out", str(out)]
    with ResultsLog(out / RESULTS_FILE).lock():  # another writer holds the folder
        assert main([*argv, "--models", "tiny-random", "--quiet"]) == 2
    assert "another evaluation is writing there" in capsys.readouterr().err
    assert not (out / RESULTS_FILE).exists() and not (out / "run.json").exists()
