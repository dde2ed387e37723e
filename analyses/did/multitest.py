"""Multiple-testing adjustments for families of DiD estimates.

``adjust_pvalues`` wraps statsmodels (Holm, Benjamini–Hochberg, Bonferroni)
and leaves missing p-values missing. ``romano_wolf`` is the stepdown of
Romano & Wolf (2005) on bootstrap t-statistics drawn jointly for all
hypotheses (the same cluster weights for every hypothesis, so their
dependence is kept): it controls the family-wise error rate and is less
conservative than Holm when the estimates are correlated, as event-study
coefficients are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from panel.errors import InputError

METHODS = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni"}


def adjust_pvalues(p: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values (same order); NaN entries stay NaN and do not count in the family."""
    from statsmodels.stats.multitest import multipletests

    if method not in METHODS:
        raise InputError(f"adjust_pvalues: method must be one of {', '.join(METHODS)}, got {method!r}")
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise InputError("adjust_pvalues: p-values must lie in [0, 1]")
    if ok.any():
        out[ok] = multipletests(p[ok], method=METHODS[method])[1]
    return out


def romano_wolf(t_obs: Sequence[float] | np.ndarray, t_boot: np.ndarray) -> np.ndarray:
    """Romano–Wolf stepdown adjusted p-values from null-imposed (or centred) bootstrap t-statistics.

    ``t_boot`` is draws × hypotheses, each row one common bootstrap draw.
    Hypotheses are taken in decreasing |t|; the j-th gets the share of draws
    whose largest |t*| over the hypotheses not yet rejected (j and the less
    significant ones) reaches |t_j|, made monotone by a running maximum.
    """
    t = np.abs(np.asarray(t_obs, dtype=float))
    tb = np.abs(np.asarray(t_boot, dtype=float))
    if tb.ndim != 2 or tb.shape[1] != len(t):
        raise InputError(f"romano_wolf: t_boot must be draws x {len(t)} hypotheses, got shape {tb.shape}")
    order = np.argsort(-t, kind="stable")
    # running max over the remaining (less significant) hypotheses, from the last one backwards
    tail_max = np.maximum.accumulate(tb[:, order[::-1]], axis=1)[:, ::-1]
    p_sorted = (tail_max >= t[order][None, :] * (1 - 1e-10)).mean(axis=0)  # ties count, as in wild
    p_sorted = np.maximum.accumulate(p_sorted)
    out = np.empty(len(t))
    out[order] = p_sorted
    return out
