"""One demo run without a web server: audio file and settings in, files, figures and report out.

:func:`run_demo` is what the web app's button calls and what the demo notebook calls headless
(papermill, CI); it needs neither Gradio nor a browser. It checks the input the same way the
command line does (so a bad file or prompt raises the same one-line
:class:`~eventsep.core.errors.EventSepError`), runs the pipeline once and writes the estimate, the
residual and the JSON report into a folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from eventsep.core.audio import load_audio, save_audio
from eventsep.core.errors import AudioFileNotFoundError
from eventsep.core.io import write_json_atomic
from eventsep.core.prompts import check_prompt
from eventsep.demo.limits import DemoLimits, check_upload
from eventsep.evaluation.examples import examples_dir
from eventsep.paper.plot import sed_activity, sed_activity_figure, spectrogram

__all__ = [
    "DemoExample",
    "DemoRun",
    "activity_figure",
    "list_examples",
    "parse_exclusions",
    "run_demo",
    "spectrogram_figure",
]


@dataclass(frozen=True)
class DemoExample:
    """A bundled example mixture offered by the demo.

    Attributes
    ----------
    name : str
        Mixture name (``"dog_over_cow"``).
    path : Path
        The audio file (32 kHz FLAC).
    prompt : str
        The prompt its metadata names as the target.
    """

    name: str
    path: Path
    prompt: str


@dataclass(frozen=True, eq=False)
class DemoRun:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    estimate_path, residual_path, report_path : Path
        The estimate and the residual (mixture minus estimate), 32 kHz WAV, and the JSON report.
    report : dict
        The report written to ``report_path`` (:meth:`EventSepResult.report`, with the
        exclusions, plus input and models).
    result : EventSepResult
        The pipeline's result, every intermediate included.
    """

    estimate_path: Path
    residual_path: Path
    report_path: Path
    report: dict[str, Any]
    result: Any

    @property
    def notes(self) -> tuple[str, ...]:
        """The pipeline's remarks about the run (mask skipped, target not detected...)."""
        return tuple(self.result.notes)


