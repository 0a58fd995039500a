"""One run, every figure of issue 14: per clip vs the reference code, gated vs ungated, batching,
mixed-precision drift, and (on CUDA) the Table 1 configuration over many clips.

Sections (``--sections``, all by default):

``clip``
    SED + AudioSep per 10 s clip, fp32: the reference implementations (PANNs
    ``Cnn14_DecisionLevelAtt`` from qiuqiangkong/audioset_tagging_cnn, AudioSep ``ResUNet30`` from
    Audio-AGI/AudioSep) vs eventsep, on the SAME full-size random weights (outputs compared
    too). The reference code is read from ``--reference-dir`` (or ``$EVENTSEP_REFERENCE_DIR``):
    a folder holding ``AudioSep/`` and ``audioset_tagging_cnn/`` checkouts and, optionally,
    ``site/`` with extra packages (``pip install --target DIR/site torchlibrosa==0.1.0``).
    Without one, both repositories are cloned into a temporary folder (needs network) that is
    deleted afterwards; nothing is ever written into this repository.
``gate``
    A long recording (``--gate-seconds``, 600) with the target active ``--gate-active`` of the
    time (0.1) in ``--gate-events`` events: SED + AudioSep (``--gate-mode ensemble`` adds
    FlowSep with ``segment="full"``) with and without event gating. Each run is its own
    subprocess, so its peak RSS is its own. The detector is the full-size Cnn14 (timed as it
    is), its target column replaced by the known schedule, so the mask is known. The gated
    estimate is checked against the ungated one on the active samples.
``batch``
    clips/s at batch 1/8/32, fp32 and bf16, with peak memory: ``batching_table`` and
    ``format_table`` of ``benchmarks/bench_batching.py`` (on CUDA when there is one).
``drift``
    Mixed precision: relative L2 drift of bf16 against fp32 per stage (SED probabilities,
    AudioSep, FlowSep, fused estimate) on full-size random weights, ``--drift-seconds`` of input
    (FlowSep always regenerates one 10.24 s segment; ``--drift-steps`` Euler steps).
``gpu``
    Only where CUDA exists: the Table 1 EventSep configuration (the paper's best settings,
    ``--flowsep-steps`` 20) over ``--gpu-clips`` 10 s clips, at ``--precision``.

``--quick`` shrinks everything to show that it works (2 s clips, tiny models for the gate and
drift sections, a 60 s recording with one 6 s event, 4 GPU clips); its numbers are not the
benchmark's.

Usage::

    python benchmarks/bench_pipeline.py --quick --reference-dir /tmp/refs
    python benchmarks/bench_pipeline.py --threads 2 --reference-dir /tmp/refs
    python benchmarks/bench_pipeline.py --sections gpu --gpu-clips 1000 --precision bf16
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

SR = 32000
HERE = Path(__file__).resolve().parent
REPOS = {
    "AudioSep": "https://github.com/Audio-AGI/AudioSep",
    "audioset_tagging_cnn": "https://github.com/qiuqiangkong/audioset_tagging_cnn",
}


# ---------------------------------------------------------------------------- helpers
def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _timed(fn, repeats: int) -> list[float]:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (VmHWM: unlike ru_maxrss, it is not
    inherited from the parent across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _audiosep(full: bool, seed: int = 0):  # noqa: ANN202
    """AudioSep with a full-size (or tiny) random ResUNet30 and a 1-layer text tower."""
    from eventsep.core.seeding import seeded_init_
    from eventsep.models.separators.audiosep import RANDOM_INIT, AudioSepSeparator
    from eventsep.models.separators.clap_text import ClapTextEncoder, clap_text_config
    from eventsep.models.separators.resunet import ResUNet30
    from eventsep.models.tiny import tiny_tokenizer

    if not full:
        return AudioSepSeparator.tiny_random(seed=seed)
    tok = tiny_tokenizer("roberta")
    text = ClapTextEncoder(clap_text_config(vocab_size=len(tok), num_hidden_layers=1), tok)
    text = seeded_init_(text, seed, RANDOM_INIT)
    sep = seeded_init_(ResUNet30(), seed + 1, RANDOM_INIT)
    return AudioSepSeparator(sep, text).eval()


def _sed(full: bool, seed: int = 0):  # noqa: ANN202
    from eventsep.core.seeding import seeded_init_
    from eventsep.models.sed import RANDOM_INIT, Cnn14SED

    if not full:
        return Cnn14SED.tiny_random("att", seed=seed)
    return seeded_init_(Cnn14SED(head="att"), seed, RANDOM_INIT).eval()


def _flowsep(full: bool, seed: int = 0):  # noqa: ANN202
    from eventsep.models.separators.flowsep import FlowSepSeparator, full_config

    if not full:
        return FlowSepSeparator.tiny_random(seed=seed)
    return FlowSepSeparator.from_config(full_config(), seed=seed).eval()


# ---------------------------------------------------------------------------- reference code
def _librosa_shim() -> types.ModuleType:
    """The few librosa functions torchlibrosa 0.1.0 calls while building its constant kernels.

    Used only when librosa is not installed; it touches the constants (window, mel matrix), not
    the computation being timed.
    """
    from scipy.signal import get_window

    from eventsep.core.dsp import slaney_mel_filterbank

    def pad_center(data, size, axis=-1):  # noqa: ANN001, ANN202
        n = data.shape[axis]
        lpad = (size - n) // 2
        widths = [(0, 0)] * data.ndim
        widths[axis] = (lpad, size - n - lpad)
        return np.pad(data, widths)

    def mel(sr, n_fft, n_mels=128, fmin=0.0, fmax=None, **_):  # noqa: ANN001, ANN202
        fb = slaney_mel_filterbank(sr, n_fft, n_mels, fmin, fmax or sr / 2)
        return np.asarray(fb)  # (n_mels, bins) like librosa

    def window_sumsquare(window, n_frames, hop_length, win_length, n_fft, dtype, norm=None):  # noqa: ANN001, ANN202
        w = pad_center(get_window(window, win_length, fftbins=True) ** 2, n_fft)
        x = np.zeros(n_fft + hop_length * (n_frames - 1), dtype=dtype)
        for i in range(n_frames):
            s = i * hop_length
            x[s : s + n_fft] += w[: max(0, min(n_fft, len(x) - s))]
        return x

    lib = types.ModuleType("librosa")
    lib.filters = types.SimpleNamespace(
        get_window=lambda w, n, fftbins=True: get_window(w, n, fftbins=fftbins),
        mel=mel,
        window_sumsquare=window_sumsquare,
    )
    lib.util = types.SimpleNamespace(
        pad_center=pad_center,
        normalize=lambda x, norm=None, **_: x,
        exceptions=types.SimpleNamespace(ParameterError=ValueError),
    )
    return lib


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def reference_dir(given: str | None):  # noqa: ANN201
    """The folder with the reference checkouts: given, from the environment, or cloned now."""
    given = given or os.environ.get("EVENTSEP_REFERENCE_DIR")
    if given:
        yield Path(given)
        return
    with tempfile.TemporaryDirectory(prefix="eventsep-ref-") as tmp:
        for name, url in REPOS.items():
            r = subprocess.run(
                ["git", "clone", "-q", "--depth", "1", url, str(Path(tmp) / name)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if r.returncode != 0:
                raise RuntimeError(
                    f"could not clone {url} ({r.stderr.strip()[:200]}); pass --reference-dir "
                    "DIR holding AudioSep/ and audioset_tagging_cnn/ checkouts"
                )
        yield Path(tmp)


def load_reference(root: Path) -> tuple[type, type]:
    """``(ResUNet30, Cnn14_DecisionLevelAtt)`` classes of the reference repositories."""
    site = root / "site"
    if site.is_dir() and str(site) not in sys.path:
        sys.path.insert(0, str(site))
    import transformers  # noqa: F401 - imported before the shim exists (it probes librosa)

    shim = False
    try:
        import librosa  # noqa: F401
    except ImportError:
        sys.modules["librosa"] = _librosa_shim()
        shim = True
        print("(librosa not installed: torchlibrosa builds its constants with a small shim)")
    try:
        import torchlibrosa.augmentation  # noqa: F401
        import torchlibrosa.stft  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            f"the reference code needs torchlibrosa: pip install --target {site} "
            "torchlibrosa==0.1.0"
        ) from exc
    audiosep = root / "AudioSep" / "models"
    pkg = types.ModuleType("models")  # AudioSep's models/ has no __init__.py
    pkg.__path__ = [str(audiosep)]
    saved = sys.modules.get("models")
    sys.modules["models"] = pkg
    try:
        _load_file("models.base", audiosep / "base.py")
        resunet = _load_file("models.resunet", audiosep / "resunet.py")
    finally:
        if saved is not None:
            sys.modules["models"] = saved
        else:
            sys.modules.pop("models", None)
    panns = root / "audioset_tagging_cnn" / "pytorch"
    _load_file("pytorch_utils", panns / "pytorch_utils.py")
    models = _load_file("panns_models", panns / "models.py")
    if shim:  # torchlibrosa holds its reference; nothing else should find the shim
        sys.modules.pop("librosa", None)
    return resunet.ResUNet30, models.Cnn14_DecisionLevelAtt


def section_clip(args: argparse.Namespace) -> None:
    """SED + AudioSep per clip: reference code vs eventsep, same weights, fp32."""
    seconds = 2.0 if args.quick else args.clip_seconds
    repeats = 1 if args.quick else args.repeats
    print(f"\n## Per clip: SED + AudioSep, {seconds:g} s, fp32, {torch.get_num_threads()} threads")
    try:
        with reference_dir(args.reference_dir) as root:
            RefResUNet, RefCnn14 = load_reference(root)
    except Exception as exc:  # noqa: BLE001 - a benchmark section reports and moves on
        print(f"skipped: reference code unavailable: {exc}")
        return
    sed = _sed(True)
    sep = _audiosep(True)
    ref_sed = RefCnn14(SR, 1024, 320, 64, 50, 14000, 527).eval()
    missing, unexpected = ref_sed.load_state_dict(sed.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("spectrogram", "logmel")) for k in missing)
    ref_sep = RefResUNet(input_channels=1, output_channels=1, condition_size=512).eval()
    state = {k: v.contiguous() for k, v in sep.separator.state_dict().items()}
    missing, unexpected = ref_sep.load_state_dict(state, strict=False)
    assert not unexpected and all(".stft." in k or ".istft." in k for k in missing), missing
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(1, int(seconds * SR), generator=g)
    cond = torch.nn.functional.normalize(torch.randn(1, 512, generator=g), dim=-1)

    def ref_run() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            p = ref_sed(x)["framewise_output"]
            y = ref_sep({"mixture": x[:, None], "condition": cond})["waveform"][:, 0]
        return p, y

    def ours_run() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            p = sed.detect(x, SR)
            y = sep.separate_32k(x, cond)
        return p, y

    # warm-up on a short input, then alternate so both see the same machine load
    with torch.no_grad():
        ref_sed(x[:, :SR])
        sep.separate_32k(x[:, :SR], cond)
    t_ref, t_ours = [], []
    for _ in range(repeats):
        t_ref += _timed(ref_run, 1)
        t_ours += _timed(ours_run, 1)
    p_ref, y_ref = ref_run()
    p_ours, y_ours = ours_run()
    n = min(p_ref.shape[1], p_ours.shape[1])
    print("| implementation | min s | median s | per 10 s (min) |")
    print("|---|---|---|---|")
    for name, t in (("reference (PANNs + AudioSep)", t_ref), ("eventsep", t_ours)):
        print(f"| {name} | {min(t):.2f} | {np.median(t):.2f} | {min(t) * 10 / seconds:.2f} |")
    print(f"speed-up (min over min): {min(t_ref) / min(t_ours):.2f}x")
    print(
        f"outputs: SED max abs diff {float((p_ref[:, :n] - p_ours[:, :n]).abs().max()):.1e}, "
        f"AudioSep rel. L2 diff {_rel(y_ours, y_ref):.1e}"
    )


# ---------------------------------------------------------------------------- gating
def _schedule(seconds: float, active: float, events: int) -> list[tuple[float, float]]:
    """``events`` equal events covering ``active`` of ``seconds``, evenly spread."""
    length = seconds * active / events
    gap = seconds / events
    return [(i * gap + (gap - length) / 2, i * gap + (gap + length) / 2) for i in range(events)]


def gate_child(spec: dict) -> dict:
    """One gated or ungated run (in its own process); returns timings and peak memory."""
    from eventsep.method.mapping import LabelMatch
    from eventsep.method.pipeline import EventSep

    torch.set_num_threads(spec["threads"])
    full = spec["full"]
    sed = _sed(full)
    events = spec["events"]

    class Detector(torch.nn.Module):
        """The random Cnn14 (timed as it is) with target class 0 set to the known schedule."""

        frames_per_second = 100

        def __init__(self) -> None:
            super().__init__()
            self.sed = sed

        def detect(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
            probs = self.sed.detect(waveform, sample_rate)
            probs[..., 0] = 0.0
            for a, b in events:
                probs[:, int(a * 100) : int(b * 100) + 1, 0] = 0.9
            return probs

    def mapper(prompt: str, method: str = "default") -> LabelMatch:
        return LabelMatch("Speech", 0, 0.9, method, ("Speech",), (0,), True, "")

    flowsep = _flowsep(full) if spec["mode"] == "ensemble" else None
    pipe = EventSep(mapper, Detector(), _audiosep(full), flowsep)
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(int(spec["seconds"] * SR), generator=g)
    kw = {"mode": spec["mode"], "gate_floor": spec["floor"], "flowsep_steps": spec["steps"]}
    if spec["mode"] == "ensemble":
        kw["segment"] = "full"
    pipe(x[: 2 * SR], SR, "speech", **kw)  # warm-up
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    result = pipe(x, SR, "speech", **kw)
    wall = time.perf_counter() - t0
    torch.save(result.estimate, spec["out"])
    return {
        "wall_s": wall,
        "timings": {k: round(v, 2) for k, v in result.timings.items()},
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss0,
    }


def section_gate(args: argparse.Namespace) -> None:
    seconds = 60.0 if args.quick else args.gate_seconds
    full = not args.quick
    n_events = 1 if args.quick else args.gate_events  # quick: one 6 s event in 60 s
    events = _schedule(seconds, args.gate_active, n_events)
    steps = 1 if args.quick else args.gate_steps
    print(
        f"\n## Gated vs ungated: {seconds:g} s recording, target active {args.gate_active:.0%} "
        f"({n_events} events), mode {args.gate_mode}, "
        f"{'full-size' if full else 'tiny'} random weights, {args.threads} threads"
    )
    rows = {}
    with tempfile.TemporaryDirectory(prefix="eventsep-gate-") as tmp:
        for name, floor in (("ungated", 0.0), ("gated", args.gate_floor)):
            spec = {
                "full": full,
                "seconds": seconds,
                "events": events,
                "mode": args.gate_mode,
                "floor": floor,
                "steps": steps,
                "threads": args.threads,
                "out": str(Path(tmp) / f"{name}.pt"),
            }
            r = subprocess.run(
                [sys.executable, __file__, "--gate-child", json.dumps(spec)],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                print(f"skipped: {name} run failed:\n{r.stderr[-2000:]}")
                return
            rows[name] = json.loads(r.stdout.strip().splitlines()[-1])
            rows[name]["out"] = spec["out"]
        a = torch.load(rows["gated"]["out"])
        b = torch.load(rows["ungated"]["out"])
    on = torch.zeros(a.shape[-1], dtype=torch.bool)
    for s, e in events:
        on[int(s * SR) : int(e * SR)] = True
    print("| run | wall s | stage s | peak RSS MB | RSS before call MB |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['wall_s']:.1f} | {r['timings']} | {r['peak_rss_mb']:.0f} | "
            f"{r['rss_before_mb']:.0f} |"
        )
    print(f"speed-up: {rows['ungated']['wall_s'] / rows['gated']['wall_s']:.2f}x")
    print(
        f"gated vs ungated on active samples: rel. L2 {_rel(a[on], b[on]):.1e}; "
        f"inactive samples that are exact zeros: {float((a[~on] == 0).float().mean()):.0%}"
    )


# ---------------------------------------------------------------------------- batching
def section_batch(args: argparse.Namespace) -> None:
    print("\n## Batching: clips/s at batch 1/8/32, fp32 and bf16, peak memory")
    path = HERE / "bench_batching.py"
    if not path.is_file():
        print("skipped: benchmarks/bench_batching.py is not in this checkout")
        return
    module = _load_file("bench_batching", path)
    table = getattr(module, "batching_table", None)
    if table is None:
        print("skipped: bench_batching.py has no batching_table(quick=, device=, threads=)")
        return
    device = "cuda" if torch.cuda.is_available() else args.device
    rows = table(quick=args.quick, device=device, threads=args.threads)
    print(module.format_table(rows))


# ---------------------------------------------------------------------------- precision drift
def section_drift(args: argparse.Namespace) -> None:
    from eventsep.core.precision import autocast_context
    from eventsep.method.fusion import FusionConfig, STFTFusion

    full = not args.quick
    dtype = "bf16"
    device = args.device
    if device == "cpu" and args.precision == "fp16":
        print("\n## Precision drift: fp16 needs CUDA; measuring bf16")
    elif args.precision != "fp32":
        dtype = args.precision
    steps = 2 if args.quick else args.drift_steps
    print(
        f"\n## Precision drift, {dtype} vs fp32 on {device}: "
        f"{'full-size' if full else 'tiny'} random weights, {args.drift_seconds:g} s input, "
        f"FlowSep {steps} steps"
    )
    g = torch.Generator().manual_seed(0)
    x = (0.1 * torch.randn(int(args.drift_seconds * SR), generator=g)).to(device)
    rows = []
    sed = _sed(full).to(device)
    with torch.inference_mode():
        p32 = sed.detect(x, SR)
        with autocast_context(dtype, device):
            p16 = sed.detect(x, SR)
    rows.append(("SED probabilities", p16, p32))
    del sed
    sep = _audiosep(full).to(device)
    with torch.inference_mode():
        a32 = sep.extract(x, SR, "dog barking").waveform
        a16 = sep.extract(x, SR, "dog barking", autocast=dtype).waveform
    rows.append(("AudioSep", a16, a32))
    del sep
    flow = _flowsep(full).to(device)
    with torch.inference_mode():
        f32 = flow.extract(x, SR, "dog barking", steps=steps, seed=0)
        f16 = flow.extract(x, SR, "dog barking", steps=steps, seed=0, autocast=dtype)
    rows.append(("FlowSep", f16.waveform, f32.waveform))
    del flow
    fuser, cfg = STFTFusion(), FusionConfig()
    fused32 = fuser(a32, f32.waveform, f32.start, f32.length, config=cfg)
    fused16 = fuser(a16, f16.waveform, f16.start, f16.length, config=cfg)
    rows.append(("fused (rate rule)", fused16, fused32))
    print("| stage | rel. L2 drift | max abs drift | dtype out |")
    print("|---|---|---|---|")
    for name, lo, hi in rows:
        dtype_out = str(lo.dtype).replace("torch.", "")
        lo, hi = lo.float().cpu(), hi.float().cpu()
        drift = float((lo - hi).abs().max())
        print(f"| {name} | {_rel(lo, hi):.2e} | {drift:.2e} | {dtype_out} |")


# ---------------------------------------------------------------------------- GPU
def section_gpu(args: argparse.Namespace) -> None:
    print("\n## GPU: Table 1 EventSep configuration")
    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return
    from eventsep.method.mapping import LabelMatch
    from eventsep.method.pipeline import EventSep

    clips = 4 if args.quick else args.gpu_clips

    def mapper(prompt: str, method: str = "default") -> LabelMatch:
        return LabelMatch("Dog", 74, 0.9, method, ("Dog",), (74,), True, "")

    full = not args.quick
    pipe = EventSep(mapper, _sed(full), _audiosep(full), _flowsep(full))
    for module in pipe._modules():
        module.to("cuda")
    g = torch.Generator().manual_seed(0)
    xs = [0.1 * torch.randn(10 * SR, generator=g) for _ in range(min(clips, 8))]
    kw = {"flowsep_steps": args.flowsep_steps, "precision": args.precision}
    pipe(xs[0], SR, "dog barking", **kw)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(clips):
        pipe(xs[i % len(xs)], SR, "dog barking", **kw)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    print(
        f"{clips} clips of 10 s, {args.flowsep_steps} FlowSep steps, {args.precision}: "
        f"{wall:.1f} s ({clips / wall:.2f} clips/s), peak allocated "
        f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB on {torch.cuda.get_device_name()}"
    )


SECTIONS = {
    "clip": section_clip,
    "gate": section_gate,
    "batch": section_batch,
    "drift": section_drift,
    "gpu": section_gpu,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, to show that it works")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (2)")
    p.add_argument("--device", default="cpu", help="device of the drift section (cpu)")
    p.add_argument("--reference-dir", default=None, help="AudioSep/ + audioset_tagging_cnn/")
    p.add_argument("--clip-seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per implementation")
    p.add_argument("--gate-seconds", type=float, default=600.0)
    p.add_argument("--gate-active", type=float, default=0.1, help="share of time active")
    p.add_argument("--gate-events", type=int, default=6, help="events the activity is split in")
    p.add_argument("--gate-floor", type=float, default=0.05)
    p.add_argument("--gate-mode", choices=["audiosep", "ensemble"], default="audiosep")
    p.add_argument("--gate-steps", type=int, default=20, help="FlowSep steps (ensemble mode)")
    p.add_argument("--drift-seconds", type=float, default=2.0)
    p.add_argument("--drift-steps", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="bf16")
    p.add_argument("--flowsep-steps", type=int, default=20)
    p.add_argument("--gpu-clips", type=int, default=1000)
    p.add_argument("--gate-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.gate_child:
        print(json.dumps(gate_child(json.loads(args.gate_child))))
        return 0
    print(
        f"# eventsep pipeline benchmark ({'quick' if args.quick else 'full'}): torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, CUDA "
        f"{torch.cuda.is_available()}"
    )
    for name in args.sections.split(","):
        if name not in SECTIONS:
            p.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
        SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
