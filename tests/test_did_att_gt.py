"""ATT(g,t), aggregations and SEs: by hand on tiny panels and against csdid (R did's port)."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did import att_gt
from analyses.did.bootstrap import mboot
from panel.errors import InputError


def tiny() -> pl.DataFrame:
    # unit a treated from 2002, b and c never treated (cohort 0 / null)
    return pl.DataFrame({
        "id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
        "year": [2000, 2001, 2002] * 3,
        "g": [2002] * 3 + [0] * 3 + [None] * 3,
        "y": [1.0, 2.0, 5.0, 0.0, 1.0, 1.5, 2.0, 2.5, 4.5],
    })


def test_cells_by_hand():
    res = att_gt(tiny(), outcome="y", unit="id", time="year", cohort="g")
    t = res.table.sort("time")
    # varying base: pre cell 2001 vs 2000, post cell 2002 vs 2001
    pre = (2.0 - 1.0) - np.mean([1.0 - 0.0, 2.5 - 2.0])
    post = (5.0 - 2.0) - np.mean([1.5 - 1.0, 4.5 - 2.5])
    assert t["att"].to_list() == pytest.approx([pre, post])
    # one treated unit: its IF is 0; controls' IF = -n (dy - mean)/n_c, se = sqrt(sum IF^2)/n
    dyc = np.array([0.5, 2.0])
    assert t["se"][1] == pytest.approx(np.sqrt(((dyc - dyc.mean()) ** 2).sum()) / 2)
    assert t["event_time"].to_list() == [-1, 0]


def test_universal_base_and_aggregates_by_hand():
    res = att_gt(tiny(), outcome="y", unit="id", time="year", cohort="g", base_period="universal")
    t = res.table.sort("time")
    # base 2001 for every cell; the base cell is 0 by construction
    long_pre = (1.0 - 2.0) - np.mean([0.0 - 1.0, 2.0 - 2.5])
    assert t["att"].to_list() == pytest.approx([long_pre, 0.0, (5.0 - 2.0) - np.mean([0.5, 2.0])])
    simple = res.aggregate("simple")
    assert simple["att"][0] == pytest.approx(1.75)
    dyn = res.aggregate("dynamic")
    assert dyn["event_time"].to_list() == [-2, -1, 0]


def test_two_cohorts_simple_weights_by_hand():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(7), 3)
    g = np.array([2001, 2001, 2001, 2002, 0, 0, 0])[ids]
    y = rng.normal(size=21)
    df = pl.DataFrame({"id": ids, "year": np.tile([2000, 2001, 2002], 7), "g": g, "y": y})
    res = att_gt(df, outcome="y", unit="id", time="year", cohort="g")
    post = res.table.filter(pl.col("post"))
    w = np.where(post["cohort"].to_numpy() == 2001, 3 / 7, 1 / 7)
    assert res.aggregate("simple")["att"][0] == pytest.approx((post["att"].to_numpy() * w).sum() / w.sum())
    grp = res.aggregate("group").sort("cohort")
    g01 = post.filter(pl.col("cohort") == 2001)["att"].mean()
    assert grp["att"].to_list() == pytest.approx([g01, post.filter(pl.col("cohort") == 2002)["att"][0]])


def test_cluster_of_singletons_equals_unclustered():
    rng = np.random.default_rng(1)
    n, t = 60, 5
    ids = np.repeat(np.arange(n), t)
    df = pl.DataFrame({"id": ids, "year": np.tile(np.arange(t), n), "g": rng.choice([0, 2, 3], n)[ids],
                       "y": rng.normal(size=n * t)}).with_columns(cl=pl.col("id") * 10)
    a = att_gt(df, outcome="y", unit="id", time="year", cohort="g")
    b = att_gt(df, outcome="y", unit="id", time="year", cohort="g", cluster="cl")
    np.testing.assert_allclose(a.table["se"].to_numpy(), b.table["se"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.aggregate("dynamic")["se"].to_numpy(), b.aggregate("dynamic")["se"].to_numpy(),
                               rtol=1e-12)


def test_bootstrap_se_close_to_analytic_and_band_wider():
    rng = np.random.default_rng(2)
    inf = rng.normal(size=(2000, 4))
    analytic = np.sqrt((inf ** 2).sum(axis=0)) / 2000
    for kind in ("mammen", "rademacher"):
        out = mboot(inf, None, biters=2000, multiplier=kind, seed=3)
        np.testing.assert_allclose(out["se"], analytic, rtol=0.1)
        assert 1.96 < out["crit_val"] < 3.5  # simultaneous over 4 parameters
    res = att_gt(tiny(), outcome="y", unit="id", time="year", cohort="g", bootstrap=99, seed=1)
    assert {"boot_se", "crit_val", "ci_low", "ci_high"} <= set(res.table.columns)


def test_input_errors():
    with pytest.raises(InputError, match="control"):
        att_gt(tiny(), outcome="y", unit="id", time="year", cohort="g", control="sometimes")
    bad = tiny().with_columns(g=pl.when(pl.col("year") == 2002).then(2001).otherwise(pl.col("g")))
    with pytest.raises(InputError, match="constant within unit"):
        att_gt(bad, outcome="y", unit="id", time="year", cohort="g")
    with pytest.raises(InputError, match="not found"):
        att_gt(tiny(), outcome="nope", unit="id", time="year", cohort="g")


# ---------------------------------------------------------------- parity with csdid on mpdta
def _mpdta() -> pl.DataFrame:
    md = pytest.importorskip("moderndid")
    return md.load_mpdta().with_columns(w=pl.col("lpop").exp())


def _csdid(df: pl.DataFrame, **kw):
    csdid = pytest.importorskip("csdid.att_gt")
    base = kw.pop("base_period", "varying")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csdid.ATTgt(yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                           data=df.to_pandas(), **kw).fit(bstrap=False, base_period=base)


CASES = [
    ("never", "varying", {}, {}),
    ("notyet", "varying", {}, {"control_group": "notyettreated"}),
    ("never", "universal", {}, {"base_period": "universal"}),
    ("notyet", "universal", {}, {"control_group": "notyettreated", "base_period": "universal"}),
    ("never", "varying", {"weights": "w"}, {"weights_name": "w"}),
    ("notyet", "varying", {"anticipation": 1}, {"control_group": "notyettreated", "anticipation": 1}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("control", "base", "mine", "theirs"), CASES)
def test_parity_with_csdid(control, base, mine, theirs):
    df = _mpdta()
    res = att_gt(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", control=control,
                 base_period=base, **mine)
    cs = _csdid(df, **theirs)
    np.testing.assert_allclose(res.table["att"].to_numpy(), np.asarray(cs.results["att"]), atol=1e-6)
    np.testing.assert_allclose(res.table["se"].to_numpy(), np.asarray(cs.results["se"]), atol=1e-6)
    for kind in ("simple", "dynamic", "group", "calendar"):
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cs.aggte(typec=kind, bstrap=False)
        agg = cs.atte
        ov = res.aggregate(kind, overall=True)
        assert ov["att"][0] == pytest.approx(agg["overall_att"], abs=1e-6)
        assert ov["se"][0] == pytest.approx(agg["overall_se"], abs=1e-6)
        if kind != "simple":
            tab = res.aggregate(kind)
            np.testing.assert_allclose(tab["att"].to_numpy(), np.asarray(agg["att_egt"], dtype=float), atol=1e-6)
            np.testing.assert_allclose(tab["se"].to_numpy(), np.asarray(agg["se_egt"], dtype=float), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("control", ["never", "notyet"])
def test_parity_unbalanced_with_csdid(control):
    df = _mpdta()
    keep = np.random.default_rng(3).random(df.height) > 0.1
    dfu = df.filter(pl.Series(keep))
    res = att_gt(dfu, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", control=control,
                 allow_unbalanced=True, weights="w")
    cs = _csdid(dfu, allow_unbalanced_panel=True, weights_name="w",
                control_group="nevertreated" if control == "never" else "notyettreated")
    np.testing.assert_allclose(res.table["att"].to_numpy(), np.asarray(cs.results["att"]), atol=1e-6)
    np.testing.assert_allclose(res.table["se"].to_numpy(), np.asarray(cs.results["se"]), atol=1e-6)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs.aggte(typec="dynamic", bstrap=False)
    ov = res.aggregate("dynamic", overall=True)
    assert ov["att"][0] == pytest.approx(cs.atte["overall_att"], abs=1e-6)
    assert ov["se"][0] == pytest.approx(cs.atte["overall_se"], abs=1e-6)
