"""Rambachan & Roth (2023) sensitivity of event-study estimates to violations of parallel trends.

A port of the HonestDiD R package (and of moderndid's Python port) for the two
defaults people report:

- smoothness, Δ^SD(M) (second differences of the trend bounded by M): the
  fixed-length CI of Armstrong & Kolesár. The affine estimator l'β_post + w'β_pre
  whose worst-case bias over Δ^SD(M) plus folded-normal noise gives the
  shortest interval; minimising that half-length over the pre-period weights
  is a convex problem solved directly (HonestDiD solves the same problem as a
  golden-section search over the estimator's SD with a conic program inside).
- relative magnitudes, Δ^RM(M̄) (post-period changes at most M̄ times the largest
  pre-period change): the union over the polyhedra (which pre-period change is
  the largest, and its sign) of the conditional-least-favourable hybrid test of
  Andrews, Roth & Pakes (ARP), inverted over a grid of θ; linear programs by
  scipy's HiGHS. The least-favourable critical value is simulated (1000 draws,
  seed 0), as HonestDiD/moderndid do, so the bounds equal theirs on the same grid.

``honest_bounds`` is array-based (β, Σ, number of pre and post periods); the
reference period (−1) is not in β. ``honest_did`` takes an event-study result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import optimize, stats

from analyses.did.honest_arp import rm_interval
from panel.errors import InputError


def folded_normal_quantile(p: float, mu: float) -> float:
    """q with P(|N(mu, 1)| ≤ q) = p."""
    mu = abs(mu)
    if mu == 0:
        return float(stats.halfnorm.ppf(p))
    hi = mu + 8.0
    return float(optimize.brentq(lambda x: stats.norm.cdf(x - mu) - stats.norm.cdf(-x - mu) - p, 0.0, hi,
                                 xtol=1e-14, rtol=1e-14))


def flci(betahat: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, l_vec: np.ndarray, m: float,
         alpha: float = 0.05) -> tuple[float, float]:
    """Fixed-length CI for θ = l'τ_post under Δ^SD(M) (HonestDiD ``findOptimalFLCI``)."""
    scale = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    s = sigma / scale ** 2  # unit-free problem, rescaled at the end
    mm = m / scale
    t = np.arange(1, n_post + 1)
    target = float(t @ l_vec)
    const = sum(abs(float(np.arange(1, k + 1) @ l_vec[n_post - k:])) for k in range(1, n_post + 1)) - target
    lower = np.tril(np.ones((n_pre, n_pre)))
    diff = np.eye(n_pre) - np.eye(n_pre, k=-1)  # l_pre = diff @ w
    s_pre, s_pp = s[:n_pre, :n_pre], s[:n_pre, n_pre:] @ l_vec
    s_post = float(l_vec @ s[n_pre:, n_pre:] @ l_vec)

    def var(w):
        lp = diff @ w
        return float(lp @ s_pre @ lp + 2 * lp @ s_pp + s_post)

    q_level = 1 - alpha

    def half(x):
        w, u = x[:n_pre], x[n_pre:]
        h = np.sqrt(max(var(w), 1e-300))
        return h * folded_normal_quantile(q_level, mm * (const + u.sum()) / h)

    def grad(x):
        w, u = x[:n_pre], x[n_pre:]
        h = np.sqrt(max(var(w), 1e-300))
        b = mm * (const + u.sum()) / h
        q = folded_normal_quantile(q_level, b)
        pa, pb = stats.norm.pdf(q - b), stats.norm.pdf(-q - b)
        dq = (pa - pb) / (pa + pb)
        dh = diff.T @ (s_pre @ (diff @ w) + s_pp) / h
        return np.concatenate([(q - b * dq) * dh, np.full(n_pre, mm * dq)])

    w0 = np.zeros(n_pre)
    w0[-1] = target
    x0 = np.concatenate([w0, np.abs(lower @ w0) + 1e-3])
    cons = [{"type": "eq", "fun": lambda x: np.array([x[:n_pre].sum() - target]),
             "jac": lambda x: np.concatenate([np.ones(n_pre), np.zeros(n_pre)])[None, :]},
            {"type": "ineq", "fun": lambda x: np.concatenate([x[n_pre:] - lower @ x[:n_pre], x[n_pre:] + lower @ x[:n_pre]]),
             "jac": lambda x: np.block([[-lower, np.eye(n_pre)], [lower, np.eye(n_pre)]])}]
    best = optimize.minimize(half, x0, jac=grad, constraints=cons, method="SLSQP",
                             options={"ftol": 1e-14, "maxiter": 2000})
    w = best.x[:n_pre]
    center = float((diff @ w) @ betahat[:n_pre] + l_vec @ betahat[n_pre:])
    hl = float(best.fun) * scale
    return center - hl, center + hl


