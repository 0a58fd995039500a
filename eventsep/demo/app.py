"""The Gradio web app of the demo: build it, serve it on 127.0.0.1, clean up after it.

Gradio is an optional dependency (``pip install eventsep[demo]``); this module imports it only
inside :func:`build_app` and :func:`serve`. Everything the app computes comes from
:func:`eventsep.demo.run.run_demo`; this module is layout and plumbing.

Safe and offline by default: the server binds to ``127.0.0.1``, makes no public share link unless
``share=True``, sends no analytics and checks no version online (:func:`offline_environment`),
uses system fonts (no font download), refuses uploads above the size limit, and keeps every
upload and output in one temporary folder that :meth:`DemoServer.close` removes.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsep.core.errors import ConfigError, EventSepError
from eventsep.demo.limits import DemoLimits
from eventsep.demo.run import activity_figure, list_examples, run_demo, spectrogram_figure
from eventsep.method.config import MODES, EventSepConfig
from eventsep.method.fusion import FUSION_RULES
from eventsep.method.masks import MASK_KINDS
from eventsep.method.pipeline import EventSep

__all__ = [
    "DEFAULT_HOST",
    "DemoServer",
    "PipelineLoader",
    "build_app",
    "offline_environment",
    "require_gradio",
    "serve",
]

#: Address the server binds to unless told otherwise (this machine only).
DEFAULT_HOST = "127.0.0.1"

#: Environment defaults that keep Gradio and the Hugging Face hub off the network.
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SSR_MODE": "False",
}

#: Age (seconds) after which a run's files and Gradio's copies of them are deleted.
_MAX_AGE_S = 3600

_SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")
_MONO_FONTS = ("ui-monospace", "monospace")


def offline_environment() -> None:
    """Set :data:`OFFLINE_ENV` (values already set are kept) and exempt localhost from proxies.

    Called before Gradio is imported: it reads some of these variables at import time.
    """
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    for key in ("NO_PROXY", "no_proxy"):
        have = [h for h in os.environ.get(key, "").split(",") if h]
        os.environ[key] = ",".join(dict.fromkeys([*have, "127.0.0.1", "localhost"]))


def require_gradio() -> Any:
    """Import Gradio offline (:func:`offline_environment`) or say how to install it."""
    offline_environment()
    try:
        import gradio
    except ModuleNotFoundError as exc:
        if exc.name != "gradio":
            raise
        raise ConfigError(
            "the demo needs Gradio: pip install 'eventsep[demo]' (or pip install gradio)"
        ) from None
    return gradio


class PipelineLoader:
    """Loads the pipeline of a model set once, on first use, for every session of the app.

    Parameters
    ----------
    models : str
        Model set (``"paper"``, ``"tiny-random"`` or a folder; :mod:`eventsep.models.registry`).
    device : str, optional
        Torch device (CPU if not set).
    factory : callable, optional
        ``factory(models, device) -> pipeline``; default :meth:`EventSep.from_pretrained` with
        ``config``.
    config : EventSepConfig, optional
        Default settings of the pipeline (the app's controls override mask, tau, mode and
        fusion per run).
    """

    def __init__(
        self,
        models: str,
        device: str | None = None,
        factory: Callable[[str, str | None], Any] | None = None,
        config: Any = None,
    ) -> None:
        self.models, self.device, self.config = models, device, config
        self._factory = factory or functools.partial(_from_pretrained, config=config)
        self._pipe: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the models are in memory."""
        return self._pipe is not None

    def __call__(self) -> Any:
        with self._lock:
            if self._pipe is None:
                self._pipe = self._factory(self.models, self.device)
            return self._pipe


def _from_pretrained(models: str, device: str | None, config: Any = None) -> Any:
    return EventSep.from_pretrained(models, device=device, config=config)


def _prune(folder: Path, max_age_s: float) -> None:
    """Delete the run folders in ``folder`` older than ``max_age_s`` seconds."""
    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_s
    for run in folder.iterdir():
        with contextlib.suppress(OSError):
            if run.stat().st_mtime < cutoff:
                shutil.rmtree(run, ignore_errors=True)


