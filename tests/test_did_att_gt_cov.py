"""att_gt with covariates (DRDID dr/ipw/reg), balance_e and Webb weights.

Checked against moderndid (R did / DRDID's port: ATT(g,t), analytic SEs and
aggregations on mpdta with ``lpop``), csdid for unbalanced panels, moderndid's
own repeated-cross-section estimators cell by cell, and a least-squares
second implementation of the regression estimator on a small panel.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did import att_gt, drdid
from analyses.did.bootstrap import WEBB, mboot, multipliers
from panel.errors import InputError

TOL = 1e-9


def _mpdta() -> pl.DataFrame:
    md = pytest.importorskip("moderndid")
    return md.load_mpdta().with_columns(w=pl.col("lpop").exp(), x2=pl.col("lpop") ** 2 + 0.01 * pl.col("year"))


def _md(df: pl.DataFrame, **kw):
    md = pytest.importorskip("moderndid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return md.att_gt(data=df, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                         boot=False, **kw)


def _mine(df: pl.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return att_gt(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", **kw)


CONTROL = {"never": "nevertreated", "notyet": "notyettreated"}


@pytest.mark.slow
@pytest.mark.parametrize("est", ["dr", "ipw", "reg"])
@pytest.mark.parametrize("control", ["never", "notyet"])
def test_parity_with_moderndid_lpop(est, control):
    md = pytest.importorskip("moderndid")
    df = _mpdta()
    res = _mine(df, control=control, covariates=["lpop"], est_method=est)
    ref = _md(df, xformla="~lpop", est_method=est, control_group=CONTROL[control])
    np.testing.assert_allclose(res.table["att"].to_numpy(), ref.att_gt, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.table["se"].to_numpy(), ref.se_gt, rtol=0, atol=TOL)
    for kind in ("simple", "dynamic", "group", "calendar"):
        agg = md.aggte(ref, type=kind, boot=False)
        ov = res.aggregate(kind, overall=True) if kind != "simple" else res.aggregate("simple")
        assert ov["att"][0] == pytest.approx(agg.overall_att, abs=TOL)
        assert ov["se"][0] == pytest.approx(agg.overall_se, abs=TOL)
        if kind != "simple":
            tab = res.aggregate(kind)
            np.testing.assert_allclose(tab["att"].to_numpy(), agg.att_by_event, rtol=0, atol=TOL)
            np.testing.assert_allclose(tab["se"].to_numpy(), agg.se_by_event, rtol=0, atol=TOL)


@pytest.mark.slow
@pytest.mark.parametrize("est", ["dr", "ipw", "reg"])
def test_parity_time_varying_covariates_universal_weights(est):
    """Two covariates, one varying by year (taken at the base period), sampling weights, universal base."""
    df = _mpdta()
    res = _mine(df, control="notyet", covariates=["lpop", "x2"], est_method=est, weights="w",
                base_period="universal")
    ref = _md(df, xformla="~lpop+x2", est_method=est, control_group="notyettreated", weightsname="w",
              base_period="universal")
    np.testing.assert_allclose(res.table["att"].to_numpy(), ref.att_gt, rtol=0, atol=TOL)
    np.testing.assert_allclose(np.nan_to_num(res.table["se"].to_numpy()), np.nan_to_num(ref.se_gt), rtol=0, atol=TOL)


@pytest.mark.slow
@pytest.mark.parametrize("balance", [0, 1, 2])
def test_balance_e_against_moderndid(balance):
    md = pytest.importorskip("moderndid")
    df = _mpdta()
    res = _mine(df, covariates=["lpop"])
    agg = md.aggte(_md(df, xformla="~lpop"), type="dynamic", balance_e=balance, boot=False)
    tab = res.aggregate("dynamic", balance_e=balance)
    np.testing.assert_array_equal(tab["event_time"].to_numpy(), agg.event_times)
    np.testing.assert_allclose(tab["att"].to_numpy(), agg.att_by_event, rtol=0, atol=TOL)
    np.testing.assert_allclose(tab["se"].to_numpy(), agg.se_by_event, rtol=0, atol=TOL)
    ov = res.aggregate("dynamic", overall=True, balance_e=balance)
    assert ov["att"][0] == pytest.approx(agg.overall_att, abs=TOL)
    assert ov["se"][0] == pytest.approx(agg.overall_se, abs=TOL)


@pytest.mark.slow
@pytest.mark.parametrize("est", ["ipw", "reg"])
def test_unbalanced_parity_with_csdid(est):
    """Repeated-cross-section forms on an unbalanced panel (csdid; moderndid's unbalanced path fails)."""
    csdid = pytest.importorskip("csdid.att_gt")
    df = _mpdta()
    dfu = df.filter(pl.Series(np.random.default_rng(3).random(df.height) > 0.1))
    res = _mine(dfu, control="notyet", covariates=["lpop"], est_method=est, allow_unbalanced=True, weights="w")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = csdid.ATTgt(yname="lemp", tname="year", idname="countyreal", gname="first.treat", data=dfu.to_pandas(),
                         xformla="lemp~lpop", control_group="notyettreated", allow_unbalanced_panel=True,
                         weights_name="w").fit(est_method=est, bstrap=False)
    np.testing.assert_allclose(res.table["att"].to_numpy(), np.asarray(cs.results["att"]), rtol=0, atol=TOL)
    np.testing.assert_allclose(res.table["se"].to_numpy(), np.asarray(cs.results["se"]), rtol=0, atol=TOL)


@pytest.mark.parametrize("est", ["dr", "ipw", "reg"])
def test_rc_cell_equals_moderndid_estimators(est):
    """One repeated-cross-section cell against moderndid's drdid_rc / std_ipw_did_rc / reg_did_rc (= R DRDID)."""
    pytest.importorskip("moderndid")
    from moderndid.drdid.estimators.drdid_rc import drdid_rc
    from moderndid.drdid.estimators.reg_did_rc import reg_did_rc
    from moderndid.drdid.estimators.std_ipw_did_rc import std_ipw_did_rc

    rng = np.random.default_rng(0)
    n = 300
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n)])
    d = (rng.random(n) < 1 / (1 + np.exp(-x[:, 1]))).astype(float)
    post = (rng.random(n) < 0.5).astype(float)
    y = x[:, 1] + 0.5 * x[:, 2] + d * post + rng.normal(size=n)
    w = rng.random(n) + 0.5
    ref = {"dr": drdid_rc, "ipw": std_ipw_did_rc, "reg": reg_did_rc}[est](
        y=y, post=post, d=d, covariates=x, i_weights=w, influence_func=True)
    att, inf = drdid.rc(y, post, d, x, w, est)
    assert att == pytest.approx(ref.att, abs=1e-12)
    np.testing.assert_allclose(inf, ref.att_inf_func, rtol=0, atol=1e-11)


