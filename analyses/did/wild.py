"""Wild cluster restricted bootstrap-t (WCR, null imposed) for TWFE-type fits.

The "fast and wild" algebra of Roodman, MacKinnon, Nielsen & Webb (2019,
boottest) and MacKinnon (2023): with the unit effects projected out, the
bootstrap sample is y* = Zβ̃ + ũ·v_g (β̃ the restricted fit, v_g one weight per
cluster), so the bootstrap coefficient, its CRV1 variance and therefore t*
are functions of per-cluster cross-products only — Σ w z z' and Σ w z ỹ per
cluster (:class:`analyses.did.fe.ClusterStats`). Those sums are the same for
compressed person-level cells (z constant within a cell, v within a cluster)
as for the person rows, so the bootstrap on cells is exactly the person-level
one. Every restricted score is linear in the null value b0, so t*(b0) for all
draws is kept as five vectors and the confidence interval is found by
inverting the test over b0 without redrawing (same draws for every b0).

Bootstrap data are not re-demeaned by unit (the model with the fixed effects
projected out, as pyfixest's ``wildboottest`` does); with units nested in the
clusters — afdelinger within helhedsplaner — this is the same thing.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np

from analyses.did.fe import FeFit
from panel.errors import InputError

Weights = Literal["rademacher", "webb"]
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
BLOCK_BYTES = 1 << 25  # draws are processed in blocks of about 32 MB of G × draws weights
MAX_ENUMERATE = 22  # 2^22 sign vectors at most are enumerated


def draw_weights(n_clusters: int, B: int, weights: str, seed: int | None) -> tuple[np.ndarray, bool]:
    """Cluster weights (G × B'); all 2^G Rademacher sign vectors when 2^G ≤ B (then exact)."""
    if weights not in ("rademacher", "webb"):
        raise InputError(f"wild_bootstrap: weights must be 'rademacher' or 'webb', got {weights!r}")
    if B < 1:
        raise InputError(f"wild_bootstrap: B must be positive, got {B}")
    if weights == "rademacher" and n_clusters <= MAX_ENUMERATE and 2 ** n_clusters <= B:
        v = np.array(list(itertools.product([-1.0, 1.0], repeat=n_clusters))).T
        return v, True
    rng = np.random.default_rng(seed)
    if weights == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(n_clusters, B)), False
    return rng.choice(WEBB, size=(n_clusters, B)), False


def restriction_vector(fit: FeFit, slopes: np.ndarray) -> np.ndarray:
    """A linear combination of the slopes, padded with zeros for the time dummies."""
    if fit.clusters is None:
        raise InputError("wild_bootstrap needs a clustered fit (give cluster=...)")
    k_all = fit.clusters.zy.shape[1]
    r = np.zeros(k_all)
    r[:len(slopes)] = slopes
    return r


