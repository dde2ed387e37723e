"""Placebo of att_gt's clustered SE with cohorts of 2-4 afdelinger in 2-3 clusters: none vs small_sample="cr2".

Not CI. ``python -m benchmarks.placebo_cr2 1000`` (about 30 s): 8 cohorts 2004-2011, each of 2-4 units spread
over 2-3 clusters; 30 never-treated clusters of 4; 12 years; unit, year and cluster-year effects and iid noise,
true effect 0. Prints the share of |t| > 1.96 per aggregation and variance (numbers in docs/did.md).
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import polars as pl

from analyses.did import att_gt

YEARS = np.arange(2000, 2012)


def design(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unit cohorts and clusters: every cohort over 2-3 clusters of its own, then 30 control clusters of 4."""
    g: list[int] = []
    c: list[int] = []
    k = 0
    for cohort in range(2004, 2012):
        m = int(rng.integers(2, 5))
        ncl = min(m, int(rng.integers(2, 4)))
        g += [cohort] * m
        c += list(k + np.arange(m) % ncl)
        k += ncl
    for j in range(30):
        g += [0] * 4
        c += [k + j] * 4
    return np.array(g), np.array(c)


def rejections(draws: int, seed: int = 5) -> dict[tuple[str, str], float]:
    rng = np.random.default_rng(seed)
    hits: dict[tuple[str, str], list[int]] = {}
    for _ in range(draws):
        g, c = design(rng)
        n = len(g)
        shock = rng.normal(scale=0.7, size=(c.max() + 1, len(YEARS)))
        y = (rng.normal(size=n)[:, None] + rng.normal(size=len(YEARS))[None, :] + shock[c]
             + rng.normal(size=(n, len(YEARS))))
        df = pl.DataFrame({"id": np.repeat(np.arange(n), len(YEARS)), "year": np.tile(YEARS, n),
                           "g": np.repeat(g, len(YEARS)), "cl": np.repeat(c, len(YEARS)), "y": y.ravel()})
        for ss in ("none", "cr2"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl", small_sample=ss)
            dyn = res.aggregate("dynamic")
            rows = {"simple": res.aggregate("simple"), "dynamic e=0": dyn.filter(pl.col("event_time") == 0),
                    "dynamic e=-3": dyn.filter(pl.col("event_time") == -3), "group (each cohort)": res.aggregate(
                        "group")}
            for name, r in rows.items():
                z = (r["att"] / r["se"]).to_numpy()
                h = hits.setdefault((name, ss), [0, 0])
                h[0] += int((np.abs(z) > 1.959964).sum())
                h[1] += len(z)
    return {k: a / b for k, (a, b) in hits.items()}


if __name__ == "__main__":
    t0 = time.time()
    for (name, ss), rate in sorted(rejections(int(sys.argv[1]) if len(sys.argv) > 1 else 1000).items()):
        print(f"{name:<20} {ss:<5} {rate:.3f}")
    print(f"{time.time() - t0:.1f} s")
