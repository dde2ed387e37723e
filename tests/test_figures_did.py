"""Issue 20: one event-study window with robust y limits, dose in two panels, the synthetic-data note,
the headline table's SE/CI/p/clusters, Danish labels, and the demo's Danish default.

Expected values are worked out by hand from the tiny tables written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analyses.figures import did as fd
from analyses.figures import run as fr
from analyses.figures import style as st
from analyses.figures import tables as tb
from analyses.report import build_report, did_section

STYLE = st.load_style()
ROW = dict(measure="education", population="in", comparison="any_tool", n_units=10, n_obs=100)


def _lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def _event_estimates() -> pl.DataFrame:
    rows = []
    for e in range(-4, 6):  # binned event study, window [-4, 5]: the ends carry +-50 pp bars
        half = 0.5 if e in (-4, 5) else 0.01
        rows.append(dict(ROW, estimator="event_study", term="event", event_time=e, estimate=0.01 * e, se=half / 2,
                         ci_low=0.01 * e - half, ci_high=0.01 * e + half))
    for e in range(-6, 8):  # C-S dynamic over -6..7; outside the window it would be 30 pp
        b = 0.3 if e in (-6, -5, 6, 7) else 0.02
        rows.append(dict(ROW, estimator="att_gt", term="dynamic", event_time=e, estimate=b, se=0.005,
                         ci_low=b - 0.0098, ci_high=b + 0.0098))
    return pl.DataFrame(rows, schema_overrides={"event_time": pl.Int64})


def _texts(fig) -> list[str]:
    out = [fig._suptitle.get_text(), fig._supxlabel.get_text()]
    for ax in fig.axes:
        out += [ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return [t for t in out if t]


def test_event_figure_one_window_and_robust_limits():
    fig = fd.event_figure(_event_estimates(), measure="education", population="in", kind="share", style=STYLE,
                          window=(-4, 5))
    ax = fig.axes[0]
    es, cs = _lines(ax, "event_study")[0], _lines(ax, "att_gt")[0]
    # both estimators at exactly the event times -4..5 (dodged +-0.125 around them)
    centre = (np.asarray(es.get_xdata()) + np.asarray(cs.get_xdata())) / 2
    np.testing.assert_allclose(centre, np.arange(-4, 6))
    np.testing.assert_allclose(cs.get_ydata(), [2.0] * 10)  # the 30 pp points outside the window are gone
    assert ax.get_xlim() == pytest.approx((-4.6, 5.6))
    # y: estimates -4..5 pp and the interior bars (+-1 pp around -3..4, C-S 2 +- 0.98) span [-4, 5];
    # the +-50 pp binned end bars do not count; 8 % of the span 9 on each side
    assert ax.get_ylim() == pytest.approx((-4 - 0.72, 5 + 0.72))
    clipped = _lines(ax, "event_study:clipped")
    xs = sorted(round(float(x)) for ln in clipped for x in ln.get_xdata())
    assert xs == [-4, -4, 5, 5]  # both ends cut above and below
    assert not _lines(ax, "att_gt:clipped")


def test_event_window_defaults_to_the_event_study_rows():
    fig = fd.event_figure(_event_estimates(), measure="education", population="in", kind="share", style=STYLE)
    assert fig.axes[0].get_xlim() == pytest.approx((-4.6, 5.6))


def test_event_figure_danish_has_no_english_label():
    est = _event_estimates()
    da = _texts(fd.event_figure(est, measure="education", population="in", kind="share", style=STYLE, lang="da",
                                window=(-4, 5)))
    assert da[0] == "Effekter før og efter redskabet: Kompetencegivende uddannelse, tilflyttere"
    joined = " ".join(da)
    assert "Hændelsesstudie (TWFE)" in joined and "Procentpoint" in joined
    for english in ("Event study", "event study", "Percentage", "Years since", "vs neither", "Source", "pointwise"):
        assert english not in joined, english
    en = _texts(fd.event_figure(est, measure="education", population="in", kind="share", style=STYLE,
                                window=(-4, 5)))
    assert en[0] == "Event study: Competence-giving education, in-movers"
    assert "end points -4 and 5 pool" in " ".join(en)


def test_dose_slope_and_bins_on_separate_axes():
    rows = [dict(ROW, comparison="fleksibel_only", estimator="dose", term=t, event_time=None, estimate=v, se=0.01,
                 ci_low=v - 0.02, ci_high=v + 0.02)
            for t, v in (("dose", 0.04), ("dose_bin_[0,0.25)", 0.01), ("dose_bin_[0.25,0.5)", 0.02))]
    est = pl.DataFrame(rows, schema_overrides={"event_time": pl.Int64})
    fig = fd.dose_figure(est, measure="education", population="in", kind="share", style=STYLE, lang="da")
    slope, bins = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(_lines(slope, "fleksibel_only")[0].get_ydata(), [4.0])
    np.testing.assert_allclose(_lines(bins, "fleksibel_only")[0].get_ydata(), [1.0, 2.0])
    assert [t.get_text() for t in bins.get_xticklabels()] == ["0-25 pct.", "25-50 pct."]
    assert slope.get_title(loc="left") == "Lineær (0 til 100 pct.)"
    assert bins.get_title(loc="left") == "Efter andel fleksibel udlejning"
    assert not slope.get_shared_y_axes().joined(slope, bins)
    lo, hi = slope.get_ylim()
    assert lo <= 2.0 and hi >= 6.0  # the slope's bar 4 +- 2 pp
    assert bins.get_ylim()[1] < 6.0  # the bins axis is scaled to the bins (max 2 + 2 pp), not the slope


# ---------------------------------------------------------------- synthetic source
def _out(tmp_path: Path, manifest: dict | None) -> Path:
    out = tmp_path / "out"
    (out / "did").mkdir(parents=True)
    rows = [dict(ROW, estimator="twfe", term="treat_post", event_time=None, estimate=0.025, se=0.01,
                 ci_low=0.004, ci_high=0.046, p_value=0.031, n_clusters_treated=8, n_clusters_control=40),
            dict(ROW, estimator="att_gt", term="simple", event_time=None, estimate=0.03, se=0.01,
                 ci_low=0.0104, ci_high=0.0496, p_value=None, n_clusters_treated=12, n_clusters_control=40)]
    pl.DataFrame(rows, schema_overrides={"event_time": pl.Int64, "p_value": pl.Float64}).write_csv(
        out / "did/estimates.csv")
    if manifest is not None:
        (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def _manifest(reg: str, read_hash: str, made_hash: str | None) -> dict:
    stages = {"build": {"inputs": {"REG": {"path": reg, "files": {"bef/bef_2004.parquet": {"sha256": read_hash}}}}}}
    if made_hash is not None:
        stages["synth"] = {"outputs": {"registers/bef/bef_2004.parquet": {"sha256": made_hash}}}
    return {"format": 1, "stages": stages}


def test_synthetic_source_signals(tmp_path):
    # demo: the build read the files the synth stage wrote (by hash; REG itself is gone)
    assert tb.synthetic_source(_out(tmp_path / "a", _manifest("/nowhere/reg", "h1", "h1")))
    # a synth stage that wrote other files, REG gone: register data
    assert not tb.synthetic_source(_out(tmp_path / "b", _manifest("/nowhere/reg", "h1", "h2")))
    # no manifest at all: register data
    assert not tb.synthetic_source(_out(tmp_path / "c", None))
    # `socialmix synth REG` then `run`: REG holds truth.json
    reg = tmp_path / "reg"
    reg.mkdir()
    (reg / "truth.json").write_text("{}", encoding="utf-8")
    assert tb.synthetic_source(_out(tmp_path / "d", _manifest(str(reg), "h1", None)))


@pytest.mark.parametrize(("lang", "synthetic", "register"), [
    ("en", "synthetic registers", "on register data"),
    ("da", "syntetiske registerdata", "på baggrund af registerdata"),
])
def test_notes_and_report_say_synthetic(tmp_path, lang, synthetic, register):
    out = _out(tmp_path / "s", _manifest("/nowhere/reg", "h1", "h1"))
    notes = [s.build()._supxlabel.get_text().replace("\n", " ") for s in fr.figure_specs(out, lang=lang)]
    assert notes and all(synthetic in n and register not in n for n in notes)
    html = build_report(out, lang=lang)
    assert STYLE["report"][lang]["intro_synthetic"] in html
    real = _out(tmp_path / "r", _manifest("/nowhere/reg", "h1", "h2"))
    notes = [s.build()._supxlabel.get_text().replace("\n", " ") for s in fr.figure_specs(real, lang=lang)]
    assert all(register in n and synthetic not in n for n in notes)
    assert STYLE["report"][lang]["intro_synthetic"] not in build_report(real, lang=lang)


# ---------------------------------------------------------------- report headline table
def _cells(html: str) -> list[list[str]]:
    import re

    table = html.split("</table>")[0]
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)]


def test_headline_table_se_ci_p_clusters(tmp_path):
    out = _out(tmp_path, None)
    rows = _cells(did_section(out, STYLE, "da"))
    assert rows[0] == ["Mål", "Population", "Behandlet gruppe (mod ingen)", "Estimator", "Estimat", "SE",
                       "95 pct. KI", "p-værdi", "Behandlede klynger", "Kontrolklynger", "Afdelinger", "Personår"]
    twfe, cs = rows[1], rows[2]
    # TWFE: 2.50 pp, SE 1.00, CI [0.40; 4.60], p from the p_value column (0.031, not the normal 0.012)
    assert twfe[2].endswith("†") and twfe[4:10] == ["2,50", "1,00", "[0,40; 4,60]", "0,031", "8", "40"]
    # C-S: no p_value: normal approximation 2(1 - Phi(3)) = 0.0027; 12 treated clusters, not marked
    assert not cs[2].endswith("†") and cs[4:10] == ["3,00", "1,00", "[1,04; 4,96]", "0,003", "12", "40"]
    section = did_section(out, STYLE, "en")
    assert "fewer than 10 treated clusters" in section and "normal approximation" in section


def test_headline_table_without_new_columns(tmp_path):
    out = _out(tmp_path, None)
    est = pl.read_csv(out / "did/estimates.csv").drop("p_value", "n_clusters_treated", "n_clusters_control")
    est.write_csv(out / "did/estimates.csv")
    rows = _cells(did_section(out, STYLE, "en"))
    assert rows[0][5:8] == ["SE", "95% CI", "p-value"] and "Treated clusters" not in rows[0]
    # 2.5 / 1.0 -> p = 2(1 - Phi(2.5)) = 0.0124
    assert rows[1][4:8] == ["2.50", "1.00", "[0.40; 4.60]", "0.012"]
    assert "†" not in "".join(rows[1] + rows[2])


def test_did_config_window_from_manifest(tmp_path):
    import tomllib

    shipped = tomllib.loads((Path(fd.__file__).parents[1] / "did" / "did.toml").read_text(encoding="utf-8"))
    out = _out(tmp_path, None)
    assert tb.did_config(out)["event_study"]["window"] == shipped["event_study"]["window"]
    m = {"format": 1, "stages": {"did": {"config": {"options": {"config": "[event_study]\nwindow = [-3, 3]\n"},
                                                    "shipped": {"analyses/did/did.toml": shipped}}}}}
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    assert tb.did_config(out)["event_study"]["window"] == [-3, 3]


def test_demo_defaults_to_danish():
    from socialmix.cli import build_parser

    p = build_parser()
    assert p.parse_args(["demo", "/tmp/x"]).lang == "da"
    assert p.parse_args(["demo", "/tmp/x", "--lang", "en"]).lang == "en"
    assert p.parse_args(["run", "REG", "OUT"]).lang == "en"
    assert p.parse_args(["report", "OUT"]).lang == "en"


def test_event_and_dose_figures_mark_few_cluster_points():
    """Points on fewer than ``few_clusters`` treated clusters are redrawn hollow at exactly their value (pp);
    the threshold is the did config's, and the note says so."""
    est = _event_estimates().filter(pl.col("estimator") == "event_study").with_columns(
        n_clusters_treated=pl.when(pl.col("event_time") >= 3).then(4).otherwise(12))
    fig = fd.event_figure(est, measure="education", population="in", kind="share", style=STYLE, window=(-4, 5))
    few = _lines(fig.axes[0], "event_study:few_clusters")
    assert len(few) == 1 and few[0].get_markerfacecolor() == "white"
    np.testing.assert_allclose(few[0].get_ydata(), [3.0, 4.0, 5.0])  # 0.01 * e in pp for e = 3, 4, 5
    assert "fewer than 10 treated clusters" in fig.get_supxlabel().replace("\n", " ")
    fig = fd.event_figure(est, measure="education", population="in", kind="share", style=STYLE, window=(-4, 5),
                          few_clusters=3)
    assert not _lines(fig.axes[0], "event_study:few_clusters")
    rows = [dict(ROW, comparison=c, estimator="dose", term="dose", event_time=None, estimate=v, se=0.01,
                 ci_low=v - 0.02, ci_high=v + 0.02, n_clusters_treated=n)
            for c, v, n in (("fleksibel_only", 0.04, 5), ("any_tool", 0.02, 30))]
    est = pl.DataFrame(rows, schema_overrides={"event_time": pl.Int64})
    fig = fd.dose_figure(est, measure="education", population="in", kind="share", style=STYLE, lang="da")
    assert not _lines(fig.axes[0], "any_tool:few_clusters")
    np.testing.assert_allclose(_lines(fig.axes[0], "fleksibel_only:few_clusters")[0].get_ydata(), [4.0])
    assert "færre end 10 behandlede klynger" in fig.get_supxlabel().replace("\n", " ")