def _user_message(exc: EventSepError, path: Any) -> str:
    """The error's one line, with the server's temporary upload path shortened to the file name."""
    text = str(exc)
    if path:
        text = text.replace(str(path), Path(str(path)).name)
    return text


def build_app(
    loader: PipelineLoader,
    workdir: str | os.PathLike,
    *,
    limits: DemoLimits | None = None,
    examples_folder: str | os.PathLike | None = None,
) -> Any:
    """Build the demo's ``gradio.Blocks`` (not launched).

    Parameters
    ----------
    loader : PipelineLoader
        Gives the pipeline (loaded at the first run, with a progress message).
    workdir : path
        Folder for each run's output files (one sub-folder per run).
    limits : DemoLimits, optional
        Size and duration limits.
    examples_folder : path, optional
        Folder with ``mixtures/`` (default: the bundled examples).
    """
    gr = require_gradio()
    limits = limits or DemoLimits()
    workdir = Path(workdir)
    d = loader.config or EventSepConfig()  # the controls start at the pipeline's defaults
    examples = list_examples(examples_folder)

    def separate(audio, prompt, exclude, mask, tau, mode, fusion, progress=gr.Progress()):  # noqa: B008
        progress(0.05, desc="checking the input")
        _prune(workdir / "runs", max_age_s=_MAX_AGE_S)
        out = workdir / "runs" / uuid.uuid4().hex
        try:
            if not loader.loaded:
                progress(0.1, desc=f"loading the {loader.models} models (first run only)")
            pipe = loader()
            progress(0.3, desc="separating")
            run = run_demo(
                pipe,
                audio,
                prompt,
                out,
                exclude=exclude,
                mask=mask,
                threshold=tau,
                mode=mode,
                fusion=fusion,
                limits=limits,
            )
        except EventSepError as exc:
            shutil.rmtree(out, ignore_errors=True)
            raise gr.Error(_user_message(exc, audio), print_exception=False) from None
        progress(0.85, desc="plotting")
        notes = "; ".join(run.notes)
        status = f"matched **{run.result.match.label}**" + (f" ({notes})" if notes else "")
        files = [str(run.estimate_path), str(run.residual_path), str(run.report_path)]
        return (
            activity_figure(run),
            spectrogram_figure(run),
            str(run.estimate_path),
            str(run.residual_path),
            files,
            json.dumps(run.report, indent=2),
            status,
        )

    theme = gr.themes.Default(font=_SYSTEM_FONTS, font_mono=_MONO_FONTS)
    with gr.Blocks(
        title="EventSep demo", analytics_enabled=False, delete_cache=(600, _MAX_AGE_S)
    ) as app:
        app.eventsep_theme = theme  # applied by serve() (Gradio 6 takes the theme at launch)
        gr.Markdown(
            "# EventSep\nSeparate the sound a text prompt describes, only where it happens. "
            f"Models: **{loader.models}**. Inputs up to {limits.max_seconds:g} s and "
            f"{limits.max_upload_mb:g} MB."
        )
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(
                    sources=["upload", "microphone"],
                    type="filepath",
                    label="Input audio",
                    elem_id="input-audio",
                    buttons=["download"],
                )
                prompt = gr.Textbox(label="Prompt", placeholder="dog barking", elem_id="prompt")
                exclude = gr.Textbox(
                    label="Exclude (optional, comma-separated)",
                    placeholder="speech, music",
                    elem_id="exclude",
                )
                with gr.Row():
                    mask = gr.Dropdown(list(MASK_KINDS), value=d.mask, label="Mask kind")
                    tau = gr.Slider(0.05, 1.0, value=d.threshold, step=0.01, label="tau")
                with gr.Row():
                    mode = gr.Radio(list(MODES), value=d.mode, label="Mode")
                    fusion = gr.Dropdown(list(FUSION_RULES), value=d.fusion.rule, label="Fusion")
                button = gr.Button("Separate", variant="primary", elem_id="run")
                if examples:
                    gr.Examples(
                        [[str(e.path), e.prompt] for e in examples],
                        inputs=[audio, prompt],
                        label="Examples",
                    )
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                estimate = gr.Audio(
                    label="Estimate",
                    type="filepath",
                    format="wav",
                    elem_id="estimate",
                    buttons=["download"],
                )
                residual = gr.Audio(
                    label="Residual (input minus estimate)",
                    type="filepath",
                    format="wav",
                    elem_id="residual",
                    buttons=["download"],
                )
                downloads = gr.File(label="Downloads", file_count="multiple", elem_id="downloads")
        activity = gr.Plot(label="Activity and time mask", format="png", elem_id="activity")
        spectra = gr.Plot(label="Spectrograms", format="png", elem_id="spectrograms")
        # JSON as text: a JSON value whose dicts have a "path" key (e.g. the fusion settings)
        # would be taken for files by Gradio's clients
        report = gr.Code(label="Report", language="json", interactive=False, elem_id="report")
        button.click(
            separate,
            inputs=[audio, prompt, exclude, mask, tau, mode, fusion],
            outputs=[activity, spectra, estimate, residual, downloads, report, status],
            api_name="separate",
        )
    return app


