"""`socialmix measures` at whole-population scale, side by side with baselines.

Each variant runs in its own process (wall time and peak RSS of that process), on the cached
``socialmix build`` of the whole-population synthetic registers (``harness.built_out``):

* ``scan``      -- read the panel columns the measures use (all years, base included): the floor;
* ``four``      -- the four contract measures for stock, in- and out-movers per afdeling-year, written
  as plainly as the DuckDB query, with socialmix's population and registry functions;
* ``duckdb``    -- the same four measures as one DuckDB SQL query (the baseline);
* ``measures``  -- everything socialmix computes: all registry measures, stock / in / out, afdeling,
  group, comparison and municipal cells with household dominance statistics, then the disclosure
  control of the release (``compute_cells`` + ``protect_release``).

``four`` and ``duckdb`` write their results; the report says whether they agree cell by cell.
Target (issue 5): all measures in at most 10 s and 4 GB.

Run: ``.venv/bin/python -m benchmarks.bench_measures [--persons N]``; takes the heavy lock.
Writes ``benchmarks/results/measures.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import FULL_PERSONS, ROOT, built_out, heavy_lock, machine, measure, python

RESULTS = ROOT / "benchmarks" / "results"

SCAN = """
import sys, polars as pl
from panel.schema import scan_panel
from queries.cells import NEEDED
print(scan_panel(sys.argv[1], include_base=True).select(NEEDED).collect().height)
"""

# as `socialmix measures` runs (the CLI sets the stage's allocator before polars loads)
ALLOC = "from socialmix.cli import set_allocator; set_allocator('measures')\n"

FOUR = ALLOC + """
import sys, polars as pl
from panel.schema import scan_afdelinger, scan_moves, scan_panel
from queries.populations import panel_years, rows_for
from queries.registry import select
out, dest = sys.argv[1], sys.argv[2]
ms = select(["education", "employment", "income", "non_western"])
rec = scan_panel(out, include_base=True)
years = panel_years(out)
aggs = [a for name, m in ms.items() for a in (m.counted().sum().alias("n_" + name),
                                              m.contribution().mean().alias(name))]
parts = [rows_for(p, rec, scan_moves(out), scan_afdelinger(out), years=years)
         .group_by("afdeling_id", "year").agg(aggs).with_columns(population=pl.lit(p))
         for p in ("stock", "in", "out")]
pl.concat(pl.collect_all(parts)).write_parquet(dest)
"""

DUCKDB = r"""
import sys, duckdb
out, dest = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
cols = "person_id, afdeling_id, age, in_labour_force, competence_education, employed, hh_income_2013, non_western"
con.execute(f'''CREATE VIEW p AS SELECT {cols}, year FROM read_parquet('{out}/panel/*/*.parquet', hive_partitioning = true)''')
con.execute(f'''CREATE VIEW pb AS SELECT {cols}, year FROM read_parquet(['{out}/panel/*/*.parquet',
                '{out}/panel_base/*/*.parquet'], hive_partitioning = true)''')
