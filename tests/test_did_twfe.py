"""TWFE, compressed TWFE, event study, Sun–Abraham and dose against pyfixest and by construction.

Small-sample convention matched: pyfixest's default ssc (k_adj, k_fixef="nonnested", G_adj).
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from analyses.did import att_gt, dose, event_study, sun_abraham, twfe
from analyses.did.compress import compress, compress_codes

pf = pytest.importorskip("pyfixest")


def panel(seed: int = 1, units: int = 240, years: int = 8) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(units), years)
    t = np.tile(np.arange(2004, 2004 + years), units)
    gu = rng.choice([0, 2007, 2009], size=units)
    g = gu[u]
    d = ((g > 0) & (t >= g)).astype(float)
    y = 0.3 * d + rng.normal(size=units)[u] + 0.1 * (t - 2004) + rng.normal(size=units * years)
    return pl.DataFrame({"id": u, "year": t, "g": g, "d": d, "y": y, "hp": u // 6,
                         "wt": rng.uniform(1, 40, size=units * years), "share": rng.uniform(0, 1, units)[u]})


def feols(fml: str, df: pl.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pf.feols(fml, data=df.to_pandas(), **kw)


@pytest.mark.parametrize("cluster", ["id", "hp"])
@pytest.mark.parametrize("weights", [None, "wt"])
def test_twfe_equals_pyfixest(cluster, weights):
    df = panel()
    r = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster=cluster, weights=weights)
    f = feols("y ~ d | id + year", df, vcov={"CRV1": cluster}, weights=weights)
    assert r.coef == pytest.approx(f.coef().iloc[0], abs=1e-8)
    assert r.se == pytest.approx(f.se().iloc[0], abs=1e-6)


def test_twfe_iid_equals_pyfixest():
    df = panel()
    r = twfe(df, outcome="y", unit="id", time="year", treat="d")
    f = feols("y ~ d | id + year", df, vcov="iid")
    assert r.se == pytest.approx(f.se().iloc[0], abs=1e-8)


def individuals(seed: int = 2, persons: int = 30_000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    units = 150
    gu = rng.choice([0, 2007, 2009], size=units)
    pu = rng.integers(0, units, persons)
    pt = rng.integers(2004, 2012, persons)
    d = ((gu[pu] > 0) & (pt >= gu[pu])).astype(float)
    y = (rng.random(persons) < 0.4 + 0.1 * d + 0.002 * pu).astype(float)
    return pl.DataFrame({"afd": pu, "year": pt, "d": d, "y": y, "hp": pu // 5})


@pytest.mark.parametrize("cluster", ["hp", None])
def test_compressed_equals_uncompressed_and_pyfixest(cluster):
    df = individuals()
    full = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster=cluster)
    comp = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster=cluster, compressed=True)
    assert comp.n_obs == df.height
    assert comp.coef == pytest.approx(full.coef, abs=1e-12)
    assert comp.se == pytest.approx(full.se, rel=1e-10)
    f = feols("y ~ d | afd + year", df, vcov={"CRV1": cluster} if cluster else "iid")
    assert comp.coef == pytest.approx(f.coef().iloc[0], abs=1e-8)
    assert comp.se == pytest.approx(f.se().iloc[0], abs=1e-6)


def test_compress_sufficient_statistics_by_hand():
    df = pl.DataFrame({"u": [1, 1, 1, 2], "t": [0, 0, 1, 0], "y": [1.0, 3.0, 2.0, None]})
    c = compress(df, outcome="y", keys=["u", "t"]).sort("u", "t")
    assert c.select("n", "sy", "syy").rows() == [(2, 4.0, 10.0), (1, 2.0, 4.0)]
    cell, n, sy, syy = compress_codes(np.array([1.0, 3.0, 2.0]), np.array([0, 0, 1]), np.array([0, 0, 0]))
    assert n.tolist() == [2, 1] and sy.tolist() == [4.0, 2.0] and syy.tolist() == [10.0, 4.0]


def test_event_study_equals_pyfixest_and_wald():
    df = panel(units=300, years=10)
    es = event_study(df, outcome="y", unit="id", time="year", cohort="g", cluster="hp", window=(-4, 4))
    pdf = df.with_columns(rel=pl.when(pl.col("g") > 0).then((pl.col("year") - pl.col("g")).clip(-4, 4))
                          .otherwise(-1))
    f = feols("y ~ i(rel, ref=-1) | id + year", pdf, vcov={"CRV1": "hp"})
    est = es.table.filter(pl.col("event_time") != -1)
    np.testing.assert_allclose(est["estimate"].to_numpy(), f.coef().to_numpy(), atol=1e-8)
    np.testing.assert_allclose(est["se"].to_numpy(), f.se().to_numpy(), atol=1e-6)
    lead = [i for i, name in enumerate(f.coef().index) if "-4" in name or "-3" in name or "-2" in name]
    b, v = f.coef().to_numpy()[lead], np.asarray(f._vcov)[np.ix_(lead, lead)]
    assert es.pretrend["chi2"] == pytest.approx(float(b @ np.linalg.solve(v, b)), rel=1e-6)
    assert es.pretrend["df"] == 3


def test_sun_abraham_equals_cs_universal_never():
    # balanced panel, window covering every relative time: the interaction-weighted
    # estimate is the CS dynamic aggregate with never-treated controls and universal base
    df = panel(seed=5, units=200, years=8)
    sa = sun_abraham(df, outcome="y", unit="id", time="year", cohort="g", cluster="id", window=(-20, 20))
    cs = att_gt(df, outcome="y", unit="id", time="year", cohort="g", base_period="universal").aggregate("dynamic")
    joined = sa.table.join(cs, on="event_time")
    assert joined.height == cs.height
    np.testing.assert_allclose(joined["estimate"].to_numpy(), joined["att"].to_numpy(), atol=1e-8)


def test_sun_abraham_single_cohort_equals_event_study():
    df = panel(seed=6).with_columns(g=pl.when(pl.col("g") > 0).then(2008).otherwise(0))
    kw = dict(outcome="y", unit="id", time="year", cohort="g", cluster="hp", window=(-3, 3))
    a, b = sun_abraham(df, **kw).table, event_study(df, **kw).table
    np.testing.assert_allclose(a["estimate"].to_numpy(), b["estimate"].to_numpy(), atol=1e-10)
    np.testing.assert_allclose(a["se"].fill_null(0).to_numpy(), b["se"].fill_null(0).to_numpy(), rtol=1e-8)


def test_dose_equals_pyfixest():
    df = panel(seed=7).with_columns(post=pl.col("d"), dp=pl.col("d") * pl.col("share"))
    tab = dose(df, outcome="y", unit="id", time="year", cohort="g", dose="share", cluster="hp",
               bins=[0.0, 0.5, 1.0])
    f = feols("y ~ dp | id + year", df, vcov={"CRV1": "hp"})
    lin = tab.filter(pl.col("term") == "dose").row(0, named=True)
    assert lin["estimate"] == pytest.approx(f.coef().iloc[0], abs=1e-8)
    assert lin["se"] == pytest.approx(f.se().iloc[0], abs=1e-6)
    b = df.with_columns(lo=pl.col("d") * (pl.col("share") < 0.5), hi=pl.col("d") * (pl.col("share") >= 0.5))
    f2 = feols("y ~ lo + hi | id + year", b, vcov={"CRV1": "hp"})
    bins = tab.filter(pl.col("term") != "dose")
    np.testing.assert_allclose(bins["estimate"].to_numpy(), f2.coef().to_numpy(), atol=1e-8)


@pytest.mark.parametrize("fast_cells", [1 << 22, 64])
def test_compress_dense_path_equals_polars_group_by(monkeypatch, fast_cells):
    # 64 forces the cluster key to be carried (nested in the unit) instead of coded
    import analyses.did.compress as cmod

    monkeypatch.setattr(cmod, "FAST_CELLS", fast_cells)
    df = individuals(seed=4, persons=5_000)
    keys = ["afd", "year", "d", "hp"]
    dense = cmod.compress(df, outcome="y", keys=keys).sort(keys)
    generic = cmod.compress(df.lazy(), outcome="y", keys=keys).sort(keys)  # LazyFrame: polars group_by
    assert dense.select(keys).equals(generic.select(keys))
    np.testing.assert_array_equal(dense["n"].to_numpy(), generic["n"].to_numpy())
    np.testing.assert_allclose(dense.select("sy", "syy").to_numpy(), generic.select("sy", "syy").to_numpy())


def test_compress_not_nested_cluster_falls_back(monkeypatch):
    import analyses.did.compress as cmod

    monkeypatch.setattr(cmod, "FAST_CELLS", 64)
    df = individuals(seed=5, persons=3_000).with_columns(hp=pl.int_range(pl.len()) % 7)  # varies within cells
    keys = ["afd", "year", "hp"]
    assert cmod._compress_dense(df, outcome="y", keys=keys) is None
    a = twfe(df.with_columns(afd=pl.col("afd").cast(pl.String)), outcome="y", unit="afd", time="year",
             treat="d", cluster="hp", compressed=True)
    b = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster="hp")
    assert a.coef == pytest.approx(b.coef, abs=1e-12) and a.se == pytest.approx(b.se, rel=1e-10)


def test_twfe_cross_check_statsmodels_and_linearmodels():
    import statsmodels.formula.api as smf
    from linearmodels.panel import PanelOLS

    df = panel(seed=9, units=60, years=6)
    r = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster="hp")
    pdf = df.to_pandas()
    sm = smf.ols("y ~ d + C(id) + C(year)", data=pdf).fit(cov_type="cluster", cov_kwds={"groups": pdf["hp"]})
    assert r.coef == pytest.approx(sm.params["d"], abs=1e-10)
    # statsmodels counts every dummy in K (fixest's k_fixef="full"); ours counts the nested unit FE as one
    n, k_full, k_ours = len(pdf), sm.df_model + 1, r.fit.df_k
    assert r.se == pytest.approx(sm.bse["d"] * np.sqrt((n - k_full) / (n - k_ours)), rel=1e-8)
    lm = PanelOLS.from_formula("y ~ d + EntityEffects + TimeEffects", data=pdf.set_index(["id", "year"]))
    lm_fit = lm.fit(cov_type="clustered", clusters=pdf.set_index(["id", "year"])["hp"])
    assert r.coef == pytest.approx(lm_fit.params["d"], abs=1e-10)


@pytest.mark.parametrize("weights", [None, "wt"])
def test_linearmodels_engine_equals_fe_engine(weights):
    df = panel(seed=10, units=80, years=6)
    kw = dict(outcome="y", unit="id", time="year", treat="d", weights=weights)
    for cluster in ("hp", None):
        a = twfe(df, cluster=cluster, **kw)
        b = twfe(df, cluster=cluster, engine="linearmodels", **kw)
        assert b.coef == pytest.approx(a.coef, abs=1e-10)
        assert b.se == pytest.approx(a.se, rel=1e-8)
