"""Conditional-least-favourable (ARP hybrid) CI under relative magnitudes, Δ^RM(M̄).

Port of HonestDiD's ``computeConditionalCS_DeltaRM`` (via moderndid): Δ^RM is the
union over s < 0 and a sign of the polyhedra {δ: |δ_{t+1} − δ_t| ≤ ±M̄ (δ_{s+1} − δ_s)
for t ≥ 0, and the same bound for every pre-period change}; for each, testing
θ = l'τ_post is a moment-inequality test with the other post-period effects
as linear nuisance parameters (Andrews, Roth & Pakes 2023), and the CI is the
union of the accepted θ on a grid. Every linear program goes to scipy HiGHS.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

KAPPA_SHARE = 0.1  # first-stage (least-favourable) size kappa = alpha / 10, HonestDiD's default
LF_SIMS = 1000


def rm_matrix(n_pre: int, n_post: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """A with Δ^RM_{s,±}(M̄) = {δ: A δ ≤ 0}, the reference period's column dropped."""
    total = n_pre + n_post + 1
    first = np.zeros((n_pre + n_post, total))
    for r in range(n_pre + n_post):
        first[r, r:r + 2] = [-1.0, 1.0]
    vmax = np.zeros(total)
    vmax[n_pre + s:n_pre + s + 2] = [-1.0, 1.0]
    if not positive:
        vmax = -vmax
    bound = np.vstack([np.tile(vmax, (n_pre, 1)), np.tile(mbar * vmax, (n_post, 1))])
    a = np.vstack([first - bound, -first - bound])
    a = a[~np.all(np.abs(a) <= 1e-10, axis=1)]
    return np.delete(a, n_pre, axis=1)


def identified_set(b: np.ndarray, n_pre: int, n_post: int, lv: np.ndarray, mbar: float) -> tuple[float, float]:
    """Bounds of θ over Δ^RM(M̄) with δ_pre = β_pre (Lemma 2.1), union over the polyhedra."""
    f = np.concatenate([np.zeros(n_pre), lv])
    a_eq = np.hstack([np.eye(n_pre), np.zeros((n_pre, n_post))])
    est = float(lv @ b[n_pre:])
    lo, hi = np.inf, -np.inf
    free = [(None, None)] * (n_pre + n_post)
    for s in range(-(n_pre - 1), 0):
        for positive in (True, False):
            a = rm_matrix(n_pre, n_post, mbar, s, positive)
            mx = optimize.linprog(-f, A_ub=a, b_ub=np.zeros(len(a)), A_eq=a_eq, b_eq=b[:n_pre], bounds=free,
                                  method="highs")
            mn = optimize.linprog(f, A_ub=a, b_ub=np.zeros(len(a)), A_eq=a_eq, b_eq=b[:n_pre], bounds=free,
                                  method="highs")
            if mx.success and mn.success:
                lo, hi = min(lo, est + mx.fun), max(hi, est - mn.fun)
            else:
                lo, hi = min(lo, est), max(hi, est)
    return lo, hi


def truncnorm_quantile(p: float, lower: float, upper: float, mu: float = 0.0, sd: float = 1.0) -> float:
    """p-quantile of N(mu, sd²) truncated to [lower, upper]."""
    lstd = -np.inf if np.isinf(lower) else (lower - mu) / sd
    ustd = np.inf if np.isinf(upper) else (upper - mu) / sd
    if np.isinf(lstd) and np.isinf(ustd):
        return mu + sd * stats.norm.ppf(p)
    pl_ = 0.0 if np.isinf(lstd) else stats.norm.cdf(lstd)
    pu = 1.0 if np.isinf(ustd) else stats.norm.cdf(ustd)
    pt = pl_ + p * (pu - pl_)
    if pt <= pl_:
        return lower
    if pt >= pu:
        return upper
    return float(mu + sd * stats.norm.ppf(pt))


def eta_lp(y: np.ndarray, x: np.ndarray, sd: np.ndarray):
    """min η s.t. y − x δ ≤ η·sd (the ARP test statistic), with the dual weights."""
    c = np.concatenate([[1.0], np.zeros(x.shape[1])])
    res = optimize.linprog(c, A_ub=-np.column_stack([sd, x]), b_ub=-y, bounds=[(None, None)] * len(c),
                           method="highs-ds")
    if not res.success:
        return None, np.zeros(len(y))
    return float(res.x[0]), -res.ineqlin.marginals


def lf_critical_value(x: np.ndarray | None, sigma: np.ndarray, kappa: float, seed: int = 0) -> float:
    """1 − kappa quantile of the statistic at the least-favourable point (all moments binding), simulated."""
    rng = np.random.default_rng(seed)
    xi = rng.multivariate_normal(mean=np.zeros(sigma.shape[0]), cov=sigma, size=LF_SIMS)
    sd = np.sqrt(np.diag(sigma))
    if x is None:
        return float(np.quantile(np.max(xi / sd, axis=1), 1 - kappa))
    etas = [e for e in (eta_lp(row, x, sd)[0] for row in xi) if e is not None]
    return float(np.quantile(etas, 1 - kappa))


