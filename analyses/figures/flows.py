"""Where the change comes from: flow decomposition, retention and tenure figures.

Drawn from the released flow tables of ``OUT/measures/`` (docs/flows.md).
Each function returns a Figure; values in suppressed cells are NaN, so a
suppressed component is a missing bar segment, never a zero one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from analyses.figures import style as st
from analyses.figures.tables import series, series_many

COMPONENTS = ("stayers", "in_movers", "out_movers", "entries", "exits")


def decomposition_figure(dec: pl.DataFrame, *, measure: str, kind: str, style: dict[str, Any],
                         lang: str = "en", groups: list[str] | None = None) -> Figure:
    """Stacked components of the yearly change of a stock measure, one panel per group.

    Positive components stack upwards from zero and negative ones downwards;
    the black markers are the change itself (the sum of the components).
    Shares are drawn in percentage points.
    """
    lab = st.labels(style, lang)
    groups = groups or list(style["figure"]["decomposition_groups"])
    rows = dec.filter((pl.col("level") == "group") & (pl.col("measure") == measure))
    groups = [g for g in groups if rows.filter(pl.col("unit") == g).height]
    years = sorted(int(y) for y in rows["year"].unique())
    fig, axes, lax = st.panel_grid(style, len(groups))
    k = st.scale(kind)
    x = np.asarray(years, dtype=float)
    lims: list[tuple[float, float]] = []
    hidden = False
    for ax, g in zip(axes, groups, strict=False):
        pos = np.zeros(len(years))
        neg = np.zeros(len(years))
        values = series_many(rows, years, key={"unit": g}, columns=[*COMPONENTS, "change"])
        for comp in COMPONENTS:
            y = values[comp] * k
            hidden |= bool(np.isnan(y).any())
            down = y < 0  # NaN compares False: a suppressed component is a gap on the upward stack
            # one bar per year: upward from the positive stack or downward from the negative one
            bars = ax.bar(x, y, bottom=np.where(down, neg, pos), width=0.7, color=style["components"][comp],
                          label=lab["components"][comp])
            for bar, d in zip(bars, down, strict=True):
                bar.set_gid(f"{comp}-" if d else f"{comp}+")
            pos = pos + np.where(down, 0.0, np.nan_to_num(y))
            neg = neg + np.where(down, y, 0.0)
        change = values["change"] * k
        ax.plot(x, change, color="#000000", marker="D", linestyle="none", markersize=4, label=lab["change"],
                gid="change")
        ax.axhline(0, color="#000000", linewidth=0.7)
        lims.append((float(np.nanmin(np.r_[neg, change, 0.0])), float(np.nanmax(np.r_[pos, change, 0.0]))))
        ax.set_title(lab["groups"][g], loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, kind, lang, lab, change=True)
    if lims:  # stacked bars need explicit room: autoscaling stops at the bars' sticky edges
        lo, hi = min(a for a, _ in lims), max(b for _, b in lims)
        pad = 0.06 * ((hi - lo) or 1.0)
        axes[0].set_ylim(lo - pad, hi + pad)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    st.outer_ylabels(axes)
    fig.suptitle(lab["decomposition_title"].format(measure=name), x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    uniq = dict(zip(names, handles, strict=False))
    st.grid_legend(lax, list(uniq.values()), list(uniq.keys()), ncols=6)
    st.add_note(fig, [lab["note_hidden_parts"] if hidden else "", lab["source"]])
    return fig


def exit_rates(ret: pl.DataFrame) -> pl.DataFrame:
    """Rows with an ``exit_rate``: the long table's ``outcome == moved_out`` rate (docs/flows.md), or as is."""
    if "exit_rate" in ret.columns:
        return ret
    return ret.filter(pl.col("outcome") == "moved_out").rename({"rate": "exit_rate"})


def retention_figure(ret: pl.DataFrame, *, style: dict[str, Any], lang: str = "en",
                     categories: list[str] | None = None) -> Figure:
    """Yearly household exit rate by group, one panel per household category (in per cent)."""
    lab = st.labels(style, lang)
    rows = exit_rates(ret).filter(pl.col("level") == "group")
    present = list(dict.fromkeys(rows["category"].to_list()))
    cats = [c for c in (categories or ["all", "resource_strong", "not_resource_strong", "families_with_children"])
            if c in present]
    years = sorted(int(y) for y in rows["year"].unique())
    fig, axes, lax = st.panel_grid(style, len(cats))
    for ax, cat in zip(axes, cats, strict=False):
        sub = rows.filter(pl.col("category") == cat)
        for g in style["figure"]["groups"]:
            y = series(sub, years, key={"unit": g}, y="exit_rate") * 100
            gs = style["groups"][g]
            ax.plot(years, y, color=gs["color"], marker=gs["marker"], linestyle=gs["linestyle"],
                    label=lab["groups"][g], gid=g)
        ax.set_title(lab.get("categories", {}).get(cat, cat.replace("_", " ")), loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "share", lang, lab)
    st.outer_ylabels(axes)
    fig.suptitle(lab["retention_title"], x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=2)
    st.add_note(fig, [lab["source"]])
    return fig


def tenure_figure(ten: pl.DataFrame, *, style: dict[str, Any], lang: str = "en",
                  bands: list[str] | None = None) -> Figure:
    """Out-movers by length of stay: share per band, stacked per year, one panel per group."""
    lab = st.labels(style, lang)
    rows = ten.filter(pl.col("level") == "group")
    if "left_censored" in rows.columns:
        # pool censored and uncensored stays of a band: shares are of the unit's out-movers, so they add;
        # a suppressed part leaves the band's share unknown (a gap), never a smaller number
        rows = rows.group_by("unit", "year", "band").agg(
            pl.when(pl.col("share").is_null().any()).then(None).otherwise(pl.col("share").sum()).alias("share"))
    bands = bands or list(style.get("tenure_bands", {}).get("order", ["le2", "2to5", "gt5"]))
    bands = [b for b in bands if b in set(rows["band"].to_list())]
    groups = [g for g in style["figure"]["groups"] if rows.filter(pl.col("unit") == g).height]
    years = sorted(int(y) for y in rows["year"].unique())
    fig, axes, lax = st.panel_grid(style, len(groups))
    colours = ["#56B4E9", "#0072B2", "#000000", "#E69F00", "#D55E00"]
    x = np.asarray(years, dtype=float)
    for ax, g in zip(axes, groups, strict=False):
        bottom = np.zeros(len(years))
        for i, b in enumerate(bands):
            y = series(rows.filter(pl.col("unit") == g), years, key={"band": b}, y="share") * 100
            ax.bar(x, y, bottom=bottom, width=0.7, color=colours[i % len(colours)],
                   label=lab.get("bands", {}).get(b, b), gid=b)
            bottom = bottom + np.nan_to_num(y)
        ax.set_title(lab["groups"][g], loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "share", lang, lab)
        ax.set_ylim(0, 100)
    st.outer_ylabels(axes)
    fig.suptitle(lab["tenure_title"], x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=len(bands))
    st.add_note(fig, [lab["tenure_note"], lab["source"]])
    return fig