def list_examples(folder: str | os.PathLike | None = None) -> list[DemoExample]:
    """The example mixtures in ``folder/mixtures`` (default: the bundled ``examples/``).

    Each ``<name>.json`` beside a ``<name>.flac`` (or ``.wav``) names the prompt. Returns an empty
    list when the folder is missing (e.g. a wheel install without the examples).
    """
    root = Path(folder) if folder is not None else examples_dir(check=False)
    found = []
    for meta in sorted((root / "mixtures").glob("*.json")):
        audio = next(
            (meta.with_suffix(s) for s in (".flac", ".wav") if meta.with_suffix(s).is_file()),
            None,
        )
        if audio is None:
            continue
        try:
            prompt = str(json.loads(meta.read_text(encoding="utf-8"))["prompt"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(DemoExample(meta.stem, audio.resolve(), prompt))
    return found


def parse_exclusions(text: str | Sequence[str] | None) -> list[str]:
    """Exclusion prompts typed as one comma- or newline-separated string (or given as a list).

    >>> parse_exclusions("speech, music\\n  dog ")
    ['speech', 'music', 'dog']
    >>> parse_exclusions("")
    []
    """
    if text is None:
        return []
    parts = re.split(r"[,\n;]", text) if isinstance(text, str) else list(text)
    return [" ".join(p.split()) for p in parts if p and p.strip()]


def run_demo(
    pipe: Any,
    audio: str | os.PathLike,
    prompt: str,
    out_dir: str | os.PathLike,
    *,
    exclude: str | Sequence[str] | None = None,
    mask: str | None = None,
    threshold: float | None = None,
    mode: str | None = None,
    fusion: str | None = None,
    limits: DemoLimits | None = None,
) -> DemoRun:
    """Separate what ``prompt`` describes from the file ``audio``; write the results to ``out_dir``.

    Parameters
    ----------
    pipe : EventSep
        A loaded pipeline (e.g. ``EventSep.from_pretrained("tiny-random")``).
    audio : path
        Any audio file :func:`eventsep.core.audio.load_audio` reads (any rate; channels averaged).
    prompt : str
        Text description of the target sound.
    out_dir : path
        Folder for ``estimate.wav``, ``residual.wav`` (32 kHz) and ``report.json`` (created).
    exclude : str or sequence of str, optional
        Sounds to leave out (:func:`parse_exclusions`); passed to the pipeline as ``exclude=``
        only when there is at least one.
    mask, threshold, mode, fusion : optional
        Mask kind, its threshold tau, output mode and fusion rule for this run; ``None`` keeps
        the pipeline's setting (:class:`~eventsep.method.config.EventSepConfig`).
    limits : DemoLimits, optional
        Upload size and duration limits (defaults of :class:`DemoLimits`).

    Returns
    -------
    DemoRun

    Raises
    ------
    EventSepError
        The same one-line errors as ``eventsep separate``: :class:`PromptError` (empty prompt),
        :class:`AudioError` subclasses (missing, empty, corrupt, silent, too long or too large
        file), :class:`ConfigError` (unknown mode, mask kind, fusion rule, or a setting the
        pipeline does not take).
    """
    limits = limits or DemoLimits()
    prompt = check_prompt(prompt)
    if audio is None or str(audio) == "":
        raise AudioFileNotFoundError("no audio: upload or record a file, or pick an example")
    check_upload(audio, limits)
    x, sr = load_audio(audio, mono=True, max_seconds=limits.max_seconds)

    overrides: dict[str, Any] = {}
    for name, value in (("mask", mask), ("threshold", threshold), ("mode", mode)):
        if value is not None:
            overrides[name] = float(value) if name == "threshold" else value
    if fusion is not None:
        overrides["fusion"] = {"rule": fusion}
    excluded = parse_exclusions(exclude)
    if excluded:
        overrides["exclude"] = excluded
    result = pipe(x[0], sr, prompt, **overrides)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    estimate = result.estimate.detach().to("cpu", torch.float32)
    residual = result.residual.detach().to("cpu", torch.float32)
    paths = (out / "estimate.wav", out / "residual.wav", out / "report.json")
    report = {
        "input": Path(audio).name,
        "models": getattr(pipe, "models", None),
        **result.report(),
    }
    save_audio(paths[0], estimate, result.sample_rate)
    save_audio(paths[1], residual, result.sample_rate)
    write_json_atomic(paths[2], report)
    return DemoRun(*paths, report=report, result=result)


def activity_figure(run: DemoRun) -> Any:
    """Figure 2 for this run: spectrogram, class activity and the time mask.

    Returns a :class:`matplotlib.figure.Figure` (no pyplot state). With the mask off (no SED
    probabilities) the figure says so under the input's spectrogram.
    """
    from matplotlib.figure import Figure

    r = run.result
    title = f"input, prompt {r.prompt!r}"
    if r.all_probs is None:
        fig = Figure(figsize=(12, 3.5), layout="constrained")
        ax = fig.subplots()
        spectrogram(ax, r.mixture, r.sample_rate, title=f"{title}: {'; '.join(r.notes)}")
        return fig
    fig, (axes,) = sed_activity_figure(1)
    sed_activity(
        axes,
        r.mixture,
        r.sample_rate,
        r.all_probs,
        list(r.match.indices),
        frames_per_second=r.frames_per_second,
        threshold=r.config.threshold,
        title=title,
    )
    if r.frame_mask is not None:
        mask = r.frame_mask.detach().to("cpu", torch.float32).numpy()
        t = torch.arange(mask.shape[0]).numpy() / float(r.frames_per_second)
        axes[2].plot(t, mask, color="black", lw=1.0, label=f"applied ({r.config.mask})")
        axes[2].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return fig


def spectrogram_figure(run: DemoRun) -> Any:
    """Spectrograms of the input (top) and the estimate (bottom), 32 kHz, as one Figure."""
    from matplotlib.figure import Figure

    r = run.result
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    spectrogram(top, r.mixture, r.sample_rate, title="input")
    spectrogram(bottom, r.estimate, r.sample_rate, title=f"estimate ({r.config.mode})")
    return fig
