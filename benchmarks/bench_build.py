"""`socialmix build` at whole-population scale, side by side with two baselines.

Each variant runs in its own process (wall time and peak RSS of that process), after its input files were
read once untimed (every variant starts from the page cache):

* ``scan``   -- merely read every input parquet file (all columns), one after the other: the floor;
* ``rewrite`` -- read the built panel and write it again with the build's parquet options: the part of any
  build that no design removes (encoding the outputs);
* ``build``  -- ``socialmix build REG OUT`` (2004-2013, reads 2003-2013); synth writes the registers in PNR
  order, as DST's register datasets usually are, so the build reads them without sorting;
* ``build, rows not sorted by PNR`` -- the same registers with the rows of every file in random order (a delivery not sorted
  by PNR: the build sorts each register-year by its PNR key);
* ``duckdb`` -- a straightforward DuckDB SQL of the same outputs (panel with the derived variables,
  partitioned by year, the base year, moves), string-PNR joins as one would first write them.

Targets (issue 4): build <= 4x scan and <= 4 GB peak; >= 3x faster than DuckDB with <= 1/3 of its peak.

Run: ``.venv/bin/python -m benchmarks.bench_build [--persons N]``; the registers come from
``harness.full_registers`` (generated once under the heavy lock); the measurements take the lock.
Writes ``benchmarks/results/build.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.harness import CACHE, FULL_PERSONS, ROOT, full_registers, heavy_lock, machine, measure, python

RESULTS = ROOT / "benchmarks" / "results"

SCAN = """
import glob, sys, polars as pl
rows = 0
for f in sorted(glob.glob(sys.argv[1] + '/*/*.parquet')):
    rows += pl.read_parquet(f).height
print(rows)
"""

# The floor of any build: re-encoding its own outputs (read the built panel, write it again with the build's
# parquet options). Reading the inputs plus this is what no implementation can avoid.
REWRITE = """
import glob, os, sys, polars as pl
from panel.build import PARQUET_OPTIONS
src, dst = sys.argv[1], sys.argv[2]
for f in sorted(glob.glob(src + '/panel*/year=*/*.parquet')):
    out = os.path.join(dst, os.path.relpath(f, src))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    pl.read_parquet(f).write_parquet(out, **PARQUET_OPTIONS)
"""

DUCKDB = r"""
import sys, duckdb
reg, out, y1, y2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
def reg_view(name, cols):
    con.execute(f'''CREATE VIEW {name} AS SELECT {cols},
        CAST(regexp_extract(filename, '{name}_([0-9]{{4}})', 1) AS INTEGER) AS year
        FROM read_parquet('{reg}/{name}/{name}_*.parquet', filename = true, union_by_name = true)''')
reg_view('bef', 'PNR, FOED_DAG, KOEN, IE_TYPE, OPR_LAND, FAMILIE_ID, ADRESSE_ID, KOM')
reg_view('udda', 'PNR, HFAUDD')
reg_view('ind', 'PNR, DISPON_NY')
reg_view('akm', 'PNR, coalesce(SOCIO13, SOCIO02) AS SOCIO')
con.execute(f"CREATE TABLE afd AS SELECT * FROM '{reg}/lookup/afdeling.parquet'")
con.execute(f"CREATE TABLE addr AS SELECT * FROM '{reg}/lookup/afdeling_address.parquet'")
con.execute(f"CREATE TABLE hf AS SELECT * FROM read_csv('{reg}/lookup/hfaudd.csv')")
con.execute(f"CREATE TABLE country AS SELECT * FROM read_csv('{reg}/lookup/country.csv')")
con.execute(f'''CREATE TABLE cpi AS SELECT YEAR, (SELECT CPI FROM read_csv('{reg}/lookup/cpi.csv') WHERE YEAR = 2013) / CPI AS f
               FROM read_csv('{reg}/lookup/cpi.csv')''')
cats = {'employed': [111, 112, 113, 114, 120, 131, 132, 133, 134, 135, 139], 'unemployed': [210],
        'other_benefit': [220], 'education': [310], 'disability_pension': [321], 'old_age_pension': [322],
        'early_retirement': [323], 'cash_benefit': [330], 'other': [410], 'child': [420]}
con.execute("CREATE TABLE socio_map (code INTEGER, cat VARCHAR)")
con.executemany("INSERT INTO socio_map VALUES (?, ?)", [(c, k) for k, v in cats.items() for c in v])
con.execute(f'''CREATE TABLE ids AS SELECT PNR, (row_number() OVER (ORDER BY PNR) - 1)::INTEGER AS person_id
               FROM (SELECT DISTINCT PNR FROM bef WHERE year BETWEEN {y1 - 1} AND {y2})''')