def honest_bounds(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    num_pre_periods: int,
    num_post_periods: int,
    *,
    method: str = "relative_magnitude",
    m: Sequence[float] = (0.5, 1.0, 2.0),
    l_vec: Sequence[float] | None = None,
    alpha: float = 0.05,
    grid_points: int = 1000,
) -> pl.DataFrame:
    """Robust CIs for θ = l'τ_post, one row per m: m, ci_low, ci_high, method, original_low/high, breakdown.

    ``betahat`` holds the pre-period coefficients (earliest first, reference
    period excluded) then the post-period ones; ``l_vec`` defaults to the first
    post period. ``breakdown`` is the smallest m of the given list whose robust
    CI contains 0 (null if none does); the original CI is the normal 1 − alpha
    interval assuming parallel trends.
    """
    b = np.asarray(betahat, dtype=float).ravel()
    s = np.asarray(sigma, dtype=float)
    n_pre, n_post = int(num_pre_periods), int(num_post_periods)
    if len(b) != n_pre + n_post or s.shape != (len(b), len(b)):
        raise InputError(f"honest_bounds: betahat has {len(b)} entries and sigma shape {s.shape}; "
                         f"expected {n_pre} + {n_post} periods")
    if not np.allclose(s, s.T, atol=1e-12 * max(1.0, np.abs(s).max())):
        raise InputError("honest_bounds: sigma must be symmetric")
    lv = np.zeros(n_post) if l_vec is None else np.asarray(l_vec, dtype=float).ravel()
    if l_vec is None:
        lv[0] = 1.0
    if len(lv) != n_post:
        raise InputError(f"honest_bounds: l_vec needs {n_post} entries, got {len(lv)}")
    ms = [float(x) for x in m]
    if any(x < 0 for x in ms) or not ms:
        raise InputError("honest_bounds: m must be a non-empty list of non-negative numbers")
    if method == "smoothness":
        if n_pre < 1:
            raise InputError("honest_bounds: smoothness needs at least one pre-period")
        rows = [flci(b, s, n_pre, n_post, lv, x, alpha) for x in ms]
    elif method == "relative_magnitude":
        if n_pre < 2:
            raise InputError("honest_bounds: relative magnitudes need at least two pre-periods")
        rows = [rm_interval(b, s, n_pre, n_post, lv, x, alpha=alpha, grid_points=grid_points) for x in ms]
    else:
        raise InputError(f"honest_bounds: method must be 'relative_magnitude' or 'smoothness', got {method!r}")
    se = float(np.sqrt(lv @ s[n_pre:, n_pre:] @ lv))
    est = float(lv @ b[n_pre:])
    z = float(stats.norm.ppf(1 - alpha / 2))
    covers = [lo <= 0 <= hi for lo, hi in rows]
    breakdown = next((x for x, c in sorted(zip(ms, covers, strict=True)) if c), None)
    return pl.DataFrame({
        "m": ms, "ci_low": [r[0] for r in rows], "ci_high": [r[1] for r in rows],
        "method": [method] * len(ms), "original_low": [est - z * se] * len(ms),
        "original_high": [est + z * se] * len(ms), "breakdown": [breakdown] * len(ms),
    }, schema_overrides={"breakdown": pl.Float64})


