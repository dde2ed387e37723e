"""The Goodman-Bacon figure plots exactly bacon.py's 2x2s: weights summing to 1, estimates in pp, TWFE line."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analyses.did import bacon, twfe
from analyses.did.diagnostics import bacon_rows
from analyses.figures.bacon import TYPES, bacon_figure
from analyses.figures.style import load_style


def tiny() -> pl.DataFrame:
    """8 units in 4 clusters, years 2000-2005; cohorts 2002 (2 units), 2004 (2 units), never (4 units)."""
    rng = np.random.default_rng(3)
    g = np.array([2002, 2002, 2004, 2004, 0, 0, 0, 0])
    years = np.arange(2000, 2006)
    u = np.repeat(np.arange(8), len(years))
    t = np.tile(years, 8)
    gg = g[u]
    d = ((gg > 0) & (t >= gg)).astype(float)
    y = 0.05 * d * (1 + (t - gg).clip(0)) + 0.01 * (t - 2000) + rng.normal(scale=0.02, size=len(u))
    return pl.DataFrame({"afdeling_id": u, "year": t, "cohort": gg, "d": d, "y": y,
                         "cluster": u // 2, "n": np.full(len(u), 10)})


def released(cells: pl.DataFrame) -> pl.DataFrame:
    rows, _ = bacon_rows(cells, unit="afdeling_id", time="year", cluster="cluster")
    return pl.DataFrame([{"measure": "employment", "population": "stock", "comparison": "any_tool", **r}
                         for r in rows])


def plotted(fig) -> list[tuple[str, float, float]]:
    ax = fig.axes[0]
    return [(ln.get_gid(), float(x), float(y)) for ln in ax.get_lines() if ln.get_gid() in TYPES
            for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True)]


def test_plotted_weights_sum_to_one_and_are_bacons():
    cells = tiny()
    ref = bacon(cells, outcome="y", unit="afdeling_id", time="year", cohort="cohort")
    fig = bacon_figure(released(cells), measure="employment", population="stock", kind="share",
                       style=load_style(), lang="en")
    pts = plotted(fig)
    assert sum(w for _, w, _ in pts) == pytest.approx(1.0, abs=1e-12)
    want = sorted((t, w, 100 * e) for t, _, _, w, e in ref.table.iter_rows())
    got = sorted(pts)
    assert [g[0] for g in got] == [w[0] for w in want]
    assert np.allclose([g[1:] for g in got], [w[1:] for w in want], atol=1e-12)
    # two cohorts and a never-treated group: 2 + 1 + 1 comparisons
    assert [g[0] for g in got].count("treated_vs_never") == 2
    # the dashed line is the TWFE coefficient (in pp), which is the weighted mean of the 2x2s
    tw = twfe(cells, outcome="y", unit="afdeling_id", time="year", treat="d").coef
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "twfe")
    assert line.get_ydata()[0] == pytest.approx(100 * tw, abs=1e-10)
    # the already-treated comparison is drawn hollow
    late = next(ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "later_vs_earlier")
    assert late.get_markerfacecolor() == "white"


def test_cluster_counts_and_withheld_rows():
    cells = tiny()
    rel = released(cells)
    # cohort 2002 = units 0, 1 = cluster 0; cohort 2004 = units 2, 3 = cluster 1; never = clusters 2, 3;
    # person-years: 2 units x 6 years x 10 per cohort, 4 x 6 x 10 never treated
    by = {(r["treated"], r["control"]): (r["n_clusters_treated"], r["n_clusters_control"], r["n_obs"])
          for r in rel.iter_rows(named=True)}
    assert by == {(2002, 0): (1, 2, 360), (2004, 0): (1, 2, 360), (2002, 2004): (1, 1, 240),
                  (2004, 2002): (1, 1, 240)}
    gone = rel.with_columns(pl.when(pl.col("type") == "later_vs_earlier").then(None)
                            .otherwise(pl.col("estimate")).alias("estimate"))
    fig = bacon_figure(gone, measure="employment", population="stock", kind="share", style=load_style(), lang="da")
    assert {g for g, _, _ in plotted(fig)} == {"treated_vs_never", "earlier_vs_later"}
    assert "1 sammenligninger" in fig.get_supxlabel().replace("\n", " ")
