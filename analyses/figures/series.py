"""Trend figures: a measure of the four groups over the years (evaluation figures 7.1-7.12).

Each function returns a Matplotlib Figure so tests can read the plotted
values back (``ax.get_lines()[i].get_ydata()``); suppressed cells are NaN and
so break the line instead of dropping to zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from analyses.figures import style as st
from analyses.figures.tables import series


def group_note(lab: dict[str, Any], counts: dict[str, int], groups: list[str], *, population: str, lang: str
               ) -> str:
    """'Afdelinger per group: A 296; B 98 ...' in the order of the legend (movers: whose afdelinger)."""
    if not counts:
        return ""
    parts = "; ".join(f"{lab['groups'][g]} {st.number(counts[g], 0, lang=lang)}" for g in groups if g in counts)
    if population == "stock":
        return lab["note_counts"].format(counts=parts)
    movers = lab["populations"].get(population, population).capitalize()
    return lab["note_counts_movers"].format(counts=parts, movers=movers)


def title_of(lab: dict[str, Any], measure: str, population: str) -> str:
    """The evaluation's title of a trend figure, or a generic one for an added measure."""
    titles = lab.get("titles", {}).get(measure, {})
    if population in titles:
        return titles[population]
    name = lab["measures"].get(measure, measure.replace("_", " "))
    return f"{name}: {lab['populations'].get(population, population)}"


def measure_figure(measures: pl.DataFrame, *, measure: str, population: str, kind: str, style: dict[str, Any],
                   lang: str = "en", counts: dict[str, int] | None = None, years: list[int] | None = None
                   ) -> Figure:
    """One measure for one population (stock, in, out) of each group over the years.

    Examples
    --------
    >>> fig = measure_figure(df, measure="education", population="stock", kind="share",
    ...                      style=load_style())  # doctest: +SKIP
    """
    lab = st.labels(style, lang)
    groups = list(style["figure"]["groups"])
    if years is None:
        years = list(range(style["figure"]["first_year"], style["figure"]["last_year"] + 1))
    rows = measures.filter((pl.col("level") == "group") & (pl.col("measure") == measure)
                           & (pl.col("population") == population))
    fig, ax = st.new_figure(style)
    k = st.scale(kind)
    any_gap = False
    for g in groups:
        y = series(rows, years, key={"unit": g}) * k
        any_gap |= bool(rows.filter(pl.col("unit") == g).height) and bool(np.isnan(y).any())
        gs = style["groups"][g]
        ax.plot(years, y, color=gs["color"], marker=gs["marker"], linestyle=gs["linestyle"],
                label=lab["groups"][g], gid=g)
    st.year_axis(ax, years, lang, lab)
    st.value_axis(ax, kind, lang, lab)
    universe = lab.get("universe", {}).get(measure, "")
    sub = ". ".join(p for p in (universe, f"{years[0]}-{years[-1]}") if p)
    ax.set_title(f"{title_of(lab, measure, population)}\n{sub}", loc="left", fontsize="medium")
    st.legend_below(ax)
    notes = [group_note(lab, counts or {}, groups, population=population, lang=lang)]
    if any_gap:
        notes.append(lab["note_gaps"])
    notes.append(lab["source"])
    st.add_note(fig, notes)
    return fig


# ---------------------------------------------------------------- chapter 2
SERIES_CANDIDATES = ("series", "domain", "area", "sector", "scope", "comparison", "unit", "group")


def series_column(df: pl.DataFrame, style: dict[str, Any]) -> str | None:
    """The column of comparison.parquet naming the series (study, public housing, population)."""
    known = set(style["series"])
    for c in SERIES_CANDIDATES:
        if c in df.columns and df.schema[c] == pl.String and set(df[c].drop_nulls().unique()) & known:
            return c
    for c, t in df.schema.items():
        if t == pl.String and set(df[c].drop_nulls().unique()) & known:
            return c
    return None


def comparison_title(lab: dict[str, Any], name: str, kind: str, sep: str = ". ") -> str:
    """'<measure><sep>Study afdelinger, all public housing and the whole population. <unit>'."""
    unit = {"share": lab["percent_axis"], "kr": lab["kr_axis"]}.get(kind, "")
    return lab["comparison_title"].format(measure=name, sep=sep) + (f". {unit}" if unit else "")


def comparison_figure(comp: pl.DataFrame, *, measure: str, kind: str, style: dict[str, Any], lang: str = "en",
                      series_col: str = "series", extra_key: dict[str, Any] | None = None,
                      years: list[int] | None = None) -> Figure:
    """Chapter-2 style: study afdelinger, all public housing and the whole population over the years."""
    lab = st.labels(style, lang)
    rows = comp.filter(pl.col("measure") == measure)
    if extra_key:
        rows = rows.filter(pl.all_horizontal([pl.col(c) == v for c, v in extra_key.items()]))
    if years is None:
        years = sorted(int(y) for y in rows["year"].unique())
    fig, ax = st.new_figure(style)
    k = st.scale(kind)
    present = set(rows[series_col].unique())
    order = [s for s in style["series"] if s in present] + sorted(present - set(style["series"]))
    for s in order:
        y = series(rows, years, key={series_col: s}) * k
        ss = style["series"].get(s, {"color": "#666666", "marker": "x", "linestyle": "-"})
        ax.plot(years, y, color=ss["color"], marker=ss["marker"], linestyle=ss["linestyle"],
                label=lab["series"].get(s, s), gid=s)
    st.year_axis(ax, years, lang, lab)
    st.value_axis(ax, kind, lang, lab)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    ax.set_title(comparison_title(lab, name, kind, sep="\n"), loc="left", fontsize="medium")
    st.legend_below(ax, ncols=3)
    universe = lab.get("universe", {}).get(measure)  # the figure's population as the evaluation words it
    st.add_note(fig, [universe, lab["source"]] if universe else [lab["source"]])
    return fig
