"""Goodman-Bacon figure: each 2x2 comparison behind the TWFE effect, its estimate against its weight.

Drawn from the released ``did/bacon.csv`` (:mod:`analyses.did.diagnostics`): one panel per comparison
(tool group vs neither) of one measure on the resident stock; one marker per 2x2 (gid = its type),
the comparisons with already-treated afdelinger as controls drawn hollow in their own colour, and the
TWFE coefficient (the weighted mean of the 2x2s) as a dashed line. A 2x2 withheld by the
minimum-cluster rule has no estimate and is not drawn; the note gives its weight.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from analyses.figures import style as st

TYPES = ("treated_vs_never", "earlier_vs_later", "later_vs_earlier")  # the last: already-treated controls
ALREADY_TREATED = "later_vs_earlier"


def bacon_points(bacon: pl.DataFrame, *, measure: str, population: str, comparison: str) -> pl.DataFrame:
    """The 2x2 rows of one panel (type, weight, estimate), in the order drawn."""
    return (bacon.filter((pl.col("measure") == measure) & (pl.col("population") == population)
                         & (pl.col("comparison") == comparison))
            .with_columns(pl.col("weight").cast(pl.Float64), pl.col("estimate").cast(pl.Float64))
            .sort("type", "treated", "control"))


def bacon_figure(bacon: pl.DataFrame, *, measure: str, population: str, kind: str, style: dict[str, Any],
                 lang: str = "en") -> Figure:
    """2x2 estimate (y) against weight (x) for every comparison of one measure and population."""
    lab = st.labels(style, lang)
    bl = lab["bacon"]
    rows = bacon.filter((pl.col("measure") == measure) & (pl.col("population") == population))
    present = set(rows["comparison"].to_list())
    comps = [c for c in style["figure"]["comparisons"] if c in present] + sorted(
        present - set(style["figure"]["comparisons"]))
    fig, axes, lax = st.panel_grid(style, len(comps))
    k = st.scale(kind)
    seen: dict[str, Any] = {}
    withheld = []
    for ax, comp in zip(axes, comps, strict=False):
        r = bacon_points(bacon, measure=measure, population=population, comparison=comp)
        for t in TYPES:
            p = r.filter((pl.col("type") == t) & pl.col("estimate").is_not_null())
            if not p.height:
                continue
            ts = style["bacon"][t]
            hollow = t == ALREADY_TREATED
            (h,) = ax.plot(p["weight"].to_numpy(), p["estimate"].to_numpy() * k, linestyle="none",
                           marker=ts["marker"], color=ts["color"], markersize=6,
                           markerfacecolor="white" if hollow else ts["color"], gid=t)
            seen.setdefault(t, h)
        gone = r.filter(pl.col("estimate").is_null())
        if gone.height:
            withheld.append((lab["groups"].get(comp, comp), gone.height, float(gone["weight"].sum())))
        twfe = r["twfe"].drop_nulls()
        if twfe.len():
            ax.axhline(float(twfe[0]) * k, color="#000000", linestyle="--", linewidth=0.9, gid="twfe")
        ax.axhline(0, color="#888888", linewidth=0.6)
        late = float(r.filter(pl.col("type") == ALREADY_TREATED)["weight"].sum())
        ax.set_xlim(0, max(0.05, float(np.nanmax(r["weight"].to_numpy(), initial=0.0)) * 1.1))
        ax.set_title(textwrap.fill(lab["versus"].format(group=lab["groups"].get(comp, comp)), 40) + "\n"
                     + bl["already_weight"].format(share=st.number(late * 100, 0, lang=lang)),
                     loc="left", fontsize="small")
        ax.set_xlabel(bl["weight_axis"], fontsize="small")
        ax.xaxis.set_major_formatter(st.NumberFormatter(lang, 2))
        st.value_axis(ax, kind, lang, lab, change=True)
    st.outer_ylabels(axes)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    fig.suptitle(bl["title"].format(measure=name, population=lab["populations"].get(population, population)),
                 x=0.01, ha="left", fontsize="medium")
    handles = [seen[t] for t in TYPES if t in seen]
    st.grid_legend(lax, handles, [bl[t] for t in TYPES if t in seen], ncols=1)  # the labels are long
    note = [bl["note"]] + [bl["withheld"].format(group=g, n=n, weight=st.number(w * 100, 0, lang=lang))
                           for g, n, w in withheld]
    st.add_note(fig, note + [lab["source"]])
    return fig
