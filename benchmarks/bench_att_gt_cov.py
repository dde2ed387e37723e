"""ATT(g,t) with covariates: socialmix against csdid and moderndid, side by side.

5,000 afdelinger × 10 years, two time-invariant covariates (one continuous,
one binary) that drive both adoption and trends, never-treated controls,
doubly robust (``est_method="dr"``), analytic SEs, no bootstrap. Each variant
runs in its own process (``benchmarks.harness.measure``); the child times the
estimation call alone and writes every ATT(g,t) and SE, which are compared
cell by cell. Results go to ``benchmarks/results/att_gt_cov.md``.

Run: ``flock /tmp/socialmix-heavy.lock .venv/bin/python -m benchmarks.bench_att_gt_cov``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.harness import CACHE, ROOT, machine, measure, python

RESULTS = ROOT / "benchmarks" / "results" / "att_gt_cov.md"


def write_data(units: int, years: int) -> Path:
    import numpy as np
    import polars as pl

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"did_cov_{units}x{years}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(2)
    first = 2004
    x1 = rng.normal(size=units)
    x2 = (rng.random(units) < 0.4).astype(float)
    treated = rng.random(units) < 1 / (1 + np.exp(-(0.5 * x1 - 0.5 * x2)))
    gu = np.where(treated, rng.choice([2006, 2007, 2008, 2009, 2010, 2011], units), 0)
    u = np.repeat(np.arange(units), years)
    t = np.tile(np.arange(first, first + years), units)
    d = (gu[u] > 0) & (t >= gu[u])
    y = (0.05 * d + rng.normal(0, 0.1, units)[u] + (0.01 + 0.01 * x1[u] - 0.005 * x2[u]) * (t - first)
         + rng.normal(0, 0.05, units * years))
    pl.DataFrame({"id": u, "year": t, "g": gu[u], "y": y, "x1": x1[u], "x2": x2[u]}).write_parquet(path)
    return path


CHILD = {
    "socialmix att_gt": """
import polars as pl, time, json, sys
from analyses.did import att_gt
df = pl.read_parquet(sys.argv[1])
t0 = time.perf_counter()
r = att_gt(df, outcome="y", unit="id", time="year", cohort="g", covariates=["x1", "x2"], est_method="dr")
agg = r.aggregate("simple")
sec = time.perf_counter() - t0
json.dump({"call": sec, "att": r.table["att"].to_list(), "se": r.table["se"].to_list(),
           "simple": agg["att"][0], "simple_se": agg["se"][0]}, open(sys.argv[2], "w"))
""",
    "csdid ATTgt": """
import polars as pl, time, json, sys, io, contextlib, warnings
warnings.simplefilter("ignore")
from csdid.att_gt import ATTgt
df = pl.read_parquet(sys.argv[1]).to_pandas()
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    c = ATTgt(yname="y", tname="year", idname="id", gname="g", data=df, xformla="y~x1+x2").fit(
        est_method="dr", bstrap=False)
    c.aggte(typec="simple", bstrap=False)
sec = time.perf_counter() - t0
json.dump({"call": sec, "att": [float(v) for v in c.results["att"]], "se": [float(v) for v in c.results["se"]],
           "simple": float(c.atte["overall_att"]), "simple_se": float(c.atte["overall_se"])}, open(sys.argv[2], "w"))
""",
    "moderndid att_gt": """
import polars as pl, time, json, sys, warnings
warnings.simplefilter("ignore")
import moderndid as md
df = pl.read_parquet(sys.argv[1])
t0 = time.perf_counter()
m = md.att_gt(data=df, yname="y", tname="year", idname="id", gname="g", xformla="~x1+x2", est_method="dr",
              boot=False)
a = md.aggte(m, type="simple", boot=False)
sec = time.perf_counter() - t0
json.dump({"call": sec, "att": [float(v) for v in m.att_gt], "se": [float(v) for v in m.se_gt],
           "simple": float(a.overall_att), "simple_se": float(a.overall_se)}, open(sys.argv[2], "w"))
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
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=5000)
    p.add_argument("--years", type=int, default=10)
    a = p.parse_args()
    data = write_data(a.units, a.years)
    rs = [run(k, data) for k in CHILD]
    base = rs[0]
    lines = ["# ATT(g,t) with covariates", "", f"Machine: {machine()}", "",
             f"{a.units} afdelinger × {a.years} years, covariates x1 (continuous) + x2 (binary), "
             "est_method dr, never-treated, varying base, analytic SEs, simple aggregation.", "",
             "| variant | estimation call (s) | process wall (s) | peak RSS (MB) | cells | max abs ATT(g,t) diff "
             "| max abs SE diff | simple ATT | SE |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        da = np.max(np.abs(np.array(r["att"]) - np.array(base["att"])))
        ds = np.max(np.abs(np.array(r["se"]) - np.array(base["se"])))
        lines.append(f"| {r['label']} | {r['call']:.3f} | {r['wall']:.2f} | {r['rss']:.0f} | {len(r['att'])} | "
                     f"{da:.1e} | {ds:.1e} | {r['simple']:.10f} | {r['simple_se']:.10f} |")
    lines += ["", f"Speed-up of the call: csdid / socialmix = {rs[1]['call'] / base['call']:.1f}×, "
              f"moderndid / socialmix = {rs[2]['call'] / base['call']:.1f}×.", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
