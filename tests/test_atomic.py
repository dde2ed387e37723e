"""Staged outputs: swapped in whole on success, absent on failure, readable by the project group."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from panel.atomic import staged_dir, staged_file


def test_failed_first_run_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staged_dir(tmp_path / "out") as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_rerun_replaces_only_what_it_writes_and_keeps_old_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with staged_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "b.txt").write_text("1")
    with staged_dir(out) as tmp:
        (tmp / "a.txt").write_text("2")
    with pytest.raises(RuntimeError), staged_dir(out) as tmp:
        (tmp / "b.txt").write_text("3")
        raise RuntimeError("boom")
    assert (out / "a.txt").read_text() == "2"
    assert (out / "b.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    """mkdtemp/mkstemp are private (0700/0600); results on a shared machine must not be."""
    old = os.umask(0o022)
    try:
        with staged_dir(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("x")
        with staged_file(tmp_path / "out" / "m.json") as f:
            f.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "m.json").stat().st_mode) == 0o644
