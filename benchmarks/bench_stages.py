"""Issue 19's speed targets side by side in one run: build and measures against their floors and DuckDB.

Each variant is its own process (wall time, CPU time, peak RSS of that process), all in one run under the
heavy lock, after the inputs were read once untimed (every variant starts from the page cache):

* ``read every input``   -- every register and lookup file read whole (``bench_build.SCAN``);
* ``re-encode the panel`` -- the built panel read and written again with the build's parquet options
  (``bench_build.REWRITE``): with the read, the floor of any build;
* ``socialmix build`` and ``socialmix measures`` (every table: cells, flows, households, segregation,
  disclosure control, writing);
* ``DuckDB build`` (``bench_build.DUCKDB``: the panel, base year and moves) and ``DuckDB four measures``
  (``bench_measures.DUCKDB``, on the same panel): the straightforward SQL baseline of the same outputs.

Targets: measures <= 3x the read and <= 4 GB; build <= 2x its floor (read + re-encode) and <= 4 GB; build +
measures >= 3x faster than DuckDB's build + four measures with <= 1/3 of its peak.

    python -m benchmarks.bench_stages [--persons 5900000] [--skip-duckdb]

Writes ``benchmarks/results/stages.md`` (and ``stages.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from benchmarks.bench_build import DUCKDB as DUCKDB_BUILD
from benchmarks.bench_build import REWRITE, SCAN, warm
from benchmarks.bench_measures import DUCKDB as DUCKDB_MEASURES
from benchmarks.harness import (
    CACHE,
    FULL_EFFECT,
    FULL_PERSONS,
    FULL_SEED,
    ROOT,
    full_registers,
    heavy_lock,
    machine,
)
from benchmarks.harness import python as py

RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float


def measure(label: str, cmd: list[str]) -> Run:
    """Wall time, CPU time (user + system) and peak RSS of ``cmd`` in a fresh child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark step {label!r} failed")
    print(f"{label}: {seconds:.1f} s, {usage.ru_maxrss / 1024:,.0f} MB", flush=True)
    return Run(label, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def _socialmix(*args: str) -> list[str]:
    return [sys.executable, "-m", "socialmix.cli", "--no-progress", *args]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=FULL_PERSONS)
    ap.add_argument("--skip-duckdb", action="store_true")
    a = ap.parse_args(argv)
    reg = full_registers(a.persons)
    work = CACHE / f"bench-stages-{a.persons}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = work / "out"
    r: dict[str, Run] = {}
    load = []
    try:
        with heavy_lock():
            load.append(os.getloadavg()[0])
            warm(reg)
            r["read"] = measure("read every input", [*py(SCAN), str(reg)])
            warm(reg)
            r["build"] = measure("socialmix build", _socialmix("build", str(reg), str(out)))
            r["rewrite"] = measure("re-encode the panel", [*py(REWRITE), str(out), str(work / "rewrite")])
            shutil.rmtree(work / "rewrite", ignore_errors=True)
            warm(out)
            r["measures"] = measure("socialmix measures", _socialmix("measures", str(out)))
            if not a.skip_duckdb:
                (work / "duckdb").mkdir()
                warm(reg)
                r["duck_build"] = measure("DuckDB build", [*py(DUCKDB_BUILD), str(reg), str(work / "duckdb"),
                                                           "2004", "2013"])
                shutil.rmtree(work / "duckdb", ignore_errors=True)
                r["duck_measures"] = measure("DuckDB four measures", [*py(DUCKDB_MEASURES), str(out),
                                                                     str(work / "duckdb.parquet")])
            load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "## stages side by side (issue 19)", "",
        f"Registers: `socialmix synth --persons {a.persons:,} --seed {FULL_SEED} --effect {FULL_EFFECT}` "
        "(2003-2013), panel 2004-2013. Each variant its own process, one run, heavy lock, inputs in the page cache.",
        f"Machine: {machine()}. 1-minute load average before / after: {' / '.join(f'{x:.1f}' for x in load)} "
        "(2 cores shared with other jobs: CPU seconds are the steadier figure).", "",
        "| variant | wall s | CPU s | peak RSS (MB) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {x.label} | {x.seconds:.1f} | {x.cpu_seconds:.1f} | {x.peak_rss_mb:,.0f} |" for x in r.values()]
    read, build, meas = r["read"], r["build"], r["measures"]
    floor = read.seconds + r["rewrite"].seconds
    lines += [
        "",
        f"- measures / read: {meas.seconds / read.seconds:.1f}x (target <= 3x); peak {meas.peak_rss_mb / 1024:.2f} GB "
        "(target <= 4 GB)",
        f"- build / floor (read {read.seconds:.1f} s + re-encode {r['rewrite'].seconds:.1f} s = {floor:.1f} s): "
        f"{build.seconds / floor:.2f}x (target <= 2x); peak {build.peak_rss_mb / 1024:.2f} GB (target <= 4 GB)",
    ]
    if "duck_build" in r:
        duck_s = r["duck_build"].seconds + r["duck_measures"].seconds
        duck_peak = max(r["duck_build"].peak_rss_mb, r["duck_measures"].peak_rss_mb)
        ours_s, ours_peak = build.seconds + meas.seconds, max(build.peak_rss_mb, meas.peak_rss_mb)
        lines.append(f"- DuckDB (build + four measures, {duck_s:.1f} s, peak {duck_peak:,.0f} MB) / socialmix (build + "
                     f"every measure table, {ours_s:.1f} s, peak {ours_peak:,.0f} MB): {duck_s / ours_s:.2f}x faster "
                     f"(target >= 3x); peak ratio {ours_peak / duck_peak:.2f} (target <= 0.33)")
    lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stages.md").write_text("\n".join(lines), encoding="utf-8")
    (RESULTS / "stages.json").write_text(json.dumps({k: asdict(v) for k, v in r.items()}, indent=2), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