con.execute(f'''CREATE TABLE py AS
SELECT i.person_id, b.year, a.AFDELING_ID AS afdeling_id, af.HELHEDSPLAN_ID AS helhedsplan_id,
       (b.year - year(b.FOED_DAG))::SMALLINT AS age, b.KOEN::TINYINT AS sex,
       CASE WHEN b.IE_TYPE IN (2, 3) THEN NOT c.WESTERN WHEN b.IE_TYPE IS NOT NULL THEN false END AS non_western,
       h.LEVEL AS education_level, CASE WHEN h.LEVEL IS NOT NULL THEN h.LEVEL >= 'H20' END AS competence_education,
       s.cat AS socio_category,
       CASE WHEN NOT ((b.year - year(b.FOED_DAG)) BETWEEN 18 AND 64) THEN false WHEN s.cat IS NULL THEN NULL
            ELSE s.cat NOT IN ('disability_pension', 'old_age_pension', 'early_retirement') END AS in_labour_force,
       s.cat = 'employed' AS employed,
       coalesce(n.DISPON_NY, 0) * cpi.f AS income_2013,
       coalesce(b.KOM, af.KOM)::SMALLINT AS kom, b.IE_TYPE::TINYINT AS ie_type,
       coalesce(b.FAMILIE_ID, 'person:' || b.PNR) AS hh, b.ADRESSE_ID, year(b.FOED_DAG) AS born
FROM bef b JOIN ids i USING (PNR) JOIN cpi ON cpi.YEAR = b.year
LEFT JOIN udda u ON u.PNR = b.PNR AND u.year = b.year
LEFT JOIN ind n ON n.PNR = b.PNR AND n.year = b.year
LEFT JOIN akm k ON k.PNR = b.PNR AND k.year = b.year
LEFT JOIN addr a ON a.ADRESSE_ID = b.ADRESSE_ID
LEFT JOIN afd af ON af.AFDELING_ID = a.AFDELING_ID
LEFT JOIN hf h ON h.HFAUDD = u.HFAUDD
LEFT JOIN country c ON c.OPR_LAND = b.OPR_LAND
LEFT JOIN socio_map s ON s.code = k.SOCIO
WHERE b.year BETWEEN {y1 - 1} AND {y2}''')
panel = '''SELECT person_id, year, afdeling_id, helhedsplan_id, age, sex, non_western, education_level,
       competence_education, socio_category, in_labour_force, employed,
       sum(income_2013) OVER w AS hh_income_2013, min(person_id) OVER w AS household_id, income_2013,
       count(*) OVER w AS hh_size, kom, ie_type,
       count(*) FILTER (WHERE age >= 18) OVER w AS hh_adults, count(*) FILTER (WHERE age >= 14) OVER w AS hh_n14,
       count(*) FILTER (WHERE age < 14) OVER w AS hh_u14, count(*) FILTER (WHERE age < 18) OVER w AS hh_children,
       coalesce(bool_or(age BETWEEN 22 AND 59 AND socio_category IN ('employed', 'education')) OVER w, false) AS hh_rs
FROM py WINDOW w AS (PARTITION BY year, hh)'''
con.execute(f"CREATE TABLE pan AS {panel}")
con.execute(f"COPY (SELECT * FROM pan WHERE year >= {y1}) TO '{out}/panel' (FORMAT parquet, PARTITION_BY (year))")
con.execute(f"COPY (SELECT * FROM pan WHERE year < {y1}) TO '{out}/panel_base' (FORMAT parquet, PARTITION_BY (year))")
con.execute(f'''COPY (
WITH q AS (SELECT person_id, year, afdeling_id, ADRESSE_ID, born FROM py),
j AS (SELECT coalesce(c.person_id, p.person_id) AS person_id, coalesce(c.year, p.year + 1) AS year,
             p.person_id IS NOT NULL AS was, c.person_id IS NOT NULL AS now, p.afdeling_id AS a0, c.afdeling_id AS a1,
             p.ADRESSE_ID AS adr0, c.ADRESSE_ID AS adr1, c.born
      FROM (SELECT * FROM q WHERE year >= {y1}) c
      FULL OUTER JOIN (SELECT * FROM q WHERE year < {y2}) p ON c.person_id = p.person_id AND c.year = p.year + 1)
SELECT person_id, year, kind, CASE WHEN kind IN ('internal', 'between', 'out_of_sector', 'exit') THEN a0 END AS from_afdeling,
       CASE WHEN kind IN ('internal', 'between', 'into_sector', 'immigration', 'birth') THEN a1 END AS to_afdeling
FROM (SELECT *, CASE
   WHEN was AND now AND a0 IS NOT NULL AND a1 IS NOT NULL AND a0 <> a1 THEN 'between'
   WHEN was AND now AND a0 IS NOT NULL AND a1 IS NOT NULL AND adr0 IS DISTINCT FROM adr1 THEN 'internal'
   WHEN was AND now AND a0 IS NULL AND a1 IS NOT NULL THEN 'into_sector'
   WHEN was AND now AND a0 IS NOT NULL AND a1 IS NULL THEN 'out_of_sector'
   WHEN NOT was AND a1 IS NOT NULL AND born = year THEN 'birth'
   WHEN NOT was AND a1 IS NOT NULL THEN 'immigration'
   WHEN was AND NOT now AND a0 IS NOT NULL THEN 'exit' END AS kind FROM j) WHERE kind IS NOT NULL
) TO '{out}/moves.parquet' (FORMAT parquet)''')
"""


def shuffled_registers(reg: Path) -> Path:
    """``reg`` with the rows of every register file in a random order (cached beside it; lookups copied)."""
    import polars as pl
    import pyarrow.parquet as pq

    dest = reg.with_name(reg.name + "-shuffled")
    if (dest / "done").is_file():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for f in sorted(reg.rglob("*")):
        if not f.is_file():
            continue
        target = dest / f.relative_to(reg)
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix == ".parquet" and f.parent.name != "lookup":
            codec = pq.ParquetFile(f).metadata.row_group(0).column(0).compression.lower()  # same codec as reg
            pl.read_parquet(f).sample(fraction=1.0, shuffle=True, seed=1).write_parquet(target, compression=codec)
        else:
            shutil.copy2(f, target)
    (dest / "done").write_text("")
    return dest


def warm(folder: Path) -> None:
    """Read every file of ``folder`` once, untimed: each variant then starts from the page cache (fair to all)."""
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            with f.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


def counts(out: Path) -> dict:
    """Panel person-years per year and moves per kind: the two variants must agree."""
    import polars as pl

    panel = pl.scan_parquet(out / "panel" / "**" / "*.parquet", hive_partitioning=True)
    years = dict(panel.group_by("year").len().collect().sort("year").iter_rows())
    moves = dict(pl.scan_parquet(out / "moves.parquet").group_by("kind").len().collect().sort("kind").iter_rows())
    return {"years": {int(k): v for k, v in years.items()}, "moves": moves}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--persons", type=int, default=FULL_PERSONS)
    p.add_argument("--skip-duckdb", action="store_true")
    p.add_argument("--skip-shuffled", action="store_true", help="do not measure the build of unsorted registers")
    a = p.parse_args(argv)
    reg = full_registers(a.persons)
    work = CACHE / f"bench-build-{a.persons}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    load = []
    try:
        with heavy_lock():
            load.append(os.getloadavg()[0])
            warm(reg)
            scan = measure("scan all inputs (baseline)", python(SCAN) + [str(reg)])
            warm(reg)
            build = measure("socialmix build", [sys.executable, "-m", "socialmix.cli", "--no-progress", "build",
                                                str(reg), str(work / "build")])
            rewrite = measure("re-encode the built panel (baseline)", python(REWRITE) + [
                str(work / "build"), str(work / "rewrite")])
            shutil.rmtree(work / "rewrite", ignore_errors=True)
            shuffled = None
            if not a.skip_shuffled:
                unsorted = shuffled_registers(reg)
                warm(unsorted)
                shuffled = measure("socialmix build, rows not sorted by PNR", [
                    sys.executable, "-m", "socialmix.cli", "--no-progress", "build", str(unsorted),
                    str(work / "shuffled")])
                shutil.rmtree(work / "shuffled", ignore_errors=True)
            duck = None
            if not a.skip_duckdb:
                (work / "duckdb").mkdir()
                warm(reg)
                duck = measure("DuckDB SQL (baseline)", python(DUCKDB) + [str(reg), str(work / "duckdb"), "2004", "2013"])
            load.append(os.getloadavg()[0])
        rows = [scan, rewrite, build] + ([shuffled] if shuffled else []) + ([duck] if duck else [])
        same = None
        if duck:
            cb, cd = counts(work / "build"), counts(work / "duckdb")
            same = cb == cd
            if not same:
                print("build:", cb, "\nduckdb:", cd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "## build (issue 4)",
        "",
        f"Synthetic registers 2003-2013, {a.persons:,} persons (`socialmix synth --seed 1`), panel 2004-2013.",
        f"Machine: {machine()}.",
        f"1-minute load average before / after the runs (other jobs share the 2 cores): "
        f"{' / '.join(f'{x:.1f}' for x in load)}.",
        "",
        "| variant | seconds | peak RSS (MB) | time / scan | RSS / build |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in rows:
        lines.append(f"| {m.label} | {m.seconds:.1f} | {m.peak_rss_mb:,.0f} | {m.seconds / scan.seconds:.1f}x | "
                     f"{m.peak_rss_mb / build.peak_rss_mb:.1f}x |")
    lines.append("")
    lines.append(f"- build / scan: {build.seconds / scan.seconds:.1f}x (target <= 4x); peak {build.peak_rss_mb / 1024:.1f} GB "
                 "(target <= 4 GB)")
    lines.append(f"- floor: scan + re-encoding the panel = {scan.seconds + rewrite.seconds:.1f} s = "
                 f"{(scan.seconds + rewrite.seconds) / scan.seconds:.1f}x scan; build / floor "
                 f"{build.seconds / (scan.seconds + rewrite.seconds):.1f}x")
    if duck:
        lines.append(f"- DuckDB / build: {duck.seconds / build.seconds:.1f}x faster (target >= 3x); build peak is "
                     f"{build.peak_rss_mb / duck.peak_rss_mb:.2f} of DuckDB's (target <= 0.33)")
        lines.append(f"- same person-years per year and moves per kind as DuckDB: {'yes' if same else 'NO'}")
    lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "build.md").write_text("\n".join(lines), encoding="utf-8")
    (RESULTS / "build.json").write_text(json.dumps([m.__dict__ for m in rows], indent=2), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
