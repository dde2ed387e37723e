"""The randomization p-value of att_gt's pre-trend test (``AttGtResult.pretest(permutations=...)``).

Its mechanics are checked against a second route -- ``att_gt`` re-estimated from
scratch on a data frame whose cohorts were re-dealt with the same random
draws -- and its behaviour on data with and without a planted pre-trend.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did.att_gt import att_gt
from analyses.did.ri import cohort_dealer as _dealer

YEARS = np.arange(2004, 2012)


def _panel(seed: int, *, per_cohort: int, pre_trend: float = 0.0, clusters: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat([2007, 2008, 2009, 0], [per_cohort, per_cohort, per_cohort, 30])
    n = len(g)
    y = rng.normal(0, 1, n)[:, None] + rng.normal(0, 0.3, len(YEARS))[None, :] + rng.normal(0, 0.5, (n, len(YEARS)))
    # a pre-trend: cohort 2009 drifts up before it is treated
    y += pre_trend * ((g == 2009)[:, None] * (YEARS[None, :] - 2004))
    cl = np.arange(n) // 2 if clusters else np.arange(n)  # pairs of units share a cluster and a cohort
    return pl.DataFrame({"id": np.repeat(np.arange(n), len(YEARS)), "year": np.tile(YEARS, n),
                         "g": np.repeat(g, len(YEARS)), "cl": np.repeat(cl, len(YEARS)), "y": y.ravel()})


def _fit(df: pl.DataFrame, cluster: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster=cluster)


@pytest.mark.parametrize("clusters", [False, True])
def test_randomization_p_matches_reestimating_relabelled_data(clusters: bool) -> None:
    df = _panel(1, per_cohort=4, clusters=clusters)
    cluster = "cl" if clusters else None
    res = _fit(df, cluster)
    got = res.pretest(permutations=30, seed=7)
    # second route: the same re-dealt cohorts, written into the data and estimated from scratch
    deal, rng = _dealer(res.units.cohort, res.units.cluster), np.random.default_rng(7)
    ids = res.units.ids.to_list()
    hits = 0
    for _ in range(30):
        cohort = deal(rng)
        relabelled = df.drop("g").join(pl.DataFrame({"id": ids, "g": cohort}), on="id")
        hits += _fit(relabelled, cluster).pretest()["chi2"] >= got["chi2"]
    assert got["p_perm"] == pytest.approx((1 + hits) / 31)
    assert got["chi2"] == pytest.approx(res.pretest()["chi2"])


def test_dealer_keeps_cohorts_constant_within_clusters() -> None:
    cohort = np.array([5, 5, 7, 7, 0, 0, 0, 0])
    cluster = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    deal = _dealer(cohort, cluster)
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = deal(rng)
        assert sorted(c.tolist()) == sorted(cohort.tolist())
        assert all(len(set(c[cluster == k])) == 1 for k in range(4))
    # cohorts that vary within a cluster: units are re-dealt one by one
    mixed = _dealer(np.array([5, 0, 7, 0]), np.array([0, 0, 1, 1]))
    assert sorted(mixed(rng).tolist()) == [0, 0, 5, 7]


def test_planted_pre_trend_is_found_and_parallel_trends_are_not_rejected() -> None:
    # few units per cohort: the chi-square p-value is useless here (it rejects the placebo too)
    placebo = [_fit(_panel(s, per_cohort=2)).pretest(permutations=99, seed=s) for s in range(12)]
    assert sum(p["p_value"] < 0.05 for p in placebo) >= 9
    assert sum(p["p_perm"] < 0.05 for p in placebo) <= 3
    for seed in range(3):  # two drifting afdelinger (slope 2 sd of the noise a year) are found
        trend = _fit(_panel(seed, per_cohort=2, pre_trend=2.0)).pretest(permutations=99, seed=seed)
        assert trend["p_perm"] <= 0.02
