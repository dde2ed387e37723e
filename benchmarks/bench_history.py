"""The whole register history: `build` and `measures` over 1986-2023 beside 2004-2013, same registers.

One synthetic delivery of 1985-2023 (``socialmix synth --years 1985-2023``, cached in
``benchmarks/cache/reg-<persons>-1985-2023``) is built twice: the panel 1986-2023 (base year 1985)
and the panel 2004-2013 (base year 2003). Each build and each measures run is its own process (wall
time, peak RSS), all in one run under the heavy lock, so the two spans meet the same machine. Time is
compared per person-year read by the build (panel and base year, from ``reconciliation.json``).

    python -m benchmarks.bench_history [--persons 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import CACHE, FULL_EFFECT, FULL_SEED, ROOT, heavy_lock, machine, python

RESULTS = ROOT / "benchmarks" / "results"
SPANS = {"1986-2023": (1986, 2023), "2004-2013": (2004, 2013)}


# the cells and their disclosure control alone (no flow tables, nothing written): the year-partitioned part
CELLS = """
import sys
from queries.cells import compute_cells
from queries.disclosure import load_rules
from queries.release import protect_release
from panel.schema import scan_afdelinger
rules = load_rules("dst")
cells = compute_cells(sys.argv[1], rules=rules, afdelinger="study")
protect_release(cells, scan_afdelinger(sys.argv[1]).collect(), rules=rules)
"""


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    cpu_seconds: float  # user + system of the child: less sensitive to other jobs on the 2 cores than wall time
    peak_rss_mb: float


def measure(label: str, cmd: list[str]) -> Run:
    """Wall time, CPU time and peak RSS of ``cmd`` in a fresh child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark step {label!r} failed")
    return Run(label, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def _socialmix(*args: str) -> list[str]:
    return [sys.executable, "-m", "socialmix.cli", "--no-progress", *args]


def history_registers(persons: int) -> Path:
    """Registers 1985-2023 of ``persons`` persons, generated once (synth writes atomically)."""
    reg = CACHE / f"reg-{persons}-1985-2023"
    if not reg.is_dir():
        with heavy_lock():
            if not reg.is_dir():
                subprocess.run(_socialmix("synth", str(reg), "--persons", str(persons), "--seed", str(FULL_SEED),
                                          "--effect", str(FULL_EFFECT), "--years", "1985-2023"), cwd=ROOT,
                               check=True)
    return reg


def person_years(out: Path) -> int:
    """Person-years the build read (panel years and the base year)."""
    rec = json.loads((out / "reconciliation.json").read_text())
    return sum(y["person_years"]["read"] for y in rec["years"].values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    a = ap.parse_args(argv)
    reg = history_registers(a.persons)
    tmp = Path(tempfile.mkdtemp(prefix="bench-history-", dir=CACHE))
    rows: dict[str, dict] = {}
    load_before = os.getloadavg()[0]
    try:
        with heavy_lock():
            for span, (y1, y2) in SPANS.items():
                out = tmp / span
                b = measure(f"build {span}", _socialmix("build", str(reg), str(out), "--years", f"{y1}-{y2}"))
                c = measure(f"cells {span}", [*python(CELLS), str(out)])
                m = measure(f"measures {span}", _socialmix("measures", str(out)))
                rows[span] = {"build": b, "cells + disclosure": c, "measures": m, "person_years": person_years(out),
                              "years": y2 - y1 + 2}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    long, short = rows["1986-2023"], rows["2004-2013"]
    lines = [
        "## the whole history (issue 19)", "",
        f"Registers: `socialmix synth --persons {a.persons:,} --seed {FULL_SEED} --effect {FULL_EFFECT} "
        "--years 1985-2023`, built twice from the same files. Each step its own process, one run, heavy lock.",
        f"Machine: {machine()}.", "",
        "| span (panel + base year) | record years | person-years | stage | seconds | CPU s | peak RSS (MB) | "
        "µs per person-year | CPU µs per person-year |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    stages = ("build", "cells + disclosure", "measures")
    for span, r in rows.items():
        for stage in stages:
            x = r[stage]
            lines.append(f"| {span} | {r['years']} | {r['person_years']:,} | {stage} | {x.seconds:.1f} | "
                         f"{x.cpu_seconds:.1f} | {x.peak_rss_mb:,.0f} | {1e6 * x.seconds / r['person_years']:.2f} | "
                         f"{1e6 * x.cpu_seconds / r['person_years']:.2f} |")
    lines.append("")
    for stage in stages:
        mem = long[stage].peak_rss_mb / short[stage].peak_rss_mb
        per = (long[stage].seconds / long["person_years"]) / (short[stage].seconds / short["person_years"])
        cpu = (long[stage].cpu_seconds / long["person_years"]) / (short[stage].cpu_seconds / short["person_years"])
        lines.append(f"- {stage}: peak RSS 1986-2023 / 2004-2013 = {mem:.3f} (target <= 1.10); per person-year "
                     f"wall {per:.2f}x, CPU {cpu:.2f}x (target <= 1.2x)")
    lines.append(f"- 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores, shared)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "history.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
