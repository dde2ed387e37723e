"""Figures of the official area lists (docs/areas.md): listed areas by year and the study areas' criteria.

Drawn from the released ``OUT/areas/areas.parquet``; withheld values are NaN
(gaps), never zeros. Labels come from style.toml ``[labels.<lang>.areas]``.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from analyses.figures import style as st

CRITERIA = ("outside_work_education", "non_western_origin", "convicted", "basic_education", "income_ratio")
STATUS_COLORS = {"listed": "#D55E00", "udsat": "#E69F00", "ghetto": "#D55E00", "haardeste": "#7F0000",
                 "eligible": "#0072B2"}


def listed_figure(areas: pl.DataFrame, *, style: dict[str, Any], lang: str = "en",
                  rules: list[str] | None = None) -> Figure:
    """Areas per status (other than none) and year, one panel per rule version."""
    lab = st.labels(style, lang)
    al = lab["areas"]
    rules = rules or sorted(areas["rule"].unique().to_list())
    years = sorted(int(y) for y in areas["year"].unique())
    fig, axes, lax = st.panel_grid(style, len(rules), sharey=False)
    handles: dict[str, Any] = {}
    x = np.asarray(years, dtype=float)
    for ax, rule in zip(axes, rules, strict=False):
        rows = areas.filter((pl.col("rule") == rule) & (pl.col("status") != "none"))
        statuses = [s for s in STATUS_COLORS if rows.filter(pl.col("status") == s).height]
        counts = rows.group_by("year", "status").len()
        bottom = np.zeros(len(years))
        for s in statuses:
            c = counts.filter(pl.col("status") == s)
            y = np.array([float(c.filter(pl.col("year") == yr)["len"].sum()) for yr in years])
            handles[s] = ax.bar(x, y, bottom=bottom, width=0.7, color=STATUS_COLORS[s], label=al["status"][s],
                                gid=f"{rule}-{s}")
            bottom = bottom + y
        ax.set_title(textwrap.fill(al["rules"].get(rule, rule), 30), loc="left", fontsize="x-small")
        _years(ax, years, lang, lab)
        ax.set_ylabel(al["areas"])
    st.grid_legend(lax, list(handles.values()), [al["status"][s] for s in handles], len(handles))
    fig.suptitle(al["listed_title"], x=0.01, ha="left")
    return fig


def criteria_figure(areas: pl.DataFrame, thresholds: dict[str, tuple[str, float]], *, rule: str,
                    study_areas: list[str], style: dict[str, Any], lang: str = "en") -> Figure:
    """Each criterion of ``rule`` for the study areas (one line per area) against its threshold (dashed).

    ``thresholds``: criterion -> (compare, threshold) of the rule version; a
    criterion relative to the national level has no fixed line and is drawn
    without one.
    """
    lab = st.labels(style, lang)
    al = lab["areas"]
    rows = areas.filter((pl.col("rule") == rule) & pl.col("area").is_in(study_areas))
    crits = [c for c in CRITERIA if c in thresholds]
    years = sorted(int(y) for y in rows["year"].unique()) if rows.height else []
    fig, axes, lax = st.panel_grid(style, len(crits), sharey=False)
    x = np.asarray(years, dtype=float)
    line = thr = None
    for ax, c in zip(axes, crits, strict=False):
        k = 1.0 if c == "income_ratio" else 100.0
        for area in study_areas:
            part = rows.filter(pl.col("area") == area)
            y = np.array([_value(part, yr, c) for yr in years]) * k
            line = ax.plot(x, y, color="#777777", linewidth=0.8, alpha=0.7)[0]
        compare, value = thresholds[c]
        if value is not None:
            thr = ax.axhline(value * k, color="#D55E00", linestyle="--", linewidth=1.2, gid=f"threshold-{c}")
        ax.set_title(textwrap.fill(al["criteria"][c], 30), loc="left", fontsize="x-small")
        _years(ax, years, lang, lab)
        if c == "income_ratio":
            ax.set_ylabel(al["ratio"])
        else:
            st.value_axis(ax, "share", lang, lab)
    handles = [h for h in (line, thr) if h is not None]
    names = [al["study_area"], al["threshold"]][: len(handles)]
    st.grid_legend(lax, handles, names, len(handles))
    fig.suptitle(al["criteria_title"].format(rule=al["rules"].get(rule, rule)), x=0.01, ha="left")
    return fig


def _years(ax: Any, years: list[int], lang: str, lab: dict[str, Any]) -> None:
    """Year axis for narrow panels: at most four labelled years."""
    st.year_axis(ax, years, lang, lab)
    if years:
        ax.set_xticks(years[:: max(1, -(-len(years) // 4))])


def _value(part: pl.DataFrame, year: int, column: str) -> float:
    v = part.filter(pl.col("year") == year)[column]
    return float(v[0]) if v.len() and v[0] is not None else float("nan")