def _max_program(s_t, gamma, sigma, w_t, c):
    f = s_t + sigma @ gamma * c / float(gamma @ sigma @ gamma)
    b_eq = np.zeros(w_t.shape[1])
    b_eq[0] = 1.0
    res = optimize.linprog(-f, A_eq=w_t.T, b_eq=b_eq, bounds=[(0, None)] * len(f), method="highs")
    value = -res.fun if res.success else np.nan
    return res, bool(res.success and abs(c - value) <= 1e-6)


def _round_eps(x: float) -> float:
    return 0.0 if abs(x) < np.finfo(float).eps ** 0.75 else x


def _dual_bound(eta, s_t, gamma, sigma, w_t, start, toward_up: bool) -> float:
    """One end of the conditioning interval by the dual LP (HonestDiD ``.vlo_vup_dual_fn``)."""
    res, ok = _max_program(s_t, gamma, sigma, w_t, start)
    if ok:
        return np.inf if toward_up else -np.inf
    b = sigma @ gamma / float(gamma @ sigma @ gamma)
    mid = _round_eps(float(res.x @ s_t)) / (1 - float(res.x @ b)) if res.success else start
    iters = 1
    while iters < 10:
        res, ok = _max_program(s_t, gamma, sigma, w_t, mid)
        if ok:
            break
        iters += 1
        if not res.success:
            break
        mid = _round_eps(float(res.x @ s_t)) / (1 - float(res.x @ b))
    low, high = (eta, mid) if toward_up else (mid, eta)
    first = True
    while (first or high - low > 1e-6) and iters < 10000:
        first = False
        iters += 1
        mid = (high + low) / 2
        ok = _max_program(s_t, gamma, sigma, w_t, mid)[1]
        if ok == toward_up:
            low = mid
        else:
            high = mid
    return mid


def conditional_test(y, x, sigma, alpha, kappa, lf_cv) -> bool:
    """True if the hybrid (LF first stage, conditional second) test rejects (HonestDiD ``.lp_conditional_test_fn``)."""
    sd = np.sqrt(np.diag(sigma))
    eta, lam = eta_lp(y, x, sd)
    if eta is None:
        return False
    if eta > lf_cv:
        return True
    size = (alpha - kappa) / (1 - kappa)
    k = x.shape[1]
    b_index = lam > 1e-6
    xb = x[b_index]
    full_rank = xb.size > 0 and np.linalg.matrix_rank(xb) == min(xb.shape)
    if not full_rank or b_index.sum() != k + 1:
        w_t = np.column_stack([sd, x])
        gsg = float(lam @ sigma @ lam)
        if gsg <= np.finfo(float).eps:
            return eta > 0
        s_t = y - sigma @ lam * float(lam @ y) / gsg
        vtest = _max_program(s_t, lam, sigma, w_t, eta)[1]
        if not vtest:
            vlo, vup = eta, np.inf
        else:
            sb = np.sqrt(gsg)
            vup = _dual_bound(eta, s_t, lam, sigma, w_t, max(100.0, eta + 20 * sb), True)
            vlo = _dual_bound(eta, s_t, lam, sigma, w_t, min(-100.0, eta - 20 * sb), False)
        sigma_b = np.sqrt(gsg)
        stat = eta / sigma_b
        zlo, zup = vlo / sigma_b, min(vup, lf_cv) / sigma_b
    else:
        n = len(y)
        eye = np.eye(n)
        s_b, s_bc = eye[b_index], eye[~b_index]
        w_b = np.column_stack([sd[b_index], xb])
        w_bc = np.column_stack([sd[~b_index], x[~b_index]])
        w_b_inv = np.linalg.inv(w_b)
        gamma_b = w_bc @ w_b_inv @ s_b - s_bc
        v_b = s_b.T @ w_b_inv.T[:, 0]
        sigma2_b = float(v_b @ sigma @ v_b)
        sigma_b = np.sqrt(sigma2_b)
        rho = gamma_b @ sigma @ v_b / sigma2_b
        with np.errstate(divide="ignore", invalid="ignore"):
            vals = -gamma_b @ y / rho + float(v_b @ y)
        vlo = np.max(vals[rho > 0]) if (rho > 0).any() else -np.inf
        vup = np.min(vals[rho < 0]) if (rho < 0).any() else np.inf
        stat = eta / sigma_b
        zlo, zup = vlo / sigma_b, min(vup, lf_cv) / sigma_b
    if not zlo <= stat <= zup:
        return False
    return stat > max(0.0, truncnorm_quantile(1 - size, zlo, zup))