def _small_panel(seed: int = 5, n: int = 60) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = np.where(rng.random(n) < 0.5, 0, 2003)
    rows = []
    for i in range(n):
        for t in (2001, 2002, 2003):
            y = x[i] * (t - 2000) * 0.3 + (g[i] > 0) * (t >= 2003) + rng.normal()
            rows.append((i, t, int(g[i]), y, x[i]))
    return pl.DataFrame(rows, schema=["id", "year", "g", "y", "x"], orient="row")


def test_reg_matches_least_squares_by_hand():
    """Outcome regression ATT = mean treated change − mean of the control change-regression at treated X."""
    df = _small_panel()
    res = att_gt(df, outcome="y", unit="id", time="year", cohort="g", covariates=["x"], est_method="reg")
    wide = df.pivot(on="year", index="id", values="y").join(df.filter(year=2001).select("id", "g", "x"), on="id")
    dy = (wide["2003"] - wide["2002"]).to_numpy()
    x = np.column_stack([np.ones(wide.height), wide["x"].to_numpy()])
    tr = wide["g"].to_numpy() > 0
    beta = np.linalg.lstsq(x[~tr], dy[~tr], rcond=None)[0]
    want = dy[tr].mean() - (x[tr] @ beta).mean()
    cell = res.table.filter(time=2003)
    assert cell["att"][0] == pytest.approx(want, abs=1e-12)


def test_covariates_absent_equal_intercept_only_estimators():
    """Without covariates att_gt keeps its mean-change path; DRDID with an intercept gives the same cells."""
    df = _small_panel()
    plain = att_gt(df, outcome="y", unit="id", time="year", cohort="g")
    ones = df.with_columns(one=pl.lit(0.0))  # a constant column: singular with the intercept -> cell missing
    with pytest.warns(UserWarning, match="singular"):
        bad = att_gt(ones, outcome="y", unit="id", time="year", cohort="g", covariates=["one"], est_method="reg")
    assert bad.table["att"].is_nan().all()
    wide = df.pivot(on="year", index="id", values="y").join(df.filter(year=2001).select("id", "g"), on="id")
    tr = (wide["g"].to_numpy() > 0).astype(float)
    dy = (wide["2003"] - wide["2002"]).to_numpy()[:, None]
    for est in ("dr", "ipw", "reg"):
        att, inf = drdid.panel(dy, tr, np.ones((wide.height, 1)), np.ones(wide.height), est)
        cell = plain.table.filter(time=2003)
        assert att[0] == pytest.approx(cell["att"][0], abs=1e-12)
        assert np.sqrt((inf ** 2).sum()) / wide.height == pytest.approx(cell["se"][0], abs=1e-12)


