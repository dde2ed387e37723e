"""Secure-environment tooling at whole-population scale: `socialmix check` and provenance hashing.

The preflight must take seconds on a whole-population delivery because it
reads parquet footers only; provenance hashing must be cheap next to the
build. A delivery of the full size (``--persons``, default 5.9 million; one
distinct file per register, hard-linked for every year 2003-2013 so it costs
one year of disk) is written once to ``benchmarks/cache/secure_reg``.

Measured side by side, each in a fresh process:

* ``socialmix check``                      (footers only)
* baseline: count rows by scanning data    (``pl.scan_parquet(...).select(pl.len())`` per file)
* provenance hashing of one year's files   (sha256, 1 MiB chunks) and baseline ``cat > /dev/null``

Run: ``.venv/bin/python -m benchmarks.bench_secure`` (it takes ``/tmp/socialmix-heavy.lock`` itself).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks.harness import CACHE, heavy_lock, machine, measure, python

YEARS = range(2003, 2014)


def write_delivery(reg: Path, persons: int) -> None:
    """Full-size register files with DST-like column types (values random, not a population model)."""
    import datetime as dt

    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1)
    pnr = pl.select((pl.int_range(persons, dtype=pl.Int64) * 157 + 10**8).cast(pl.String).str.zfill(10)
                    .alias("PNR")).to_series()
    years = {
        "bef": pl.DataFrame({
            "PNR": pnr,
            "FOED_DAG": pl.date_range(dt.date(1910, 1, 1), dt.date(2010, 1, 1), eager=True)
            .sample(persons, with_replacement=True, seed=1),
            "KOEN": rng.integers(1, 3, persons).astype(np.int8),
            "IE_TYPE": rng.integers(1, 4, persons).astype(np.int8),
            "OPR_LAND": rng.choice([5100, 5120, 5170], persons).astype(np.int16),
            "FAMILIE_ID": pl.Series(rng.integers(0, persons // 2, persons)).cast(pl.String),
            "ADRESSE_ID": pl.Series(rng.integers(0, persons // 2, persons)).cast(pl.String),
        }),
        "udda": pl.DataFrame({"PNR": pnr, "HFAUDD": rng.integers(1000, 9000, persons).astype(np.int32)}),
        "ind": pl.DataFrame({"PNR": pnr, "DISPON_NY": rng.normal(200_000, 80_000, persons)}),
        "akm02": pl.DataFrame({"PNR": pnr, "SOCIO02": rng.choice([111, 210, 310, 322], persons).astype(np.int16)}),
        "akm13": pl.DataFrame({"PNR": pnr, "SOCIO13": rng.choice([111, 210, 310, 322], persons).astype(np.int16)}),
    }
    master = reg / "_master"
    master.mkdir(parents=True, exist_ok=True)
    for name, df in years.items():
        df.write_parquet(master / f"{name}.parquet")
    for y in YEARS:
        for r in ("bef", "udda", "ind", "akm"):
            src = master / (f"akm{'02' if y <= 2008 else '13'}.parquet" if r == "akm" else f"{r}.parquet")
            dst = reg / r / f"{r}_{y}.parquet"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                os.link(src, dst)
    lk = reg / "lookup"
    lk.mkdir(exist_ok=True)
    pl.DataFrame({"AFDELING_ID": ["A"], "HELHEDSPLAN_ID": ["H"], "KOM": [101], "ANVISNING": [True],
                  "FLEKSIBEL": [False], "TOOL_START": [2008], "FLEX_SHARE": [0.1]}).write_parquet(lk / "afdeling.parquet")
    pl.DataFrame({"ADRESSE_ID": ["1"], "AFDELING_ID": ["A"]}).write_parquet(lk / "afdeling_address.parquet")
    (lk / "cpi.csv").write_text("YEAR,CPI\n" + "".join(f"{y},{100 + y - 2000}\n" for y in range(2000, 2014)))
    (lk / "hfaudd.csv").write_text("HFAUDD,LEVEL\n1000,H10\n")
    (lk / "country.csv").write_text("OPR_LAND,WESTERN\n5100,true\n")
    (reg / ".complete").write_text(str(persons))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--persons", type=int, default=5_900_000)
    a = p.parse_args()
    reg = CACHE / "secure_reg"
    with heavy_lock():
        if not (reg / ".complete").is_file() or (reg / ".complete").read_text() != str(a.persons):
            print(f"writing a {a.persons:,}-person delivery to {reg} ...")
            # in a child, so this process stays small (a forked child's peak RSS starts at its parent's)
            measure("write delivery", python(f"from benchmarks.bench_secure import write_delivery; "
                                             f"from pathlib import Path; write_delivery(Path({str(reg)!r}), {a.persons})"))
        sizes = sum(f.stat().st_size for f in (reg / "_master").iterdir())
        print(machine())
        print(f"delivery: {a.persons:,} persons, 44 register files 2003-2013 "
              f"(distinct data {sizes / 1e9:.2f} GB, hard-linked across years)")
        files = sorted(str(f) for f in reg.rglob("*") if f.is_file() and f.suffix in (".parquet", ".csv")
                       and "_master" not in f.parts)
        total = sum(Path(f).stat().st_size for f in files)
        rows = [
            measure("socialmix check 2004-2013 (stdout to /dev/null)",
                    ["sh", "-c", f"{Path(sys.executable).parent / 'socialmix'} --no-progress check {reg} > /dev/null"]),
            measure("baseline: polars row counts (len) per file",
                    python(f"import polars as pl; [pl.scan_parquet(f).select(pl.len()).collect() "
                           f"for f in {[f for f in files if f.endswith('.parquet')]!r}]")),
            measure(f"provenance sha256 of all {len(files)} build inputs ({total / 1e9:.2f} GB)",
                    python(f"from panel.provenance import hash_files; hash_files('/', {files!r})")),
            measure("baseline: python startup + import panel.provenance",
                    python("import panel.provenance")),
            measure("baseline: cat the same files > /dev/null", ["sh", "-c", f"cat {' '.join(files)} > /dev/null"]),
        ]
    print(f"{'step':48s} {'seconds':>8s} {'peak RSS MB':>12s}")
    for m in rows:
        print(f"{m.label:48s} {m.seconds:8.2f} {m.peak_rss_mb:12.0f}")


if __name__ == "__main__":
    main()
