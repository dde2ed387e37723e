"""Dose-response: the effect of the flexible-letting share, linearly and in intensity bins.

post = treated and t ≥ cohort. The linear model regresses y on
dose × post, the binned model on post × 1(dose in bin) for each bin, both
with unit and time effects and CRV1 errors; units never treated have
post = 0 and serve as the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from analyses.did.twfe import TwfeResult, twfe
from panel.errors import InputError


def bin_label(lo: float, hi: float, last: bool) -> str:
    return f"dose_bin_[{lo:g},{hi:g}{']' if last else ')'}"


def dose(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    dose: str,
    bins: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    cluster: str | None = None,
    weights: str | None = None,
    counts: str | None = None,
    compressed: bool = False,
    alpha: float = 0.05,
) -> pl.DataFrame:
    """term ("dose" for the linear slope or 'dose_bin_[lo,hi)'), estimate, se, ci_low, ci_high.

    Examples
    --------
    >>> dose(df, outcome="y", unit="id", time="year", cohort="g", dose="share")  # doctest: +SKIP
    """
    fits = dose_fits(df, outcome=outcome, unit=unit, time=time, cohort=cohort, dose=dose, bins=bins,
                     cluster=cluster, weights=weights, counts=counts, compressed=compressed)
    return pl.concat([f.tidy(alpha).select("term", "estimate", "se", "ci_low", "ci_high") for f in fits])


def dose_fits(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    dose: str,
    bins: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    cluster: str | None = None,
    weights: str | None = None,
    counts: str | None = None,
    compressed: bool = False,
) -> list[TwfeResult]:
    """The TWFE fits behind :func:`dose`: the linear slope, then the bins (e.g. for ``.wild_bootstrap``)."""
    if len(bins) < 2 or any(b2 <= b1 for b1, b2 in zip(bins, bins[1:], strict=False)):
        raise InputError(f"dose: bins must be increasing, got {list(bins)}")
    g = pl.col(cohort).cast(pl.Int64).fill_null(0)
    post = ((g > 0) & (pl.col(time).cast(pl.Int64) >= g)).cast(pl.Float64)
    dv = pl.col(dose).cast(pl.Float64)
    lf = df.lazy().with_columns(post.alias("_post"), dv.fill_null(0.0).alias("_dose"))
    lf = lf.filter(~((g > 0) & dv.is_null()))  # treated units with unknown dose are left out
    lf = lf.with_columns((pl.col("_post") * pl.col("_dose")).alias("dose"))
    labels = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:], strict=True)):
        last = i == len(bins) - 2
        inside = (pl.col("_dose") >= lo) & ((pl.col("_dose") <= hi) if last else (pl.col("_dose") < hi))
        lab = bin_label(lo, hi, last)
        labels.append(lab)
        lf = lf.with_columns((pl.col("_post") * inside.cast(pl.Float64)).alias(lab))
    data = lf if compressed else lf.collect()
    treated = (data.lazy().filter(g > 0).group_by(unit).agg(pl.col(labels).max()).select(pl.col(labels).sum())
              .collect())
    present = [lab for lab in labels if treated.get_column(lab)[0] > 0]
    return [twfe(data, outcome=outcome, unit=unit, time=time, treat=terms, cluster=cluster,
                 weights=weights, counts=counts, compressed=compressed) for terms in (["dose"], present) if terms]
