"""Randomization p-value against the exact permutation distribution, enumerated by hand."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from analyses.did import ri_pvalue, twfe
from analyses.did.ri import cohort_dealer
from panel.errors import InputError


def panel(seed: int = 2) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    units, years = 12, 6
    u = np.repeat(np.arange(units), years)
    t = np.tile(np.arange(2010, 2016), units)
    hp = u // 2
    g_hp = np.array([2012, 2013, 0, 0, 0, 0])
    y = 0.8 * ((g_hp[hp] > 0) & (t >= g_hp[hp])) + rng.normal(size=units)[u] + rng.normal(size=units * years)
    return pl.DataFrame({"id": u, "year": t, "hp": hp, "g": g_hp[hp], "y": y})


def coef(d: pl.DataFrame) -> float:
    d = d.with_columns(((pl.col("g") > 0) & (pl.col("year") >= pl.col("g"))).cast(pl.Float64).alias("d"))
    return float(twfe(d, outcome="y", unit="id", time="year", treat="d", cluster="hp").coef)


def test_matches_the_exact_permutation_distribution():
    df = panel()
    obs = coef(df)
    g_hp = [2012, 2013, 0, 0, 0, 0]
    exact = []
    for perm in set(itertools.permutations(g_hp)):  # 6!/4! = 30 distinct dealings over helhedsplaner
        gmap = np.array(perm)
        exact.append(coef(df.with_columns(pl.Series("g", gmap[df.get_column("hp").to_numpy()]))))
    p_exact = np.mean(np.abs(exact) >= abs(obs) * (1 - 1e-10))
    res = ri_pvalue(coef, df, unit="id", cohort="g", cluster="hp", permutations=999, seed=1)
    assert res["estimate"] == pytest.approx(obs)
    assert abs(res["p_value"] - p_exact) < 4 * np.sqrt(p_exact * (1 - p_exact) / 999) + 2e-3


def test_dealer_keeps_cohorts_within_clusters():
    cohort = np.array([3, 3, 0, 0, 5, 5, 0, 0])
    cluster = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    deal = cohort_dealer(cohort, cluster)
    rng = np.random.default_rng(0)
    for _ in range(20):
        new = deal(rng)
        assert (new[::2] == new[1::2]).all()
        assert sorted(new) == sorted(cohort)
    mixed = cohort_dealer(np.array([3, 0, 0, 0]), np.array([0, 0, 1, 1]))  # cluster 0 holds two cohorts
    assert sorted(mixed(rng)) == [0, 0, 0, 3]


def test_cohort_must_be_constant_within_unit():
    df = panel().with_columns(pl.when(pl.col("year") == 2010).then(2011).otherwise(pl.col("g")).alias("g"))
    with pytest.raises(InputError, match="cohort is not constant"):
        ri_pvalue(coef, df, unit="id", cohort="g", cluster="hp", permutations=5)
