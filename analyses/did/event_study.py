"""Event study: TWFE with leads and lags of the first treated year, reference −1.

Relative time e = t − cohort for ever-treated units, binned at the window's
ends (so every treated observation has a dummy or is the reference), zero
dummies for never-treated units. The joint pre-trend test is a CRV1 Wald
test that every lead (e ≤ −2) is zero, reported as F with (q, G−1) degrees
of freedom and as chi².
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analyses.did.twfe import TwfeResult, twfe
from panel.errors import InputError


def event_name(e: int) -> str:
    return f"event_{e}"


def relative_time(cohort: str, time: str, window: Sequence[int]) -> pl.Expr:
    """e = time − cohort for treated units, clipped to the window; null for never treated."""
    lo, hi = window
    g = pl.col(cohort).cast(pl.Int64).fill_null(0)
    return pl.when(g > 0).then((pl.col(time).cast(pl.Int64) - g).clip(lo, hi)).otherwise(None)


@dataclass
class EventStudyResult:
    table: pl.DataFrame  # event_time, estimate, se, ci_low, ci_high (reference row estimate 0, se null)
    pretrend: dict[str, float]
    fit: TwfeResult | None = None
    combos: dict[int, np.ndarray] | None = None  # event time -> weights on fit terms (None: one term each)

    def slopes(self, event_time: int) -> np.ndarray:
        """The linear combination of the fit's coefficients that is the estimate at ``event_time``."""
        if self.fit is None:
            raise InputError("this event-study result holds no TWFE fit")
        if self.combos is not None and event_time in self.combos:
            return self.combos[event_time]
        name = event_name(event_time)
        if self.combos is not None or name not in self.fit.terms:
            raise InputError(f"event time {event_time} has no estimate (reference or outside the window)")
        out = np.zeros(len(self.fit.terms))
        out[self.fit.terms.index(name)] = 1.0
        return out

    def wild_bootstrap(self, event_time: int, B: int = 9999, weights: str = "rademacher",
                       seed: int | None = None, *, null: float = 0.0, alpha: float = 0.05) -> dict[str, float]:
        """Wild cluster restricted bootstrap-t of the estimate at ``event_time`` (see TwfeResult)."""
        from analyses.did.wild import wild_bootstrap

        return wild_bootstrap(self.fit.fit, self.slopes(event_time), B=B, weights=weights, seed=seed,
                              null=null, alpha=alpha)


def check_window(window: Sequence[int], ref: int) -> tuple[int, int]:
    lo, hi = int(window[0]), int(window[1])
    if not lo < ref <= hi and not lo <= ref < hi:
        raise InputError(f"event window {window} must contain the reference period {ref}")
    return lo, hi


def event_study(
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
    """Leads and lags around the first treated year (reference ``ref``), with a pre-trend test.

    Examples
    --------
    >>> es = event_study(df, outcome="y", unit="id", time="year", cohort="g", cluster="id")  # doctest: +SKIP
    >>> es.pretrend["p_value"]  # doctest: +SKIP
    """
    lo, hi = check_window(window, ref)
    lf = df.lazy().with_columns(relative_time(cohort, time, (lo, hi)).alias("_e"))
    present = set(lf.select(pl.col("_e").unique()).collect().get_column("_e").drop_nulls().to_list())
    es = [e for e in range(lo, hi + 1) if e != ref and e in present]
    if not es:
        raise InputError("event_study: no treated observations in the event window", column=cohort)
    lf = lf.with_columns([(pl.col("_e") == e).fill_null(False).cast(pl.Int8).alias(event_name(e)) for e in es])
    terms = [event_name(e) for e in es]
    fit = twfe(lf if compressed else lf.collect(), outcome=outcome, unit=unit, time=time, treat=terms,
               cluster=cluster, weights=weights, counts=counts, compressed=compressed)
    tab = fit.tidy(alpha).with_columns(pl.Series("event_time", es, dtype=pl.Int64))
    tab = pl.concat([
        tab.select("event_time", "estimate", "se", "ci_low", "ci_high"),
        pl.DataFrame({"event_time": [ref], "estimate": [0.0]}, schema_overrides={"event_time": pl.Int64}),
    ], how="diagonal_relaxed").sort("event_time")
    leads = [event_name(e) for e in es if e < ref]
    return EventStudyResult(table=tab, pretrend=fit.wald(leads), fit=fit)


def wald_linear(b: np.ndarray, v: np.ndarray, df_t: int) -> dict[str, float]:
    """Joint Wald test that all of ``b`` are zero given covariance ``v``."""
    from scipy import stats

    if len(b) == 0:
        return {"chi2": np.nan, "df": 0, "F": np.nan, "p_value": np.nan}
    chi2 = float(b @ np.linalg.solve(v, b))
    q = len(b)
    return {"chi2": chi2, "df": q, "F": chi2 / q, "p_value": float(stats.f.sf(chi2 / q, q, df_t)),
            "p_value_chi2": float(stats.chi2.sf(chi2, q))}
