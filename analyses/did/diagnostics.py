"""TWFE diagnostics of the pipeline: the Goodman-Bacon decomposition of each balanced stock panel.

:func:`bacon_rows` gives the rows of ``OUT/did/bacon.csv`` (one per 2x2 comparison:
its type, treated and control cohort, weight and estimate, and the clusters and
person-years of the two cohorts, so the minimum-cluster rule can be applied to the
2x2 exactly as to an estimate) and the line for summary.txt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from panel.errors import SocialmixError

BACON_COLUMNS = ("measure", "population", "comparison", "type", "treated", "control", "weight", "estimate",
                 "twfe", "n_clusters_treated", "n_clusters_control", "n_obs")
BACON_SCHEMA = {"measure": pl.String, "population": pl.String, "comparison": pl.String, "type": pl.String,
                "treated": pl.Int64, "control": pl.Int64, "weight": pl.Float64, "estimate": pl.Float64,
                "twfe": pl.Float64, "n_clusters_treated": pl.Int64, "n_clusters_control": pl.Int64,
                "n_obs": pl.Int64}


def bacon_rows(cells: pl.DataFrame, *, unit: str, time: str, cluster: str,
               count: str = "n") -> tuple[list[dict[str, Any]], list[str]]:
    """The 2x2 comparisons behind the unweighted afdeling-year TWFE of ``cells`` (y, cohort) and a summary line.

    Balanced panels only (the stock); otherwise no rows and a line saying why.
    Cohorts outside the panel's periods count as untreated, as in
    :func:`analyses.did.bacon.bacon`, and their clusters are counted so too.
    """
    from analyses.did.bacon import bacon

    per_unit = cells.group_by(unit).len()
    if per_unit.get_column("len").n_unique() != 1:
        return [], ["  goodman-bacon: not computed (the panel is not balanced)"]
    try:
        b = bacon(cells, outcome="y", unit=unit, time=time, cohort="cohort")
    except (SocialmixError, ValueError, np.linalg.LinAlgError) as err:
        return [], [f"  goodman-bacon: not computed ({err})"]
    lo, hi = cells.get_column(time).min(), cells.get_column(time).max()
    g = pl.col("cohort").fill_null(0)
    per = (cells.with_columns(pl.when((g <= lo) | (g > hi)).then(0).otherwise(g).alias("_g"))
           .group_by("_g").agg(pl.col(cluster).n_unique().alias("clusters"), pl.col(count).sum().alias("obs")))
    clusters = dict(per.select("_g", "clusters").iter_rows())
    obs = dict(per.select("_g", "obs").iter_rows())
    rows = [dict(type=t, treated=tr, control=c, weight=w, estimate=e, twfe=b.twfe,
                 n_clusters_treated=clusters.get(tr, 0), n_clusters_control=clusters.get(c, 0),
                 n_obs=int(obs.get(tr, 0) + obs.get(c, 0)))
            for t, tr, c, w, e in b.table.iter_rows()]
    by = b.table.group_by("type").agg(pl.col("weight").sum(), (pl.col("weight") * pl.col("estimate")).sum()
                                      .alias("wsum")).sort("type")
    parts = ", ".join(f"{t} weight {w:.3f} (mean 2x2 {ws / w: .4f})" for t, w, ws in by.iter_rows() if w > 0)
    return rows, [f"  goodman-bacon (unweighted TWFE {b.twfe: .4f}): {parts}; weight on already-treated controls "
                  f"{b.weight_already_treated:.3f} (did/bacon.csv)"]
