"""Atomic replacement of a command's outputs.

Contract §5: a failing command leaves no partial output, and re-running over
an existing OUT keeps the earlier results whole until the new run succeeds.
Every stage writes into a hidden staging directory beside its target and
only swaps the finished entries into place at the end.

Two things make this harder than one rename:

* On Windows a file held open (Excel, a virus scanner, a preview pane)
  cannot be renamed for a while. Every rename is retried with backoff
  (:data:`RETRY_DELAYS`); if an entry still cannot be swapped, the entries
  already swapped are put back, so OUT stays wholly old, and the error says
  which entry was held.
* A run killed with ``kill -9`` cannot clean up. Staging names carry the
  stage, the host and the process id (``.OUT.staging-build-host-4711-xxxx``),
  and the next staged write beside OUT removes the siblings of processes that
  are no longer alive on this host. A sibling of a live process, of another
  host (a shared network drive) or without these parts is never touched.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from panel.errors import SocialmixError

#: seconds to wait before each retry of a rename refused with PermissionError (about 12 s in all)
RETRY_DELAYS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.0)
KINDS = ("staging", "old")
_stage: contextvars.ContextVar[str] = contextvars.ContextVar("socialmix_stage", default="socialmix")


def _host() -> str:
    """This machine's name reduced to a file-name-safe token (no '-': it separates the name's parts)."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


@contextlib.contextmanager
def stage_name(name: str) -> Iterator[None]:
    """Label staging directories created inside the block with the stage ``name`` (e.g. ``build``)."""
    token = _stage.set(re.sub(r"[^A-Za-z0-9]", "", name) or "socialmix")
    try:
        yield
    finally:
        _stage.reset(token)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _public(path: Path, mode: int) -> None:
    """mkdtemp/mkstemp create 0700/0600; outputs on a shared project machine follow the umask."""
    os.chmod(path, mode & ~_umask())


def _retry(func: Callable[[], object]) -> None:
    """Run a rename, retrying while the OS refuses it (a file held open on Windows)."""
    for delay in (*RETRY_DELAYS, None):
        try:
            func()
            return
        except PermissionError:
            if delay is None:
                raise
            time.sleep(delay)


def _replace(src: Path, dst: Path) -> None:
    _retry(lambda: os.replace(src, dst))


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a process of another user counts as alive)."""
    if pid <= 0:
        return True
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.windll.kernel32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(name)}\.({'|'.join(KINDS)})-([A-Za-z0-9]+)-([A-Za-z0-9]+)-(\d+)-")


def stale_siblings(out: str | Path) -> list[Path]:
    """Staging and trash directories beside ``out`` left by dead processes of this host."""
    out = Path(out)
    if not out.parent.is_dir():
        return []
    pat, host = _pattern(out.name), _host()
    found = []
    for p in out.parent.iterdir():
        m = pat.match(p.name)
        if m and m.group(3) == host and not _pid_alive(int(m.group(4))):
            found.append(p)
    return sorted(found)


def remove_stale(out: str | Path) -> list[Path]:
    """Remove :func:`stale_siblings` of ``out`` (what a killed run left); return what was removed."""
    gone = stale_siblings(out)
    for p in gone:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return gone


def _mkdtemp(out: Path, kind: str) -> Path:
    prefix = f".{out.name}.{kind}-{_stage.get()}-{_host()}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))


def _swap(tmp: Path, out: Path) -> None:
    """Move each entry of ``tmp`` into ``out`` (old ones to a trash directory); all or nothing."""
    trash = _mkdtemp(out, "old")
    moved_old: list[str] = []  # entries of out now in trash
    placed: list[str] = []  # entries of tmp now in out
    entries = sorted(e.name for e in tmp.iterdir())
    current = ""
    try:
        for name in entries:  # phase 1: take every entry to be replaced out of OUT
            current = name
            target = out / name
            if target.exists() or target.is_symlink():
                _replace(target, trash / name)
                moved_old.append(name)
        for name in entries:  # phase 2: put the new ones in
            current = name
            _replace(tmp / name, out / name)
            placed.append(name)
    except OSError as err:
        failed = []
        for name in reversed(placed):
            try:
                _replace(out / name, tmp / name)
            except OSError:
                failed.append(name)
        for name in reversed(moved_old):
            try:
                _replace(trash / name, out / name)
            except OSError:
                failed.append(name)
        if failed:
            raise SocialmixError(
                f"could not replace {current} ({type(err).__name__}: is a file in it open in another program?) "
                f"and could not put back {', '.join(sorted(set(failed)))}: the earlier results of these are in "
                f"{trash}; move them back by hand", file=out) from None
        shutil.rmtree(trash, ignore_errors=True)
        raise SocialmixError(
            f"could not replace {current} ({type(err).__name__}: is a file in it open in another program?); "
            "the earlier results were left whole and the new ones discarded: close it and run again",
            file=out) from None
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(out: str | Path) -> Iterator[Path]:
    """Yield a staging directory whose entries replace those of ``out`` on success.

    If ``out`` does not exist, the staging directory itself is renamed to
    ``out`` (a failed first run leaves no ``out``). If it exists, each
    top-level entry written to the staging directory replaces the entry of
    the same name in ``out``; entries not written are left untouched, so
    stages that share OUT (build, measures, did, ...) do not clobber each
    other. On any exception the staging directory is removed; if the swap
    itself fails, ``out`` keeps all of its earlier entries.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with staged_dir(d) as tmp:
    ...     _ = (tmp / "a.txt").write_text("x")
    >>> (d / "a.txt").read_text()
    'x'
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = _mkdtemp(out, "staging")
    _public(tmp, 0o777)
    try:
        yield tmp
        if not out.exists():
            try:
                _replace(tmp, out)
            except OSError as err:
                raise SocialmixError(f"could not move the finished output into place ({type(err).__name__}); "
                                     "nothing was written", file=out) from None
            return
        _swap(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path that is renamed onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    _public(tmp, 0o666)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        _replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
