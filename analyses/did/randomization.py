"""Randomization inference for att_gt's headline rows: cohorts re-dealt among the helhedsplaner.

With one to three afdelinger per TOOL_START cohort, often in a single
helhedsplan, the clustered influence-function SE of att_gt collapses (a
cohort's treated influence functions sum to about zero inside its cluster,
issue 15). The randomization p-value needs no variance: the simple ATT is
recomputed with the cohorts re-dealt at random among the clusters, which is
exact under the sharp null whenever adoption timing is exchangeable.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import polars as pl

from analyses.did.att_gt import AttGtResult, Units, compute_cells
from analyses.did.ri import cohort_dealer


def simple_att(table: pl.DataFrame, u: Units) -> float:
    """R aggte 'simple' from the cells: post-period ATT(g,t) weighted by their cohort's weighted size."""
    g = table.get_column("cohort").to_numpy()
    att = table.get_column("att").to_numpy()
    keep = table.get_column("post").to_numpy() & ~np.isnan(att)
    if not keep.any():
        return float("nan")
    cohorts, inv = np.unique(u.cohort, return_inverse=True)
    size = np.bincount(inv, weights=u.weight)
    w = size[np.searchsorted(cohorts, g[keep])]
    return float(w @ att[keep] / w.sum())


def ri_simple_p(res: AttGtResult, *, permutations: int, seed: int) -> float | None:
    """Randomization p-value of the simple ATT: |ATT| against the cohorts re-dealt among the helhedsplaner.

    Exact under the sharp null of no effect whenever adoption timing is
    exchangeable across clusters, however few clusters a cohort has (where the
    clustered influence-function SE collapses, issue 15).
    """
    u, opts = res.units, res.options
    obs = simple_att(res.table, u)
    if not np.isfinite(obs):
        return None
    rng = np.random.default_rng(seed)
    deal = cohort_dealer(u.cohort, u.cluster)
    hits = 0
    for _ in range(permutations):
        perm = replace(u, cohort=deal(rng))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab, _ = compute_cells(perm, control=opts["control"], base_period=opts["base_period"],
                                   anticipation=opts["anticipation"],
                                   allow_unbalanced=opts.get("allow_unbalanced", False),
                                   est_method=opts.get("est_method", "dr"),
                                   covariate_fallback=opts.get("covariate_fallback", "none"))
        stat = simple_att(tab, perm)
        hits += bool(np.isfinite(stat) and abs(stat) >= abs(obs) * (1 - 1e-12))
    return (1 + hits) / (1 + permutations)
