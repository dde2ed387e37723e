"""Figures of the issue-18 tables: plotted values equal the hand-written table values, group rows only.

Every expected number is read off the small tables written here (in per cent where the figure draws
per cent); afdeling rows and the pooled study series must never reach a figure.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from analyses.figures import households as fh
from analyses.figures import segregation as fseg
from analyses.figures import style as st

STYLE = st.load_style()


def _line(ax, gid):
    found = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1
    return np.asarray(found[0].get_ydata(), dtype=float)


def _family_households() -> pl.DataFrame:
    cols = ["level", "unit", "year", "variant", "category", "band", "outcome", "share", "of_families", "rate",
            "band_share", "suppressed"]
    rows = [
        ("group", "any_tool", 2005, "cfbu2017", "family", "all", "households", 0.25, None, None, 1.0, False),
        ("group", "any_tool", 2006, "cfbu2017", "family", "all", "households", None, None, None, None, True),
        ("group", "any_tool", 2005, "cfbu2017", "family_rs", "all", "households", 0.15, 0.6, None, 1.0, False),
        ("group", "any_tool", 2006, "cfbu2017", "family_rs", "all", "households", 0.16, 0.64, None, 1.0, False),
        ("group", "any_tool", 2005, "cfbu2017", "family_rs", "all", "moved_out", 0.01, None, 0.12, 1.0, False),
        ("group", "any_tool", 2006, "cfbu2017", "family_rs", "all", "moved_out", 0.01, None, 0.10, 1.0, False),
        ("group", "any_tool", 2005, "cfbu2017", "family_rs", "le2", "moved_out", None, None, None, 0.46, False),
        ("group", "any_tool", 2005, "cfbu2017", "family_rs", "2to5", "moved_out", None, None, None, 0.25, False),
        ("group", "any_tool", 2005, "cfbu2017", "family_rs", "gt5", "moved_out", None, None, None, 0.29, False),
        ("group", "neither", 2005, "cfbu2017", "family", "all", "households", 0.30, None, None, 1.0, False),
        ("group", "neither", 2006, "cfbu2017", "family", "all", "households", 0.31, None, None, 1.0, False),
        # another variant and the pooled series: never drawn
        ("group", "neither", 2005, "cfbu2018", "family", "all", "households", 0.99, None, None, 1.0, False),
        ("comparison", "study", 2005, "cfbu2017", "family", "all", "households", 0.77, None, None, 1.0, False),
    ]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.col("year").cast(pl.Int32))


def test_families_shares_in_per_cent_and_gap():
    fig = fh.families_figure(_family_households(), variant="cfbu2017", style=STYLE)
    share, rs = fig.axes[0], fig.axes[1]
    assert _line(share, "any_tool")[0] == pytest.approx(25.0)
    assert math.isnan(_line(share, "any_tool")[1])  # suppressed: a gap
    assert _line(share, "neither") == pytest.approx([30.0, 31.0])
    assert _line(rs, "any_tool") == pytest.approx([60.0, 64.0])


def test_family_exit_rate_and_bands():
    fig = fh.family_exits_figure(_family_households(), variant="cfbu2017", style=STYLE, categories=["family_rs"])
    assert _line(fig.axes[0], "any_tool") == pytest.approx([12.0, 10.0])
    fig = fh.band_figure(_family_households(), variant="cfbu2017", category="family_rs", outcome="moved_out",
                         style=STYLE)
    heights = {p.get_gid(): p.get_height() for p in fig.axes[0].patches}
    assert heights == pytest.approx({"le2": 46.0, "2to5": 25.0, "gt5": 29.0})


def test_cohort_retention_per_horizon():
    rows = [("group", "neither", 2005, "cfbu2017", "family_rs", h, "retained", r, False)
            for h, r in ((1, 0.9), (3, 0.7), (5, 0.5))]
    rows += [("afdeling", "A", 2005, "cfbu2017", "family_rs", 1, "retained", 0.1, False)]
    fc = pl.DataFrame(rows, schema=["level", "unit", "year", "variant", "category", "horizon", "outcome", "rate",
                                    "suppressed"], orient="row").with_columns(pl.col("year").cast(pl.Int32))
    fig = fh.cohorts_figure(fc, variant="cfbu2017", category="family_rs", style=STYLE)
    got = [_line(ax, "neither")[0] for ax in fig.axes[:3]]
    assert got == pytest.approx([90.0, 70.0, 50.0])


def test_displacement_panels_by_place():
    rows = [("group", "neither", 2005, "out", "employment", "all", 0.5, False),
            ("group", "neither", 2005, "out", "employment", "private_housing", 0.7, False),
            ("group", "neither", 2005, "exit", "employment", "exit", 0.2, False),
            ("group", "neither", 2005, "in", "employment", "abroad", 0.3, False),
            ("comparison", "study", 2005, "out", "employment", "all", 0.9, False)]
    dp = pl.DataFrame(rows, schema=["level", "unit", "year", "direction", "measure", "place", "value", "suppressed"],
                      orient="row").with_columns(pl.col("year").cast(pl.Int32))
    fig = fh.displacement_figure(dp, direction="out", measure="employment", kind="share", style=STYLE)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_lines()]
    lab = STYLE["labels"]["en"]["households"]["places"]
    assert titles == [lab["all"], lab["private_housing"], lab["exit"]]
    values = [_line(ax, "neither")[0] for ax in fig.axes if ax.get_lines()]
    assert values == pytest.approx([50.0, 70.0, 20.0])
    fig = fh.displacement_figure(dp, direction="in", measure="employment", kind="share", style=STYLE, lang="da")
    assert [_line(ax, "neither")[0] for ax in fig.axes if ax.get_lines()] == pytest.approx([30.0])


def test_segregation_types_lines_and_labels():
    types = pl.DataFrame({"kom_type": ["lt20000", "lt20000", "ge20000"], "year": [2004, 2005, 2004],
                          "trait": ["non_western"] * 3, "index": ["dissimilarity"] * 3, "value": [0.4, 0.35, 0.5]}
                         ).with_columns(pl.col("year").cast(pl.Int32))
    fig = fseg.index_figure(types, index="dissimilarity", style=STYLE, lang="da")
    ax = fig.axes[0]
    assert _line(ax, "lt20000") == pytest.approx([0.4, 0.35])
    assert _line(ax, "ge20000")[0] == pytest.approx(0.5) and math.isnan(_line(ax, "ge20000")[1])
    names = ax.get_legend_handles_labels()[1]
    assert names == ["Under 20.000 indbyggere", "20.000 indbyggere eller flere"]  # Danish thousands


def test_segregation_change_bars_stack():
    stats = {"diff": -0.01, "group_marginal": 0.002, "unit_marginal": -0.004, "structural": -0.008,
             "additions": 0.0, "removals": 0.0, "weights": 0.0}
    change = pl.DataFrame({"level": "kom_type", "kom_type": "lt20000", "trait": "non_western", "year1": 2004,
                           "year2": 2013, "stat": list(stats), "value": list(stats.values())})
    fig = fseg.change_figure(change, style=STYLE)
    ax = fig.axes[0]
    bars = {p.get_gid(): (p.get_y(), p.get_height()) for p in ax.patches}
    assert bars["group_marginal+"] == pytest.approx((0.0, 0.002))
    assert bars["unit_marginal-"] == pytest.approx((0.0, -0.004))
    assert bars["structural-"] == pytest.approx((-0.004, -0.008))  # stacked below the unit part
    assert _line(ax, "diff")[0] == pytest.approx(-0.01)


def test_type_order_small_to_large():
    assert fseg.type_order(["ge100000", "20000_49999", "lt20000", "50000_99999"]) == [
        "lt20000", "20000_49999", "50000_99999", "ge100000"]


def test_fine_ticks_keep_small_steps():
    f = fseg.FineFormatter("da")
    f.set_locs([-0.0004, -0.0002, 0.0, 0.0002])
    assert [f(x) for x in (-0.0004, 0.0002)] == ["-0,0004", "0,0002"]