con.execute(f"CREATE VIEW m AS SELECT * FROM '{out}/moves.parquet'")
con.execute(f'''COPY (
WITH rows AS (
  SELECT 'stock' AS population, afdeling_id AS afd, year, * EXCLUDE (afdeling_id, year) FROM p
  WHERE afdeling_id IS NOT NULL
  UNION ALL
  SELECT 'in', m.to_afdeling, m.year, p.* EXCLUDE (afdeling_id, year) FROM m JOIN p
  ON p.person_id = m.person_id AND p.year = m.year
  WHERE m.kind IN ('between', 'into_sector', 'immigration') AND m.to_afdeling IS NOT NULL
  UNION ALL
  SELECT 'out', m.from_afdeling, m.year, pb.* EXCLUDE (afdeling_id, year) FROM m JOIN pb
  ON pb.person_id = m.person_id AND pb.year = m.year - 1
  WHERE m.kind IN ('between', 'out_of_sector') AND m.from_afdeling IS NOT NULL)
SELECT population, afd AS afdeling_id, year,
  count(competence_education) FILTER (WHERE in_labour_force) AS n_education,
  avg(competence_education::INT) FILTER (WHERE in_labour_force) AS education,
  count(employed) FILTER (WHERE in_labour_force) AS n_employment,
  avg(employed::INT) FILTER (WHERE in_labour_force) AS employment,
  count(hh_income_2013) FILTER (WHERE age BETWEEN 18 AND 64) AS n_income,
  avg(hh_income_2013) FILTER (WHERE age BETWEEN 18 AND 64) AS income,
  count(non_western) AS n_non_western, avg(non_western::INT) AS non_western
FROM rows GROUP BY ALL) TO '{dest}' (FORMAT parquet)''')
"""

MEASURES = ALLOC + """
import sys, polars as pl
from queries.cells import compute_cells
from queries.disclosure import load_rules
from queries.release import protect_release, split
out = sys.argv[1]
rules = load_rules("dst")
cells = compute_cells(out, rules=rules, afdelinger="study")  # as run_measures
afd = pl.read_parquet(out + "/afdeling.parquet")
released, report = protect_release(cells, afd, rules=rules)
tables = split(released, afd)
print(cells.height, released["suppressed"].sum(), report.height)
"""


def agree(a: Path, b: Path) -> str:
    """Compare the four-measure tables of the polars and DuckDB variants cell by cell."""
    import polars as pl

    key = ["population", "afdeling_id", "year"]
    x = pl.read_parquet(a).with_columns(pl.col("year").cast(pl.Int32))
    y = pl.read_parquet(b).with_columns(pl.col("year").cast(pl.Int32))
    j = x.join(y, on=key, how="full", coalesce=True, suffix="_db")
    bad = []
    for m in ("education", "employment", "income", "non_western"):
        n_diff = j.filter(pl.col(f"n_{m}").fill_null(0) != pl.col(f"n_{m}_db").fill_null(0)).height
        v_diff = j.filter(((pl.col(m) - pl.col(f"{m}_db")).abs() > 1e-6 * (1 + pl.col(m).abs()))
                          | (pl.col(m).is_null() != pl.col(f"{m}_db").is_null())).height
        if n_diff or v_diff:
            bad.append(f"{m}: {n_diff} n and {v_diff} values differ")
    return f"yes ({x.height:,} afdeling-year-population rows)" if not bad else "NO: " + "; ".join(bad)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=FULL_PERSONS)
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant (best time is reported)")
    a = ap.parse_args(argv)
    out = built_out(a.persons)
    tmp = Path(tempfile.mkdtemp(prefix="bench-measures-"))
    rows = []
    load_before = os.getloadavg()[0]
    try:
        with heavy_lock():
            for label, code, extra in (
                ("scan panel columns (baseline)", SCAN, []),
                ("four measures, polars", FOUR, [str(tmp / "four.parquet")]),
                ("four measures, DuckDB SQL (baseline)", DUCKDB, [str(tmp / "duckdb.parquet")]),
                ("all measures + disclosure control", MEASURES, []),
            ):
                runs = [measure(label, [*python(code), str(out), *extra]) for _ in range(a.repeat)]
                rows.append(min(runs, key=lambda r: r.seconds))
        same = agree(tmp / "four.parquet", tmp / "duckdb.parquet")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    scan, four, duck, full = rows
    lines = [
        "## measures (issue 5)", "",
        f"Panel: `socialmix build` of {a.persons:,} synthetic persons, 2004-2013 (+ base year).",
        f"Machine: {machine()}.", "",
        "| variant | seconds | peak RSS (MB) | time / scan | time / DuckDB |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.label} | {r.seconds:.1f} | {r.peak_rss_mb:,.0f} | {r.seconds / scan.seconds:.1f}x | "
                     f"{r.seconds / duck.seconds:.2f}x |")
    lines += [
        "",
        f"- all measures: {full.seconds:.1f} s, peak {full.peak_rss_mb / 1024:.2f} GB (target <= 10 s, <= 4 GB)",
        f"- four measures: polars {four.seconds:.1f} s / {four.peak_rss_mb:,.0f} MB vs DuckDB "
        f"{duck.seconds:.1f} s / {duck.peak_rss_mb:,.0f} MB",
        f"- polars and DuckDB agree on every afdeling-year cell of the four measures: {same}",
        f"- 1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores; other "
        "helpers' light jobs share the machine, so times vary by up to 2x between runs)",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "measures.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
