"""Benchmark AudioSep separation: speed and peak memory versus input length; STFT back-ends.

Full-size ResUNet30 with deterministic random weights (speed does not depend on the values).
Each input length runs in a fresh subprocess so peak memory (CPU: max RSS; GPU: max allocated)
belongs to that length alone. ``--max-chunks N`` runs the network on the first N chunks only and
passes the other chunks through unchanged (the output buffer, chunk loop and cross-fades still
cover the whole input), then extrapolates the time to the whole input; the table says so.

Usage::

    python benchmarks/bench_audiosep.py                       # 10, 60, 600 s on CPU
    python benchmarks/bench_audiosep.py --max-chunks 2 --threads 2
    python benchmarks/bench_audiosep.py --device cuda --batch-chunks 4
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

SR = 32000


def _build(device: str, batch_chunks: int, autocast: str | None):  # noqa: ANN202
    from eventsep.core.seeding import seeded_init_
    from eventsep.models.separators.audiosep import RANDOM_INIT, AudioSepSeparator
    from eventsep.models.separators.clap_text import ClapTextEncoder, clap_text_config
    from eventsep.models.separators.resunet import ResUNet30
    from eventsep.models.tiny import tiny_tokenizer

    tok = tiny_tokenizer("roberta")
    text = ClapTextEncoder(clap_text_config(vocab_size=len(tok), num_hidden_layers=1), tok)
    sep = seeded_init_(ResUNet30(), 0, RANDOM_INIT)
    return AudioSepSeparator(sep, text, batch_chunks=batch_chunks, autocast=autocast).to(device)


def run_one(seconds: float, device: str, max_chunks: int | None, batch_chunks: int, ac) -> dict:  # noqa: ANN001
    """Separate ``seconds`` of noise once (after a 1 s warm-up); time and peak memory."""
    from eventsep.models.separators import chunking

    model = _build(device, batch_chunks, ac)
    cond = torch.nn.functional.normalize(torch.randn(1, 512), dim=-1).to(device)
    model.separate_32k(torch.randn(1, SR, device=device) * 0.1, cond)  # warm-up
    x = 0.1 * torch.randn(1, int(seconds * SR), device=device)
    spans = chunking.chunk_starts(x.shape[1], model.chunk, model.overlap)
    computed = len(spans) if max_chunks is None else min(max_chunks, len(spans))
    if computed < len(spans):
        inner = model.separator.forward
        calls = {"n": 0}

        def limited(mixture, condition):  # noqa: ANN001, ANN202
            calls["n"] += 1
            return inner(mixture, condition) if calls["n"] <= computed else mixture

        model.separator.forward = limited
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model.separate_32k(x, cond)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    samples_computed = sum(e - s for s, e in spans[:computed])
    samples_total = sum(e - s for s, e in spans)
    est_total = elapsed * samples_total / samples_computed
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "seconds": seconds,
        "chunks": len(spans),
        "computed_chunks": computed,
        "measured_s": elapsed,
        "est_total_s": est_total,
        "s_per_10s": est_total / seconds * 10,
        "peak_mb": peak_mb,
    }


def _dft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    win = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    ang = 2 * math.pi * k[:, None] * n[None] / n_fft
    return (torch.cos(ang) * win).float()[:, None], (-torch.sin(ang) * win).float()[:, None]


def conv_stft_roundtrip(x: torch.Tensor, kr, ki, n_fft: int = 2048, hop: int = 320):  # noqa: ANN001, ANN201
    """Conv1d STFT + conv-transpose ISTFT like the reference's torchlibrosa path (for timing)."""
    xp = F.pad(x[:, None], (n_fft // 2, n_fft // 2), mode="reflect")
    re, im = F.conv1d(xp, kr, stride=hop), F.conv1d(xp, ki, stride=hop)
    # inverse: real IDFT per frame with the synthesis window, overlap-add, divide by window sum
    w = torch.ones(n_fft // 2 + 1, device=x.device)
    w[1:-1] = 2
    frames = F.conv_transpose1d(re * w[None, :, None] / n_fft, kr, stride=hop) + F.conv_transpose1d(
        im * w[None, :, None] / n_fft, ki, stride=hop
    )
    win2 = torch.hann_window(n_fft, periodic=True, device=x.device).square()
    env = F.conv_transpose1d(
        torch.ones(1, 1, re.shape[-1], device=x.device), win2[None, None], stride=hop
    )
    y = frames / env.clamp_min(1e-11)
    return y[:, 0, n_fft // 2 : n_fft // 2 + x.shape[-1]]


def stft_compare(device: str, seconds: float = 10.0, reps: int = 5) -> dict:
    from eventsep.models.separators.resunet import ResUNet30

    m = ResUNet30(channels=(4, 4, 4, 4, 4, 4)).to(device)
    x = 0.1 * torch.randn(1, int(seconds * SR), device=device)
    kr, ki = (k.to(device) for k in _dft_kernels(2048))

    def torch_path() -> torch.Tensor:
        return m.istft(m.stft(x), x.shape[-1])

    def conv_path() -> torch.Tensor:
        return conv_stft_roundtrip(x, kr, ki)

    out = {}
    for name, fn in (("torch.stft/istft", torch_path), ("conv STFT/ISTFT", conv_path)):
        with torch.no_grad():
            y = fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(reps):
                y = fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
        out[name] = {
            "s_per_roundtrip": (time.perf_counter() - t0) / reps,
            "recon_rel_err": ((y - x).norm() / x.norm()).item(),
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0, 600.0])
    p.add_argument("--max-chunks", type=int, default=None)
    p.add_argument("--batch-chunks", type=int, default=1)
    p.add_argument("--autocast", choices=["bf16", "fp16"], default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one is not None:
        print(
            json.dumps(
                run_one(args.one, args.device, args.max_chunks, args.batch_chunks, args.autocast)
            )
        )
        return 0
    print(
        f"device={args.device} threads={torch.get_num_threads()} autocast={args.autocast} "
        f"batch_chunks={args.batch_chunks} max_chunks={args.max_chunks}"
    )
    print("| input s | chunks | computed | measured s | est. total s | s per 10 s | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for sec in args.seconds:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(sec),
            "--device",
            args.device,
            "--batch-chunks",
            str(args.batch_chunks),
        ]
        if args.max_chunks:
            cmd += ["--max-chunks", str(args.max_chunks)]
        if args.autocast:
            cmd += ["--autocast", args.autocast]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {r['seconds']:.0f} | {r['chunks']} | {r['computed_chunks']} | "
            f"{r['measured_s']:.2f} | {r['est_total_s']:.1f} | {r['s_per_10s']:.2f} | "
            f"{r['peak_mb']:.0f} |"
        )
    print("\nSTFT + ISTFT round trip of 10 s:")
    print("| path | s per round trip | reconstruction rel. error |")
    print("|---|---|---|")
    for name, r in stft_compare(args.device).items():
        print(f"| {name} | {r['s_per_roundtrip']:.4f} | {r['recon_rel_err']:.2e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
