"""Evaluation on several processes, GPUs or nodes, launched by ``torchrun``.

``torchrun --nproc-per-node N -m eventsep evaluate ...`` starts N copies of the command; each
reads its place from the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``). :func:`evaluate_distributed` then

1. joins the process group (:func:`init`: ``gloo`` on CPU; with CUDA ``cuda:nccl`` next to
   ``cpu:gloo``, the latter carrying the few small messages this module sends);
2. lets rank 0 take the writer lock of ``rows.jsonl`` and check or write ``run.json`` while
   every other rank takes the lock of its own ``rows.rank<k>.jsonl``; if any of them fails,
   every rank stops with the same typed error and nothing is written;
3. shards the selected clips by rank (:func:`shard`: clip ``j`` belongs to rank
   ``j % world_size``, a fixed assignment, so no two ranks ever compute the same clip) and
   skips clips already in ``rows.jsonl`` or in any ``rows.rank*.jsonl``;
4. appends each finished row durably to the rank's own file (the single-writer
   :class:`~eventsep.evaluation.evaluate.ResultsLog`), batches included;
5. waits for every rank, and rank 0 merges the per-rank files into ``rows.jsonl``
   (:func:`eventsep.evaluation.evaluate.merge_rows`: every clip once, in benchmark order).

An interrupted run (any rank killed; torchrun then stops the others) resumes when the same
command is started again, with any number of processes, or as a single process.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from eventsep.core.batching import check_batch_size
from eventsep.core.errors import ConfigError, EventSepError, ResultsLockedError
from eventsep.evaluation import evaluate as E
from eventsep.evaluation.benchmarks import BENCHMARK_SAMPLE_RATE

__all__ = [
    "Rank",
    "evaluate_distributed",
    "finish",
    "from_env",
    "init",
    "is_distributed",
    "main_first",
    "shard",
]

T = TypeVar("T")

#: How long a rank waits for the others (at the final barrier: the slowest shard's lead).
TIMEOUT = datetime.timedelta(hours=12)


@dataclass(frozen=True)
class Rank:
    """This process's place in a ``torchrun`` launch.

    Attributes
    ----------
    rank : int
        Global rank, ``0 <= rank < world_size``.
    world_size : int
        Number of processes over all nodes.
    local_rank : int
        Rank on this node (which GPU to use).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that merges and reports)."""
        return self.rank == 0


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def from_env(env: Mapping[str, str] | None = None) -> Rank:
    """The :class:`Rank` that ``torchrun`` put in the environment (rank 0 of 1 without it).

    Raises
    ------
    ConfigError
        The variables are not integers or ``RANK`` is outside ``[0, WORLD_SIZE)``.
    """
    env = os.environ if env is None else env
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local = _env_int(env, "LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} and WORLD_SIZE={world} do not describe a process group")
    return Rank(rank, world, local)


def is_distributed(env: Mapping[str, str] | None = None) -> bool:
    """True when started by ``torchrun`` with more than one process."""
    return from_env(env).world_size > 1


def device_for(rank: Rank, device: str | None) -> str | None:
    """The device of this rank: ``"cuda"`` becomes ``"cuda:<local_rank>"``; others unchanged."""
    if device is not None and device == "cuda":
        return f"cuda:{rank.local_rank}"
    return device


def init(device: str | None = None) -> Rank:
    """Join the process group ``torchrun`` describes (no-op for a single process).

    The backend is ``gloo`` unless ``device`` is a CUDA device, then ``cpu:gloo,cuda:nccl``
    (NCCL for CUDA tensors, gloo for the CPU messages of :func:`evaluate_distributed`).
    """
    rank = from_env()
    if rank.world_size == 1 or dist.is_initialized():
        return rank
    cuda = device is not None and str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(rank.local_rank)
    dist.init_process_group(
        backend="cpu:gloo,cuda:nccl" if cuda else "gloo",
        rank=rank.rank,
        world_size=rank.world_size,
        timeout=TIMEOUT,
    )
    return rank


def finish() -> None:
    """Leave the process group (if one was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """The items rank ``rank`` of ``world_size`` processes: every ``world_size``-th from ``rank``.

    Together the shards hold every item exactly once; the assignment depends only on the item
    positions, so every rank computes it alike without communication.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} of {world_size} processes")
    return list(items[rank::world_size])


def _agree(code: int) -> int:
    """The largest ``code`` over all ranks (0 everywhere: all went well)."""
    if not dist.is_initialized():
        return code
    t = torch.tensor([code], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def _barrier() -> None:
    if dist.is_initialized():
        # a CPU all-reduce: goes through gloo whatever the CUDA backend is
        dist.all_reduce(torch.zeros(1), op=dist.ReduceOp.SUM)


@contextlib.contextmanager
def main_first(rank: Rank) -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (after rank 0 left it).

    For work that fills a shared cache (building the tiny benchmark, downloading or converting
    checkpoints): the other ranks then find it done instead of racing to write it. A failure
    on rank 0 stops every rank with :class:`~eventsep.core.errors.ConfigError`.
    """
    if rank.world_size == 1:
        yield
        return
    if rank.is_main:
        try:
            yield
        except BaseException:
            _agree(1)
            raise
        _agree(0)
    else:
        if _agree(0):
            raise ConfigError("rank 0 failed to prepare the run (see its message)")
        yield


_LOCKED, _CONFIG = 1, 2


def evaluate_distributed(
    items: Iterable[Any],
    separate: Any,
    out_dir: str | os.PathLike,
    *,
    rank: Rank | None = None,
    run: Mapping[str, Any] | None = None,
    clap: Any = None,
    metrics: Sequence[str] | None = None,
    limit: int | None = None,
    progress: bool = True,
    sample_rate: int | None = None,
    batch_size: int = 1,
    conventions: Any = None,
) -> list[dict[str, Any]]:
    """:func:`eventsep.evaluation.evaluate.evaluate` for one rank of a ``torchrun`` launch.

    Parameters are those of :func:`~eventsep.evaluation.evaluate.evaluate`; ``rank`` defaults to
    :func:`from_env`. Call :func:`init` first. With one process this is
    :func:`~eventsep.evaluation.evaluate.evaluate` itself.

    Returns
    -------
    list of dict
        Every rank returns the merged rows of the selected clips, in benchmark order.

    Raises
    ------
    ResultsLockedError
        Another evaluation writes to ``out_dir`` (every rank raises; nothing is written).
    ConfigError
        ``out_dir`` holds another run (every rank raises).
    """
    metrics = E.ALL_METRICS if metrics is None else tuple(metrics)
    sample_rate = BENCHMARK_SAMPLE_RATE if sample_rate is None else int(sample_rate)
    rank = from_env() if rank is None else rank
    if rank.world_size == 1:
        return E.evaluate(
            items,
            separate,
            out_dir,
            run=run,
            clap=clap,
            metrics=metrics,
            limit=limit,
            progress=progress,
            sample_rate=sample_rate,
            batch_size=batch_size,
            conventions=conventions,
        )
    E.check_metrics(metrics, clap)
    check_batch_size(batch_size)
    out = Path(out_dir)
    info = {k: v for k, v in (run or {}).items()}
    info["metrics"] = list(metrics)
    selected = list(items)
    if limit is not None:
        selected = selected[: max(int(limit), 0)]
    main = E.ResultsLog(out / E.RESULTS_FILE)
    own = E.ResultsLog(out / E.rank_file(rank.rank))
    with contextlib.ExitStack() as stack:
        code, error = 0, None
        try:
            if rank.is_main:
                stack.enter_context(main.lock())
                E._check_run(out, info)
                main.load(repair=True)
            stack.enter_context(own.lock())
        except ResultsLockedError as exc:
            code, error = _LOCKED, exc
        except ConfigError as exc:
            code, error = _CONFIG, exc
        agreed = _agree(code)
        if agreed:
            if error is not None:
                raise error
            if agreed == _LOCKED:
                raise ResultsLockedError(
                    f"{out}: another evaluation is writing there; wait for it to finish or use "
                    "another --out"
                )
            raise ConfigError(f"{out} holds results of another run (see rank 0's message)")
        if not rank.is_main:
            E._check_run(out, info)  # run.json exists now: only compares
        done = {row["id"]: row for row in main.load(repair=False)}
        for path in E.rank_files(out):
            log = own if path == own.path else E.ResultsLog(path)
            for row in log.load(repair=path == own.path):
                done.setdefault(row["id"], row)
        mine = shard(selected, rank.rank, rank.world_size)
        todo = [it for it in mine if it.id not in done]
        bar = tqdm(
            total=len(mine),
            initial=len(mine) - len(todo),
            disable=not progress,
            desc=f"rank {rank.rank}/{rank.world_size} {info.get('config', '')}".rstrip(),
            unit="clip",
            position=rank.rank,
        )
        failed: BaseException | None = None
        try:
            for row in E.evaluate_rows(
                todo,
                separate,
                info,
                clap,
                metrics,
                sample_rate=sample_rate,
                batch_size=batch_size,
                conventions=conventions,
            ):
                own.append(row)
                bar.update(1)
        except (EventSepError, RuntimeError) as exc:  # tell the others instead of hanging
            failed = exc
        finally:
            bar.close()
        if _agree(1 if failed is not None else 0):
            if failed is not None:
                raise failed
            raise ConfigError("another rank failed; its rows are kept: run the command again")
        if rank.is_main:
            E.merge_rows(out, [it.id for it in selected])
        _barrier()  # the others return the merged rows
    rows = {row["id"]: row for row in E.load_rows(out)}
    return [rows[it.id] for it in selected if it.id in rows]
