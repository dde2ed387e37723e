"""Area figures: the bars count the released statuses; the threshold lines sit at the rule's thresholds."""

from __future__ import annotations

import polars as pl

from analyses.figures.areas import criteria_figure, listed_figure
from analyses.figures.style import load_style


def _areas() -> pl.DataFrame:
    rows = []
    for area, statuses in {"A": ["none", "udsat", "ghetto"], "B": ["udsat", "udsat", "none"],
                           "C": ["ghetto", "ghetto", "haardeste"]}.items():
        for year, status in zip((2011, 2012, 2013), statuses, strict=True):
            rows.append({"area": area, "year": year, "rule": "2018", "status": status,
                         "outside_work_education": 0.3 + 0.05 * (year - 2011), "non_western_origin": None,
                         "convicted": 0.02, "basic_education": 0.5, "income_ratio": 0.6})
    return pl.DataFrame(rows)


def test_listed_figure_counts_statuses():
    fig = listed_figure(_areas(), style=load_style(), lang="en")
    heights = {}
    for bar in fig.axes[0].patches:
        heights.setdefault(bar.get_gid(), []).append(bar.get_height())
    # 2011: B udsat, C ghetto; 2012: A udsat, B udsat, C ghetto; 2013: A ghetto, C haardeste
    assert heights["2018-udsat"] == [1, 2, 0]
    assert heights["2018-ghetto"] == [1, 1, 1]
    assert heights["2018-haardeste"] == [0, 0, 1]


def test_criteria_figure_thresholds_and_gaps():
    thr = {"outside_work_education": (">", 0.40), "convicted": (">=", None), "non_western_origin": (">", 0.5)}
    fig = criteria_figure(_areas(), thr, rule="2018", study_areas=["A", "C"], style=load_style(), lang="da")
    ax_owe = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax_owe.get_lines()}
    assert lines["threshold-outside_work_education"].get_ydata()[0] == 40.0
    # the relative conviction criterion has no fixed line
    assert not [ln for ln in fig.axes[2].get_lines() if (ln.get_gid() or "").startswith("threshold")]
    # a withheld (null) value is a gap, never zero
    nw = [ln for ln in fig.axes[1].get_lines() if ln.get_gid() is None]
    assert all(all(v != v for v in ln.get_ydata()) for ln in nw)
