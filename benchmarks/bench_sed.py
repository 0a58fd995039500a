"""SED time and memory on CPU for 10 s, 60 s and 600 s inputs (tiny and full-size Cnn14).

Each (model, duration) runs in a fresh subprocess. Reported per run:

- ``seconds``: wall time of ``Cnn14SED.forward`` on white noise (random weights, eval, no grad);
- ``rss_before``: process RSS (MiB) after the model and the input exist;
- ``peak_delta``: highest RSS during detection minus ``rss_before`` (sampled every 2 ms);
- ``output``: size of the returned ``(1, frames, 527)`` float32 tensor, which necessarily grows
  with duration;
- ``work``: ``peak_delta - output``, the memory the detector itself needs.

The detector processes windows of 2048 frames (20.5 s) plus 256 frames of context each side, so
``work`` stays flat with duration; the check at the end compares the 600 s and 60 s peaks.

Usage::

    python benchmarks/bench_sed.py [--sizes tiny full] [--seconds 10 60 600] [--head att]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time


def _child(size: str, seconds: float, head: str, threads: int) -> None:
    import psutil
    import torch

    from eventsep.core.seeding import seeded_init_
    from eventsep.models.sed import RANDOM_INIT, Cnn14SED

    torch.set_num_threads(threads)
    proc = psutil.Process()
    if size == "tiny":
        model = Cnn14SED.tiny_random(head)
    else:
        model = seeded_init_(Cnn14SED(head=head), 0, RANDOM_INIT).eval()
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(1, int(seconds * model.sample_rate), generator=g)
    with torch.no_grad():  # warm-up on 1 s so one-off allocations are not counted
        model(x[:, : model.sample_rate])
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    start = time.perf_counter()
    out = model(x)
    elapsed = time.perf_counter() - start
    done.set()
    t.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    mib = 2**20
    print(
        json.dumps(
            {
                "size": size,
                "seconds_audio": seconds,
                "seconds": elapsed,
                "rss_before": before / mib,
                "peak_delta": (peak[0] - before) / mib,
                "output": out.numel() * 4 / mib,
                "frames": out.shape[1],
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Cnn14 SED time and memory on CPU")
    ap.add_argument("--sizes", nargs="+", default=["tiny", "full"], choices=["tiny", "full"])
    ap.add_argument("--seconds", nargs="+", type=float, default=[10, 60, 600])
    ap.add_argument("--head", default="att", choices=["att", "max"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("SIZE", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child[0], float(args.child[1]), args.head, args.threads)
        return 0
    rows = []
    print(
        f"{'model':<6} {'audio s':>8} {'frames':>7} {'time s':>8} {'x realtime':>10} "
        f"{'rss MiB':>8} {'peak +MiB':>9} {'output MiB':>10} {'work MiB':>8}"
    )
    for size in args.sizes:
        for sec in args.seconds:
            cmd = [sys.executable, __file__, "--child", size, str(sec), "--head", args.head]
            cmd += ["--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append(r)
            work = r["peak_delta"] - r["output"]
            print(
                f"{size:<6} {sec:8.0f} {r['frames']:7d} {r['seconds']:8.2f} "
                f"{sec / r['seconds']:10.1f} {r['rss_before']:8.0f} {r['peak_delta']:9.1f} "
                f"{r['output']:10.1f} {work:8.1f}",
                flush=True,
            )
    for size in args.sizes:
        by = {r["seconds_audio"]: r for r in rows if r["size"] == size}
        if 60 in by and 600 in by:
            tot = [by[s]["rss_before"] + by[s]["peak_delta"] for s in (60, 600)]
            wk = [max(by[s]["peak_delta"] - by[s]["output"], 1e-9) for s in (60, 600)]
            print(
                f"{size}: peak RSS 600 s / 60 s = {tot[1] / tot[0]:.2f}x "
                f"(working memory {wk[1] / wk[0]:.2f}x; includes 600 s input and output tensors)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
