"""The single-cluster mend of att_gt's clustered variance: by hand, and a placebo simulation.

When every treated unit of a cohort sits in one cluster, plain cluster sums
of the influence functions lose the cohort's own noise (its deviations from
its own mean sum to zero there). The mend makes those units their own
clusters with an HC2 leverage factor; the placebo simulation (true effect 0,
1-3 units per cohort, each cohort in its own cluster) checks the size.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did import att_gt


def _two_period(dy_t: list[float], dy_c: list[list[float]]) -> pl.DataFrame:
    """Two periods; treated units (cohort 2001) all in cluster 0, control cluster k+1 holds dy_c[k]."""
    rows, i = [], 0
    for cl, (vals, g) in enumerate([(dy_t, 2001)] + [(v, 0) for v in dy_c]):
        for d in vals:
            rows += [(i, 2000, g, cl, 0.0), (i, 2001, g, cl, d)]
            i += 1
    return pl.DataFrame(rows, schema=["id", "year", "g", "cl", "y"], orient="row")


def test_mended_se_by_hand():
    dy_t = [1.0, 3.0, 2.5]
    dy_c = [[0.0, 0.5], [1.0, 0.7], [0.2, -0.3]]
    df = _two_period(dy_t, dy_c)
    ctrl = np.concatenate(dy_c)
    n, nt, nc = df["id"].n_unique(), len(dy_t), len(ctrl)
    # control side: cluster sums of deviations from the control mean, each / n_c
    v_c = sum(np.sum(np.asarray(v) - ctrl.mean()) ** 2 for v in dy_c) / nc ** 2
    # treated side, each unit its own cluster, HC2 (equal weights: n_t / (n_t - 1))
    v_t = np.sum((np.asarray(dy_t) - np.mean(dy_t)) ** 2) / nt ** 2 * nt / (nt - 1)
    res = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl")
    assert res.table["att"][0] == pytest.approx(np.mean(dy_t) - ctrl.mean(), abs=1e-14)
    assert res.table["se"][0] == pytest.approx(np.sqrt(v_t + v_c), abs=1e-14)
    assert res.notes and "2001" in res.notes[0]
    old = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl", single_cluster="ignore")
    assert old.table["se"][0] == pytest.approx(np.sqrt(v_c), abs=1e-14)  # the collapse: treated noise gone
    assert not old.notes
    assert n == nt + nc


def test_cohort_over_two_clusters_untouched():
    df = _two_period([1.0, 3.0], [[0.0, 0.5], [1.0, -0.5]]).with_columns(
        cl=pl.when(pl.col("id") == 1).then(9).otherwise(pl.col("cl")))
    a = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl")
    b = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl", single_cluster="ignore")
    assert a.table["se"][0] == b.table["se"][0]
    assert not a.notes


# ---------------------------------------------------------------- placebo simulation
def placebo_design(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """8 cohorts (2004-2011) of 1-3 units, each in its own cluster with 2 never-treated units; 30 control
    clusters of 4. Returns unit cohorts and clusters."""
    g, c = [], []
    for k, cohort in enumerate(range(2004, 2012)):
        m = int(rng.integers(1, 4))
        g += [cohort] * m + [0, 0]
        c += [k] * (m + 2)
    for k in range(30):
        g += [0] * 4
        c += [8 + k] * 4
    return np.array(g), np.array(c)


def placebo_rejections(draws: int, seed: int = 11, fixed: bool = True) -> dict[tuple[str, str], float]:
    """Share of |t| > 1.96 at true effect 0 for dynamic e=-3, e=0 and simple, per single_cluster rule."""
    rng = np.random.default_rng(seed)
    years = np.arange(2000, 2012)
    g, c = placebo_design(rng)
    hits: dict[tuple[str, str], int] = {}
    for _ in range(draws):
        if not fixed:
            g, c = placebo_design(rng)
        n = len(g)
        y = rng.normal(size=n)[:, None] + rng.normal(size=len(years))[None, :] + rng.normal(size=(n, len(years)))
        df = pl.DataFrame({"id": np.repeat(np.arange(n), len(years)), "year": np.tile(years, n),
                           "g": np.repeat(g, len(years)), "cl": np.repeat(c, len(years)), "y": y.ravel()})
        for rule in ("split", "ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl", single_cluster=rule)
            dyn = res.aggregate("dynamic")
            e = dyn["event_time"].to_numpy()
            stats = {"dynamic e=-3": dyn.filter(pl.Series(e == -3)), "dynamic e=0": dyn.filter(pl.Series(e == 0)),
                     "simple": res.aggregate("simple")}
            for name, row in stats.items():
                key = (name, rule)
                hits[key] = hits.get(key, 0) + int(abs(row["att"][0] / row["se"][0]) > 1.959964)
    return {k: v / draws for k, v in hits.items()}


@pytest.mark.slow
def test_placebo_size_single_cluster_cohorts():
    draws = 300
    rate = placebo_rejections(draws)
    mc = np.sqrt(0.05 * 0.95 / draws)  # 1.3 points
    for name in ("dynamic e=-3", "dynamic e=0", "simple"):
        assert abs(rate[(name, "split")] - 0.05) < 2.6 * mc, (name, rate)
        assert rate[(name, "ignore")] > 0.05 + 2.6 * mc, (name, rate)


def test_cr2_scaling_by_hand():
    """A cohort in two clusters: each cluster's sum of deviations from the cohort mean scaled by 1/sqrt(1 - h),
    h = the cluster's share of the cohort (2/3 and 1/3 here), and the same for the never-treated clusters."""
    df = _two_period([1.0, 3.0, 2.5], [[0.0, 0.5], [1.0, 0.7, 0.1], [0.2, -0.3]]).with_columns(
        cl=pl.when(pl.col("id") == 2).then(9).otherwise(pl.col("cl")))  # treated: units 0, 1 in 0, unit 2 in 9
    dt, ctrl = np.array([1.0, 3.0, 2.5]), [np.array(v) for v in ([0.0, 0.5], [1.0, 0.7, 0.1], [0.2, -0.3])]
    mt, mc, nc = dt.mean(), np.concatenate(ctrl).mean(), 7
    v_t = ((dt[:2] - mt).sum() ** 2 / (1 - 2 / 3) + (dt[2] - mt) ** 2 / (1 - 1 / 3)) / 3 ** 2
    v_c = sum((v - mc).sum() ** 2 / (1 - len(v) / nc) for v in ctrl) / nc ** 2
    res = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl", small_sample="cr2")
    assert res.table["se"][0] == pytest.approx(np.sqrt(v_t + v_c), abs=1e-14)
    plain = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl")
    v_plain = ((dt[:2] - mt).sum() ** 2 + (dt[2] - mt) ** 2) / 9 + sum((v - mc).sum() ** 2 for v in ctrl) / nc ** 2
    assert plain.table["se"][0] == pytest.approx(np.sqrt(v_plain), abs=1e-14)
    assert res.table["att"][0] == plain.table["att"][0]
