"""Resource-strong families, in-mover cohorts, length of residence and displacement (issue 18).

Drawn from the released household tables of ``OUT/measures/`` (``family_households``,
``family_cohorts``, ``displacement``; docs/flows.md), group-level rows only: no figure reads an
afdeling row. Each function returns a Figure; suppressed cells are NaN, so a gap, never a zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from analyses.figures import style as st
from analyses.figures.tables import series

BAND_COLOURS = ["#56B4E9", "#0072B2", "#000000", "#E69F00", "#D55E00"]


def _groups(style: dict[str, Any], rows: pl.DataFrame) -> list[str]:
    return [g for g in style["figure"]["groups"] if rows.filter(pl.col("unit") == g).height]


def _years(rows: pl.DataFrame) -> list[int]:
    return sorted(int(y) for y in rows["year"].unique())


def _group_lines(ax: Any, rows: pl.DataFrame, years: list[int], column: str, style: dict[str, Any],
                 lab: dict[str, Any], k: float) -> bool:
    """One line per group of ``column`` (times ``k``); whether any drawn point is a suppressed gap."""
    gap = False
    for g in style["figure"]["groups"]:
        sub = rows.filter(pl.col("unit") == g)
        y = series(sub, years, key={"unit": g}, y=column) * k
        gap |= bool(sub.height) and bool(np.isnan(y).any())
        gs = style["groups"][g]
        ax.plot(years, y, color=gs["color"], marker=gs["marker"], linestyle=gs["linestyle"],
                label=lab["groups"][g], gid=g)
    return gap


def _finish(fig: Figure, axes: list[Any], lax: Any, title: str, notes: list[str], lab: dict[str, Any]) -> Figure:
    st.outer_ylabels(axes)
    fig.suptitle(title, x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=2)
    st.add_note(fig, [*notes, lab["source"]])
    return fig


def _variant_note(lab: dict[str, Any], variant: str) -> str:
    return lab["households"]["variants"].get(variant, variant)


def family_rows(fh: pl.DataFrame, variant: str) -> pl.DataFrame:
    """The group-level rows of one definition variant (never an afdeling or the pooled series)."""
    return fh.filter((pl.col("level") == "group") & (pl.col("variant") == variant))


def families_figure(fh: pl.DataFrame, *, variant: str, style: dict[str, Any], lang: str = "en") -> Figure:
    """Families with children as a share of households, and resource-strong families as a share of families."""
    lab = st.labels(style, lang)
    hl = lab["households"]
    rows = family_rows(fh, variant).filter((pl.col("band") == "all") & (pl.col("outcome") == "households"))
    years = _years(rows)
    fig, axes, lax = st.panel_grid(style, 2, sharey=False)
    gap = False
    for ax, (cat, col, name) in zip(axes, (("family", "share", hl["family_share"]),
                                           ("family_rs", "of_families", hl["rs_of_families"])), strict=True):
        gap |= _group_lines(ax, rows.filter(pl.col("category") == cat), years, col, style, lab, 100.0)
        ax.set_title(name, loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "share", lang, lab)
    notes = [hl["stock_note"], _variant_note(lab, variant), lab["note_gaps"] if gap else ""]
    return _finish(fig, axes, lax, hl["families_title"], notes, lab)


def family_exits_figure(fh: pl.DataFrame, *, variant: str, style: dict[str, Any], lang: str = "en",
                        categories: list[str] | None = None) -> Figure:
    """Yearly share of the households of 31 Dec t-1 that moved out in year t, per household category."""
    lab = st.labels(style, lang)
    hl = lab["households"]
    rows = family_rows(fh, variant).filter((pl.col("band") == "all") & (pl.col("outcome") == "moved_out"))
    cats = [c for c in (categories or ["family_rs", "family_not_rs", "other"])
            if rows.filter(pl.col("category") == c).height]
    years = _years(rows)
    fig, axes, lax = st.panel_grid(style, len(cats))
    gap = False
    for ax, cat in zip(axes, cats, strict=False):
        gap |= _group_lines(ax, rows.filter(pl.col("category") == cat), years, "rate", style, lab, 100.0)
        ax.set_title(hl["categories"].get(cat, cat), loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "share", lang, lab)
    notes = [hl["exits_note"], _variant_note(lab, variant), lab["note_gaps"] if gap else ""]
    return _finish(fig, axes, lax, hl["exits_title"], notes, lab)


def band_figure(fh: pl.DataFrame, *, variant: str, category: str, outcome: str, style: dict[str, Any],
                lang: str = "en", bands: list[str] | None = None) -> Figure:
    """Households by length of residence (band shares stacked per year), one panel per group.

    ``outcome = "households"``: the stock of 31 Dec t-1; ``"moved_out"``: those that moved out in year t.
    """
    lab = st.labels(style, lang)
    hl = lab["households"]
    rows = family_rows(fh, variant).filter((pl.col("category") == category) & (pl.col("outcome") == outcome)
                                           & (pl.col("band") != "all"))
    bands = [b for b in (bands or list(style["tenure_bands"]["order"])) if rows.filter(pl.col("band") == b).height]
    groups = _groups(style, rows)
    years = _years(rows)
    fig, axes, lax = st.panel_grid(style, len(groups))
    x = np.asarray(years, dtype=float)
    for ax, g in zip(axes, groups, strict=False):
        bottom = np.zeros(len(years))
        for i, b in enumerate(bands):
            y = series(rows.filter(pl.col("unit") == g), years, key={"band": b}, y="band_share") * 100
            ax.bar(x, y, bottom=bottom, width=0.7, color=BAND_COLOURS[i % len(BAND_COLOURS)],
                   label=lab["bands"].get(b, b), gid=b)
            bottom = bottom + np.nan_to_num(y)
        ax.set_title(lab["groups"][g], loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "share", lang, lab)
        ax.set_ylim(0, 100)
    who = hl["categories"].get(category, category)
    title = (hl["stock_tenure_title"] if outcome == "households" else hl["exit_tenure_title"]).format(who=who)
    st.outer_ylabels(axes)
    fig.suptitle(title, x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=len(bands))
    st.add_note(fig, [hl["band_note"], "" if category == "all" else _variant_note(lab, variant), lab["source"]])
    return fig


def cohorts_figure(fc: pl.DataFrame, *, variant: str, category: str, style: dict[str, Any], lang: str = "en"
                   ) -> Figure:
    """Share of the in-mover households of year t still living there after each horizon, one panel each."""
    lab = st.labels(style, lang)
    hl = lab["households"]
    rows = fc.filter((pl.col("level") == "group") & (pl.col("variant") == variant)
                     & (pl.col("category") == category) & (pl.col("outcome") == "retained"))
    horizons = sorted(int(h) for h in rows["horizon"].unique())
    years = _years(rows)
    fig, axes, lax = st.panel_grid(style, len(horizons))
    gap = False
    for ax, h in zip(axes, horizons, strict=False):
        gap |= _group_lines(ax, rows.filter(pl.col("horizon") == h), years, "rate", style, lab, 100.0)
        ax.set_title((hl["after_one_year"] if h == 1 else hl["after_years"]).format(k=h), loc="left",
                     fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, "share", lang, lab)
        ax.set_xlabel(hl["cohort_axis"])
    title = hl["cohorts_title"].format(who=hl["categories"].get(category, category))
    notes = [hl["cohorts_note"], _variant_note(lab, variant), lab["note_gaps"] if gap else ""]
    return _finish(fig, axes, lax, title, notes, lab)


def displacement_figure(dp: pl.DataFrame, *, direction: str, measure: str, kind: str, style: dict[str, Any],
                        lang: str = "en") -> Figure:
    """A measure of the out-movers by destination (or the in-movers by origin), one panel per place."""
    lab = st.labels(style, lang)
    hl = lab["households"]
    dirs = ["out", "exit"] if direction == "out" else ["in"]
    rows = dp.filter((pl.col("level") == "group") & (pl.col("measure") == measure)
                     & pl.col("direction").is_in(dirs))
    order = list(style["displacement"]["out" if direction == "out" else "in"])
    places = [p for p in order if rows.filter(pl.col("place") == p).height]
    years = _years(rows)
    fig, axes, lax = st.panel_grid(style, len(places), ncols=min(3, max(1, len(places))))
    k = st.scale(kind)
    gap = False
    for ax, p in zip(axes, places, strict=False):
        gap |= _group_lines(ax, rows.filter(pl.col("place") == p), years, "value", style, lab, k)
        ax.set_title(hl["places"].get(p, p), loc="left", fontsize="small")
        st.year_axis(ax, years, lang, lab)
        ax.tick_params(axis="x", labelrotation=90)
        st.value_axis(ax, kind, lang, lab)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    title = (hl["out_title"] if direction == "out" else hl["in_title"]).format(measure=name)
    universe = lab.get("universe", {}).get(measure, "")
    note = hl["out_note"] if direction == "out" else hl["in_note"]
    return _finish(fig, axes, lax, title, [f"{universe}." if universe else "", note,
                                          lab["note_gaps"] if gap else ""], lab)
