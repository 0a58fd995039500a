"""eventsep.core.io: outputs appear complete or not at all, with the umask's permissions."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from eventsep.core.io import atomic_dir, atomic_path, write_json_atomic, write_text_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_path_gives_the_umask_mode_whatever_the_writer_did(tmp_path, umask_022) -> None:
    target = tmp_path / "sub" / "out.bin"
    with atomic_path(target, suffix=".bin") as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".bin.part")
        os.chmod(tmp, 0o600)  # a writer that creates private files (mkstemp, pooch, ...)
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data" and _mode(target) == 0o644
    os.umask(0o027)
    assert _mode(write_text_atomic(tmp_path / "t.txt", "x")) == 0o640


def test_atomic_path_failure_leaves_the_old_file(tmp_path) -> None:
    target = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_dir_publishes_a_whole_folder(tmp_path, umask_022) -> None:
    target = tmp_path / "bench"
    target.mkdir()  # an empty folder is replaced
    with atomic_dir(target) as tmp:
        (tmp / "a.wav").write_bytes(b"a")
        assert not (target / "a.wav").exists()
    assert (target / "a.wav").read_bytes() == b"a" and _mode(target) == 0o755
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "other") as tmp:
        (tmp / "a.wav").write_bytes(b"a")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]


def test_write_json_atomic_keeps_unicode_and_converts_with_default(tmp_path) -> None:
    path = write_json_atomic(tmp_path / "p.json", {"τ": 0.55, "out": tmp_path}, default=str)
    assert "τ" in path.read_text(encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == {"τ": 0.55, "out": str(tmp_path)}
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "q.json", {"out": tmp_path})
    assert not (tmp_path / "q.json").exists()
