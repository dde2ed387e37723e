"""Weighted two-way fixed-effects least squares with CRV1 standard errors.

The engine behind TWFE, the event study, Sun–Abraham and dose-response. The
first fixed effect (unit) is absorbed by weighted within-unit demeaning, the
second (time, few levels) enters as dummies, which is exact Frisch–Waugh–Lovell
and needs no iteration. Rows may be cells of a compressed individual-level
panel (:mod:`analyses.did.compress`): with ``y`` = cell mean and ``w`` = cell
count the coefficients, the bread and the cluster scores are exactly those of
the person-level regression, so CRV1 is exact too.

Small-sample convention (pyfixest/fixest defaults, ``ssc(k_adj=True,
k_fixef="nonnested", G_adj=True)``): V = (N−1)/(N−K) · G/(G−1) · sandwich, where
K counts the slopes plus the fixed effects not nested in the cluster (a nested
fixed effect counts as one) minus one per extra fixed effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClusterStats:
    """Per-cluster cross-products of the demeaned design: all a wild cluster bootstrap needs.

    ``gram[g]`` = Σ_{i∈g} w z z' and ``zy[g]`` = Σ_{i∈g} w z ỹ over the kept
    columns of z (slopes first, then time dummies); with compressed cells these
    are exactly the person-level sums. ``ssc`` is the CRV1 small-sample factor.
    """

    gram: np.ndarray  # G × K × K
    zy: np.ndarray  # G × K
    ssc: float


@dataclass
class FeFit:
    coef: np.ndarray  # slopes of X (not the time dummies)
    vcov: np.ndarray  # CRV1 (or iid) covariance of coef
    n_obs: int  # persons / rows behind the fit (N of the small-sample factor)
    n_clusters: int
    df_k: int
    df_t: int  # G − 1 for CRV1 (the t/F reference), N − K for iid
    clusters: ClusterStats | None = None  # for analyses.did.wild (CRV1 fits only)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


def codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense integer codes 0..L-1 of any 1-d array, and L."""
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.astype(np.int64).ravel(), len(uniq)


def _demean(a: np.ndarray, g: np.ndarray, ng: int, w: np.ndarray) -> np.ndarray:
    sw = np.bincount(g, weights=w, minlength=ng)
    if a.ndim == 1:
        return a - (np.bincount(g, weights=w * a, minlength=ng) / sw)[g]
    out = np.empty_like(a)
    for j in range(a.shape[1]):
        out[:, j] = a[:, j] - (np.bincount(g, weights=w * a[:, j], minlength=ng) / sw)[g]
    return out


def _nested(fe: np.ndarray, cl: np.ndarray, nfe: int) -> bool:
    """True if every level of ``fe`` lies inside a single cluster."""
    first = np.full(nfe, -1)
    first[fe] = cl
    return bool((first[fe] == cl).all())


def fe_ols(
    y: np.ndarray,
    x: np.ndarray,
    unit: np.ndarray,
    time: np.ndarray,
    *,
    w: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    n_obs: int | None = None,
    syy: np.ndarray | None = None,
) -> FeFit:
    """Regress y on x with unit and time fixed effects (weights ``w``), CRV1 by ``cluster``.

    ``n_obs`` overrides N (the sum of cell counts when rows are compressed
    cells); ``syy`` (sum of squares per cell) is only needed for iid errors
    of compressed data. Without ``cluster`` the errors are iid.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> u, t = np.repeat(np.arange(50), 4), np.tile(np.arange(4), 50)
    >>> d = ((u < 25) & (t >= 2)).astype(float)
    >>> fit = fe_ols(2 * d + u + t + 0.01 * rng.normal(size=200), d[:, None], u, t, cluster=u)
    >>> round(float(fit.coef[0]), 1)
    2.0
    """
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    ui, nu = codes(unit)
    ti, nt = codes(time)
    k = x.shape[1]
    dummies = np.zeros((len(y), nt - 1))
    sel = ti > 0
    dummies[np.nonzero(sel)[0], ti[sel] - 1] = 1.0
    z = _demean(np.hstack([x, dummies]), ui, nu, w)
    yt = _demean(y, ui, nu, w)
    zw = z * w[:, None]
    bread = zw.T @ z
    # drop time dummies that are collinear with the unit effects / slopes
    keep = np.ones(z.shape[1], dtype=bool)
    if np.linalg.matrix_rank(bread) < bread.shape[0]:
        q, r = np.linalg.qr(z * np.sqrt(w)[:, None])
        keep = np.abs(np.diag(r)) > 1e-9 * max(1.0, np.abs(np.diag(r)).max())
        if not keep[:k].all():
            raise np.linalg.LinAlgError("a regressor is collinear with the fixed effects")
        z, zw = z[:, keep], zw[:, keep]
        bread = zw.T @ z
    binv = np.linalg.inv(bread)
    beta = binv @ (zw.T @ yt)
    e = yt - z @ beta
    n = int(round(w.sum())) if n_obs is None else n_obs
    nt_eff = int(keep[k:].sum()) + 1
    if cluster is None:
        if syy is not None:  # compressed cells: person-level RSS from sums
            rss = float((syy - w * y ** 2).sum() + (w * e ** 2).sum())
        else:
            rss = float((w * e ** 2).sum())
        df_k = k + nu + nt_eff - 1
        vcov = binv * rss / (n - df_k)
        return FeFit(beta[:k], vcov[:k, :k], n, 0, df_k, n - df_k)
    ci, ng = codes(cluster)
    scores = np.zeros((ng, z.shape[1]))
    np.add.at(scores, ci, zw * e[:, None])
    meat = scores.T @ scores
    vcov = binv @ meat @ binv
    k_fe = nu + nt_eff
    nested = [(_nested(ui, ci, nu), nu), (_nested(ti, ci, nt), nt_eff)]
    k_fe_nested = sum(lv for is_n, lv in nested if is_n)
    n_fully = sum(1 for is_n, _ in nested if is_n)
    df_k = k + (k_fe - 1) - k_fe_nested + n_fully
    ssc = (n - 1) / (n - df_k) * ng / (ng - 1)
    vcov = vcov * ssc
    return FeFit(beta[:k], vcov[:k, :k], n, ng, df_k, ng - 1, clusters=cluster_stats(z, zw, yt, ci, ng, ssc))


def cluster_stats(z: np.ndarray, zw: np.ndarray, yt: np.ndarray, ci: np.ndarray, ng: int,
                  ssc: float) -> ClusterStats:
    """Σ w z z' and Σ w z ỹ per cluster (rows sorted by cluster, one small product per cluster)."""
    order = np.argsort(ci, kind="stable")
    bounds = np.searchsorted(ci[order], np.arange(ng + 1))
    gram = np.empty((ng, z.shape[1], z.shape[1]))
    zy = np.empty((ng, z.shape[1]))
    for g in range(ng):
        rows = order[bounds[g]:bounds[g + 1]]
        zwg = zw[rows]
        gram[g] = zwg.T @ z[rows]
        zy[g] = zwg.T @ yt[rows]
    return ClusterStats(gram, zy, ssc)