def no_nuisance_accepts(y, sigma, a, alpha, kappa, lf_cv) -> bool:
    """One post period: the LF-hybrid test of A·(β − θ e) ≤ 0 without nuisance parameters."""
    sig_t = np.maximum(np.sqrt(np.diag(a @ sigma @ a.T)), 1e-10)
    at = a / sig_t[:, None]
    mom = at @ y
    j = int(np.argmax(mom))
    if mom[j] > lf_cv:
        return False
    gamma = at[j]
    gsg = float(gamma @ sigma @ gamma)
    abar = at - at[j][None, :]
    c = sigma @ gamma / gsg
    z = y - c * float(gamma @ y)
    az, ac = abar @ z, abar @ c
    nz = np.abs(ac) > 1e-10
    obj = np.full(len(ac), np.nan)
    obj[nz] = -az[nz] / ac[nz]
    vlo = np.max(obj[ac < 0]) if (ac < 0).any() else -np.inf  # (as moderndid: a tiny |A c| gives NaN)
    vup = np.min(obj[ac > 0]) if (ac > 0).any() else np.inf
    size = (alpha - kappa) / (1 - kappa)
    crit = max(0.0, truncnorm_quantile(1 - size, vlo, vup, 0.0, np.sqrt(gsg)))
    return not mom[j] > crit


def _search(accepts, n: int) -> tuple[int, int] | None:
    """First and last accepted grid index, assuming an interval (HonestDiD/moderndid binary search)."""
    mid = n // 2
    seed = mid if accepts(mid) else None
    off = 1
    while seed is None and (mid - off >= 0 or mid + off < n):
        if mid - off >= 0 and accepts(mid - off):
            seed = mid - off
        elif mid + off < n and accepts(mid + off):
            seed = mid + off
        off += 1
    if seed is None:
        return None
    lo, hi = 0, seed
    if seed != 0 and accepts(0):
        lb = 0
    else:
        while lo < hi:
            m = (lo + hi) // 2
            lo, hi = (lo, m) if accepts(m) else (m + 1, hi)
        lb = lo
    lo, hi = seed, n - 1
    if seed != n - 1 and accepts(n - 1):
        ub = n - 1
    else:
        while lo < hi:
            m = (lo + hi + 1) // 2
            lo, hi = (m, hi) if accepts(m) else (lo, m - 1)
        ub = lo
    return lb, ub


def rm_interval(b: np.ndarray, sigma: np.ndarray, n_pre: int, n_post: int, lv: np.ndarray, mbar: float, *,
                alpha: float = 0.05, grid_points: int = 1000) -> tuple[float, float]:
    """C-LF robust CI for θ = l'τ_post under Δ^RM(M̄): union over the polyhedra of the accepted grid points."""
    kappa = alpha * KAPPA_SHARE
    id_lo, id_hi = identified_set(b, n_pre, n_post, lv, mbar)
    sd_theta = float(np.sqrt(lv @ sigma[n_pre:, n_pre:] @ lv))
    grid = np.linspace(id_lo - 20 * sd_theta, id_hi + 20 * sd_theta, grid_points)
    accept = np.zeros(grid_points, dtype=bool)
    post = np.arange(n_pre, n_pre + n_post)
    for s in range(-(n_pre - 1), 0):
        for positive in (True, False):
            a = rm_matrix(n_pre, n_post, mbar, s, positive)
            if n_post == 1:
                lf = lf_critical_value(None, a @ sigma @ a.T, kappa)
                e_post = np.zeros(len(b))
                e_post[n_pre] = 1.0

                def accepts(i, a=a, lf=lf, e_post=e_post):
                    return no_nuisance_accepts(b - grid[i] * e_post, sigma, a, alpha, kappa, lf)
            else:
                rows = np.nonzero(np.any(a[:, post] != 0, axis=1))[0]
                gamma = np.eye(n_post)
                drop = int(np.argmax(np.abs(lv)))
                gamma = np.vstack([lv, np.delete(gamma, drop, axis=0)])
                agi = a[:, post] @ np.linalg.inv(gamma)
                y0 = a @ b
                sig_y = (a @ sigma @ a.T)[np.ix_(rows, rows)]
                x = agi[rows, 1:]
                lf = lf_critical_value(x, sig_y, kappa)

                def accepts(i, rows=rows, agi=agi, y0=y0, sig_y=sig_y, x=x, lf=lf):
                    y = (y0 - grid[i] * agi[:, 0])[rows]
                    return not conditional_test(y, x, sig_y, alpha, kappa, lf)
            found = _search(accepts, grid_points)
            if found is not None:
                accept[found[0]:found[1] + 1] = True
    if not accept.any():
        return np.nan, np.nan
    idx = np.nonzero(accept)[0]
    return float(grid[idx[0]]), float(grid[idx[-1]])
