"""Multiplier bootstrap on influence functions, as R ``did``'s ``mboot``.

Each draw multiplies the (cluster-summed) influence functions by i.i.d.
weights with mean 0 and variance 1 — Mammen's two-point weights (R did's
default), Rademacher signs or Webb's six points — so no estimator is re-run. Standard errors are
the interquartile range of the draws over that of a normal; the uniform band's
critical value is the 1 − alpha quantile of the largest studentised deviation
over the parameters, which is what makes an event-study band simultaneous.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from analyses.did.options import Multiplier, check_option


def cluster_sums(inf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Influence functions (units x parameters) summed within clusters, NaN as 0; the rows as given without."""
    if cluster is None:
        return inf
    s = np.zeros((int(cluster.max()) + 1, inf.shape[1]))
    np.add.at(s, cluster, np.nan_to_num(inf))
    return s


def influence_se(inf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Analytic SEs from influence functions: sqrt(sum IF^2)/n, or with cluster sums."""
    inf = np.atleast_2d(inf.T).T if inf.ndim == 1 else inf
    n = inf.shape[0]
    s = cluster_sums(inf, cluster)
    if cluster is not None:
        s[:, np.isnan(inf).any(axis=0)] = np.nan
    se = np.sqrt((s ** 2).sum(axis=0)) / n
    se[se <= np.sqrt(np.finfo(float).eps) * 10] = np.nan
    return se


def mend_single_cluster(inf: np.ndarray, cell_cohort: np.ndarray, unit_cohort: np.ndarray, weight: np.ndarray,
                        cluster: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, list[int]]:
    """Clusters and IFs for the variance when a cohort's treated units all sit in one cluster.

    Such a cohort's treated influence functions sum to ~0 inside that cluster
    (they are deviations from the cohort's own mean), so the cluster-robust
    variance drops the cohort's own sampling noise altogether (the stock
    placebo: clustered SE 0.008 vs unit-level 0.052). The data cannot identify
    a cluster-level variance from one cluster, but they do identify the
    units': those treated units become their own clusters, and their
    deviations in the cohort's own cells are scaled by 1/sqrt(1 - h),
    h = w_i / sum_g w (HC2: with n_g units the deviations from the cohort
    mean carry only (n_g - 1)/n_g of its variance). A one-unit cohort has no
    variance of its own to identify; it is split off but stays unscaled.
    Returns (IF, variance clusters, the cohorts mended).
    """
    if cluster is None:
        return inf, None, []
    vc, nxt, out, mended = cluster.copy(), int(cluster.max()) + 1, inf, []
    for g in np.unique(cell_cohort):
        idx = np.nonzero(unit_cohort == g)[0]
        if len(idx) == 0 or len(np.unique(cluster[idx])) > 1:
            continue
        vc[idx] = np.arange(nxt, nxt + len(idx))
        nxt += len(idx)
        mended.append(int(g))
        if len(idx) > 1:
            out = inf.copy() if out is inf else out
            h = weight[idx] / weight[idx].sum()
            out[np.ix_(idx, np.nonzero(cell_cohort == g)[0])] *= (1 / np.sqrt(1 - h))[:, None]
    return out, vc, mended


def cr2_scale(inf: np.ndarray, cell_cohort: np.ndarray, unit_cohort: np.ndarray, weight: np.ndarray,
              cluster: np.ndarray | None) -> np.ndarray:
    """Influence functions with each cluster's share of its group taken out of its variance (CR2 leverage).

    A cohort's treated influence functions are deviations from the cohort's
    weighted mean, so with G_g clusters their cluster sums carry only about
    (G_g - 1)/G_g of the cohort's variance -- a half with two clusters. For a
    weighted mean the CR2 adjustment (Bell & McCaffrey 2002) is exactly a
    scaling of cluster c's score by 1/sqrt(1 - h_c), h_c = the cluster's
    share of the group's weight (w_c' is a left eigenvector of the cluster's
    hat block with eigenvalue h_c). Applied to the treated units of every
    cohort spread over >= 2 clusters, in that cohort's cells (one-cluster
    cohorts are the single-cluster mend's), and to the never-treated units in
    every cell, with h from the never-treated weights. With covariates or
    not-yet-treated controls it is the same scaling of the same scores, an
    approximation to the full CR2 of the DR estimator.
    """
    if cluster is None:
        return inf
    out = inf.copy()
    groups = [(g, np.nonzero(cell_cohort == g)[0]) for g in np.unique(cell_cohort)]
    groups.append((0, np.arange(inf.shape[1])))
    for g, cells in groups:
        idx = np.nonzero(unit_cohort == g)[0]
        if len(idx) == 0 or len(cells) == 0 or len(np.unique(cluster[idx])) < 2:
            continue
        codes, inv = np.unique(cluster[idx], return_inverse=True)
        share = np.bincount(inv, weights=weight[idx]) / weight[idx].sum()
        out[np.ix_(idx, cells)] *= (1 / np.sqrt(1 - share[inv]))[:, None]
    return out


# Webb (2023) six-point weights: +-sqrt(1/2), +-1, +-sqrt(3/2) with equal probability -- mean 0,
# variance (1/2 + 1 + 3/2)/3 = 1, and six support points, so few clusters give 6^G distinct draws, not 2^G
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def multipliers(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """Draw bootstrap multipliers with mean 0 and variance 1."""
    check_option(kind, Multiplier, "multiplier")
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=shape)
    if kind == "webb":
        return rng.choice(WEBB, size=shape)
    s5 = np.sqrt(5.0)
    p = (s5 + 1) / (2 * s5)
    return np.where(rng.random(shape) < p, (1 - s5) / 2, (1 + s5) / 2)


def mboot(inf: np.ndarray, cluster: np.ndarray | None, *, biters: int = 999, alpha: float = 0.05,
          multiplier: str = "mammen", seed: int | None = None) -> dict:
    """Bootstrap SEs and the uniform critical value for the columns of ``inf`` (n × k).

    With clusters the influence functions are summed within cluster (R did,
    Callaway & Sant'Anna 2021 remark 10) and the clusters are drawn.

    Examples
    --------
    >>> out = mboot(np.random.default_rng(0).normal(size=(200, 3)), None, seed=1)
    >>> sorted(out)
    ['bres', 'crit_val', 'se']
    """
    inf = inf.reshape(-1, 1) if inf.ndim == 1 else inf
    n, k = inf.shape
    s = cluster_sums(np.nan_to_num(inf), cluster)
    nc = s.shape[0]
    rng = np.random.default_rng(seed)
    se = np.full(k, np.nan)
    bres = np.empty((biters, k))
    chunk = max(1, int(2e7 // max(nc, 1)))
    for start in range(0, biters, chunk):
        v = multipliers(rng, (min(chunk, biters - start), nc), multiplier)
        bres[start:start + len(v)] = np.sqrt(nc) * (v @ s) / nc
    ok = (bres ** 2).sum(axis=0) > np.sqrt(np.finfo(float).eps) * 10
    ok &= ~np.isnan(inf).any(axis=0)
    crit = np.nan
    if ok.any():
        b = bres[:, ok]
        q75 = np.quantile(b, 0.75, axis=0, method="inverted_cdf")
        q25 = np.quantile(b, 0.25, axis=0, method="inverted_cdf")
        sigma = (q75 - q25) / (norm.ppf(0.75) - norm.ppf(0.25))
        se[ok] = sigma * np.sqrt(nc) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            bt = np.max(np.abs(b / sigma), axis=1)
        bt = bt[np.isfinite(bt)]
        if len(bt):
            crit = float(np.quantile(bt, 1 - alpha, method="inverted_cdf"))
    return {"bres": bres, "se": se, "crit_val": crit}


def add_bands(table: pl.DataFrame, inf: np.ndarray, cluster: np.ndarray | None, *, biters: int,
              multiplier: str, alpha: float, seed: int | None, estimate: str = "att") -> pl.DataFrame:
    """Add boot_se, crit_val and the uniform band ci_low/ci_high to a table aligned with ``inf``."""
    out = mboot(inf, cluster, biters=biters, alpha=alpha, multiplier=multiplier, seed=seed)
    se = pl.Series("boot_se", out["se"], dtype=pl.Float64)
    crit = out["crit_val"]
    return table.with_columns(se, pl.lit(crit, dtype=pl.Float64).alias("crit_val")).with_columns(
        (pl.col(estimate) - pl.col("crit_val") * pl.col("boot_se")).alias("ci_low"),
        (pl.col(estimate) + pl.col("crit_val") * pl.col("boot_se")).alias("ci_high"),
    )
