"""Goodman-Bacon decomposition: weights sum to 1, weighted sum = TWFE, against the subsample
variance form of Goodman-Bacon (2021) Theorem 1 and against diff-diff's bacon_decompose."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did import bacon, twfe
from panel.errors import InputError


def panel(seed: int = 1, never: bool = True) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    # 2000 = treated from the first period: untreated for the decomposition, as the never treated
    cohorts = [2003, 2005, 2008] + ([0, 2000] if never else [])
    sizes = [3, 4, 2] + ([5, 2] if never else [])
    g = np.repeat(cohorts, sizes)
    n, years = len(g), np.arange(2000, 2010)
    u = np.repeat(np.arange(n), len(years))
    t = np.tile(years, n)
    gg = g[u]
    d = ((gg > 0) & (t >= gg)).astype(float)
    effect = np.where(d > 0, 1.0 + 0.3 * (t - gg), 0.0)  # dynamic effects: the forbidden 2x2s are biased
    y = effect + rng.normal(size=n)[u] + 0.2 * (t - 2000) + rng.normal(scale=0.5, size=n * len(years))
    return pl.DataFrame({"id": u, "year": t, "g": gg, "d": d, "y": y})


def dd_var(d: np.ndarray) -> float:
    dd = d - d.mean(axis=1, keepdims=True) - d.mean(axis=0, keepdims=True) + d.mean()
    return float((dd ** 2).mean())


@pytest.mark.parametrize("never", [True, False])
def test_weights_sum_to_one_and_reproduce_twfe(never):
    df = panel(never=never)
    res = bacon(df, outcome="y", unit="id", time="year", cohort="g")
    tw = twfe(df, outcome="y", unit="id", time="year", treat="d").coef
    assert res.table.get_column("weight").sum() == pytest.approx(1.0, abs=1e-12)
    assert res.twfe == pytest.approx(tw, abs=1e-12)
    types = set(res.table.get_column("type").to_list())
    assert types == ({"treated_vs_never"} if never else set()) | {"earlier_vs_later", "later_vs_earlier"}
    late = res.table.filter(pl.col("type") == "later_vs_earlier").get_column("weight").sum()
    assert res.weight_already_treated == pytest.approx(late) and late > 0


def test_weights_equal_subsample_variances_and_estimates_equal_2x2_twfe():
    """Theorem 1: s = (share of the 2x2's units · share of its periods)² · V(D̃ in the 2x2) / V(D̃)."""
    df = panel()
    res = bacon(df, outcome="y", unit="id", time="year", cohort="g")
    g_unit = df.filter(pl.col("year") == 2000).sort("id").get_column("g").to_numpy()
    g_unit = np.where(g_unit <= 2000, 0, g_unit)
    years = np.arange(2000, 2010)
    dfull = (years[None, :] >= np.where(g_unit > 0, g_unit, 9999)[:, None]).astype(float)
    v = dd_var(dfull)
    for typ, k, c, w, est in res.table.iter_rows():
        units = np.isin(g_unit, [k, c])
        if typ == "treated_vs_never":
            win = np.ones(len(years), bool)
        elif typ == "earlier_vs_later":
            win = years < c
        else:
            win = years >= c
        sub = dfull[np.ix_(units, win)]
        expected = (units.mean() * win.mean()) ** 2 * dd_var(sub) / v
        assert w == pytest.approx(expected, rel=1e-10)
        # the 2x2 estimate is the TWFE coefficient on that subsample
        ids = np.nonzero(units)[0]
        s = df.filter(pl.col("id").is_in(ids.tolist()) & pl.col("year").is_in(years[win].tolist()))
        s = s.with_columns(((pl.col("g") == k) & (pl.col("year") >= k)).cast(pl.Float64).alias("d2"))
        assert est == pytest.approx(twfe(s, outcome="y", unit="id", time="year", treat="d2").coef, abs=1e-10)


def test_equals_diff_diff():
    dd = pytest.importorskip("diff_diff")
    df = panel(seed=3)
    res = bacon(df, outcome="y", unit="id", time="year", cohort="g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = dd.BaconDecomposition().fit(df.to_pandas(), outcome="y", unit="id", time="year", first_treat="g")
    assert ref.twfe_estimate == pytest.approx(res.twfe, abs=1e-10)
    theirs = sorted((c.comparison_type, int(c.treated_group),
                     0 if c.control_group == "never_treated" else int(c.control_group), c.weight, c.estimate)
                    for c in ref.comparisons)
    ours = sorted(res.table.iter_rows())
    assert len(theirs) == len(ours)
    for a, b in zip(ours, theirs, strict=True):
        assert a[:3] == b[:3]
        assert a[3] == pytest.approx(b[3], abs=1e-10)
        assert a[4] == pytest.approx(b[4], abs=1e-10)


def test_unbalanced_panel_is_refused():
    df = panel().filter(~((pl.col("id") == 3) & (pl.col("year") == 2004)))
    with pytest.raises(InputError, match="not balanced"):
        bacon(df, outcome="y", unit="id", time="year", cohort="g")
