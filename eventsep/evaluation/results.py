"""Results folders on disk: the durable rows file, its writer lock, the per-rank files.

See :mod:`eventsep.evaluation.evaluate` for what a folder holds and why it is safe against a
kill at any moment (one ``write`` + ``fsync`` per row, a torn last line cut off on resume, an
OS lock per folder, per-rank files folded by :func:`merge_rows`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from eventsep.core.errors import BenchmarkError, ResultsLockedError
from eventsep.core.io import write_text_atomic

__all__ = [
    "LOCK_FILE",
    "RANK_FILE",
    "RESULTS_FILE",
    "RUN_FILE",
    "ResultsLog",
    "load_rows",
    "merge_rows",
    "rank_file",
    "rank_files",
    "rank_rows",
]

RESULTS_FILE = "rows.jsonl"
LOCK_FILE = RESULTS_FILE + ".lock"
RUN_FILE = "run.json"
#: Rows file of one rank of a ``torchrun`` evaluation (:mod:`eventsep.evaluation.distributed`).
RANK_FILE = "rows.rank{rank}.jsonl"


class ResultsLog:
    """Append-only JSON Lines file of result rows, safe against being killed mid-write.

    Parameters
    ----------
    path : path
        The ``.jsonl`` file (created on first append).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the exclusive writer lock of this file for the block (never waits).

        Raises
        ------
        ResultsLockedError
            Another process (or another ``ResultsLog`` in this one) holds the lock.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # an OS lock only: no fallback to a marker file that a killed run would leave
            lock = FileLock(self.lock_path, timeout=0, fallback_to_soft=False)
        except TypeError:  # filelock < 4 has no soft fallback to turn off
            lock = FileLock(self.lock_path, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise ResultsLockedError(
                f"{self.path.parent}: another evaluation is writing there (lock "
                f"{self.lock_path.name} is held); wait for it to finish or use another --out"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def load(self, repair: bool = True) -> list[dict[str, Any]]:
        """Read all complete rows; with ``repair``, cut a torn last line off the file.

        Raises
        ------
        BenchmarkError
            A line other than the last is not valid JSON (the file was edited or damaged).
        """
        if not self.path.is_file():
            return []
        data = self.path.read_bytes()
        rows: list[dict[str, Any]] = []
        good_end = 0
        pos = 0
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            end = pos + len(line) + (0 if last else 1)
            if line.strip():
                try:
                    if last:  # no trailing newline: the write was cut short
                        raise ValueError("torn line")
                    row = json.loads(line)
                    if not isinstance(row, dict) or "id" not in row:
                        raise ValueError("not a row")
                except ValueError:
                    if last or all(not rest.strip() for rest in lines[i + 1 :]):
                        break
                    raise BenchmarkError(
                        f"{self.path} line {i + 1} is not a valid result row; move the file away "
                        "to start over"
                    ) from None
                rows.append(row)
            good_end = end
            pos = end
        if repair and good_end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
        return rows

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row durably (single write, then fsync)."""
        line = (json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # umask applies
        try:
            view = memoryview(line)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)


def load_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a results folder (without repairing it), in the order they were written."""
    return ResultsLog(Path(out_dir) / RESULTS_FILE).load(repair=False)


def rank_file(rank: int) -> str:
    """Name of the rows file rank ``rank`` of a torchrun evaluation appends to."""
    return RANK_FILE.format(rank=int(rank))


def rank_files(out_dir: str | os.PathLike) -> list[Path]:
    """The per-rank rows files in a results folder, by rank."""
    found = []
    for path in Path(out_dir).glob(RANK_FILE.format(rank="*")):
        rank = path.name[len("rows.rank") : -len(".jsonl")]
        if rank.isdigit():
            found.append((int(rank), path))
    return [p for _, p in sorted(found)]


def rank_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Complete rows of every per-rank file (by rank, then file order), without repairing."""
    return [row for path in rank_files(out_dir) for row in ResultsLog(path).load(repair=False)]


def merge_rows(out_dir: str | os.PathLike, order: Sequence[str]) -> list[dict[str, Any]]:
    """Fold the per-rank files into ``rows.jsonl``, each clip once, then delete them.

    Rows already in ``rows.jsonl`` win over per-rank copies of the same clip; the merged file
    lists the clips of ``order`` first, in that order, then any other rows in the order they
    were found. ``rows.jsonl`` is replaced atomically before the per-rank files are removed,
    so an interruption at any point loses nothing (a rerun merges again). The caller holds the
    lock of ``rows.jsonl``.

    Returns
    -------
    list of dict
        The merged rows, in file order.
    """
    out = Path(out_dir)
    parts = rank_files(out)
    rows: dict[str, dict[str, Any]] = {}
    for row in ResultsLog(out / RESULTS_FILE).load(repair=False) + rank_rows(out):
        rows.setdefault(row["id"], row)
    first = [i for i in dict.fromkeys(order) if i in rows]
    ids = first + [i for i in rows if i not in set(first)]
    merged = [rows[i] for i in ids]
    text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in merged)
    write_text_atomic(out / RESULTS_FILE, text)
    for path in parts:
        path.unlink(missing_ok=True)
    return merged
