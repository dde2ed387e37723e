"""Sant'Anna & Zhao (2020) 2x2 DiD estimators with covariates, as R ``DRDID`` (used by R ``did``).

Panel forms (``drdid_panel``, ``std_ipw_did_panel``, ``reg_did_panel``) take
the outcome changes of several (g,t) cells that share one design -- the same
treated and comparison units and covariates, as all cells of a cohort do
against the never-treated -- as the columns of one matrix, so the logit, the
control-group Gram matrix and the propensity-score influence are computed once
per design and every cell is a few matrix products. Repeated-cross-section
forms (``drdid_rc``, ``std_ipw_did_rc``, ``reg_did_rc``) serve unbalanced
panels. Each returns the ATT and DRDID's ``att.inf.func`` (mean-zero, scaled
so that ``se = sqrt(mean(IF^2) / n)``); R ``did`` rescales it.

Conventions follow DRDID exactly: ``i.weights`` normalised to mean 1 within
the sample, propensity scores clipped to [1e-6, 1 - 1e-6], comparison units
with a score >= 0.995 trimmed, OLS outcome models fitted on the comparison
group with the unit weights.
"""

from __future__ import annotations

import warnings

import numpy as np

TRIM = 0.995
CLIP = 1e-6


class DesignError(ValueError):
    """The covariate design cannot be estimated (separation, singular Gram matrix)."""


def logit(d: np.ndarray, x: np.ndarray, w: np.ndarray, *, maxiter: int = 100) -> np.ndarray:
    """Fitted probabilities of a weighted logit of ``d`` on ``x`` by Newton--Raphson (= R glm's IRLS).

    Newton steps until they no longer move the coefficients (1e-13 relative),
    so the optimum is reached to rounding -- tighter than glm's deviance rule,
    which is what makes two implementations agree to ~1e-12.
    """
    beta = np.zeros(x.shape[1])
    for _ in range(maxiter):
        eta = x @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        hw = w * p * (1.0 - p)
        hess = x.T @ (hw[:, None] * x)
        grad = x.T @ (w * (d - p))
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise DesignError("propensity score: singular covariate matrix") from exc
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            raise DesignError("propensity score: the logit diverged (separation)")
        if np.max(np.abs(step)) <= 1e-13 * (1.0 + np.max(np.abs(beta))):
            break
    else:
        warnings.warn("propensity score: logit did not converge", stacklevel=2)
    return 1.0 / (1.0 + np.exp(-(x @ beta)))


def _inv_gram(x: np.ndarray, wsub: np.ndarray, n: int) -> np.ndarray:
    """Inverse of E_n[wsub x x'] (DRDID's OLS bread), refusing a singular one."""
    gram = x.T @ (wsub[:, None] * x) / n
    if np.linalg.cond(gram) > 1 / np.finfo(float).eps:
        raise DesignError("outcome regression: singular covariate matrix in the comparison group")
    return np.linalg.inv(gram)


def _ps_rep(d: np.ndarray, x: np.ndarray, w: np.ndarray, ps: np.ndarray, n: int) -> np.ndarray:
    """Asymptotic linear representation of the logit coefficients (n x p)."""
    hess = np.linalg.inv(x.T @ ((ps * (1 - ps) * w)[:, None] * x)) * n
    return ((w * (d - ps))[:, None] * x) @ hess