def test_cov_input_errors():
    df = _small_panel()
    with pytest.raises(InputError, match="not found"):
        att_gt(df, outcome="y", unit="id", time="year", cohort="g", covariates=["nope"])
    with pytest.raises(InputError, match="est_method"):
        att_gt(df, outcome="y", unit="id", time="year", cohort="g", covariates=["x"], est_method="ols")
    with pytest.raises(InputError, match="balance_e"):
        att_gt(df, outcome="y", unit="id", time="year", cohort="g").aggregate("group", balance_e=1)


def test_webb_weights_moments():
    # by construction: six points +-sqrt(1/2), +-1, +-sqrt(3/2), equally likely
    assert len(np.unique(WEBB)) == 6
    assert WEBB.mean() == pytest.approx(0.0, abs=1e-15)
    assert (WEBB ** 2).mean() == pytest.approx(1.0, abs=1e-15)
    v = multipliers(np.random.default_rng(1), (200_000, 1), "webb")
    assert abs(v.mean()) < 4 / np.sqrt(v.size)
    assert abs(v.var() - 1) < 4 * np.sqrt((7 / 6 - 1) / v.size)  # Var(v^2) = E v^4 - 1 = 7/6 - 1
    assert set(np.unique(v)) == set(WEBB)


def test_webb_bootstrap_se_close_to_analytic():
    inf = np.random.default_rng(2).normal(size=(2000, 2))
    out = mboot(inf, None, biters=4000, multiplier="webb", seed=3)
    analytic = np.sqrt((inf ** 2).sum(axis=0)) / 2000
    np.testing.assert_allclose(out["se"], analytic, rtol=0.06)


def test_covariate_fallback_drops_the_separating_covariate_per_cohort():
    """Cohort 2003's units all have sep = 5, the never treated sep ~ N(0, 1): its logit separates. With
    covariate_fallback="drop" its cells are the fit on x alone, cohort 2004's (sep overlaps there) the fit
    on both; R's behaviour ("none") leaves cohort 2003 missing."""
    rng = np.random.default_rng(11)
    n = 90
    g = np.repeat([0, 2003, 2004], [50, 20, 20])
    x, sep = rng.normal(size=n), np.where(g == 2003, 5.0, rng.normal(size=n))
    rows = [(i, t, int(g[i]), x[i] * 0.2 * (t - 2000) + (g[i] > 0) * (t >= g[i]) + rng.normal(), x[i], sep[i])
            for i in range(n) for t in (2001, 2002, 2003, 2004)]
    df = pl.DataFrame(rows, schema=["id", "year", "g", "y", "x", "sep"], orient="row")
    kw = dict(outcome="y", unit="id", time="year", cohort="g", est_method="dr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        none = att_gt(df, covariates=["sep", "x"], **kw)
        drop = att_gt(df, covariates=["sep", "x"], covariate_fallback="drop", **kw)
        only_x = att_gt(df, covariates=["x"], **kw)
        both = att_gt(df, covariates=["sep", "x"], **kw)
    c3, c4 = pl.col("cohort") == 2003, pl.col("cohort") == 2004
    assert none.table.filter(c3)["att"].is_nan().all() and not none.table.filter(c4)["att"].is_nan().any()
    for part, ref in ((c3, only_x), (c4, both)):
        got, want = drop.table.filter(part), ref.table.filter(part)
        np.testing.assert_allclose(got["att"].to_numpy(), want["att"].to_numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["se"].to_numpy(), want["se"].to_numpy(), rtol=0, atol=1e-12)
    assert drop.notes == ["cohort 2003: covariates sep, x not estimable (separation or a singular design); "
                          "fitted with x"]
    with pytest.raises(InputError, match="covariate_fallback must be one of 'none', 'drop'"):
        att_gt(df, covariates=["x"], covariate_fallback="keep", **kw)
