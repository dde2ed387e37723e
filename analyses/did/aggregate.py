"""Aggregations of ATT(g,t) as R ``did``'s ``aggte``: simple, dynamic, group, calendar.

An aggregate is a weighted sum of cells; its influence function is the same
weighted sum of the cells' influence functions plus, where the weights are
estimated cohort shares P(G = g), the extra term for estimating them
(``wif`` in R did). Nothing is re-estimated.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from analyses.did.bootstrap import add_bands, influence_se
from analyses.did.options import Aggregation, check_option
from panel.errors import InputError

if TYPE_CHECKING:
    from analyses.did.att_gt import AttGtResult

def weight_if(keep: np.ndarray, pg: np.ndarray, w: np.ndarray, g_unit: np.ndarray,
              group: np.ndarray) -> np.ndarray:
    """n × k influence of estimating the cohort-share weights pg[keep]/sum(pg[keep])."""
    ind = w[:, None] * (g_unit[:, None] == group[keep][None, :]) - pg[keep][None, :]
    total = pg[keep].sum()
    return ind / total - ind.sum(axis=1, keepdims=True) * (pg[keep] / total ** 2)[None, :]


def _combine(att: np.ndarray, inf: np.ndarray, keep: np.ndarray, wts: np.ndarray,
             wif: np.ndarray | None) -> tuple[float, np.ndarray]:
    est = float((att[keep] * wts).sum())
    f = inf[:, keep] @ wts
    if wif is not None:
        f = f + wif @ att[keep]
    return est, f


def aggte_inf(res: AttGtResult, kind: str, *, min_e: float = -np.inf, max_e: float = np.inf,
              balance_e: int | None = None) -> tuple[pl.DataFrame, np.ndarray, float, np.ndarray]:
    """(table, IF matrix of its rows, overall estimate, overall IF) of one aggregation."""
    check_option(kind, Aggregation, "aggregation")
    tab = res.table
    att = tab.get_column("att").to_numpy().astype(float)
    ok = ~np.isnan(att)
    if not ok.all():
        warnings.warn(f"aggte: {int((~ok).sum())} ATT(g,t) cells are missing and left out", stacklevel=3)
    g = tab.get_column("cohort").to_numpy()
    t = tab.get_column("time").to_numpy()
    inf = res.inf
    u = res.units
    w, g_unit = u.weight, u.cohort
    g_all = np.unique(g)
    pg_all = np.array([np.mean(w * (g_unit == gg)) for gg in g_all])
    pg = pg_all[np.searchsorted(g_all, g)] if len(g_all) else np.zeros(len(g))
    glist = np.sort(np.unique(g[ok]))
    pgg = pg_all[np.searchsorted(g_all, glist)]
    post = ok & (g <= t) & (t - g <= max_e)
    n = inf.shape[0]

    def by_key(masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Cohort-share-weighted aggregate (and its IF) of the cells in each mask."""
        ests, fs = [], []
        for mask in masks:
            keep = np.nonzero(mask)[0]
            est_k, f = _combine(att, inf, keep, pg[keep] / pg[keep].sum(), weight_if(keep, pg, w, g_unit, g))
            ests.append(est_k)
            fs.append(f)
        return np.array(ests), np.column_stack(fs) if fs else np.zeros((n, 0))

    if kind == "simple":
        keep = np.nonzero(post)[0]
        est, f = _combine(att, inf, keep, pg[keep] / pg[keep].sum(), weight_if(keep, pg, w, g_unit, g))
        return pl.DataFrame({"att": [est]}), f[:, None], est, f

    if kind == "group":
        ests, fs = [], []
        for gg in glist:
            keep = np.nonzero(post & (g == gg))[0]
            if len(keep) == 0:
                ests.append(np.nan)
                fs.append(np.zeros(n))
                continue
            e, f = _combine(att, inf, keep, np.full(len(keep), 1 / len(keep)), None)
            ests.append(e)
            fs.append(f)
        ga, gf = np.array(ests), np.column_stack(fs) if fs else np.zeros((n, 0))
        valid = np.nonzero(~np.isnan(ga))[0]
        est, f = _combine(np.nan_to_num(ga), gf, valid, pgg[valid] / pgg[valid].sum(),
                          weight_if(valid, pgg, w, g_unit, glist))
        return pl.DataFrame({"cohort": glist.astype(np.int64), "att": ga}), gf, est, f

    if kind == "dynamic":
        e_cell = t - g
        balanced = np.ones(len(g), dtype=bool)
        eseq = np.unique(e_cell[ok])
        if balance_e is not None:  # R aggte: cohorts seen balance_e periods after treatment, event times
            periods = u.periods    # that all of them cover (>= balance_e - (last - first period))
            balanced = int(periods[-1]) - g >= balance_e
            eseq = np.unique(e_cell[ok & balanced])
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - int(periods[-1]) + int(periods[0]))]
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        da, df_ = by_key([ok & balanced & (e_cell == e) for e in eseq])
        pos = np.nonzero(eseq >= 0)[0]
        est, f = _combine(da, df_, pos, np.full(len(pos), 1 / max(len(pos), 1)), None)
        return pl.DataFrame({"event_time": eseq.astype(np.int64), "att": da}), df_, est, f

    # calendar
    tlist = np.unique(t[ok])
    tlist = tlist[tlist >= (glist.min() if len(glist) else np.inf)]
    ca, cf = by_key([post & (t == tt) for tt in tlist])
    allk = np.arange(len(tlist))
    est, f = _combine(ca, cf, allk, np.full(len(allk), 1 / max(len(allk), 1)), None)
    return pl.DataFrame({"time": tlist.astype(np.int64), "att": ca}), cf, est, f


