"""Evaluate the registry's experiments on benchmarks, resumably, with one set of models.

:class:`Study` is what notebooks 02-04 use: it loads one ``EventSep`` pipeline and one CLAP
scorer lazily, shares them between experiments, and writes each experiment's rows to
``<results_dir>/<benchmark>/<run name>/rows.jsonl`` through
:func:`eventsep.evaluation.evaluate.evaluate`.
An interrupted reproduction resumes where it stopped, and tables that show the same experiment
(AudioSep in Tables 1 and 2) share its folder. Which experiments a table needs, and the metrics
each is evaluated with, come from :mod:`eventsep.paper.experiments`; tables are built from
:meth:`Study.runs` with :mod:`eventsep.paper.tables`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from eventsep.evaluation.benchmarks import read_benchmark
from eventsep.evaluation.evaluate import evaluate
from eventsep.method.pipeline import EventSep, EventSepConfig
from eventsep.models import registry
from eventsep.paper import experiments
from eventsep.paper.experiments import Experiment, Protocol
from eventsep.paper.tables import load_runs

__all__ = ["Study"]


class Study:
    """Evaluate registry experiments on benchmarks with one shared set of models, resumably.

    Parameters
    ----------
    models : str
        Model set: ``"tiny-random"``, ``"paper"`` or a folder (argument of
        ``EventSep.from_pretrained``; recorded as ``models`` in every results folder).
    results_dir : path
        Root of the results folders.
    data_dir : path, optional
        Folder with one sub-folder per benchmark (not needed for ``tiny``).
    device : str
        Torch device.
    seed : int
        Seed of the pipeline's random draws.
    max_clips : int, optional
        Evaluate only the first ``max_clips`` clips of each benchmark.
    config_overrides : dict, optional
        ``EventSepConfig`` fields of the run profile, applied on top of every experiment's own
        fields and its protocol's (e.g. the smoke profile's 2 FlowSep steps, which would otherwise
        lose to the authors protocol's 20).
    protocol : str
        Protocol of the experiments looked up by name
        (:data:`eventsep.paper.experiments.PROTOCOLS`, built-in or added by
        :func:`~eventsep.paper.experiments.register_protocol`); its stages are those of the
        pipeline (:attr:`pipe`), its metric conventions and CLAP protocol those of the rows.
        Under ``"authors"`` the experiments' ``seed=None`` (unseeded FlowSep) wins over
        ``seed``.
    """

    def __init__(
        self,
        models: str,
        results_dir: str | os.PathLike[str],
        *,
        data_dir: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        seed: int = 0,
        max_clips: int | None = None,
        config_overrides: dict[str, Any] | None = None,
        protocol: str = experiments.DEFAULT_PROTOCOL,
    ) -> None:
        self.models = models
        self.config_overrides = dict(config_overrides or {})
        self.results_dir = Path(results_dir)
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.device = device
        self.seed = seed
        self.max_clips = max_clips
        self.protocol = experiments.check_protocol(protocol)
        self._pipe: Any = None  # the loaded pipeline (default stages)
        self._staged: tuple[Any, Any] | None = None  # (_pipe, _pipe with the protocol's stages)
        self._clap: Any = None

    @property
    def spec(self) -> Protocol:
        """The :class:`~eventsep.paper.experiments.Protocol` of this study."""
        return experiments.PROTOCOLS[self.protocol]

    @property
    def pipe(self) -> Any:
        """The shared ``EventSep`` pipeline with the protocol's stages (loaded on first use).

        The models are loaded once into ``_pipe``; this is ``_pipe.with_stages(...)`` with
        the protocol's :meth:`~eventsep.paper.experiments.Protocol.make_stages`.
        """
        if self._pipe is None:
            # an override may name the seed too (e.g. to seed the authors' unseeded FlowSep)
            config = EventSepConfig(**{"seed": self.seed, **self.config_overrides})
            self._pipe = EventSep.from_pretrained(self.models, device=self.device, config=config)
        if self._staged is None or self._staged[0] is not self._pipe:
            staged = self._pipe
            if callable(getattr(staged, "with_stages", None)):  # not a stand-in without stages
                staged = staged.with_stages(self.spec.make_stages())
            self._staged = (self._pipe, staged)
        return self._staged[1]

    @property
    def clap(self) -> Any:
        """The shared CLAP scorer of the model set and protocol (tiny-random: tiny-random)."""
        if self._clap is None:
            clap = self.spec.metrics.clap
            self._clap = registry.load_clap_scorer(self.models, device=self.device, protocol=clap)
        return self._clap

    def benchmark(self, name: str) -> Any:
        """Read benchmark ``name`` (``tiny`` is built from the bundled examples)."""
        if name == "tiny" or self.data_dir is None:
            return read_benchmark(name)
        return read_benchmark(name, self.data_dir / name)

    def plan(self, table: str) -> tuple[Experiment, ...]:
        """The experiments :meth:`run_table` evaluates for ``table`` (its rows, in order)."""
        return experiments.for_table(table, self.protocol)

    def run_table(self, table: str, benchmarks: str | Sequence[str]) -> None:
        """Evaluate every experiment of ``table`` on each of ``benchmarks``."""
        for benchmark in [benchmarks] if isinstance(benchmarks, str) else benchmarks:
            self.evaluate(benchmark, self.plan(table))

    def evaluate(self, benchmark: str, entries: Iterable[Experiment | str]) -> None:
        """Evaluate experiments (or their names) on ``benchmark``, each with its own metrics.

        Re-fused experiments (:attr:`Experiment.refuse`) are grouped by their shared
        ``mode="both"`` run, which is computed once per clip for the whole group.
        """
        single: list[Experiment] = []
        groups: dict[str, list[Experiment]] = {}
        for exp in experiments.resolve(entries, self.protocol):
            if exp.refuse:
                groups.setdefault(json.dumps(exp.shared_run(), sort_keys=True), []).append(exp)
            else:
                single.append(exp)
        bench = self.benchmark(benchmark)
        for exp in single:
            self._evaluate_one(bench, exp)
        for group in groups.values():
            self._evaluate_refused(bench, group)

    def runs(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Every results folder under ``results_dir``: ``(benchmark, run name) -> rows``."""
        return load_runs(self.results_dir) if self.results_dir.is_dir() else {}

    # ------------------------------------------------------------------------------ helpers
    def _run_info(self, bench: Any, exp: Experiment) -> dict[str, Any]:
        return {
            "benchmark": bench.name,
            "config": exp.run_name,
            "protocol": exp.protocol,
            "config_fields": self._fields(exp),
            "models": self.models,
            "seed": self.seed,
            "data": str(bench.root),
            "metric_conventions": self._conventions().to_dict(),
            "stages": self.spec.describe_stages(),
        }

    def _fields(self, exp: Experiment) -> dict[str, Any]:
        """``exp``'s config fields with the profile's ``config_overrides`` on top."""
        return {**exp.fields(), **self.config_overrides}

    def _conventions(self) -> Any:
        return self.spec.metrics

    def _clap_for(self, exp: Experiment) -> Any:
        return self.clap if {"clap", "clap_a"} & set(exp.metrics) else None

    def _evaluate_one(self, bench: Any, exp: Experiment) -> None:
        fields = self._fields(exp)

        def separate(waveform: Any, sample_rate: int, prompt: str) -> Any:
            if not exp.separates:
                return waveform
            return self.pipe(waveform, sample_rate, prompt, **fields)

        evaluate(
            bench,
            separate,
            self.results_dir / bench.name / exp.run_name,
            run=self._run_info(bench, exp),
            clap=self._clap_for(exp),
            metrics=exp.metrics,
            limit=self.max_clips,
            progress=False,
            conventions=self._conventions(),
        )

    def _evaluate_refused(self, bench: Any, group: Sequence[Experiment]) -> None:
        """Separate each clip once (the group's shared run) and fuse it with each rule."""
        shared = {**group[0].shared_run(), **self.config_overrides}
        items = list(bench)
        if self.max_clips is not None:
            items = items[: self.max_clips]
        for item in items:
            cache: dict[str, Any] = {}

            def both(waveform: Any, sample_rate: int, prompt: str, _c: dict = cache) -> Any:
                if "result" not in _c:
                    _c["result"] = self.pipe(waveform, sample_rate, prompt, **shared)
                return _c["result"]

            for exp in group:
                fields = exp.fields()

                def separate(
                    waveform: Any, sample_rate: int, prompt: str, _f: dict = fields, _both=both
                ) -> Any:
                    result = _both(waveform, sample_rate, prompt)
                    fused = self.pipe.fuse(result, **_f.get("fusion", {}))
                    config = result.config.replace(mode=_f["mode"], fusion=_f.get("fusion", {}))
                    return dataclasses.replace(result, estimate=fused, config=config)

                evaluate(
                    [item],
                    separate,
                    self.results_dir / bench.name / exp.run_name,
                    run=self._run_info(bench, exp),
                    clap=self._clap_for(exp),
                    metrics=exp.metrics,
                    progress=False,
                    conventions=self._conventions(),
                )
