"""The columns of ``OUT/did/estimates.csv`` and ``OUT/did/tests.csv``, and the one way a row is made.

Every estimator of ``analyses.did.run`` hands its numbers to :func:`estimate_row`,
so each row carries the same inference columns (contract §6a): a pointwise 95 %
interval and p-value (t with G−1 df for the regression estimators, normal for
att_gt's influence-function SEs), the treated and control clusters it rests on,
the residual degrees of freedom with every absorbed effect counted, and the
simultaneous band where one was computed. ``subset`` (not in contract §6a; added
with did.toml ``[split]``) names the subset of afdelinger a row is estimated on,
empty for the full comparison (:mod:`analyses.did.subsets`).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl
from scipy import stats

KEY_COLUMNS = ("estimator", "measure", "population", "comparison", "term", "event_time", "cohort", "time", "subset")
COLUMNS = ("estimator", "measure", "population", "comparison", "term", "event_time", "estimate", "se",
           "ci_low", "ci_high", "n_units", "n_obs", "cohort", "time", "n_clusters_treated", "n_clusters_control",
           "df_resid", "p_value", "p_wild", "p_ri", "p_adjusted", "cb_low", "cb_high", "subset")
SCHEMA = {"estimator": pl.String, "measure": pl.String, "population": pl.String, "comparison": pl.String,
          "term": pl.String, "event_time": pl.Int64, "estimate": pl.Float64, "se": pl.Float64,
          "ci_low": pl.Float64, "ci_high": pl.Float64, "n_units": pl.Int64, "n_obs": pl.Int64,
          "cohort": pl.Int64, "time": pl.Int64, "n_clusters_treated": pl.Int64, "n_clusters_control": pl.Int64,
          "df_resid": pl.Int64, "p_value": pl.Float64, "p_wild": pl.Float64, "p_ri": pl.Float64,
          "p_adjusted": pl.Float64, "cb_low": pl.Float64, "cb_high": pl.Float64, "subset": pl.String}
TEST_COLUMNS = ("test", "measure", "population", "comparison", "statistic", "df", "df2", "p_value", "n_clusters_treated",
                "n_clusters_control", "subset")
TEST_SCHEMA = {"test": pl.String, "measure": pl.String, "population": pl.String, "comparison": pl.String,
               "statistic": pl.Float64, "df": pl.Int64, "df2": pl.Int64, "p_value": pl.Float64,
               "n_clusters_treated": pl.Int64, "n_clusters_control": pl.Int64, "subset": pl.String}


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def estimate_row(estimator: str, term: str, estimate: float | None, se: float | None, *, alpha: float,
                 df_t: int | None, n_units: int, n_obs: int, n_clusters_treated: int, n_clusters_control: int,
                 df_resid: int | None, event_time: int | None = None, cohort: int | None = None,
                 time: int | None = None, cb: tuple[float | None, float | None] | None = None) -> dict[str, Any]:
    """One estimates.csv row; ``df_t`` None = normal reference (att_gt), else t with ``df_t`` df.

    The pointwise interval and p-value are recomputed here from estimate and
    SE, so every estimator states them the same way.
    """
    b, s = _finite(estimate), _finite(se)
    lo = hi = p = None
    if b is not None and s is not None and s > 0:
        if df_t is None:
            crit, p = stats.norm.ppf(1 - alpha / 2), 2 * stats.norm.sf(abs(b / s))
        else:
            crit, p = stats.t.ppf(1 - alpha / 2, df_t), 2 * stats.t.sf(abs(b / s), df_t)
        lo, hi = b - crit * s, b + crit * s
    cb_low, cb_high = (None, None) if cb is None else (_finite(cb[0]), _finite(cb[1]))
    return dict(estimator=estimator, term=term, event_time=event_time, estimate=b, se=s, ci_low=lo, ci_high=hi,
                n_units=n_units, n_obs=n_obs, cohort=cohort, time=time, n_clusters_treated=n_clusters_treated,
                n_clusters_control=n_clusters_control, df_resid=df_resid, p_value=_finite(p), p_wild=None,
                p_ri=None, p_adjusted=None, cb_low=cb_low, cb_high=cb_high)


def test_row(test: str, *, statistic: float | None, df: int | None, df2: int | None = None,
             p_value: float | None) -> dict[str, Any]:
    """One tests.csv row (measure, population and comparison are added by the run loop)."""
    return dict(test=test, statistic=_finite(statistic), df=None if df is None else int(df),
                df2=None if df2 is None else int(df2), p_value=_finite(p_value))


def wald_test_row(test: str, wald: dict[str, float], df2: int | None) -> dict[str, Any]:
    """A pre-trend Wald test as a row: F with (q, G−1) df when the test has one, else chi-square."""
    if "F" in wald:
        return test_row(test, statistic=wald["F"], df=wald["df"], df2=df2, p_value=wald["p_value"])
    return test_row(test, statistic=wald["chi2"], df=wald["df"], p_value=wald["p_value"])


def frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """Rows as a DataFrame in the given column order and types (empty rows: the empty table)."""
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")