def aggte(res: AttGtResult, kind: str = "simple", *, overall: bool = False, bootstrap: int | None = None,
          multiplier: str | None = None, alpha: float | None = None, seed: int | None = None,
          min_e: float = -np.inf, max_e: float = np.inf, balance_e: int | None = None) -> pl.DataFrame:
    """Aggregate ATT(g,t) cells with analytic (and optionally bootstrap) standard errors.

    'simple' gives one row (att, se); 'dynamic' one row per event_time,
    'group' per cohort, 'calendar' per time; ``overall=True`` gives the single
    summary R prints for that aggregation instead (mean over e >= 0 for
    dynamic, cohort-share weighted for group, mean over periods for calendar).
    ``bootstrap`` draws (default: the att_gt call's) add boot_se and a uniform band.
    ``balance_e`` (dynamic, as R ``aggte``) keeps only cohorts observed for
    event times 0..balance_e, so every event time averages the same cohorts;
    ``min_e``/``max_e`` bound the event times.

    Examples
    --------
    >>> res.aggregate("dynamic")  # doctest: +SKIP
    """
    if balance_e is not None and kind != "dynamic":
        raise InputError(f"balance_e applies to the 'dynamic' aggregation, not {kind!r}")
    tab, inf, est, f = aggte_inf(res, kind, min_e=min_e, max_e=max_e, balance_e=balance_e)
    cl = res.se_cluster
    if overall or kind == "simple":
        tab, inf = pl.DataFrame({"att": [est]}), f[:, None]
    tab = tab.with_columns(pl.Series("se", influence_se(inf, cl) if inf.shape[1] else [], dtype=pl.Float64))
    opts = res.options
    biters = opts.get("bootstrap", 0) if bootstrap is None else bootstrap
    if biters:
        tab = add_bands(tab, inf, cl, biters=biters, multiplier=multiplier or opts.get("multiplier", "mammen"),
                        alpha=alpha if alpha is not None else opts.get("alpha", 0.05),
                        seed=seed if seed is not None else opts.get("seed"))
    return tab
