"""Randomization inference: re-deal the adoption cohorts and recompute the estimate.

Under the sharp null of no effect, with adoption timing exchangeable among
the clusters (helhedsplaner), every re-dealing of the observed cohorts over
the clusters is as likely as the one observed. The p-value refers the
estimate to that distribution, so it holds its size with few treated
clusters, where cluster-robust t-tests over-reject. The dealing is the one
``AttGtResult.pretest`` uses (cohorts permuted over clusters when each
cluster has one cohort, over units otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from panel.errors import InputError


def cohort_dealer(cohort: np.ndarray, cluster: np.ndarray | None) -> Callable[[np.random.Generator], np.ndarray]:
    """A function rng -> the cohorts re-dealt at random (by cluster when cohorts are constant within clusters).

    ``cohort`` and ``cluster`` (integer codes 0..G-1) are per unit.
    """
    if cluster is not None:
        first = np.full(int(cluster.max()) + 1, -1, dtype=np.int64)
        first[cluster] = cohort  # some unit's cohort per cluster
        if np.array_equal(first[cluster], cohort):
            return lambda rng: rng.permutation(first)[cluster]
    return lambda rng: rng.permutation(cohort)


def ri_pvalue(
    estimate: Callable[[pl.DataFrame], float],
    data: pl.DataFrame,
    *,
    unit: str,
    cohort: str,
    cluster: str | None = None,
    permutations: int = 999,
    seed: int | None = None,
) -> dict[str, float]:
    """Two-sided randomization p-value (1 + #{|θ*| ≥ |θ|}) / (1 + P) of ``estimate(data)``.

    ``estimate`` gets ``data`` with ``cohort`` replaced by a re-dealing
    (cohort 0/null = never treated is dealt like any other cohort); columns
    derived from the cohort (treatment dummies) must be computed inside it.
    """
    for c in [unit, cohort] + ([cluster] if cluster else []):
        if c not in data.columns:
            raise InputError(f"ri_pvalue: column {c!r} not found", column=c)
    if permutations < 1:
        raise InputError(f"ri_pvalue: permutations must be positive, got {permutations}")
    cols = [unit, cohort] + ([cluster] if cluster else [])
    units = data.select(cols).with_columns(pl.col(cohort).cast(pl.Int64).fill_null(0)).unique().sort(unit)
    if units.get_column(unit).is_duplicated().any():
        bad = "cohort" if units.select(unit, cohort).unique().height > units.get_column(unit).n_unique() else "cluster"
        raise InputError(f"ri_pvalue: {bad} is not constant within {unit}",
                         column=cohort if bad == "cohort" else cluster)
    g = units.get_column(cohort).to_numpy()
    cl = np.unique(units.get_column(cluster).to_numpy(), return_inverse=True)[1].ravel() if cluster else None
    deal = cohort_dealer(g, cl)
    observed = float(estimate(data))
    rng = np.random.default_rng(seed)
    row_unit = data.select(pl.col(unit).rank("dense").cast(pl.Int64) - 1).to_series().to_numpy()
    dtype = data.schema[cohort]
    draws = np.empty(permutations)
    for b in range(permutations):
        new = deal(rng)[row_unit]
        draws[b] = estimate(data.with_columns(pl.Series(cohort, new).cast(dtype)))
    hits = int(np.sum(np.abs(draws) >= abs(observed) * (1 - 1e-10)))
    return {"estimate": observed, "p_value": (1 + hits) / (1 + permutations), "permutations": permutations}
