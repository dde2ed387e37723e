"""Difference-in-differences speed: ATT(g,t) and person-level TWFE, side by side with baselines.

* ``att_gt`` on 5,000 afdelinger × 10 years (never-treated controls, varying base,
  no bootstrap) against csdid (``ATTgt.fit``) and moderndid (``att_gt``);
* person-level TWFE, 10 million person-years with 5,000 unit and 10 year effects,
  CRV1 by 500 clusters: socialmix's compressed TWFE against pyfixest ``feols`` on
  the raw rows, with the coefficients and SEs compared.

Each variant runs in its own process (``benchmarks.harness.measure``: wall time
and peak RSS); the child also records the time of the estimation call alone
(data already in memory) and its results. The person-level runs hold
``/tmp/socialmix-heavy.lock``. Results go to ``benchmarks/results/did.md``.

Run: ``.venv/bin/python -m benchmarks.bench_did [--rows 10000000]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.harness import CACHE, ROOT, heavy_lock, machine, measure, python

RESULTS = ROOT / "benchmarks" / "results" / "did.md"


def write_data(units: int, years: int, rows: int) -> tuple[Path, Path]:
    import numpy as np
    import polars as pl

    CACHE.mkdir(parents=True, exist_ok=True)
    afd, ind = CACHE / f"did_afd_{units}x{years}.parquet", CACHE / f"did_ind_{rows}.parquet"
    rng = np.random.default_rng(1)
    first = 2004
    gu = rng.choice([0, 0, 2006, 2007, 2008, 2009, 2010, 2011], units)
    if not afd.exists():
        u = np.repeat(np.arange(units), years)
        t = np.tile(np.arange(first, first + years), units)
        d = (gu[u] > 0) & (t >= gu[u])
        y = 0.05 * d + rng.normal(0, 0.1, units)[u] + 0.01 * (t - first) + rng.normal(0, 0.05, units * years)
        pl.DataFrame({"id": u, "year": t, "g": gu[u], "y": y}).write_parquet(afd)
    if not ind.exists():
        u = rng.integers(0, units, rows).astype(np.int32)
        t = rng.integers(first, first + years, rows).astype(np.int32)
        d = ((gu[u] > 0) & (t >= gu[u])).astype(np.int8)
        y = (rng.random(rows) < 0.4 + 0.05 * d + 0.00002 * u).astype(np.float64)
        pl.DataFrame({"afd": u, "year": t, "d": d, "y": y, "hp": (u // 10).astype(np.int32)}).write_parquet(ind)
    return afd, ind


CHILD = {
    "socialmix att_gt": """
import polars as pl, time, json, sys
from analyses.did import att_gt
df = pl.read_parquet(sys.argv[1])
t0 = time.perf_counter()
r = att_gt(df, outcome="y", unit="id", time="year", cohort="g")
agg = r.aggregate("simple")
sec = time.perf_counter() - t0
json.dump({"call": sec, "att": agg["att"][0], "se": agg["se"][0], "cells": r.table.height}, open(sys.argv[2], "w"))
""",
    "csdid ATTgt": """
import polars as pl, time, json, sys, io, contextlib, warnings
warnings.simplefilter("ignore")
from csdid.att_gt import ATTgt
df = pl.read_parquet(sys.argv[1]).to_pandas()
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    c = ATTgt(yname="y", tname="year", idname="id", gname="g", data=df).fit(bstrap=False)
    c.aggte(typec="simple", bstrap=False)
sec = time.perf_counter() - t0
json.dump({"call": sec, "att": float(c.atte["overall_att"]), "se": float(c.atte["overall_se"]),
           "cells": len(c.results["att"])}, open(sys.argv[2], "w"))
""",
    "moderndid att_gt": """
