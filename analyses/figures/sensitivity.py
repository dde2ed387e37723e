"""HonestDiD figure: the robust 95 % interval of the event-study effect against the allowed violation M.

Drawn from the released ``did/sensitivity.csv``: one panel per comparison, the original interval at the left
(grey) and the robust interval for every M; an interval that crosses zero says the result does not survive
that much deviation from parallel trends.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from analyses.figures import style as st

METHOD_AXIS = {"smoothness": "M", "relative_magnitude": "M̄"}


def sensitivity_figure(sens: pl.DataFrame, *, measure: str, population: str, method: str, kind: str,
                       style: dict[str, Any], lang: str = "en") -> Figure:
    """Robust intervals over M for every comparison of one measure and population."""
    lab = st.labels(style, lang)
    rows = sens.filter((pl.col("measure") == measure) & (pl.col("population") == population)
                       & (pl.col("method") == method))
    comps = [c for c in style["figure"]["comparisons"] if rows.filter(pl.col("comparison") == c).height]
    fig, axes, lax = st.panel_grid(style, len(comps))
    k = st.scale(kind)
    handles = []
    for ax, comp in zip(axes, comps, strict=False):
        r = rows.filter(pl.col("comparison") == comp).sort("m")
        ms = r["m"].to_numpy()
        x = np.arange(len(ms)) + 1.0
        lo, hi = r["ci_low"].to_numpy() * k, r["ci_high"].to_numpy() * k
        h1 = ax.vlines(x, lo, hi, color="#0072B2", linewidth=2.5, gid="robust")
        h0 = ax.vlines([0.0], [r["original_low"][0] * k], [r["original_high"][0] * k], color="#777777",
                       linewidth=2.5, gid="original")
        ax.axhline(0, color="#000000", linewidth=0.7)
        ax.set_xticks([0.0, *x], [lab["sensitivity"]["original"], *(f"{m:g}" for m in ms)], fontsize="x-small")
        ax.set_xlabel(METHOD_AXIS.get(method, "M"))
        ax.set_title(textwrap.fill(lab["groups"].get(comp, comp), 30), loc="left", fontsize="small")
        st.value_axis(ax, kind, lang, lab, change=True)
        handles = [h0, h1]
    st.grid_legend(lax, handles, [lab["sensitivity"]["original"], lab["sensitivity"]["robust"]], 2)
    name = lab["measures"].get(measure, measure)
    fig.suptitle(lab["sensitivity"]["title"].format(measure=name, method=lab["sensitivity"][method]),
                 x=0.01, ha="left", fontsize="medium")
    st.add_note(fig, [lab["sensitivity"]["note"]])
    return fig
