"""Segregation across a municipality's public-housing afdelinger, per municipality type (issue 18).

Drawn from ``OUT/measures/segregation_types`` (person-weighted means of the released municipality
indices per size class) and ``segregation_change`` (the change of M split as R ``segregation``'s
``mutual_difference`` does). queries/segregation_change.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analyses.figures import style as st
from analyses.figures.tables import series

TYPE_COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
TYPE_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
CHANGE_PARTS = ("group_marginal", "unit_marginal", "structural", "additions", "removals", "weights")
CHANGE_COLOURS = {"group_marginal": "#56B4E9", "unit_marginal": "#009E73", "structural": "#D55E00",
                  "additions": "#E69F00", "removals": "#CC79A7", "weights": "#999999"}


class FineFormatter(st.NumberFormatter):
    """Tick labels with as many decimals (up to 6) as the tick spacing needs: changes of M are small."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        finite = [v for v in self.locs if np.isfinite(v)]
        d = next((d for d in range(7) if all(abs(round(v, d) - v) <= 1e-12 for v in finite)), 6)
        return st.number(x, d, lang=self.lang)


def _fine_axis(ax: Any, lang: str) -> None:
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FineFormatter(lang))


def type_order(values: list[str]) -> list[str]:
    """Size classes small to large (``lt..`` first, then by lower bound, ``ge..`` last)."""
    def key(t: str) -> tuple[int, int]:
        if t.startswith("lt"):
            return (0, int(t[2:]) if t[2:].isdigit() else 0)
        if t.startswith("ge"):
            return (2, int(t[2:]) if t[2:].isdigit() else 0)
        head = t.split("_")[0]
        return (1, int(head) if head.isdigit() else 0)
    return sorted(dict.fromkeys(values), key=key)


def type_label(lab: dict[str, Any], t: str) -> str:
    """'Under 20,000 residents', '20,000-49,999 residents', ... in the number format of the language."""
    sl = lab["segregation"]
    num = lambda s: st.number(int(s), 0, lang=lab.get("_lang", "en"))  # noqa: E731
    if t.startswith("lt") and t[2:].isdigit():
        return sl["type_lt"].format(n=num(t[2:]))
    if t.startswith("ge") and t[2:].isdigit():
        return sl["type_ge"].format(n=num(t[2:]))
    lo, _, hi = t.partition("_")
    if lo.isdigit() and hi.isdigit():
        return sl["type_range"].format(lo=num(lo), hi=num(hi))
    return t


def _labels(style: dict[str, Any], lang: str) -> dict[str, Any]:
    return {**st.labels(style, lang), "_lang": lang}


def index_figure(types: pl.DataFrame, *, index: str, style: dict[str, Any], lang: str = "en") -> Figure:
    """One segregation index per trait (panels) and municipality size class (lines) over the years."""
    lab = _labels(style, lang)
    sl = lab["segregation"]
    rows = types.filter(pl.col("index") == index)
    traits = [t for t in style["segregation"]["traits"] if rows.filter(pl.col("trait") == t).height]
    kinds = type_order(rows["kom_type"].to_list())
    years = sorted(int(y) for y in rows["year"].unique())
    fig, axes, lax = st.panel_grid(style, len(traits))
    for ax, trait in zip(axes, traits, strict=False):
        sub = rows.filter(pl.col("trait") == trait)
        for i, t in enumerate(kinds):
            y = series(sub, years, key={"kom_type": t})
            ax.plot(years, y, color=TYPE_COLOURS[i % len(TYPE_COLOURS)], marker=TYPE_MARKERS[i % len(TYPE_MARKERS)],
                    label=type_label(lab, t), gid=t)
        ax.set_title(sl["traits"].get(trait, trait), loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "number", lang, lab)
        _fine_axis(ax, lang)
        ax.set_ylabel(sl["indices"].get(index, index))
    st.outer_ylabels(axes)
    fig.suptitle(sl["index_title"].format(index=sl["indices"].get(index, index)), x=0.01, ha="left",
                 fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=min(2, len(kinds)))
    st.add_note(fig, [sl["units_note"], sl["types_note"], sl["traits_note"], lab["source"]])
    return fig


def change_figure(change: pl.DataFrame, *, style: dict[str, Any], lang: str = "en") -> Figure:
    """The change of M between two years per size class: stacked components, the change as a marker."""
    lab = _labels(style, lang)
    sl = lab["segregation"]
    rows = change.filter(pl.col("level") == "kom_type")
    y1, y2 = int(rows["year1"].min()), int(rows.filter(pl.col("year1") == rows["year1"].min())["year2"].max())
    rows = rows.filter((pl.col("year1") == y1) & (pl.col("year2") == y2))
    traits = [t for t in style["segregation"]["traits"] if rows.filter(pl.col("trait") == t).height]
    kinds = type_order(rows["kom_type"].to_list())
    fig, axes, lax = st.panel_grid(style, len(traits))
    x = np.arange(len(kinds), dtype=float)
    for ax, trait in zip(axes, traits, strict=False):
        sub = rows.filter(pl.col("trait") == trait)

        def value(t: str, stat: str, sub: pl.DataFrame = sub) -> float:
            v = sub.filter((pl.col("kom_type") == t) & (pl.col("stat") == stat))["value"]
            return float(v[0]) if v.len() and v[0] is not None else np.nan
        pos, neg = np.zeros(len(kinds)), np.zeros(len(kinds))
        for part in CHANGE_PARTS:
            y = np.array([value(t, part) for t in kinds])
            down = y < 0
            bars = ax.bar(x, y, bottom=np.where(down, neg, pos), width=0.6, color=CHANGE_COLOURS[part],
                          label=sl["parts"][part])
            for bar, d in zip(bars, down, strict=True):
                bar.set_gid(f"{part}-" if d else f"{part}+")
            pos = pos + np.where(down, 0.0, np.nan_to_num(y))
            neg = neg + np.where(down, np.nan_to_num(y), 0.0)
        diff = np.array([value(t, "diff") for t in kinds])
        ax.plot(x, diff, color="#000000", marker="D", linestyle="none", markersize=4, label=sl["parts"]["diff"],
                gid="diff")
        ax.axhline(0, color="#000000", linewidth=0.7)
        ax.set_xticks(x, [type_label(lab, t) for t in kinds], rotation=30, ha="right", fontsize="x-small")
        ax.set_title(sl["traits"].get(trait, trait), loc="left", fontsize="small")
        st.value_axis(ax, "number", lang, lab)
        _fine_axis(ax, lang)
        ax.set_ylabel(sl["change_axis"])
    st.outer_ylabels(axes)
    fig.suptitle(sl["change_title"].format(y1=y1, y2=y2), x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=4)
    st.add_note(fig, [sl["change_note"], sl["types_note"], lab["source"]])
    return fig
