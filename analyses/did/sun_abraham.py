"""Sun & Abraham (2021) interaction-weighted event study.

TWFE with a dummy for every (treated cohort, relative time) pair except the
reference (never-treated units are the control), then each relative time's
effect is the average of its cohort-specific coefficients weighted by the
cohorts' shares of the (weighted) observations at that relative time — the
aggregation ``fixest::sunab`` reports. SEs by the delta method with the
shares held fixed, as fixest does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats

from analyses.did.event_study import EventStudyResult, check_window, relative_time, wald_linear
from analyses.did.twfe import twfe
from panel.errors import InputError
from queries.aggregate import fsum


def sun_abraham(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    cluster: str | None = None,
    weights: str | None = None,
    counts: str | None = None,
    window: Sequence[int] = (-5, 5),
    ref: int = -1,
    compressed: bool = False,
    alpha: float = 0.05,
) -> EventStudyResult:
    """Interaction-weighted event-study estimates per relative time, with a pre-trend test.

    Examples
    --------
    >>> sa = sun_abraham(df, outcome="y", unit="id", time="year", cohort="g", cluster="id")  # doctest: +SKIP
    """
    lo, hi = check_window(window, ref)
    wname = None if compressed else (weights or counts)
    wsum = fsum(pl.col(wname).cast(pl.Float64)) if wname else pl.len().cast(pl.Float64)  # (the same every run)
    lf = df.lazy().with_columns(relative_time(cohort, time, (lo, hi)).alias("_e"),
                                pl.col(cohort).cast(pl.Int64).fill_null(0).alias("_g"))
    yv = pl.col(outcome).cast(pl.Float64)
    shares = (lf.filter(pl.col("_e").is_not_null() & (pl.col("_e") != ref) & yv.is_not_null() & yv.is_not_nan())
              .group_by("_g", "_e").agg(wsum.alias("_w")).collect().sort("_e", "_g"))
    if shares.height == 0:
        raise InputError("sun_abraham: no treated observations in the event window", column=cohort)
    names = [f"sa_{g}_{e}" for g, e in shares.select("_g", "_e").iter_rows()]
    lf = lf.with_columns([((pl.col("_g") == g) & (pl.col("_e") == e)).fill_null(False).cast(pl.Int8).alias(nm)
                          for (g, e), nm in zip(shares.select("_g", "_e").iter_rows(), names, strict=True)])
    fit = twfe(lf if compressed else lf.collect(), outcome=outcome, unit=unit, time=time, treat=names,
               cluster=cluster, weights=weights, counts=counts, compressed=compressed)
    es = sorted(set(shares.get_column("_e").to_list()))
    ecol = shares.get_column("_e").to_numpy()
    wcol = shares.get_column("_w").to_numpy()
    agg = np.zeros((len(es), len(names)))
    for i, e in enumerate(es):
        m = ecol == e
        agg[i, m] = wcol[m] / wcol[m].sum()
    b = agg @ fit.fit.coef
    v = agg @ fit.fit.vcov @ agg.T
    se = np.sqrt(np.diag(v))
    crit = stats.t.ppf(1 - alpha / 2, fit.fit.df_t)
    tab = pl.DataFrame({"event_time": es, "estimate": b, "se": se, "ci_low": b - crit * se,
                        "ci_high": b + crit * se}, schema_overrides={"event_time": pl.Int64})
    tab = pl.concat([tab, pl.DataFrame({"event_time": [ref], "estimate": [0.0]},
                                       schema_overrides={"event_time": pl.Int64})],
                    how="diagonal_relaxed").sort("event_time")
    lead = np.array([e < ref for e in es])
    pre = wald_linear(b[lead], v[np.ix_(lead, lead)], fit.fit.df_t)
    return EventStudyResult(table=tab, pretrend=pre, fit=fit, combos={e: agg[i] for i, e in enumerate(es)})