class WildStats:
    """t*(b0) = (n0 + b0 n1) / sqrt(d00 + 2 b0 d01 + b0² d11) for every draw, and t(b0) observed."""

    def __init__(self, fit: FeFit, r: np.ndarray, v: np.ndarray) -> None:
        cs = fit.clusters
        gram, zy, ssc = cs.gram, cs.zy, cs.ssc
        ainv = np.linalg.inv(gram.sum(axis=0))
        beta = ainv @ zy.sum(axis=0)
        a = ainv @ r  # A R'
        raa = float(r @ a)
        self.estimate = float(r @ beta)
        # restricted fit β̃(b0) = beta − a (Rβ − b0)/raa; restricted scores s_g(b0) = zy_g − gram_g β̃(b0)
        ga = gram @ a  # G × K
        s0 = zy - gram @ beta + ga * (self.estimate / raa)
        s1 = -ga / raa
        rows = ga @ ainv  # r_h = A H_h a (A and H_h symmetric), G × K
        u_hat = zy - gram @ beta
        self.se = float(np.sqrt(ssc * np.sum((u_hat @ a) ** 2)))
        p0, p1 = s0 @ a, s1 @ a
        q0, q1 = rows @ s0.T, rows @ s1.T  # G × G
        g = v.shape[0]
        step = max(1, BLOCK_BYTES // (8 * g))
        parts = []
        for lo in range(0, v.shape[1], step):
            vb = v[:, lo:lo + step]
            m0 = p0[:, None] * vb - q0 @ vb
            m1 = p1[:, None] * vb - q1 @ vb
            parts.append(np.stack([p0 @ vb, p1 @ vb, ssc * np.einsum("gb,gb->b", m0, m0),
                                   ssc * np.einsum("gb,gb->b", m0, m1), ssc * np.einsum("gb,gb->b", m1, m1)]))
        self.n0, self.n1, self.d00, self.d01, self.d11 = np.concatenate(parts, axis=1)

    def t_boot(self, b0: float) -> np.ndarray:
        den = self.d00 + 2 * b0 * self.d01 + b0 * b0 * self.d11
        return (self.n0 + b0 * self.n1) / np.sqrt(np.maximum(den, 0.0))

    def t_obs(self, b0: float) -> float:
        return (self.estimate - b0) / self.se

    def p_value(self, b0: float) -> float:
        """Share of draws with |t*| ≥ |t| (symmetric two-sided; ties, e.g. v = ±1, count as ≥)."""
        t = abs(self.t_obs(b0))
        return float(np.mean(np.abs(self.t_boot(b0)) >= t * (1 - 1e-10)))


def invert(ws: WildStats, alpha: float, side: int) -> float:
    """The null value at which p(b0) falls to alpha on one side of the estimate (±inf if never)."""
    inner = ws.estimate
    k = 2.0
    outer = inner + side * k * ws.se
    while ws.p_value(outer) > alpha:
        inner, k = outer, k * 2
        if k > 2.0 ** 40:
            return side * np.inf
        outer = ws.estimate + side * k * ws.se
    tol = 1e-9 * max(ws.se, 1e-300)
    for _ in range(200):  # bisection: p(b0) is a step function of b0
        if abs(outer - inner) <= tol:
            break
        mid = 0.5 * (inner + outer)
        if ws.p_value(mid) > alpha:
            inner = mid
        else:
            outer = mid
    return 0.5 * (inner + outer)


def wild_bootstrap(
    fit: FeFit,
    slopes: np.ndarray,
    *,
    B: int = 9999,
    weights: str = "rademacher",
    seed: int | None = None,
    null: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, float]:
    """WCR bootstrap-t of H0: slopes'β = null, and the 95 % (1 − alpha) CI by test inversion.

    Returns p_value, ci_low, ci_high, B (draws used: 2^G under enumeration),
    estimate, t, weights and enumerated (p-value exact).
    """
    r = restriction_vector(fit, np.asarray(slopes, dtype=float))
    g = fit.clusters.zy.shape[0]
    if g < 2:
        raise InputError("wild_bootstrap needs at least two clusters")
    v, enumerated = draw_weights(g, B, weights, seed)
    ws = WildStats(fit, r, v)
    return {
        "p_value": ws.p_value(null),
        "ci_low": invert(ws, alpha, -1),
        "ci_high": invert(ws, alpha, +1),
        "B": int(v.shape[1]),
        "estimate": ws.estimate,
        "t": ws.t_obs(null),
        "weights": weights,
        "enumerated": enumerated,
    }


def wild_t_draws(
    fit: FeFit,
    slopes: np.ndarray,
    *,
    B: int = 9999,
    weights: str = "rademacher",
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed t and WCR bootstrap t* (draws × hypotheses) of H0: row'β = 0 for each row of ``slopes``.

    Every hypothesis uses the same cluster weights, so the draws carry the
    hypotheses' joint distribution — the input of :func:`analyses.did.multitest.romano_wolf`.
    """
    rows = np.atleast_2d(np.asarray(slopes, dtype=float))
    g = fit.clusters.zy.shape[0] if fit.clusters is not None else 0
    v, _ = draw_weights(g, B, weights, seed)
    stats = [WildStats(fit, restriction_vector(fit, row), v) for row in rows]
    return np.array([s.t_obs(0.0) for s in stats]), np.column_stack([s.t_boot(0.0) for s in stats])
