"""The measures stage with and without the interval audit (issue 16, part 3), on one build.

Both variants run ``socialmix measures`` in their own process on the same built OUT (its inputs linked
into two scratch folders), back to back under the heavy lock:

* ``audit off`` -- a rules file with ``audit = false`` (lockstep and group-level flows stay on);
* ``audit on``  -- the dst profile as shipped (lockstep, group-level flows, the LP interval audit).

The audit's own figures (withheld cells, audited cells, LPs, extensions, seconds) come from
``OUT/measures/internal/audit.csv``. Target: the audit adds at most ~30 % to the measures stage.

Run: ``.venv/bin/python -m benchmarks.bench_audit --out BUILT_OUT [--label 150k]``; appends a section to
``benchmarks/results/audit.md``. Without ``--out`` it uses the cached build of ``--persons`` persons
(:func:`benchmarks.harness.built_out`).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import CACHE, ROOT, built_out, heavy_lock, machine, measure

RESULTS = ROOT / "benchmarks" / "results" / "audit.md"
INPUTS = ("afdeling.parquet", "kommune_region.parquet", "moves.parquet", "panel", "panel_base",
          "reconciliation.json", "manifest.json")
NO_AUDIT = 'audit = false\nallow_below_floor = true\nreason = "benchmark: the measures stage without the audit"\n'


def linked(src: Path, dest: Path) -> Path:
    """A fresh OUT at ``dest`` whose inputs are links to the build ``src``."""
    dest.mkdir(parents=True)
    for name in INPUTS:
        if (src / name).exists():
            (dest / name).symlink_to((src / name).resolve())
    return dest


def figures(out: Path) -> dict[str, str]:
    path = out / "measures" / "internal" / "audit.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["figure"]: r["value"] for r in csv.DictReader(fh) if r["figure"] != "extension_block"}


def withheld(out: Path) -> int:
    import polars as pl

    return int(pl.read_parquet(out / "measures" / "measures.parquet")["suppressed"].sum())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="a built OUT (default: the cached build of --persons)")
    ap.add_argument("--persons", type=int, default=150_000)
    ap.add_argument("--label", default=None)
    ap.add_argument("--scratch", type=Path, default=CACHE, help="where the two measures runs write (default %(default)s)")
    a = ap.parse_args(argv)
    src = a.out or built_out(a.persons)
    label = a.label or src.name
    a.scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=a.scratch))
    try:
        off, on = linked(src, tmp / "off"), linked(src, tmp / "on")
        rules = tmp / "no_audit.toml"
        rules.write_text(NO_AUDIT)
        cli = [sys.executable, "-m", "socialmix.cli", "--no-progress", "measures"]
        with heavy_lock():
            t_off = measure("audit off", [*cli, str(off), "--rules", str(rules)])
            t_on = measure("audit on", [*cli, str(on)])
        fig = figures(on)
        rows = [("measures stage, audit off (s)", f"{t_off.seconds:.1f}"),
                ("measures stage, audit on (s)", f"{t_on.seconds:.1f}"),
                ("ratio on / off", f"{t_on.seconds / t_off.seconds:.2f}"),
                ("peak RSS off / on (MB)", f"{t_off.peak_rss_mb:.0f} / {t_on.peak_rss_mb:.0f}"),
                ("withheld measures cells, audit off", f"{withheld(off):,}"),
                ("withheld measures cells, audit on", f"{withheld(on):,}")]
        rows += [(f"audit: {k}", v) for k, v in fig.items()]
        text = [f"\n## {label}\n", f"{machine()}\n", "| figure | value |", "|---|---|"]
        text += [f"| {k} | {v} |" for k, v in rows]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        if not RESULTS.exists():
            RESULTS.write_text("# The interval audit of the measures release: cost (benchmarks/bench_audit.py)\n")
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(text) + "\n")
        print("\n".join(text))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
