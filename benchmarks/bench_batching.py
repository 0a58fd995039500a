"""Benchmark batched EventSep: clips per second and peak memory per batch size and precision.

Runs the whole pipeline (:meth:`eventsep.method.pipeline.EventSep.batch`: SED, AudioSep, FlowSep,
fusion) on random 10 s clips with full-size deterministic random weights (speed does not depend on
the
values), for batch sizes 1/8/32 in fp32 and bf16. Each (precision, batch size) cell runs in a
fresh subprocess, so its peak memory (CPU: max RSS of the process, weights included; CUDA: max
allocated) is its own; one warm-up batch of one clip precedes the timed batch.

bf16 runs the models under ``torch.autocast`` (until the pipeline's own precision option lands,
the precision stays a parameter of :func:`batching_table`). A cell that fails (e.g. an operator
without a bf16 kernel on this device) is reported with its error instead of stopping the table.

``--quick`` uses the tiny-random model set, 1 s clips, 2 FlowSep steps and batch sizes 1 and 4:
a check that everything runs, in seconds, not a measurement.

Usage::

    python benchmarks/bench_batching.py --quick
    python benchmarks/bench_batching.py --device cuda                # 1/8/32 x fp32/bf16
    python benchmarks/bench_batching.py --batch-sizes 1 8 --precisions fp32 --steps 20

From another script (``benchmarks/bench_pipeline.py``)::

    from bench_batching import batching_table, format_table
    print(format_table(batching_table(quick=True)))
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

SR = 32000
PROMPTS = ("dog barking", "a car engine", "someone speaking", "birds singing")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _build(models: str, device: str):  # noqa: ANN202
    """The pipeline: ``tiny-random``, or ``full`` (published sizes, random weights)."""
    from eventsep.method.pipeline import EventSep

    if models == "tiny-random":
        return EventSep.from_pretrained("tiny-random", device=device)
    from eventsep.core.seeding import seeded_init_
    from eventsep.method.mapping import PromptMapper
    from eventsep.models.sed import RANDOM_INIT as SED_INIT
    from eventsep.models.sed import Cnn14SED
    from eventsep.models.separators.audiosep import RANDOM_INIT, AudioSepSeparator
    from eventsep.models.separators.clap_text import ClapTextEncoder, clap_text_config
    from eventsep.models.separators.flowsep import FlowSepSeparator, full_config
    from eventsep.models.separators.resunet import ResUNet30
    from eventsep.models.tiny import tiny_tokenizer

    sed = seeded_init_(Cnn14SED(head="max"), 0, SED_INIT)
    tok = tiny_tokenizer("roberta")  # full text tower widths, one layer: its cost is negligible
    text = seeded_init_(
        ClapTextEncoder(clap_text_config(vocab_size=len(tok), num_hidden_layers=1), tok),
        0,
        RANDOM_INIT,
    )
    audiosep = AudioSepSeparator(seeded_init_(ResUNet30(), 1, RANDOM_INIT), text)
    flowsep = FlowSepSeparator.from_config(full_config(), tiny_tokenizer("t5"), seed=0)
    pipe = EventSep(PromptMapper(), {"max": sed}, audiosep, flowsep, models="full-random")
    return pipe.to(device)


def _precision(name: str, device: str) -> contextlib.AbstractContextManager:
    if name not in PRECISIONS:
        raise SystemExit(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[name]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def run_cell(
    batch_size: int, precision: str, *, models: str, device: str, seconds: float, steps: int
) -> dict[str, Any]:
    """Time one batch of ``batch_size`` clips (after a one-clip warm-up) in this process."""
    pipe = _build(models, device)
    gen = torch.Generator().manual_seed(0)
    clips = [
        (0.1 * torch.randn(int(seconds * SR), generator=gen), PROMPTS[i % len(PROMPTS)])
        for i in range(batch_size)
    ]
    options = {"flowsep_steps": steps, "sed_head": "max" if models != "tiny-random" else "att"}
    cuda = torch.device(device).type == "cuda"
    with _precision(precision, device):
        pipe.batch(clips[:1], SR, **options)  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        results = pipe.batch(clips, SR, **options)
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    finite = all(bool(torch.isfinite(r.estimate).all()) for r in results)
    return {
        "batch_size": batch_size,
        "precision": precision,
        "seconds": elapsed,
        "clips_per_s": batch_size / elapsed,
        "peak_mib": peak,
        "memory": "cuda max allocated" if cuda else "max RSS",
        "finite": finite,
        "error": None,
    }


def batching_table(
    batch_sizes: Sequence[int] = (1, 8, 32),
    precisions: Sequence[str] = ("fp32", "bf16"),
    *,
    models: str = "full",
    device: str = "cpu",
    seconds: float = 10.0,
    steps: int = 20,
    threads: int | None = None,
    quick: bool = False,
) -> list[dict[str, Any]]:
    """Clips/s and peak memory of :meth:`EventSep.batch` per precision and batch size.

    Parameters
    ----------
    batch_sizes : sequence of int
        Clips per batch (one timed batch each).
    precisions : sequence of {"fp32", "bf16", "fp16"}
        Autocast dtype of the models (fp32: none).
    models : {"full", "tiny-random"}
        Full-size random weights, or the tiny test models.
    device : str
        Torch device.
    seconds : float
        Clip length in seconds.
    steps : int
        FlowSep Euler steps.
    threads : int, optional
        Torch intra-op threads of each cell (CPU).
    quick : bool
        Tiny models, 1 s clips, 2 steps, batch sizes 1 and 4 (overrides the above).

    Returns
    -------
    list of dict
        One row per cell: ``batch_size, precision, seconds, clips_per_s, peak_mib, memory,
        finite, error`` (``error`` is the failure's last line, the numbers then None).
    """
    if quick:
        models, seconds, steps, batch_sizes = "tiny-random", 1.0, 2, (1, 4)
    rows = []
    for precision in precisions:
        for size in batch_sizes:
            cell = {
                "batch_size": int(size),
                "precision": precision,
                "models": models,
                "device": device,
                "seconds": seconds,
                "steps": steps,
                "threads": threads,
            }
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--cell", json.dumps(cell)],
                capture_output=True,
                text=True,
                check=False,
            )
            lines = proc.stdout.strip().splitlines()
            if proc.returncode == 0 and lines:
                rows.append(json.loads(lines[-1]))
                continue
            err = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            rows.append(
                {
                    "batch_size": int(size),
                    "precision": precision,
                    "seconds": None,
                    "clips_per_s": None,
                    "peak_mib": None,
                    "memory": None,
                    "finite": None,
                    "error": err[:200],
                }
            )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`batching_table` rows."""
    out = [
        "| precision | batch | clips/s | s per batch | peak memory (MiB) | finite |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("error"):
            out.append(f"| {r['precision']} | {r['batch_size']} | failed: {r['error']} | | | |")
            continue
        out.append(
            f"| {r['precision']} | {r['batch_size']} | {r['clips_per_s']:.3f} | "
            f"{r['seconds']:.2f} | {r['peak_mib']:.0f} ({r['memory']}) | {r['finite']} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny models, 1 s clips: runs in seconds")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=list(PRECISIONS))
    p.add_argument("--models", default="full", choices=["full", "tiny-random"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length (10)")
    p.add_argument("--steps", type=int, default=20, help="FlowSep Euler steps (20)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per cell")
    p.add_argument("--cell", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cell is not None:  # one cell, in this subprocess
        cell = json.loads(args.cell)
        threads = cell.pop("threads")
        if threads is not None:
            torch.set_num_threads(int(threads))
        print(json.dumps(run_cell(cell.pop("batch_size"), cell.pop("precision"), **cell)))
        return 0
    rows = batching_table(
        args.batch_sizes,
        args.precisions,
        models=args.models,
        device=args.device,
        seconds=args.seconds,
        steps=args.steps,
        threads=args.threads,
        quick=args.quick,
    )
    mode = (
        "quick: tiny-random, 1 s clips, 2 steps"
        if args.quick
        else (f"{args.models} models, {args.seconds:g} s clips, {args.steps} FlowSep steps")
    )
    print(f"EventSep.batch on {args.device} ({mode}), torch {torch.__version__}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
