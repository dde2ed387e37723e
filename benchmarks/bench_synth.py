"""Speed and memory of ``socialmix synth`` from demo size to the whole population.

Each size runs in a fresh child process (``harness.measure``: wall seconds and
the child's peak RSS). Side by side, in the same run, a baseline that only
writes the same number of rows of random columns of the same types to the
same 44 parquet files (no population model): the floor set by parquet
encoding alone. Sizes above one million persons take
``/tmp/socialmix-heavy.lock``.

Run: ``.venv/bin/python -m benchmarks.bench_synth [--persons 150000,1000000,5900000]``;
writes ``benchmarks/results/synth.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import ROOT, heavy_lock, machine, measure, python

RESULTS = ROOT / "benchmarks" / "results" / "synth.md"
BASELINE = """
import numpy as np, polars as pl, sys
from pathlib import Path
n, out = int(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
pnr = pl.Series(rng.integers(10**9, 10**10, n)).cast(pl.String)
for y in range(2003, 2014):
    frames = {
        "bef": pl.DataFrame({"PNR": pnr, "FOED_DAG": pl.Series(rng.integers(-20000, 15000, n).astype(np.int32)).cast(pl.Date),
                             "KOEN": rng.integers(1, 3, n).astype(np.int8), "IE_TYPE": rng.integers(1, 4, n).astype(np.int8),
                             "OPR_LAND": rng.integers(5100, 5800, n).astype(np.int16),
                             "FAMILIE_ID": pl.Series(rng.integers(10**9, 10**10, n)).cast(pl.String),
                             "ADRESSE_ID": pl.Series(rng.integers(10**9, 10**10, n)).cast(pl.String),
                             "KOM": rng.integers(101, 861, n).astype(np.int16)}),
        "udda": pl.DataFrame({"PNR": pnr, "HFAUDD": rng.integers(1000, 8000, n).astype(np.int32)}),
        "ind": pl.DataFrame({"PNR": pnr, "DISPON_NY": rng.normal(150000, 50000, n)}),
        "akm": pl.DataFrame({"PNR": pnr, "SOCIO": rng.integers(111, 420, n).astype(np.int32)}),
    }
    for name, df in frames.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        df.write_parquet(out / name / f"{name}_{y}.parquet", compression="uncompressed")
"""


def _children_cpu() -> float:
    """User + system CPU seconds of all finished child processes (wall time alone hides contention)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--persons", default="150000,1000000,5900000", help="comma-separated sizes")
    a = p.parse_args()
    sizes = [int(x) for x in a.persons.split(",")]
    rows = []
    exe = str(Path(sys.executable).parent / "socialmix")
    for n in sizes:
        lock = heavy_lock() if n > 1_000_000 else contextlib.nullcontext()
        with lock:
            tmp = Path(tempfile.mkdtemp(prefix="bench-synth-", dir=ROOT / "benchmarks"))
            try:
                cpu0 = _children_cpu()
                m = measure(f"socialmix synth --persons {n:,}",
                            [exe, "--no-progress", "synth", str(tmp / "reg"), "--persons", str(n), "--seed", "1",
                             "--effect", "0.05"])
                cpu = _children_cpu() - cpu0
                size = sum(f.stat().st_size for f in (tmp / "reg").rglob("*") if f.is_file())
                b = measure(f"baseline: write {n:,} random rows x 44 files", python(BASELINE) + [str(n), str(tmp / "base")])
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        rows.append((n, m, cpu, b, size))
        print(f"{n:>10,} persons: synth {m.seconds:7.1f} s (CPU {cpu:6.1f} s) {m.peak_rss_mb:7.0f} MB | "
              f"baseline {b.seconds:6.1f} s {b.peak_rss_mb:6.0f} MB | {size / 1e9:.2f} GB", flush=True)
    lines = [
        "# `socialmix synth`: speed and memory",
        "",
        f"Machine: {machine()}.",
        "",
        "Registers 2003-2013 (44 parquet files + lookups + truth.json) written by `socialmix synth REG --persons N "
        "--seed 1 --effect 0.05`, each size in a fresh process; baseline: writing the same number of rows of "
        "random columns of the same types to 44 parquet files (uncompressed, as synth writes them), i.e. parquet encoding alone without the "
        "population model. Runs above one million persons held `/tmp/socialmix-heavy.lock`; other helpers' "
        "light jobs may still have shared the two cores, so CPU seconds (the child's user + system time; "
        "parquet encoding runs in a second thread) are given beside wall time.",
        "",
        "| persons (2003) | synth wall s | synth CPU s (user+sys) | synth peak RSS MB | baseline wall s | "
        "baseline peak RSS MB | output GB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, m, cpu, b, size in rows:
        lines.append(f"| {n:,} | {m.seconds:.1f} | {cpu:.1f} | {m.peak_rss_mb:.0f} | {b.seconds:.1f} | "
                     f"{b.peak_rss_mb:.0f} | {size / 1e9:.2f} |")
    lines += ["", "Target: whole population (5.9 million) in at most 180 s and 8 GB.", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
