"""Measure a command's wall time and peak RSS in a fresh child process.

Each variant (socialmix, plain scan, DuckDB baseline, ...) runs as its own
process so peak RSS is that variant's alone (``os.wait4`` rusage of the child).
Heavy runs take ``/tmp/socialmix-heavy.lock`` so two whole-population jobs
never share the machine's memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "cache"
LOCK = Path("/tmp/socialmix-heavy.lock")


@dataclass(frozen=True)
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    returncode: int


@contextlib.contextmanager
def heavy_lock() -> Iterator[None]:
    """Serialise whole-population jobs across processes (and across helpers).

    A run of several benchmarks that already holds the lock (``flock`` around
    them) sets ``SOCIALMIX_HEAVY_LOCK_HELD=1``: taking it again would wait for itself.
    """
    if os.environ.get("SOCIALMIX_HEAVY_LOCK_HELD") == "1":
        yield
        return
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def measure(label: str, cmd: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> Measurement:
    """Run ``cmd`` and return its wall time and the child's peak RSS in MB."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    if check and rc != 0:
        raise RuntimeError(f"benchmark step {label!r} failed with exit code {rc}")
    return Measurement(label, seconds, usage.ru_maxrss / 1024, rc)


def python(code: str) -> list[str]:
    """A command running ``code`` in this interpreter (for in-process baselines)."""
    return [sys.executable, "-c", code]


def machine() -> str:
    import polars

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()}, "
            f"polars {polars.__version__}")


# ---------------------------------------------------------------- cached whole-population data
FULL_PERSONS = 5_900_000
FULL_SEED = 1
FULL_EFFECT = 0.05


def _socialmix(*args: str) -> list[str]:
    return [sys.executable, "-m", "socialmix.cli", "--no-progress", *args]


def full_registers(persons: int = FULL_PERSONS) -> Path:
    """Synthetic registers 2003-2013 for ``persons`` persons, cached in ``benchmarks/cache/reg-<persons>``.

    Generated once with ``socialmix synth --seed 1 --effect 0.05`` under the heavy lock (synth writes
    atomically, so an existing folder is complete). Do not call while holding :func:`heavy_lock`.
    """
    reg = CACHE / f"reg-{persons}"
    if not reg.is_dir():
        with heavy_lock():
            if not reg.is_dir():
                subprocess.run(_socialmix("synth", str(reg), "--persons", str(persons), "--seed", str(FULL_SEED),
                                          "--effect", str(FULL_EFFECT)), cwd=ROOT, check=True)
    return reg


def built_out(persons: int = FULL_PERSONS) -> Path:
    """``socialmix build`` (2004-2013) of :func:`full_registers`, cached in ``benchmarks/cache/out-<persons>``.

    Rebuilt when the registers are newer than the cached build. Later benchmarks (measures, did) start
    from it. Do not call while holding :func:`heavy_lock`.
    """
    reg = full_registers(persons)
    out = CACHE / f"out-{persons}"
    stamp = out / "reconciliation.json"
    if not stamp.is_file() or stamp.stat().st_mtime < reg.stat().st_mtime:
        with heavy_lock():
            if not stamp.is_file() or stamp.stat().st_mtime < reg.stat().st_mtime:
                subprocess.run(_socialmix("build", str(reg), str(out)), cwd=ROOT, check=True)
    return out
