"""Staged outputs: swapped in whole on success, absent on failure, readable by the project group."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from panel import atomic
from panel.atomic import staged_dir, staged_file
from panel.errors import SocialmixError


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


# ---------------------------------------------------------------- files held open (Windows)
def _three_entries(out: Path, text: str) -> None:
    with staged_dir(out) as tmp:
        for name in ("a.txt", "b.txt", "c.txt"):
            (tmp / name).write_text(text)


def _flaky_replace(monkeypatch: pytest.MonkeyPatch, fails: int, when: str | None = None) -> list[int]:
    """os.replace refuses (PermissionError, as Windows does for an open file) ``fails`` times."""
    real = os.replace
    left = [fails]

    def replace(src, dst) -> None:
        if left[0] > 0 and (when is None or Path(src).name == when or Path(dst).name == when):
            left[0] -= 1
            raise PermissionError(13, "The process cannot access the file", str(src))
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    monkeypatch.setattr(atomic, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    return left


def test_swap_retries_a_file_held_open_for_a_moment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    _three_entries(out, "old")
    left = _flaky_replace(monkeypatch, fails=2, when="b.txt")
    _three_entries(out, "new")
    assert left == [0]  # both refusals were met and retried
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "new", "b.txt": "new", "c.txt": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("when", ["a.txt", "c.txt"])
def test_swap_that_cannot_complete_leaves_the_old_out_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             when: str) -> None:
    """c.txt fails after a.txt and b.txt were swapped (today: a, b new and c old); a.txt fails first."""
    out = tmp_path / "out"
    _three_entries(out, "old")
    _flaky_replace(monkeypatch, fails=4, when=when)  # more than the 3 retries: held open throughout
    with pytest.raises(SocialmixError, match=rf"could not replace {when}.*earlier results were left whole"):
        _three_entries(out, "new")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a.txt": "old", "b.txt": "old", "c.txt": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_first_run_that_cannot_be_moved_into_place_leaves_nothing(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _flaky_replace(monkeypatch, fails=10)
    with pytest.raises(SocialmixError, match="nothing was written"):
        _three_entries(tmp_path / "out", "new")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- kill -9
HOLD = """
import sys, time
from pathlib import Path
from panel.atomic import stage_name, staged_dir
with stage_name("build"), staged_dir(Path(sys.argv[1])) as a:
    (a / "x").write_text("1")
    with staged_dir(Path(sys.argv[1])) as b:   # two siblings, as a build killed during its swap leaves
        print("ready", flush=True)
        time.sleep(120)
"""


def _holder(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX kill -9")
def test_next_run_removes_what_a_killed_run_left_but_not_a_live_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _three_entries(out, "old")
    killed = _holder(out)
    names = _siblings(out)
    assert len(names) == 2 and all(".out.staging-build-" in n and f"-{killed.pid}-" in n for n in names)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    live = _holder(out)
    try:
        foreign = tmp_path / f".out.staging-build-otherhost-{killed.pid}-abc"  # a shared drive: not ours to judge
        foreign.mkdir()
        _three_entries(out, "new")
        left = _siblings(out)
        assert foreign.name in left
        assert len(left) == 3 and sum(f"-{live.pid}-" in n for n in left) == 2  # the live run's are kept
        assert not any(f"-{killed.pid}-" in n and "otherhost" not in n for n in left)
    finally:
        live.kill()
        live.wait()
    assert (out / "a.txt").read_text() == "new"