def event_study_coefficients(res) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(event times, β, Σ) without the reference period −1, from any supported result.

    Objects with ``event_study_vcov()`` returning that triple are used as they
    are; an ``EventStudyResult`` gives its coefficients (Sun–Abraham: the
    interaction-weighted combinations) and their CRV1 covariance; an att_gt
    result with ``base_period="universal"`` gives its dynamic aggregation and
    the covariance of the aggregated influence functions (cluster sums, the
    convention of its SEs).
    """
    if hasattr(res, "event_study_vcov"):
        e, b, v = res.event_study_vcov()
        return np.asarray(e), np.asarray(b, dtype=float), np.asarray(v, dtype=float)
    if hasattr(res, "slopes") and getattr(res, "fit", None) is not None:
        ref = res.table.filter(pl.col("se").is_null()).get_column("event_time").to_list()
        es = [e for e in res.table.get_column("event_time").to_list() if e not in ref]
        lmat = np.array([res.slopes(e) for e in es])
        return np.array(es), lmat @ res.fit.fit.coef, lmat @ res.fit.fit.vcov @ lmat.T
    if hasattr(res, "inf") and hasattr(res, "units"):
        from analyses.did.aggregate import aggte_inf

        if res.options.get("base_period") != "universal":
            raise InputError("honest_did: att_gt needs base_period='universal' (pre-period estimates "
                             "against one reference period)")
        tab, inf, _, _ = aggte_inf(res, "dynamic")
        e = tab.get_column("event_time").to_numpy()
        b = tab.get_column("att").to_numpy()
        keep = (e != -1) & ~np.isnan(b)
        inf = np.nan_to_num(inf[:, keep])
        cl = res.units.cluster
        if cl is not None:
            sums = np.zeros((int(cl.max()) + 1, inf.shape[1]))
            np.add.at(sums, cl, inf)
            inf = sums
        n = res.n_units
        return e[keep], b[keep], inf.T @ inf / n ** 2
    raise InputError(f"honest_did: cannot read event-study coefficients from {type(res).__name__}")


def honest_did(
    res,
    event_time: int = 0,
    method: str = "relative_magnitude",
    mbar: Sequence[float] | None = None,
    m: Sequence[float] | None = None,
    *,
    alpha: float = 0.05,
    grid_points: int = 1000,
) -> pl.DataFrame:
    """Rambachan–Roth robust CIs for the effect at ``event_time`` (contract §6a).

    ``mbar`` for ``method="relative_magnitude"``, ``m`` for ``"smoothness"``.
    Pre-periods are the event times below −1, post-periods those from 0 on;
    both must be consecutive (bin or trim the window first).
    """
    e, b, v = event_study_coefficients(res)
    pre, post = e < -1, e >= 0
    if not post.any() or event_time not in set(e[post].tolist()):
        raise InputError(f"honest_did: event time {event_time} has no post-period estimate")
    for part in (e[pre], e[post]):
        if len(part) > 1 and not (np.diff(np.sort(part)) == 1).all():
            raise InputError("honest_did: the event times must be consecutive (pre and post separately)")
    order = np.concatenate([np.nonzero(pre)[0][np.argsort(e[pre])], np.nonzero(post)[0][np.argsort(e[post])]])
    grid = mbar if method == "relative_magnitude" else m
    if grid is None:
        grid = [0.5, 1.0, 2.0] if method == "relative_magnitude" else [0.0, 0.01, 0.02]
    post_times = np.sort(e[post])
    lv = (post_times == event_time).astype(float)
    return honest_bounds(b[order], v[np.ix_(order, order)], int(pre.sum()), int(post.sum()), method=method,
                         m=grid, l_vec=lv, alpha=alpha, grid_points=grid_points)
