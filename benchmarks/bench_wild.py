"""Wild cluster restricted bootstrap speed: compressed person-level TWFE against wildboottest on person rows.

Person-years (``--rows``, default 10 million; also 1 million) in 2,000 afdelinger × 10 years,
clustered by 200 helhedsplaner (10 afdelinger each), binary outcome. socialmix: ``twfe(...,
compressed=True)`` (the cells are built inside the call) then ``.wild_bootstrap("d", B=9999,
weights="rademacher")``, p-value and test-inversion CI. Baseline: wildboottest's
``WildboottestCL`` (WCR11, the "fast and wild" algorithm, numba) on the person rows with the
afdeling effects already projected out and the year dummies as regressors — given the
demeaned arrays for free (its call alone is timed). Draws differ, so p-values agree within
Monte Carlo error (2^200 sign vectors: no enumeration). Each variant runs in its own process
under ``/tmp/socialmix-heavy.lock``. Results go to ``benchmarks/results/wild.md``.

Run: ``.venv/bin/python -m benchmarks.bench_wild [--rows 10000000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.harness import CACHE, ROOT, heavy_lock, machine, measure, python

RESULTS = ROOT / "benchmarks" / "results" / "wild.md"
UNITS, YEARS, PER_CLUSTER = 2000, 10, 10


def write_data(rows: int) -> Path:
    import numpy as np
    import polars as pl

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"wild_persons_{rows}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    first = 2004
    gu = rng.choice([0, 0, 0, 2007, 2008, 2009, 2010, 2011], UNITS)
    u = rng.integers(0, UNITS, rows).astype(np.int32)
    t = rng.integers(first, first + YEARS, rows).astype(np.int32)
    d = ((gu[u] > 0) & (t >= gu[u])).astype(np.int8)
    level = rng.uniform(0.2, 0.6, UNITS)
    shock = rng.normal(0, 0.02, (UNITS // PER_CLUSTER, YEARS))  # cluster-year shocks: clustering matters
    p = level[u] + 0.005 * d + shock[u // PER_CLUSTER, t - first]
    y = (rng.random(rows) < p).astype(np.float64)
    pl.DataFrame({"afd": u, "year": t, "d": d, "y": y, "hp": (u // PER_CLUSTER).astype(np.int32)}).write_parquet(path)
    return path


CHILD = {
    "socialmix": """
import polars as pl, time, json, sys
from analyses.did import twfe
df = pl.read_parquet(sys.argv[1])
t0 = time.perf_counter()
r = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster="hp", compressed=True)
t1 = time.perf_counter()
w = r.wild_bootstrap("d", B=9999, weights="rademacher", seed=1)
t2 = time.perf_counter()
json.dump({"call": t2 - t0, "fit": t1 - t0, "boot": t2 - t1, "coef": r.coef, "se": r.se, "p": w["p_value"],
           "ci_low": w["ci_low"], "ci_high": w["ci_high"], "B": w["B"]}, open(sys.argv[2], "w"))
""",
    "wildboottest": """
import polars as pl, numpy as np, time, json, sys, warnings
warnings.simplefilter("ignore")
from wildboottest.wildboottest import WildboottestCL
df = pl.read_parquet(sys.argv[1])
u = df.get_column("afd").to_numpy(); t = df.get_column("year").to_numpy()
cnt = np.bincount(u)
def dm(a):
    return a - (np.bincount(u, weights=a) / cnt)[u]
x = np.column_stack([dm(df.get_column("d").to_numpy().astype(float))]
                    + [dm((t == s).astype(float)) for s in np.unique(t)[1:]])
y = dm(df.get_column("y").to_numpy())
cl = df.get_column("hp").to_numpy()
del df
t0 = time.perf_counter()
R = np.zeros(x.shape[1]); R[0] = 1.0
wb = WildboottestCL(X=x, Y=y, cluster=cl, R=R, B=9999, seed=1)
wb.get_scores(bootstrap_type="11", impose_null=True)
wb.get_weights("rademacher")
wb.get_numer(); wb.get_denom(); wb.get_tboot(); wb.get_vcov(); wb.get_tstat(); wb.get_pvalue()
sec = time.perf_counter() - t0
tb = np.asarray(wb.t_boot).ravel(); ts = float(np.ravel(wb.t_stat)[0])
json.dump({"call": sec, "p": float(np.mean(np.abs(tb) >= abs(ts) * (1 - 1e-10))), "p_own": float(wb.pvalue),
           "coef": float(wb.beta_hat[0]), "B": int(wb.B)}, open(sys.argv[2], "w"))
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
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--baseline-max", type=int, default=10_000_000, help="largest size wildboottest is run on")
    a = p.parse_args()
    lines = ["# Wild cluster bootstrap benchmarks", "", f"Machine: {machine()}", "",
             f"{UNITS} afdelinger × {YEARS} years, {UNITS // PER_CLUSTER} clusters, B = 9999 Rademacher, "
             "WCR (null imposed), H0: d = 0.", "",
             "| persons | variant | call (s) | of which fit / bootstrap+CI (s) | process wall (s) | peak RSS (MB) "
             "| coef | p-value | 95 % CI |", "|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    files = {rows: write_data(rows) for rows in a.rows}
    with heavy_lock():  # once for all sizes
        results = {rows: [run("socialmix", data)] + ([run("wildboottest", data)] if rows <= a.baseline_max else [])
                   for rows, data in files.items()}
    for rows, res in results.items():
        for r in res:
            split = f"{r['fit']:.2f} / {r['boot']:.2f}" if "fit" in r else "(demeaned arrays given)"
            ci = f"[{r['ci_low']:.5f}, {r['ci_high']:.5f}]" if "ci_low" in r else "—"
            lines.append(f"| {rows:,} | {r['label']} | {r['call']:.2f} | {split} | {r['wall']:.1f} | {r['rss']:.0f} "
                         f"| {r['coef']:.6f} | {r['p']:.4f} | {ci} |")
        if len(res) == 2:
            mc = (2 * res[1]["p"] * (1 - res[1]["p"]) / 9999) ** 0.5
            ratios.append(f"{rows:,} persons: wildboottest call / socialmix call (fit + bootstrap + CI) = "
                          f"{res[1]['call'] / res[0]['call']:.1f}×; p-values {res[0]['p']:.4f} vs "
                          f"{res[1]['p']:.4f} (difference {abs(res[0]['p'] - res[1]['p']):.4f}, Monte Carlo SD "
                          f"of the difference {mc:.4f}).")
    lines += [""] + [f"- {r}" for r in ratios] + [""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
