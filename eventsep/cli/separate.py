"""``eventsep separate``: separate prompted sounds from audio files or folders.

For every input file and every ``--prompt`` it writes ``<name>_<prompt-slug>.wav`` (32 kHz,
float) and a JSON report beside it (matched classes, scores, target_present, mask coverage,
FlowSep span, timings, settings); ``--residual`` adds ``<name>_<prompt-slug>_residual.wav``
(mixture minus estimate, at 32 kHz). Models load once for all files and prompts. Files appear only
when complete (written to a temporary name, then renamed). Defaults come from
:class:`eventsep.method.pipeline.EventSepConfig`.

``--exclude P`` (repeatable) keeps the sounds P describes out of every estimate
(:mod:`eventsep.method.exclusion`); ``--classes "Dog; Bark"`` (once per ``--prompt``, in order)
names the AudioSet classes the time mask follows; ``--stems`` separates all prompts of a file in one
pass
(one SED pass shared, :mod:`eventsep.method.stems`) and writes ``<name>_<prompt-slug>.wav`` per
prompt plus ``<name>_residual.wav`` (mixture minus the sum of the stems).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from eventsep.cli.options import add_models_option, add_precision_option
from eventsep.core.audio import AUDIO_EXTENSIONS, find_audio_files, load_audio, save_audio
from eventsep.core.errors import ConfigError, PromptError
from eventsep.core.gating import CLI_GATE_FLOOR
from eventsep.core.io import write_json_atomic
from eventsep.core.prompts import check_prompt
from eventsep.method.fusion import FUSION_RULES, FusionConfig
from eventsep.method.mapping import match_classes
from eventsep.method.masks import MASK_KINDS
from eventsep.method.pipeline import EMPTY_MASK_POLICIES, MODES, EventSep, EventSepConfig

__all__ = ["output_stem", "prompt_slug", "register", "run"]

_DEFAULT_OUT = "separated"


def prompt_slug(prompt: str, max_len: int = 60) -> str:
    """File-name-safe form of a prompt: lower case, runs of other characters as ``-``.

    >>> prompt_slug("Dog barking!")
    'dog-barking'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:max_len].strip("-")
    return slug or "prompt"