@dataclass
class DemoServer:
    """A running demo (``serve(..., block=False)``): its address, app and temporary folder.

    Call :meth:`close` to stop it; that also removes every upload and output.
    """

    app: Any
    url: str
    workdir: Path
    _restore: dict[str, str | None] = field(default_factory=dict, repr=False)

    def close(self) -> None:
        """Stop the server and delete its temporary folder."""
        try:
            self.app.close(verbose=False)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
            _restore_env(self._restore)
            self._restore = {}

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    models: str = "paper",
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    share: bool = False,
    limits: DemoLimits | None = None,
    device: str | None = None,
    config: Any = None,
    block: bool = True,
    inline: bool | None = None,
    loader: PipelineLoader | None = None,
    quiet: bool = False,
) -> DemoServer:
    """Start the demo web app.

    Parameters
    ----------
    models : str
        Model set (``"paper"``, ``"tiny-random"`` or a checkpoint folder).
    host : str
        Address to bind to (default ``127.0.0.1``: this machine only).
    port : int, optional
        TCP port; ``None`` lets Gradio pick a free one from 7860.
    share : bool
        Ask Gradio for a public share link (needs the network; off by default).
    limits : DemoLimits, optional
        Upload size and duration limits.
    device : str, optional
        Torch device for the models.
    config : EventSepConfig, optional
        Default settings of the pipeline (e.g. fewer FlowSep steps).
    block : bool
        Serve until interrupted, then clean up (the command line); ``False`` returns the running
        :class:`DemoServer` at once (notebooks, tests).
    inline : bool, optional
        Show the app inline in a notebook (Gradio's default: in a notebook, yes).
    loader : PipelineLoader, optional
        Pipeline source (default: ``PipelineLoader(models, device, config=config)``).
    quiet : bool
        No startup messages from Gradio.

    Returns
    -------
    DemoServer
        With ``block=True`` it has already been closed when this returns.
    """
    require_gradio()
    limits = limits or DemoLimits()
    loader = loader or PipelineLoader(models, device, config=config)
    workdir = Path(tempfile.mkdtemp(prefix="eventsep-demo-"))
    # uploads and Gradio's own copies live in our folder, so close() removes all of them
    restore = {"GRADIO_TEMP_DIR": os.environ.get("GRADIO_TEMP_DIR")}
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "gradio")
    try:
        app = build_app(loader, workdir, limits=limits)
        app.queue(default_concurrency_limit=1)
        _, local_url, _ = app.launch(
            server_name=host,
            server_port=port,
            share=share,
            inline=inline,
            prevent_thread_lock=True,
            quiet=quiet,
            max_file_size=limits.max_upload_bytes,
            allowed_paths=[str(p.path.parent) for p in _examples()],
            theme=app.eventsep_theme,
            ssr_mode=False,
            show_error=True,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        _restore_env(restore)
        raise
    server = DemoServer(app, str(local_url), workdir, restore)
    # a kernel or interpreter that exits without close() still removes the files
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    if not block:
        return server
    # Ctrl-C and SIGTERM both stop the server and remove its files
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        app.block_thread()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.close()
    return server


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _examples() -> list[Any]:
    return list_examples()
