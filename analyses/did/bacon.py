"""Goodman-Bacon (2021) decomposition of the TWFE treat_post coefficient.

On a balanced panel with staggered adoption (D = 1 from the cohort's first
treated period on) the TWFE coefficient is a weighted average of every 2x2
DiD between timing groups: treated vs never treated, earlier- vs later-treated
(the later group as control before it is treated) and later- vs earlier-treated
(the already-treated group as control: the "forbidden" comparison that turns
negative weights on dynamic effects). Weights are Goodman-Bacon's Theorem 1
(eqs. 10a-c): the subsample share squared times the variance of the
double-demeaned treatment in the 2x2, over that variance in the full panel.
Units treated from the first period on have a constant D that the unit effects
absorb, so they count as untreated (Goodman-Bacon's footnote 11).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from panel.errors import InputError


@dataclass
class BaconResult:
    """``table``: type, treated, control (cohort; 0 = never treated), weight, estimate."""

    table: pl.DataFrame
    twfe: float  # the weighted sum of the 2x2 estimates = the TWFE coefficient
    weight_already_treated: float  # total weight of the later-vs-earlier (already-treated control) 2x2s


def _panel(df: pl.DataFrame, outcome: str, unit: str, time: str, cohort: str):
    """units × periods outcome matrix and the cohort per unit; InputError unless balanced."""
    for c in (outcome, unit, time, cohort):
        if c not in df.columns:
            raise InputError(f"bacon: column {c!r} not found", column=c)
    if df.get_column(outcome).cast(pl.Float64).is_null().any() or df.get_column(outcome).cast(pl.Float64).is_nan().any():
        raise InputError("bacon: the outcome has missing values (a balanced panel is needed)", column=outcome)
    units = df.select(unit, pl.col(cohort).cast(pl.Int64).fill_null(0)).unique()
    if units.height != df.get_column(unit).n_unique():
        raise InputError(f"bacon: {cohort} is not constant within {unit}", column=cohort)
    periods = np.sort(df.get_column(time).unique().to_numpy())
    ids = units.sort(unit)
    if df.height != ids.height * len(periods) or df.select(unit, time).is_duplicated().any():
        raise InputError(f"bacon: the panel is not balanced (every {unit} once in every {time})", column=time)
    wide = df.sort(unit, time).get_column(outcome).cast(pl.Float64).to_numpy().reshape(ids.height, len(periods))
    return wide, ids.get_column(cohort).to_numpy(), periods


def bacon(df: pl.DataFrame, *, outcome: str, unit: str, time: str, cohort: str) -> BaconResult:
    """Every 2x2 comparison behind ``twfe(treat=1(time >= cohort))``, with its weight and estimate.

    ``cohort`` is the first treated period (0/null or after the last period:
    never treated). Unweighted units, as in Goodman-Bacon (2021) and R ``bacondecomp``.
    """
    y, g, periods = _panel(df, outcome, unit, time, cohort)
    t_n = len(periods)
    g = np.where((g > periods[-1]) | (g <= periods[0]), 0, g)  # never / always treated: untreated
    n = len(g)
    cohorts = sorted(set(g[g > 0].tolist()))
    if not cohorts:
        raise InputError("bacon: no unit is treated inside the panel's periods", column=cohort)
    share = {c: float(np.mean(g == c)) for c in [0, *cohorts]}
    dbar = {c: float(np.mean(periods >= c)) for c in cohorts}
    mean_y = {c: y[g == c].mean(axis=0) for c in [0, *cohorts] if share[c] > 0}
    d = (periods[None, :] >= np.where(g > 0, g, np.inf)[:, None]).astype(float)
    dd = d - d.mean(axis=1, keepdims=True) - d.mean(axis=0, keepdims=True) + d.mean()
    v_d = float((dd ** 2).sum() / (n * t_n))

    def did(treated: int, control: int, pre: np.ndarray, post: np.ndarray) -> float:
        yt, yc = mean_y[treated], mean_y[control]
        return float((yt[post].mean() - yt[pre].mean()) - (yc[post].mean() - yc[pre].mean()))

    rows = []
    if share[0] > 0:
        for k in cohorts:
            nk = share[k] / (share[k] + share[0])
            w = (share[k] + share[0]) ** 2 * nk * (1 - nk) * dbar[k] * (1 - dbar[k]) / v_d
            rows.append(("treated_vs_never", k, 0, w, did(k, 0, periods < k, periods >= k)))
    for i, k in enumerate(cohorts):  # k treated earlier than l
        for l_ in cohorts[i + 1:]:
            nkl = share[k] / (share[k] + share[l_])
            dk, dl = dbar[k], dbar[l_]
            w_early = ((share[k] + share[l_]) * (1 - dl)) ** 2 * nkl * (1 - nkl) \
                * (dk - dl) / (1 - dl) * (1 - dk) / (1 - dl) / v_d
            win = periods < l_
            rows.append(("earlier_vs_later", k, l_, w_early, did(k, l_, win & (periods < k), win & (periods >= k))))
            w_late = ((share[k] + share[l_]) * dk) ** 2 * nkl * (1 - nkl) * dl / dk * (dk - dl) / dk / v_d
            win = periods >= k
            rows.append(("later_vs_earlier", l_, k, w_late, did(l_, k, win & (periods < l_), periods >= l_)))
    table = pl.DataFrame(rows, schema={"type": pl.String, "treated": pl.Int64, "control": pl.Int64,
                                       "weight": pl.Float64, "estimate": pl.Float64}, orient="row")
    w, b = table.get_column("weight").to_numpy(), table.get_column("estimate").to_numpy()
    late = (table.get_column("type") == "later_vs_earlier").to_numpy()
    return BaconResult(table=table, twfe=float(w @ b), weight_already_treated=float(w[late].sum()))
