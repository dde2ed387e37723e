"""Wild cluster restricted bootstrap against wildboottest (a second implementation) and by construction.

wildboottest runs on the model with the fixed effects projected out (y and the regressors
demeaned by unit, time dummies as regressors), as pyfixest feeds it. Its two-sided p-value
counts |t*| > |t| strictly; under enumeration the sign vectors ±1 reproduce ±t exactly, which
then lands on either side by rounding, so the tie rule (ties count) is applied to its t* too.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analyses.did import dose_fits, event_study, sun_abraham, twfe
from panel.errors import InputError

wbt = pytest.importorskip("wildboottest.wildboottest")


def panel(seed: int = 3, units: int = 40, years: int = 6, per_cluster: int = 4) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(units), years)
    t = np.tile(np.arange(2010, 2010 + years), units)
    gu = rng.choice([0, 2013, 2014], size=units)
    d = ((gu[u] > 0) & (t >= gu[u])).astype(float)
    y = 0.4 * d + rng.normal(size=units)[u] + 0.05 * (t - 2010) + rng.normal(size=units * years)
    return pl.DataFrame({"id": u, "year": t, "g": gu[u], "d": d, "y": y, "hp": u // per_cluster,
                         "wt": rng.uniform(1, 30, size=units * years), "share": rng.uniform(0, 1, units)[u]})


def persons(seed: int = 5, n: int = 6000, units: int = 36, per_cluster: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    gu = rng.choice([0, 2013, 2015], size=units)
    pu = rng.integers(0, units, n)
    pt = rng.integers(2010, 2018, n)
    d = ((gu[pu] > 0) & (pt >= gu[pu])).astype(float)
    y = (rng.random(n) < 0.3 + 0.15 * d + 0.004 * pu).astype(float)
    return pl.DataFrame({"afd": pu, "year": pt, "d": d, "y": y, "hp": pu // per_cluster})


def projected(df: pl.DataFrame, y: str, xs: list[str], unit: str, time: str, w: str | None = None):
    """(√w·ỹ, √w·X̃): outcome and regressors demeaned by unit (weights w), time dummies included."""
    uc = np.unique(df.get_column(unit).to_numpy(), return_inverse=True)[1]
    wv = np.ones(df.height) if w is None else df.get_column(w).to_numpy()
    tv = df.get_column(time).to_numpy()

    def dm(a):
        m = np.bincount(uc, weights=wv * a) / np.bincount(uc, weights=wv)
        return (a - m[uc]) * np.sqrt(wv)

    cols = [df.get_column(x).to_numpy().astype(float) for x in xs]
    cols += [(tv == s).astype(float) for s in np.unique(tv)[1:]]
    return dm(df.get_column(y).to_numpy()), np.column_stack([dm(c) for c in cols])


def reference(y, x, cluster, R, *, weights="rademacher", B=9999, seed=1, null=0.0):
    """wildboottest WCR11: (t*, t, its own p-value); H0 Rβ = null by shifting y (it tests Rβ = 0)."""
    shift = x @ (R * null / (R @ R))  # any β0 with Rβ0 = null
    wb = wbt.WildboottestCL(X=x, Y=y - shift, cluster=cluster, R=R, B=B, seed=seed)
    wb.get_scores(bootstrap_type="11", impose_null=True)
    wb.get_weights(weights)
    wb.get_numer()
    wb.get_denom()
    wb.get_tboot()
    wb.get_vcov()
    wb.get_tstat()
    wb.get_pvalue()
    return np.asarray(wb.t_boot).ravel(), float(np.ravel(wb.t_stat)[0]), float(wb.pvalue)


def tie_p(tb, t):
    return float(np.mean(np.abs(tb) >= abs(t) * (1 - 1e-10)))


def unit_vector(k: int, j: int = 0) -> np.ndarray:
    e = np.zeros(k)
    e[j] = 1.0
    return e


@pytest.mark.parametrize("weights", [None, "wt"])
def test_enumerated_p_value_equals_wildboottest(weights):
    df = panel()
    r = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster="hp", weights=weights)
    out = r.wild_bootstrap("d", B=9999, weights="rademacher", seed=1)
    assert out["enumerated"] and out["B"] == 2 ** 10
    y, x = projected(df, "y", ["d"], "id", "year", w=weights)
    tb, t, p_ref = reference(y, x, df.get_column("hp").to_numpy(), unit_vector(x.shape[1]))
    assert len(tb) == 2 ** 10
    assert out["p_value"] == tie_p(tb, t)
    assert abs(out["p_value"] - p_ref) <= 2 / 2 ** 10 + 1e-12  # only the two tie vectors may differ
    assert out["estimate"] == pytest.approx(r.coef, abs=1e-12)


def test_ci_is_the_test_inversion_of_wildboottest():
    df = panel(seed=11)
    r = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster="hp")
    out = r.wild_bootstrap("d", B=9999, seed=1)
    y, x = projected(df, "y", ["d"], "id", "year")
    cl, R = df.get_column("hp").to_numpy(), unit_vector(x.shape[1])
    width = out["ci_high"] - out["ci_low"]
    assert 0 < width < 10 * r.se
    for end, inward in ((out["ci_low"], 1), (out["ci_high"], -1)):
        eps = 1e-6 * width
        tb_in, t_in, _ = reference(y, x, cl, R, null=end + inward * eps)
        tb_out, t_out, _ = reference(y, x, cl, R, null=end - inward * eps)
        assert tie_p(tb_in, t_in) > 0.05 >= tie_p(tb_out, t_out)


def test_webb_within_monte_carlo_error():
    df = panel(seed=7, units=48)
    r = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster="hp")
    out = r.wild_bootstrap("d", B=9999, weights="webb", seed=2)
    assert not out["enumerated"] and out["B"] == 9999
    y, x = projected(df, "y", ["d"], "id", "year")
    tb, t, _ = reference(y, x, df.get_column("hp").to_numpy(), unit_vector(x.shape[1]), weights="webb", seed=9)
    p_ref = tie_p(tb, t)
    mc = np.sqrt(2 * p_ref * (1 - p_ref) / 9999)
    assert abs(out["p_value"] - p_ref) < 4 * mc + 1e-3


def test_compressed_cells_equal_person_rows_and_wildboottest():
    df = persons()
    full = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster="hp")
    comp = twfe(df, outcome="y", unit="afd", time="year", treat="d", cluster="hp", compressed=True)
    a = full.wild_bootstrap("d", B=9999, seed=1)
    b = comp.wild_bootstrap("d", B=9999, seed=1)
    assert a["enumerated"] and b["B"] == 2 ** 12
    assert a["p_value"] == b["p_value"]
    assert b["ci_low"] == pytest.approx(a["ci_low"], abs=1e-8)
    assert b["ci_high"] == pytest.approx(a["ci_high"], abs=1e-8)
    y, x = projected(df, "y", ["d"], "afd", "year")
    tb, t, _ = reference(y, x, df.get_column("hp").to_numpy(), unit_vector(x.shape[1]))
    assert b["p_value"] == tie_p(tb, t)


def test_event_study_and_sun_abraham_terms():
    df = panel(seed=4)
    es = event_study(df, outcome="y", unit="id", time="year", cohort="g", cluster="hp", window=(-3, 2))
    out = es.wild_bootstrap(0, B=9999, seed=1)
    assert out == es.fit.wild_bootstrap("event_0", B=9999, seed=1)
    sa = sun_abraham(df, outcome="y", unit="id", time="year", cohort="g", cluster="hp", window=(-3, 2))
    res = sa.wild_bootstrap(1, B=9999, seed=1)
    est = sa.table.filter(pl.col("event_time") == 1).get_column("estimate")[0]
    assert res["estimate"] == pytest.approx(est, abs=1e-12)
    names = sa.fit.terms  # sa_<cohort>_<event time>: rebuild those dummies by hand
    g, t = df.get_column("g").to_numpy(), df.get_column("year").to_numpy()
    e = np.clip(t - g, -3, 2)
    data = df.with_columns([pl.Series(nm, ((g == int(nm.split("_")[1])) & (e == int(nm.split("_")[2])))
                                      .astype(float)) for nm in names])
    y, x = projected(data, "y", names, "id", "year")
    R = np.zeros(x.shape[1])
    R[:len(names)] = sa.slopes(1)
    tb, tt, _ = reference(y, x, df.get_column("hp").to_numpy(), R)
    assert res["p_value"] == tie_p(tb, tt)


def test_dose_fits_expose_the_bootstrap():
    df = panel(seed=8)
    lin = dose_fits(df, outcome="y", unit="id", time="year", cohort="g", dose="share", cluster="hp")[0]
    out = lin.wild_bootstrap("dose", B=9999, seed=1)
    data = df.with_columns(((pl.col("g") > 0) & (pl.col("year") >= pl.col("g"))).cast(pl.Float64)
                           .mul(pl.col("share")).alias("dose"))
    y, x = projected(data, "y", ["dose"], "id", "year")
    tb, t, _ = reference(y, x, df.get_column("hp").to_numpy(), unit_vector(x.shape[1]))
    assert out["p_value"] == tie_p(tb, t)


def test_bad_input():
    df = panel()
    with pytest.raises(InputError, match="clustered"):
        twfe(df, outcome="y", unit="id", time="year", treat="d").wild_bootstrap("d")
    r = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster="hp")
    with pytest.raises(InputError, match="weights"):
        r.wild_bootstrap("d", weights="mammen")
    with pytest.raises(InputError, match="not a term"):
        r.wild_bootstrap("x")


def test_joint_draws_feed_romano_wolf():
    from analyses.did import romano_wolf
    from analyses.did.wild import wild_t_draws

    df = panel(seed=4)
    es = event_study(df, outcome="y", unit="id", time="year", cohort="g", cluster="hp", window=(-3, 2))
    events = [-3, -2, 0, 1, 2]
    t, tb = wild_t_draws(es.fit.fit, np.array([es.slopes(e) for e in events]), B=9999, seed=1)
    assert tb.shape == (2 ** 10, 5)
    for j, e in enumerate(events):  # each column is that hypothesis' own bootstrap
        assert tie_p(tb[:, j], t[j]) == es.wild_bootstrap(e, B=9999, seed=1)["p_value"]
    adj = romano_wolf(t, tb)
    raw = np.array([tie_p(tb[:, j], t[j]) for j in range(5)])
    assert (adj >= raw - 1e-12).all()
