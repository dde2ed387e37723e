"""Figure builders: plotted values equal the table values, gaps for suppressed cells, Danish numbers.

Every expected value is worked out by hand from the small tables written
here, never taken from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from analyses.figures import did as fd
from analyses.figures import flows as ff
from analyses.figures import series as fs
from analyses.figures import style as st

STYLE = st.load_style()
YEARS = [2004, 2005, 2006]


def _by_gid(ax, gid):
    found = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid}"
    return found[0]


def _measures() -> pl.DataFrame:
    # education (share) for three groups; anvisning_only 2005 suppressed; neither 2006 has no row at all
    rows = [
        ("group", "any_tool", 2004, "stock", "education", 100, 0.50, False),
        ("group", "any_tool", 2005, "stock", "education", 100, 0.52, False),
        ("group", "any_tool", 2006, "stock", "education", 100, 0.55, False),
        ("group", "anvisning_only", 2004, "stock", "education", 40, 0.40, False),
        ("group", "anvisning_only", 2005, "stock", "education", None, None, True),
        ("group", "anvisning_only", 2006, "stock", "education", 40, 0.45, False),
        ("group", "neither", 2004, "stock", "education", 30, 0.30, False),
        ("group", "neither", 2005, "stock", "education", 30, 0.35, False),
        ("group", "fleksibel_only", 2004, "in", "education", 9, 0.70, False),  # other population: ignored
        ("afdeling", "A-1", 2004, "stock", "education", 20, 0.90, False),  # afdeling row: ignored
        ("group", "any_tool", 2004, "stock", "income", 100, 161234.5, False),
        ("group", "any_tool", 2005, "stock", "income", 100, 170000.0, False),
        ("group", "any_tool", 2006, "stock", "income", 100, 175500.0, False),
    ]
    return pl.DataFrame(rows, orient="row", schema={
        "level": pl.String, "unit": pl.String, "year": pl.Int32, "population": pl.String, "measure": pl.String,
        "n": pl.Int64, "value": pl.Float64, "suppressed": pl.Boolean})


# ---------------------------------------------------------------- number format
@pytest.mark.parametrize(("x", "d", "lang", "text"), [
    (1234.5, 1, "da", "1.234,5"),
    (1234.5, 1, "en", "1,234.5"),
    (1234567, 0, "da", "1.234.567"),
    (0.5, 2, "da", "0,50"),
    (-1234.25, 2, "da", "-1.234,25"),
    (-0.001, 1, "da", "0,0"),
    (float("nan"), 1, "da", ""),
])
def test_number_format(x, d, lang, text):
    assert st.number(x, d, lang=lang) == text


def test_tick_formatter_decimals_follow_ticks():
    f = st.NumberFormatter("da")
    f.set_locs([-5.0, -2.5, 0.0, 2.5, 5.0])
    assert [f(x) for x in (-5.0, -2.5, 2.5)] == ["-5,0", "-2,5", "2,5"]
    f.set_locs([160000.0, 170000.0, 180000.0])
    assert f(170000.0) == "170.000"


def test_bad_language_is_one_line_error():
    from panel.errors import SocialmixError

    with pytest.raises(SocialmixError, match="lang must be one of"):
        st.labels(STYLE, "de")


# ---------------------------------------------------------------- trend figures
def test_trend_lines_match_table_and_suppressed_is_gap():
    fig = fs.measure_figure(_measures(), measure="education", population="stock", kind="share", style=STYLE,
                            lang="en", counts={"any_tool": 3, "anvisning_only": 1, "neither": 2}, years=YEARS)
    ax = fig.axes[0]
    np.testing.assert_allclose(_by_gid(ax, "any_tool").get_ydata(), [50.0, 52.0, 55.0])
    y = np.asarray(_by_gid(ax, "anvisning_only").get_ydata(), dtype=float)
    assert y[0] == pytest.approx(40.0) and y[2] == pytest.approx(45.0)
    assert math.isnan(y[1]), "a suppressed cell must be a gap (NaN), never zero"
    y = np.asarray(_by_gid(ax, "neither").get_ydata(), dtype=float)
    assert y[:2] == pytest.approx([30.0, 35.0]) and math.isnan(y[2])
    assert np.isnan(np.asarray(_by_gid(ax, "fleksibel_only").get_ydata(), dtype=float)).all()
    assert list(_by_gid(ax, "any_tool").get_xdata()) == YEARS
    assert ax.get_ylabel() == "Per cent"
    note = fig._supxlabel.get_text()
    assert "Allocation and/or flexible letting 3" in note and "Neither tool 2" in note and "Gaps" in note


def test_group_styles_fixed_across_figures():
    a = fs.measure_figure(_measures(), measure="education", population="stock", kind="share", style=STYLE,
                          years=YEARS).axes[0]
    b = fs.measure_figure(_measures(), measure="income", population="stock", kind="kr", style=STYLE,
                          years=YEARS).axes[0]
    for g in ("any_tool", "anvisning_only", "fleksibel_only", "neither"):
        la, lb = _by_gid(a, g), _by_gid(b, g)
        assert (la.get_color(), la.get_marker(), la.get_linestyle()) == (lb.get_color(), lb.get_marker(),
                                                                         lb.get_linestyle())
    colours = {_by_gid(a, g).get_color() for g in ("any_tool", "anvisning_only", "fleksibel_only", "neither")}
    assert len(colours) == 4


def test_danish_axis_labels_and_years():
    with st.rc(STYLE):
        fig = fs.measure_figure(_measures(), measure="income", population="stock", kind="kr", style=STYLE,
                                lang="da", years=YEARS)
        fig.canvas.draw()
    ax = fig.axes[0]
    np.testing.assert_allclose(_by_gid(ax, "any_tool").get_ydata(), [161234.5, 170000.0, 175500.0])
    yticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any("." in t for t in yticks) and not any("," in t for t in yticks), yticks  # 170.000
    xticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert xticks == ["2004", "2005", "2006"]  # years without thousands separators
    assert ax.get_ylabel() == "kr. (2013-priser)"
    assert "Årlig disponibel indkomst" in ax.get_title(loc="left")


def test_comparison_series_figure():
    comp = pl.DataFrame({
        "series": ["study", "study", "sector", "sector", "population", "population"],
        "year": [2004, 2005] * 3, "population": ["stock"] * 6, "measure": ["non_western"] * 6,
        "n": [10, 10, 10, None, 10, 10], "value": [0.30, 0.32, 0.20, None, 0.08, 0.09],
        "suppressed": [False, False, False, True, False, False]})
    assert fs.series_column(comp, STYLE) == "series"
    fig = fs.comparison_figure(comp, measure="non_western", kind="share", style=STYLE, series_col="series")
    ax = fig.axes[0]
    np.testing.assert_allclose(_by_gid(ax, "study").get_ydata(), [30.0, 32.0])
    np.testing.assert_allclose(_by_gid(ax, "population").get_ydata(), [8.0, 9.0])
    y = np.asarray(_by_gid(ax, "sector").get_ydata(), dtype=float)
    assert y[0] == pytest.approx(20.0) and math.isnan(y[1])


# ---------------------------------------------------------------- DiD
def _estimates() -> pl.DataFrame:
    rows = []
    for e, lo_hi in ((-2, 0.010), (-1, 0.0), (0, 0.020), (1, 0.030)):
        # event study: pointwise ci_low/ci_high as written by analyses.did (t-based)
        rows.append(dict(estimator="event_study", measure="education", population="in", comparison="any_tool",
                         term="event", event_time=e, estimate=lo_hi, se=0.01, ci_low=lo_hi - 0.021,
                         ci_high=lo_hi + 0.021, n_units=10, n_obs=100))
        # att_gt dynamic: ci is the bootstrap uniform band (wider than +-1.96 se)
        rows.append(dict(estimator="att_gt", measure="education", population="in", comparison="any_tool",
                         term="dynamic", event_time=e, estimate=lo_hi + 0.001, se=0.01, ci_low=lo_hi + 0.001 - 0.03,
                         ci_high=lo_hi + 0.001 + 0.03, n_units=10, n_obs=100))
    rows.append(dict(estimator="att_gt", measure="education", population="in", comparison="any_tool",
                     term="dynamic", event_time=None, estimate=0.9, se=0.01, ci_low=0.0, ci_high=1.0, n_units=10,
                     n_obs=100))  # overall dynamic: not an event-time point
    rows.append(dict(estimator="twfe", measure="education", population="in", comparison="any_tool",
                     term="treat_post", event_time=None, estimate=0.025, se=0.01, ci_low=0.004, ci_high=0.046,
                     n_units=10, n_obs=100))
    rows.append(dict(estimator="att_gt", measure="education", population="in", comparison="any_tool",
                     term="simple", event_time=None, estimate=0.027, se=0.01, ci_low=0.0074, ci_high=0.0466,
                     n_units=10, n_obs=100))
    for term, v in (("dose", 0.04), ("dose_bin_[0,0.25)", 0.01), ("dose_bin_[0.25,0.5)", 0.02)):
        rows.append(dict(estimator="dose", measure="education", population="in", comparison="fleksibel_only",
                         term=term, event_time=None, estimate=v, se=0.01, ci_low=v - 0.02, ci_high=v + 0.02,
                         n_units=10, n_obs=100))
    return pl.DataFrame(rows, schema_overrides={"event_time": pl.Int64})


def test_event_study_points_and_bands():
    fig = fd.event_figure(_estimates(), measure="education", population="in", kind="share", style=STYLE)
    ax = fig.axes[0]
    es, cs = _by_gid(ax, "event_study"), _by_gid(ax, "att_gt")
    np.testing.assert_allclose(es.get_ydata(), [1.0, 0.0, 2.0, 3.0])  # percentage points
    np.testing.assert_allclose(cs.get_ydata(), [1.1, 0.1, 2.1, 3.1])
    # dodged sideways around the event times, event study left of att_gt
    assert np.all(np.asarray(es.get_xdata()) < np.asarray(cs.get_xdata()))
    np.testing.assert_allclose((np.asarray(es.get_xdata()) + np.asarray(cs.get_xdata())) / 2, [-2, -1, 0, 1])
    segs = {c.get_gid(): c.get_segments() for c in ax.collections if c.get_gid()}
    # event study pointwise bars are its ci: estimate +- 2.1 pp
    es_pw = np.array([[s[0][1], s[1][1]] for s in segs["event_study:pointwise"]])
    np.testing.assert_allclose(es_pw, [[-1.1, 3.1], [-2.1, 2.1], [-0.1, 4.1], [0.9, 5.1]], atol=1e-9)
    # att_gt pointwise = estimate +- 1.96 se; its uniform band = ci (+- 3 pp)
    cs_pw = np.array([[s[0][1], s[1][1]] for s in segs["att_gt:pointwise"]])
    np.testing.assert_allclose(cs_pw[:, 1] - cs_pw[:, 0], 2 * 1.959963984540054, rtol=1e-9)
    assert "att_gt:uniform" in segs, "att_gt's bootstrap band should be drawn as the uniform band"
    np.testing.assert_allclose([b[1][1] - b[0][1] for b in segs["att_gt:uniform"]], [6.0] * 4)
    assert "event_study:uniform" not in segs  # its ci is pointwise
    assert "uniform" in fig._supxlabel.get_text()


def test_headline_and_dose():
    fig = fd.headline_figure(_estimates(), measure="education", kind="share", style=STYLE)
    ax = fig.axes[0]
    assert _by_gid(ax, "twfe").get_xdata()[0] == pytest.approx(2.5)
    assert _by_gid(ax, "att_gt").get_xdata()[0] == pytest.approx(2.7)
    fig = fd.dose_figure(_estimates(), measure="education", population="in", kind="share", style=STYLE, lang="da")
    # issue 20: the slope and the bins are on separate axes (left slope, right bins)
    np.testing.assert_allclose(_by_gid(fig.axes[0], "fleksibel_only").get_ydata(), [4.0])
    np.testing.assert_allclose(_by_gid(fig.axes[1], "fleksibel_only").get_ydata(), [1.0, 2.0])
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["0-25 pct.", "25-50 pct."]


# ---------------------------------------------------------------- flows
def test_decomposition_bars_stack_and_gap():
    dec = pl.DataFrame({
        "level": ["group"] * 2, "unit": ["any_tool"] * 2, "year": [2005, 2006], "measure": ["education"] * 2,
        "change": [0.02, None], "stayers": [0.01, None], "in_movers": [0.03, None], "out_movers": [-0.015, None],
        "entries": [0.0, None], "exits": [-0.005, None], "suppressed": [False, True]})
    fig = ff.decomposition_figure(dec, measure="education", kind="share", style=STYLE, groups=["any_tool"])
    ax = fig.axes[0]
    bars = {}
    for patch in ax.patches:
        bars.setdefault(patch.get_gid(), []).append(patch)
    # 2005: stayers 1 pp from 0, in-movers 3 pp stacked on it; out-movers -1.5 pp, exits -0.5 pp below it
    st_up, in_up = bars["stayers+"][0], bars["in_movers+"][0]
    assert (st_up.get_y(), st_up.get_height()) == pytest.approx((0.0, 1.0))
    assert (in_up.get_y(), in_up.get_height()) == pytest.approx((1.0, 3.0))
    out_dn, ex_dn = bars["out_movers-"][0], bars["exits-"][0]
    assert (out_dn.get_y(), out_dn.get_height()) == pytest.approx((0.0, -1.5))
    assert (ex_dn.get_y(), ex_dn.get_height()) == pytest.approx((-1.5, -0.5))
    # one bar per component and year, up or down by its sign
    assert sum(len(v) for v in bars.values()) == 5 * 2
    # 2006 suppressed: no bar height at all (NaN, never 0), and the change marker is a gap
    for comp in ("stayers", "in_movers", "out_movers", "entries", "exits"):
        h2006 = [p.get_height() for p in bars.get(f"{comp}+", []) + bars.get(f"{comp}-", []) if p.get_x() > 2005.5]
        assert len(h2006) == 1 and math.isnan(h2006[0]), comp
    change = np.asarray(_by_gid(ax, "change").get_ydata(), dtype=float)
    assert change[0] == pytest.approx(2.0) and math.isnan(change[1])
    assert ax.get_ylabel() == "Percentage points"


def test_tenure_pools_censored_stays():
    ten = pl.DataFrame({
        "level": ["group"] * 4, "unit": ["neither"] * 4, "year": [2008] * 4,
        "band": ["le2", "le2", "gt5", "2to5"], "left_censored": [False, True, True, False],
        "n": [6, 4, 20, 10], "share": [0.15, 0.1, 0.5, 0.25]})
    fig = ff.tenure_figure(ten, style=STYLE)
    ax = fig.axes[0]
    h = {p.get_gid(): p.get_height() for p in ax.patches}
    assert h == pytest.approx({"le2": 25.0, "2to5": 25.0, "gt5": 50.0})
    # a suppressed censored part: the band is a gap, the other bands keep their shares of all out-movers
    ten = ten.with_columns(pl.when(pl.col("left_censored") & (pl.col("band") == "le2")).then(None)
                           .otherwise(pl.col("share")).alias("share"))
    h = {p.get_gid(): p.get_height() for p in ff.tenure_figure(ten, style=STYLE).axes[0].patches}
    assert math.isnan(h["le2"]) and h["2to5"] == pytest.approx(25.0) and h["gt5"] == pytest.approx(50.0)


def test_retention_exit_rates_in_percent():
    # long format of docs/flows.md: outcome households (rate 1) / moved_out / not_moved_out
    ret = pl.DataFrame({"level": ["group"] * 6, "unit": ["any_tool"] * 6, "year": [2005] * 3 + [2006] * 3,
                        "category": ["all"] * 6, "outcome": ["households", "moved_out", "not_moved_out"] * 2,
                        "n": [200, 30, 170, 150, None, None], "rate": [1.0, 0.15, 0.85, 1.0, None, None],
                        "suppressed": [False, False, False, False, True, True]})
    fig = ff.retention_figure(ret, style=STYLE)
    y = np.asarray(_by_gid(fig.axes[0], "any_tool").get_ydata(), dtype=float)
    assert y[0] == pytest.approx(15.0) and math.isnan(y[1])