def output_stem(path: Path, root: Path | None, out: Path, prompt: str) -> Path:
    """``out/<relative folder>/<name>_<slug>`` (no suffix) for ``path`` found under ``root``."""
    rel = path.parent.relative_to(root) if root is not None else Path()
    return out / rel / f"{path.stem}_{prompt_slug(prompt)}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``separate`` subcommand."""
    d = EventSepConfig()
    p = subparsers.add_parser(
        "separate",
        help="separate the sound a prompt describes from audio files or folders",
        description=(
            "Separate what each --prompt describes from every INPUT (a file, or a folder searched "
            f"recursively for {' '.join(AUDIO_EXTENSIONS)}). Writes <name>_<prompt>.wav (32 kHz) "
            "and <name>_<prompt>.json (matched classes, scores, target_present, mask coverage, "
            "timings) into --out. Models load once for all files and prompts."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    p.add_argument(
        "-p",
        "--prompt",
        action="append",
        required=True,
        help="text description of the target sound; repeat for several prompts",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="P",
        help="negative prompt: a sound to keep out of the estimate (repeatable)",
    )
    p.add_argument(
        "--classes",
        action="append",
        default=None,
        metavar="NAMES",
        help=(
            "AudioSet classes the time mask follows instead of the prompt's mapping, separated "
            "by ';' (e.g. \"Dog; Bark\"); give it once per --prompt, in the same order"
        ),
    )
    p.add_argument(
        "--stems",
        action="store_true",
        help=(
            "one pass per file for all prompts: a stem per prompt plus <name>_residual.wav "
            "(mixture minus the sum of the stems)"
        ),
    )
    p.add_argument(
        "-o",
        "--out",
        default=_DEFAULT_OUT,
        help="output folder (a folder input's sub-folders are mirrored inside it)",
    )
    p.add_argument("--mode", default=d.mode, help=f"what to output: {', '.join(MODES)}")
    p.add_argument(
        "--mask",
        default=d.mask,
        help=f"time-mask kind: {', '.join(MASK_KINDS)} ('none' turns SED masking off)",
    )
    p.add_argument("--threshold", type=float, default=d.threshold, help="mask threshold tau")
    p.add_argument(
        "--fusion", default=d.fusion.rule, help=f"fusion rule: {', '.join(FUSION_RULES)}"
    )
    p.add_argument(
        "--rate", type=float, default=d.fusion.rate, help="fusion rate a (FlowSep's share)"
    )
    p.add_argument(
        "--cutoff", type=float, default=d.fusion.cutoff_hz, help="band-rule cutoff f_c in Hz"
    )
    p.add_argument(
        "--bandlimit-8k",
        action="store_true",
        default=d.fusion.bandlimit_8k,
        help="band-limit the fused output to 8 kHz as the authors' code does",
    )
    p.add_argument(
        "--empty-mask",
        default=d.empty_mask,
        help=f"when the target is not detected: {', '.join(EMPTY_MASK_POLICIES)}",
    )
    p.add_argument("--steps", type=int, default=d.flowsep_steps, help="FlowSep sampler steps")
    p.add_argument(
        "--segment",
        default=d.segment,
        help="FlowSep span: random (paper), full (whole clip) or active (where the target is "
        "most active)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of FlowSep's random draws")
    p.add_argument(
        "--gate-floor",
        type=float,
        default=CLI_GATE_FLOOR,
        help="event gating: the separators skip chunks where the time mask stays below this "
        "floor (exact zeros there); 0 or --no-gate computes everything",
    )
    p.add_argument(
        "--no-gate",
        action="store_true",
        help="compute every chunk (the library default, as in the paper)",
    )
    add_precision_option(p)
    add_models_option(p)
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (CPU if not set)")
    p.add_argument(
        "--residual", action="store_true", help="also write mixture minus estimate (32 kHz)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or file list")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> EventSepConfig:
    return EventSepConfig(
        mode=args.mode,
        mask=args.mask,
        threshold=args.threshold,
        fusion=FusionConfig(
            rule=args.fusion, rate=args.rate, cutoff_hz=args.cutoff, bandlimit_8k=args.bandlimit_8k
        ),
        empty_mask=args.empty_mask,
        flowsep_steps=args.steps,
        segment=args.segment,
        seed=args.seed,
        gate_floor=0.0 if args.no_gate else args.gate_floor,
        precision=args.precision,
    )


def _classes(values: list[str] | None, n: int) -> list[str | None]:
    """``--classes`` per prompt: none given, or exactly one per ``--prompt``."""
    if not values:
        return [None] * n
    if len(values) != n:
        raise ConfigError(
            f"--classes given {len(values)} times for {n} --prompt values; give it once per "
            "prompt, in the same order"
        )
    for v in values:
        match_classes(v)  # an unknown class name fails before any model loads
    return list(values)


def _separate(pipe, path: Path, prompts, classes, exclude, stems: bool):  # noqa: ANN202
    """Results of every prompt on one file: one pass with ``stems``, else a call per prompt."""
    x, sr = load_audio(path, mono=True)
    if stems:
        out = pipe.separate_stems(x[0], sr, prompts, exclude=exclude, classes=classes)
        return _StemResults(out)
    return [
        pipe(x[0], sr, p, exclude=exclude, classes=c) for p, c in zip(prompts, classes, strict=True)
    ]


class _StemResults(list):
    """The per-prompt results of a :class:`~eventsep.method.stems.Stems` plus its residual."""

    def __init__(self, stems) -> None:  # noqa: ANN001
        super().__init__(stems.results)
        self.residual = stems.residual
        self.sample_rate = stems.sample_rate


def run(args: argparse.Namespace) -> int:
    """Run ``eventsep separate``; return the exit code.

    Everything that can be checked before loading models is checked first (prompts, options,
    inputs), so a bad call fails fast with one line and writes nothing.
    """
    import torch
    from tqdm import tqdm

    prompts = [" ".join(str(p).split()) for p in args.prompt]
    for p in prompts:
        if not p:
            raise PromptError("empty --prompt: describe the sound to separate, e.g. 'dog barking'")
    if len({prompt_slug(p) for p in prompts}) != len(prompts):
        raise ConfigError("two --prompt values give the same output name; make them differ")
    if args.stems and "residual" in {prompt_slug(p) for p in prompts}:
        raise ConfigError("with --stems no --prompt may be named 'residual' (the residual's file)")
    classes = _classes(args.classes, len(prompts))
    exclude = [check_prompt(e) for e in args.exclude]
    config = _config(args)

    jobs: list[tuple[Path, Path | None]] = []
    for item in args.inputs:
        path = Path(item)
        root = path if path.is_dir() else None
        jobs.extend((f, root) for f in find_audio_files(path))
    out = Path(args.out)
    planned: dict[Path, Path] = {}
    for f, root in jobs:
        for prompt in prompts:
            stem = output_stem(f, root, out, prompt)
            if stem in planned and planned[stem] != f:
                raise ConfigError(
                    f"{f} and {planned[stem]} would both write {stem}.wav; "
                    "pass them in separate calls or with different --out"
                )
            planned[stem] = f

    pipe = EventSep.from_pretrained(args.models, device=args.device, config=config)
    written = 0
    bar = tqdm(jobs, desc="separating", unit="file", disable=args.quiet or None, file=sys.stderr)
    for f, root in bar:
        results = _separate(pipe, f, prompts, classes, exclude, args.stems)
        if args.stems:
            residual_path = output_stem(f, root, out, "residual")
            residual_path = residual_path.with_name(residual_path.name + ".wav")
        for prompt, result in zip(prompts, results, strict=True):
            stem = output_stem(f, root, out, prompt)
            wav = stem.with_name(stem.name + ".wav")
            report = {
                "input": str(f),
                "output": str(wav),
                "models": args.models,
                **result.report(),
            }
            estimate = result.estimate.detach().to("cpu", torch.float32)
            residual = None
            if args.stems:
                report["stems_residual"] = str(residual_path)
            if args.residual:
                residual = result.residual.detach().to("cpu", torch.float32)
                res_path = stem.with_name(stem.name + "_residual.wav")
                report["residual"] = str(res_path)
            # write the audio first; the report, naming every file, last
            save_audio(wav, estimate, result.sample_rate)
            if residual is not None:
                save_audio(res_path, residual, result.sample_rate)
            write_json_atomic(stem.with_name(stem.name + ".json"), report)
            written += 1
            if not args.quiet:
                flag = "" if result.target_present else "  (target not detected)"
                tqdm.write(f"{wav}  <- {result.match.label}{flag}", file=sys.stderr)
        if args.stems:
            save_audio(residual_path, results.residual.to(torch.float32), results.sample_rate)
            if not args.quiet:
                tqdm.write(f"{residual_path}  <- residual", file=sys.stderr)
    if not args.quiet:
        print(f"wrote {written} estimate(s) to {out}", file=sys.stderr)
    return 0