import polars as pl, time, json, sys, warnings
warnings.simplefilter("ignore")
import moderndid as md
df = pl.read_parquet(sys.argv[1])
t0 = time.perf_counter()
m = md.att_gt(data=df, yname="y", tname="year", idname="id", gname="g", boot=False)
a = md.aggte(m, type="simple", boot=False)
sec = time.perf_counter() - t0
json.dump({"call": sec, "att": float(a.overall_att), "se": float(a.overall_se), "cells": len(m.att_gt)},
          open(sys.argv[2], "w"))
""",
    "socialmix twfe (compressed)": """
import polars as pl, time, json, sys
from analyses.did import twfe
df = pl.read_parquet(sys.argv[1])
t0 = time.perf_counter()
r = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster="hp", compressed=True)
sec = time.perf_counter() - t0
json.dump({"call": sec, "coef": r.coef, "se": r.se}, open(sys.argv[2], "w"))
""",
    "pyfixest feols": """
import polars as pl, time, json, sys, warnings
warnings.simplefilter("ignore")
import pyfixest as pf
df = pl.read_parquet(sys.argv[1]).to_pandas()
t0 = time.perf_counter()
f = pf.feols("y ~ d | afd + year", data=df, vcov={"CRV1": "hp"})
sec = time.perf_counter() - t0
json.dump({"call": sec, "coef": float(f.coef().iloc[0]), "se": float(f.se().iloc[0])}, open(sys.argv[2], "w"))
""",
}


def run(label: str, data: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    m = measure(label, python(CHILD[label]) + [str(data), str(out)])
    res = json.loads(out.read_text())
    out.unlink()
    return {"label": label, "wall": m.seconds, "rss": m.peak_rss_mb, **res}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=5000)
    p.add_argument("--years", type=int, default=10)
    p.add_argument("--rows", type=int, default=10_000_000)
    a = p.parse_args()
    afd, ind = write_data(a.units, a.years, a.rows)
    cs = [run(k, afd) for k in ("socialmix att_gt", "csdid ATTgt", "moderndid att_gt")]
    with heavy_lock():
        fe = [run(k, ind) for k in ("socialmix twfe (compressed)", "pyfixest feols")]
    lines = [
        "# DiD benchmarks", "", f"Machine: {machine()}", "",
        f"## ATT(g,t): {a.units} afdelinger × {a.years} years, never-treated, varying base, simple aggregation", "",
        "| variant | estimation call (s) | process wall (s) | peak RSS (MB) | cells | simple ATT | SE |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['label']} | {r['call']:.3f} | {r['wall']:.2f} | {r['rss']:.0f} | {r['cells']} | "
              f"{r['att']:.10f} | {r['se']:.10f} |" for r in cs]
    base = cs[0]["call"]
    lines += ["", f"Speed-up of the call: csdid / socialmix = {cs[1]['call'] / base:.1f}×, "
              f"moderndid / socialmix = {cs[2]['call'] / base:.1f}×; largest |ATT difference| = "
              f"{max(abs(r['att'] - cs[0]['att']) for r in cs):.2e}, |SE difference| = "
              f"{max(abs(r['se'] - cs[0]['se']) for r in cs):.2e}.", "",
              f"## Person-level TWFE: {a.rows:,} person-years, {a.units} unit + {a.years} year effects, "
              "CRV1 by 500 clusters", "",
              "| variant | estimation call (s) | process wall (s) | peak RSS (MB) | coef | CRV1 SE |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['label']} | {r['call']:.3f} | {r['wall']:.2f} | {r['rss']:.0f} | {r['coef']:.12f} | "
              f"{r['se']:.12f} |" for r in fe]
    lines += ["", f"Speed-up of the call: pyfixest / socialmix = {fe[1]['call'] / fe[0]['call']:.1f}×; "
              f"|coef difference| = {abs(fe[0]['coef'] - fe[1]['coef']):.2e}, "
              f"|SE difference| = {abs(fe[0]['se'] - fe[1]['se']):.2e} (pyfixest default ssc).", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