def pscore(d: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Clipped propensity score; DesignError when overlap fails (R did skips such cells)."""
    ps = logit(d, x, w)
    if ps.max() >= 0.999:
        raise DesignError("overlap violated (propensity score >= 0.999)")
    return np.clip(ps, CLIP, 1 - CLIP)


def panel(dy: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray,
          method: str) -> tuple[np.ndarray, np.ndarray]:
    """ATT (m,) and influence functions (n x m) of m panel cells sharing the design (d, x, w).

    ``dy`` is n x m outcome changes, ``d`` 0/1 treated, ``x`` n x p with intercept.
    """
    n = len(d)
    w = w / w.mean()
    ctrl = 1.0 - d
    if method != "ipw":
        wols = w * ctrl
        a_inv = _inv_gram(x, wols, n)
        beta = a_inv @ (x.T @ (wols[:, None] * dy)) / n
        out = x @ beta
        resid = dy - out
    if method == "reg":
        w_t = w * d
        mwt = w_t.mean()
        eta_t = (w_t[:, None] * dy).mean(axis=0) / mwt
        eta_c = (w_t[:, None] * out).mean(axis=0) / mwt
        inf_t = (w_t[:, None] * dy - w_t[:, None] * eta_t) / mwt
        lever = wols * (x @ (a_inv @ (w_t[:, None] * x).mean(axis=0)))
        inf_c = (w_t[:, None] * out - w_t[:, None] * eta_c + lever[:, None] * resid) / mwt
        return eta_t - eta_c, inf_t - inf_c
    ps = pscore(d, x, w)
    trim = np.where(d == 1, True, ps < TRIM)
    w_t = trim * w * d
    w_c = trim * w * ps * ctrl / (1 - ps)
    mwt, mwc = w_t.mean(), w_c.mean()
    if mwt == 0 or mwc == 0:
        raise DesignError("no treated or comparison units left after trimming")
    rep_ps = _ps_rep(d, x, w, ps, n)
    if method == "ipw":
        eta_t = w_t[:, None] * dy / mwt
        eta_c = w_c[:, None] * dy / mwc
        att_t, att_c = eta_t.mean(axis=0), eta_c.mean(axis=0)
        inf_t = eta_t - w_t[:, None] * att_t / mwt
        inf_c = eta_c - w_c[:, None] * att_c / mwc
        mom = (w_c[:, None] * (dy - att_c)).T @ x / n / mwc  # m x p
        return att_t - att_c, inf_t - (inf_c + rep_ps @ mom.T)
    dr_t = w_t[:, None] * resid
    dr_c = w_c[:, None] * resid
    eta_t = dr_t.mean(axis=0) / mwt
    eta_c = dr_c.mean(axis=0) / mwc
    lever_t = wols * (x @ (a_inv @ (w_t[:, None] * x).mean(axis=0)))
    inf_t = (dr_t - w_t[:, None] * eta_t - lever_t[:, None] * resid) / mwt
    c1 = dr_c - w_c[:, None] * eta_c
    c2 = rep_ps @ (c1.T @ x / n).T
    lever_c = wols * (x @ (a_inv @ (w_c[:, None] * x).mean(axis=0)))
    inf_c = (c1 + c2 - lever_c[:, None] * resid) / mwc
    return eta_t - eta_c, inf_t - inf_c


def _ols_fit(y: np.ndarray, x: np.ndarray, wsub: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for every row of a weighted OLS on the rows with wsub > 0, and its linear representation."""
    a_inv = _inv_gram(x, wsub, n)
    beta = a_inv @ (x.T @ (wsub * y)) / n
    out = x @ beta
    return out, ((wsub * (y - out))[:, None] * x) @ a_inv


def _mean_x(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return (v[:, None] * x).mean(axis=0)


def rc(y: np.ndarray, post: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray,
       method: str) -> tuple[float, np.ndarray]:
    """ATT and influence function (per row) of one repeated-cross-section cell (DRDID *_rc)."""
    n = len(d)
    w = w / w.mean()
    ctrl, pre = 1.0 - d, 1.0 - post
    if method == "reg":
        out_pre, rep_pre = _ols_fit(y, x, w * ctrl * pre, n)
        out_post, rep_post = _ols_fit(y, x, w * ctrl * post, n)
        w_tpre, w_tpost, w_c = w * d * pre, w * d * post, w * d
        eta_tpre = (w_tpre * y).mean() / w_tpre.mean()
        eta_tpost = (w_tpost * y).mean() / w_tpost.mean()
        reg_c = w_c * (out_post - out_pre)
        eta_c = reg_c.mean() / w_c.mean()
        inf_t = (w_tpost * y - w_tpost * eta_tpost) / w_tpost.mean() - (w_tpre * y - w_tpre * eta_tpre) / w_tpre.mean()
        cod = _mean_x(w_c, x)
        inf_c = (reg_c - w_c * eta_c + rep_post @ cod - rep_pre @ cod) / w_c.mean()
        return float(eta_tpost - eta_tpre - eta_c), inf_t - inf_c
    ps = pscore(d, x, w)
    trim = np.where(d == 1, True, ps < TRIM)
    odds = ps * ctrl / (1 - ps)
    w_tpre, w_tpost = trim * w * d * pre, trim * w * d * post
    w_cpre, w_cpost = trim * w * odds * pre, trim * w * odds * post
    rep_ps = _ps_rep(d, x, w, ps, n)
    if method == "ipw":
        parts = {}
        for key, wk in (("tpre", w_tpre), ("tpost", w_tpost), ("cpre", w_cpre), ("cpost", w_cpost)):
            m = wk.mean()
            if m == 0:
                raise DesignError("an empty treated/comparison x period cell")
            att_k = (wk * y).mean() / m
            parts[key] = (att_k, wk * y / m - wk * att_k / m, m)
        att = (parts["tpost"][0] - parts["tpre"][0]) - (parts["cpost"][0] - parts["cpre"][0])
        m2_pre = _mean_x(w_cpre * (y - parts["cpre"][0]), x) / parts["cpre"][2]
        m2_post = _mean_x(w_cpost * (y - parts["cpost"][0]), x) / parts["cpost"][2]
        inf_t = parts["tpost"][1] - parts["tpre"][1]
        inf_c = parts["cpost"][1] - parts["cpre"][1] + rep_ps @ (m2_post - m2_pre)
        return float(att), inf_t - inf_c
    out_cpre, rep_cpre = _ols_fit(y, x, w * ctrl * pre, n)
    out_cpost, rep_cpost = _ols_fit(y, x, w * ctrl * post, n)
    out_tpre, rep_tpre = _ols_fit(y, x, w * d * pre, n)
    out_tpost, rep_tpost = _ols_fit(y, x, w * d * post, n)
    out_c = post * out_cpost + pre * out_cpre
    w_d, w_dt1, w_dt0 = trim * w * d, w_tpost, w_tpre

    def eta(wk: np.ndarray, v: np.ndarray) -> tuple[float, np.ndarray]:
        m = wk.mean()
        e = wk * v / m
        return float(e.mean()), e - wk * e.mean() / m

    a_tpre, i_tpre = eta(w_tpre, y - out_c)
    a_tpost, i_tpost = eta(w_tpost, y - out_c)
    a_cpre, i_cpre = eta(w_cpre, y - out_c)
    a_cpost, i_cpost = eta(w_cpost, y - out_c)
    a_dpost, i_dpost = eta(w_d, out_tpost - out_cpost)
    a_dt1, i_dt1 = eta(w_dt1, out_tpost - out_cpost)
    a_dpre, i_dpre = eta(w_d, out_tpre - out_cpre)
    a_dt0, i_dt0 = eta(w_dt0, out_tpre - out_cpre)
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre) + (a_dpost - a_dt1) - (a_dpre - a_dt0)
    m_tpre, m_tpost, m_cpre, m_cpost = w_tpre.mean(), w_tpost.mean(), w_cpre.mean(), w_cpost.mean()
    inf_t = (i_tpost - i_tpre + rep_cpost @ (-_mean_x(w_tpost * post, x) / m_tpost)
             + rep_cpre @ (-_mean_x(w_tpre * pre, x) / m_tpre))
    mom_ps = (_mean_x(w_cpost * (y - out_c - a_cpost), x) / m_cpost
              - _mean_x(w_cpre * (y - out_c - a_cpre), x) / m_cpre)
    inf_c = (i_cpost - i_cpre + rep_ps @ mom_ps + rep_cpost @ (-_mean_x(w_cpost * post, x) / m_cpost)
             + rep_cpre @ (-_mean_x(w_cpre * pre, x) / m_cpre))
    inf_eff = i_dpost - i_dt1 - (i_dpre - i_dt0)
    mom_post = _mean_x(w_d / w_d.mean() - w_dt1 / w_dt1.mean(), x)
    mom_pre = _mean_x(w_d / w_d.mean() - w_dt0 / w_dt0.mean(), x)
    inf_or = (rep_tpost - rep_cpost) @ mom_post - (rep_tpre - rep_cpre) @ mom_pre
    return float(att), inf_t - inf_c + inf_eff + inf_or
