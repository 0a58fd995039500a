"""torchrun evaluation: sharding, per-rank rows, merge, resume (two gloo processes on CPU)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from eventsep.core.errors import ConfigError
from eventsep.evaluation import benchmarks as B
from eventsep.evaluation.distributed import Rank, evaluate_distributed, from_env, shard
from eventsep.evaluation.evaluate import (
    RESULTS_FILE,
    ResultsLog,
    evaluate,
    load_rows,
    merge_rows,
    rank_file,
    rank_files,
)

REPO = Path(__file__).resolve().parents[1]


def test_from_env_reads_the_torchrun_variables() -> None:
    assert from_env({}) == Rank(0, 1, 0)
    assert from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Rank(3, 4, 1)
    assert from_env({"RANK": "1", "WORLD_SIZE": "2"}).local_rank == 1
    with pytest.raises(ConfigError, match="RANK=2 and WORLD_SIZE=2"):
        from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="not an integer"):
        from_env({"WORLD_SIZE": "two"})


def test_shards_hold_every_item_once() -> None:
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert parts[0] == [0, 3, 6, 9] and parts[2] == [2, 5, 8]
    assert sorted(i for p in parts for i in p) == items


def test_merge_rows_keeps_each_clip_once_in_benchmark_order(tmp_path: Path) -> None:
    ResultsLog(tmp_path / RESULTS_FILE).append({"id": "b", "v": 0})
    ResultsLog(tmp_path / rank_file(1)).append({"id": "c", "v": 1})
    ResultsLog(tmp_path / rank_file(1)).append({"id": "b", "v": 1})  # rows.jsonl wins
    ResultsLog(tmp_path / rank_file(0)).append({"id": "a", "v": 0})
    (tmp_path / rank_file(0)).open("ab").write(b'{"id": "x"')  # torn by a kill: ignored
    assert [p.name for p in rank_files(tmp_path)] == ["rows.rank0.jsonl", "rows.rank1.jsonl"]
    merged = merge_rows(tmp_path, ["a", "b", "c"])
    assert [(r["id"], r["v"]) for r in merged] == [("a", 0), ("b", 0), ("c", 1)]
    assert load_rows(tmp_path) == merged and rank_files(tmp_path) == []


def _bench(tmp_path: Path, n: int = 4) -> B.Benchmark:
    from eventsep.core.audio import save_audio

    g = torch.Generator().manual_seed(0)
    rows = ["idx,caption,src_wav,noise_wav"]
    for i in range(n):
        ref = torch.randn(16000, generator=g) * 0.1
        save_audio(tmp_path / f"segment-{i}.wav", ref, 16000, subtype="FLOAT")
        mix = ref + 0.1 * torch.randn(16000, generator=g)
        save_audio(tmp_path / f"mixture-{i}.wav", mix, 16000, subtype="FLOAT")
        rows.append(f"{i},label{i},a.wav,b.wav")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    return B.read_benchmark("folder", tmp_path)


def test_single_process_run_resumes_and_merges_an_interrupted_torchrun(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    out = tmp_path / "res"
    calls = []

    def separate(waveform, sample_rate, prompt):  # noqa: ANN001, ANN202
        calls.append(1)
        return 0.5 * waveform

    want = evaluate(bench, separate, tmp_path / "clean", metrics=("sdr",), progress=False)
    # as if rank 1 of two had finished clip "1" before the launch was killed
    ResultsLog(out / rank_file(1)).append(want[1])
    calls.clear()
    rows = evaluate_distributed(
        bench, separate, out, rank=Rank(0, 1, 0), metrics=("sdr",), progress=False
    )
    assert len(calls) == 3  # clip "1" was not recomputed
    assert [r["id"] for r in rows] == ["0", "1", "2", "3"] == [r["id"] for r in load_rows(out)]
    assert [r["sdr"] for r in rows] == pytest.approx([r["sdr"] for r in want])
    assert rank_files(out) == []


def _torchrun(out: Path, *extra: str, nproc: int = 2) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "eventsep",
        "evaluate",
        "--benchmark",
        "tiny",
        "--models",
        "tiny-random",
        "--out",
        str(out),
        "--limit",
        "5",
        "--metrics",
        "sdr,si_sdr",
        "--quiet",
        *extra,
    ]
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _assert_same_rows(got: list[dict], want: list[dict], rel: float) -> None:
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert set(g) == set(w)
        for key in g.keys() - {"timing"}:
            if isinstance(w[key], float):
                assert g[key] == pytest.approx(w[key], rel=rel, abs=1e-6), (g["id"], key)
            else:
                assert g[key] == w[key], (g["id"], key)


@pytest.mark.slow
def test_torchrun_two_processes_equal_a_single_process_run(tmp_path: Path) -> None:
    from eventsep.cli.evaluate import build_separator, resolve_config

    torch.set_num_threads(1)  # the reference run in this process, next to two workers
    out = tmp_path / "dist"
    proc = _torchrun(out, "--config", "eventsep", "--batch-size", "2")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    assert stdout.decode().count("5 rows in") == 1  # rank 0 alone reports
    run = json.loads((out / "run.json").read_text())
    name, fields = resolve_config("eventsep")
    want = evaluate(
        B.read_benchmark("tiny"),
        build_separator(name, fields, "tiny-random", None),
        tmp_path / "single",
        run={k: run[k] for k in ("benchmark", "config", "protocol", "config_fields", "models")}
        | {"data": run["data"]},
        metrics=("sdr", "si_sdr"),
        limit=5,
        progress=False,
    )
    got = load_rows(out)
    assert len({r["id"] for r in got}) == len(got) == 5 and rank_files(out) == []
    _assert_same_rows(got, want, rel=1e-4)


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants (torchrun starts workers in their own sessions)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{name}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in tree:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the workers in /proc")
def test_torchrun_killed_midway_resumes_each_clip_once(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    proc = _torchrun(out, "--config", "mixture", "--throttle", "1.5")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(ResultsLog(p).load(repair=False).__len__() for p in rank_files(out)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
    _kill_tree(proc.pid)  # the launcher and both workers, mid-run
    proc.communicate()
    partial = [r["id"] for p in rank_files(out) for r in ResultsLog(p).load(repair=False)]
    assert 2 <= len(partial) < 5 and not (out / RESULTS_FILE).exists()
    restart = _torchrun(out, "--config", "mixture")
    stdout, stderr = restart.communicate(timeout=600)
    assert restart.returncode == 0, stderr.decode()[-3000:]
    assert "5 rows in" in stdout.decode()
    rows = load_rows(out)
    assert [r["id"] for r in rows] == [it.id for it in B.read_benchmark("tiny")][:5]
    assert rank_files(out) == []
    clean = evaluate(
        B.read_benchmark("tiny"),
        lambda waveform, sample_rate, prompt: waveform,
        tmp_path / "clean",
        run={k: v for k, v in json.loads((out / "run.json").read_text()).items()},
        metrics=("sdr", "si_sdr"),
        limit=5,
        progress=False,
    )
    _assert_same_rows(rows, clean, rel=1e-6)
