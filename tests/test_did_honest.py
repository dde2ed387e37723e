"""Rambachan-Roth robust CIs against moderndid's port of HonestDiD on the same β, Σ (and end to end on mpdta)."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did import att_gt, event_study, honest_bounds, honest_did, sun_abraham
from panel.errors import InputError

pytest.importorskip("cvxpy")  # moderndid's didhonest needs it
mh = pytest.importorskip("moderndid.didhonest")


def problem(seed: int = 0, n_pre: int = 3, n_post: int = 3):
    rng = np.random.default_rng(seed)
    k = n_pre + n_post
    a = rng.normal(size=(k, k))
    sigma = (a @ a.T + k * np.eye(k)) * 4e-4
    beta = np.concatenate([rng.normal(scale=0.02, size=n_pre), 0.05 + rng.normal(scale=0.03, size=n_post)])
    return beta, sigma, n_pre, n_post


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.mark.parametrize("seed,l_vec", [(0, [1.0, 0, 0]), (1, [0, 1.0, 0]), (2, [0.5, 0.5, 0])])
def test_smoothness_flci_equals_moderndid(seed, l_vec):
    beta, sigma, n_pre, n_post = problem(seed)
    lv = np.array(l_vec)
    ms = [0.0, 0.01, 0.03]
    ours = honest_bounds(beta, sigma, n_pre, n_post, method="smoothness", m=ms, l_vec=lv)
    ref = quiet(mh.create_sensitivity_results_sm, beta, sigma, n_pre, n_post, m_vec=ms, l_vec=lv)
    assert ours.get_column("ci_low").to_numpy() == pytest.approx(ref.get_column("lb").to_numpy(), abs=1e-4)
    assert ours.get_column("ci_high").to_numpy() == pytest.approx(ref.get_column("ub").to_numpy(), abs=1e-4)
    # the FLCI length is HonestDiD's optimum (our direct minimisation may only be shorter)
    ours_len = (ours.get_column("ci_high") - ours.get_column("ci_low")).to_numpy()
    ref_len = (ref.get_column("ub") - ref.get_column("lb")).to_numpy()
    assert (ours_len <= ref_len + 1e-7).all()


@pytest.mark.parametrize("seed,shape,l_vec,mbar", [
    (6, (2, 2), [0, 1.0], [1.0]),
    pytest.param(0, (3, 3), [1.0, 0, 0], [0.5, 1.0, 2.0], marks=pytest.mark.slow),
    pytest.param(3, (3, 3), [0, 0, 1.0], [0.5, 1.0, 2.0], marks=pytest.mark.slow),
])
def test_relative_magnitude_clf_equals_moderndid(seed, shape, l_vec, mbar):
    beta, sigma, n_pre, n_post = problem(seed, *shape)
    lv = np.array(l_vec)
    ours = honest_bounds(beta, sigma, n_pre, n_post, method="relative_magnitude", m=mbar, l_vec=lv,
                         grid_points=200)
    ref = quiet(mh.create_sensitivity_results_rm, beta, sigma, n_pre, n_post, m_bar_vec=mbar,
                l_vec=lv, grid_points=200)
    assert ours.get_column("ci_low").to_numpy() == pytest.approx(ref.get_column("lb").to_numpy(), abs=1e-4)
    assert ours.get_column("ci_high").to_numpy() == pytest.approx(ref.get_column("ub").to_numpy(), abs=1e-4)


def test_relative_magnitude_one_post_period_equals_moderndid():
    """One post period (no nuisance): moderndid's own wrapper fails on this path (its accept grid is 1-d),
    so the union over the polyhedra of its ``compute_arp_ci`` LF-hybrid test is taken here, seed 0."""
    from moderndid.didhonest.arp_no_nuisance import compute_arp_ci
    from moderndid.didhonest.arp_nuisance import compute_least_favorable_cv
    from moderndid.didhonest.delta.rm.rm import (
        _create_relative_magnitudes_constraint_matrix,
        compute_identified_set_rm,
    )

    beta, sigma, n_pre, n_post = problem(5, n_pre=3, n_post=1)
    lv = np.array([1.0])
    ours = honest_bounds(beta, sigma, n_pre, n_post, method="relative_magnitude", m=[1.0], l_vec=lv,
                         grid_points=200)
    ids = compute_identified_set_rm(1.0, beta, lv, n_pre, n_post)
    sd = float(np.sqrt(sigma[-1, -1]))
    accept = np.zeros(200, dtype=bool)
    for s in (-2, -1):
        for positive in (True, False):
            a = _create_relative_magnitudes_constraint_matrix(n_pre, n_post, 1.0, s, positive)
            lf = compute_least_favorable_cv(None, a @ sigma @ a.T, 0.005, seed=0)
            res = quiet(compute_arp_ci, beta, sigma, a, np.zeros(len(a)), n_pre, n_post, alpha=0.05,
                        hybrid_flag="LF", hybrid_kappa=0.005, lf_cv=lf, grid_lb=ids.id_lb - 20 * sd,
                        grid_ub=ids.id_ub + 20 * sd, grid_points=200)
            accept |= res.accept_grid
            grid = res.theta_grid
    acc = np.nonzero(accept)[0]
    assert ours.get_column("ci_low")[0] == pytest.approx(grid[acc[0]], abs=1e-4)
    assert ours.get_column("ci_high")[0] == pytest.approx(grid[acc[-1]], abs=1e-4)


def mpdta() -> pl.DataFrame:
    from moderndid import load_mpdta

    return load_mpdta()


@pytest.mark.slow
def test_att_gt_result_end_to_end_equals_moderndid():
    from moderndid import aggte
    from moderndid import att_gt as m_att_gt

    df = mpdta()
    gt = quiet(m_att_gt, data=df, yname="lemp", tname="year", gname="first.treat", idname="countyreal",
               est_method="dr", boot=False, base_period="universal")
    es = quiet(aggte, gt, type="dynamic")
    ours = att_gt(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", base_period="universal")
    for method, kw, mkw in (("smoothness", {"m": [0.0, 0.01, 0.02]}, {"m_vec": [0.0, 0.01, 0.02]}),
                            ("relative_magnitude", {"mbar": [0.5, 1.0, 2.0]}, {"m_bar_vec": [0.5, 1.0, 2.0]})):
        got = honest_did(ours, event_time=0, method=method, grid_points=100, **kw)
        ref = quiet(mh.honest_did, es, event_time=0, sensitivity_type=method, **mkw)
        assert got.get_column("ci_low").to_numpy() == pytest.approx(ref.robust_ci.get_column("lb").to_numpy(), abs=1e-4)
        assert got.get_column("ci_high").to_numpy() == pytest.approx(ref.robust_ci.get_column("ub").to_numpy(), abs=1e-4)
        assert got.get_column("original_low")[0] == pytest.approx(ref.original_ci.lb, abs=1e-8)
        assert got.get_column("original_high")[0] == pytest.approx(ref.original_ci.ub, abs=1e-8)


def test_breakdown_and_columns():
    beta, sigma, n_pre, n_post = problem(0)
    beta = beta.copy()
    beta[n_pre] = 0.2  # a clear effect: the original CI excludes 0
    ms = [0.0, 0.02, 0.05, 0.1, 0.3]
    out = honest_bounds(beta, sigma, n_pre, n_post, method="smoothness", m=ms)
    assert out.columns == ["m", "ci_low", "ci_high", "method", "original_low", "original_high", "breakdown"]
    covers = [lo <= 0 <= hi for lo, hi in out.select("ci_low", "ci_high").iter_rows()]
    first = next(m for m, c in zip(ms, covers, strict=True) if c)
    assert out.get_column("breakdown")[0] == first and first > 0
    widths = (out.get_column("ci_high") - out.get_column("ci_low")).to_numpy()
    assert (np.diff(widths) > 0).all()  # a larger M admits more violations


def test_event_study_results_are_read_from_the_fit():
    rng = np.random.default_rng(4)
    units, years = 60, 9
    u = np.repeat(np.arange(units), years)
    t = np.tile(np.arange(2010, 2010 + years), units)
    gu = rng.choice([0, 2014, 2015], size=units)
    d = (gu[u] > 0) & (t >= gu[u])
    y = 0.3 * d + rng.normal(size=units)[u] + rng.normal(size=units * years)
    df = pl.DataFrame({"id": u, "year": t, "g": gu[u], "y": y, "hp": u // 3})
    for fn in (event_study, sun_abraham):
        es = fn(df, outcome="y", unit="id", time="year", cohort="g", cluster="hp", window=(-4, 3))
        got = honest_did(es, event_time=1, method="smoothness", m=[0.0, 0.05])
        tab = es.table.filter(pl.col("se").is_not_null()).sort("event_time")
        e = tab.get_column("event_time").to_numpy()
        lmat = np.array([es.slopes(int(x)) for x in e])
        v = lmat @ es.fit.fit.vcov @ lmat.T
        assert np.sqrt(np.diag(v)) == pytest.approx(tab.get_column("se").to_numpy(), rel=1e-10)
        pre, post = e < -1, e >= 0
        ref = honest_bounds(tab.get_column("estimate").to_numpy()[pre | post], v[np.ix_(pre | post, pre | post)],
                            int(pre.sum()), int(post.sum()), method="smoothness", m=[0.0, 0.05],
                            l_vec=(e[post] == 1).astype(float))
        assert got.get_column("ci_low").to_list() == pytest.approx(ref.get_column("ci_low").to_list(), abs=1e-12)


def test_bad_input():
    beta, sigma, n_pre, n_post = problem(0)
    with pytest.raises(InputError, match="method"):
        honest_bounds(beta, sigma, n_pre, n_post, method="sd")
    with pytest.raises(InputError, match="expected"):
        honest_bounds(beta[:-1], sigma, n_pre, n_post)
    with pytest.raises(InputError, match="two pre-periods"):
        honest_bounds(beta[2:], sigma[2:, 2:], 1, n_post, method="relative_magnitude")
    res = att_gt(mpdta(), outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    with pytest.raises(InputError, match="universal"):
        honest_did(res, event_time=0)
