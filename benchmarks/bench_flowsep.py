"""Seconds per 10.24 s FlowSep segment by stage, full-size random weights.

Stages: T5 (FLAN-T5-large encoder, 50 tokens), VAE encode (log-mel + encoder), sampler (N Euler
steps = N UNet evaluations), VAE decode, vocoder (BigVGAN). The sampler is timed over
``--measure-steps`` UNet evaluations and scaled to 10 and 20 steps (steps cost the same), unless
``--measure-steps`` is 0, which runs the full 10- and 20-step samplers.

    python benchmarks/bench_flowsep.py [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from eventsep.models.separators.flowsep import (
    FLAN_T5_LARGE,
    FlowSepConfig,
    FlowSepSeparator,
    euler_sample,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device, repeats: int = 1):
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    _sync(device)
    return out, (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--measure-steps", type=int, default=2)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from eventsep.models.tiny import tiny_tokenizer

    t0 = time.perf_counter()
    model = FlowSepSeparator.from_config(
        FlowSepConfig(t5=dict(FLAN_T5_LARGE)), tiny_tokenizer("t5"), seed=0
    ).to(device)
    build_s = time.perf_counter() - t0
    params = {
        n: sum(p.numel() for p in getattr(model, n).parameters())
        for n in ("text_encoder", "vae", "unet", "vocoder")
    }
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.dtype)
    ctx = (lambda: torch.autocast(device.type, dtype=amp)) if amp else torch.no_grad
    wav = 0.3 * torch.randn(
        1, model.config.segment_samples, generator=torch.Generator().manual_seed(0)
    )
    wav = wav.to(device)
    gen = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad(), ctx():
        (hidden, mask), t_text = _timed(
            lambda: model.encode_text(["a dog barking in the rain"]), device
        )
        mix, t_enc = _timed(lambda: model.encode_latent(model.mel(wav), "sample", gen), device)
        noise = torch.randn(mix.shape, generator=gen).to(mix)

        def vel(x, t):
            return model.velocity(x, mix, t, hidden, mask)

        if args.measure_steps > 0:
            _, t_step = _timed(
                lambda: vel(noise, torch.tensor(0.5, device=device)), device, args.measure_steps
            )
            sampler = {10: 10 * t_step, 20: 20 * t_step}
            z = noise
        else:
            z, t10 = _timed(lambda: euler_sample(vel, noise, 10), device)
            _, t20 = _timed(lambda: euler_sample(vel, noise, 20), device)
            sampler = {10: t10, 20: t20}
            t_step = t20 / 20
        mel, t_dec = _timed(lambda: model.decode_latent(z.float()), device)
        _, t_voc = _timed(lambda: model.vocode(mel.float()), device)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (Linux: KiB)
    gpu_peak = torch.cuda.max_memory_allocated() / 1024**3 if device.type == "cuda" else None
    print(
        f"device={device} dtype={args.dtype} threads={torch.get_num_threads()} "
        f"build={build_s:.1f}s params(M)="
        + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in params.items())
    )
    how = f"mean of {args.measure_steps} evals, scaled" if args.measure_steps else "full runs"
    print(f"UNet step: {t_step:.3f} s ({how})")
    print("| steps | T5 s | VAE enc s | sampler s | VAE dec s | vocoder s | total s |")
    print("|---|---|---|---|---|---|---|")
    for n in (10, 20):
        total = t_text + t_enc + sampler[n] + t_dec + t_voc
        rows.append(total)
        cells = (t_text, t_enc, sampler[n], t_dec, t_voc, total)
        print(f"| {n} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    print(
        f"peak RSS {peak:.2f} GiB"
        + (f", peak GPU {gpu_peak:.2f} GiB" if gpu_peak is not None else "")
    )


if __name__ == "__main__":
    main()
