"""Figures and report on the real released tables of a small synthetic run (schema drift guard).

Synthetic registers -> build -> measures -> did (few bootstrap draws), then
every figure family is built from the tables the other stages really write,
the plotted values are compared with measures.parquet read directly, and the
report's sections are checked for identifiers.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from analyses.figures import run as fr
from analyses.figures import style as st
from analyses.report import did_section, disclosure_section, measures_section

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    from analyses.did.run import run_did
    from panel.build import build
    from queries.run import run_measures
    from socialmix.synth import generate

    root = tmp_path_factory.mktemp("figpipe")
    generate(root / "reg", persons=3000, seed=3, effect=0.05)
    build(root / "reg", root / "out", years=(2004, 2013), config=None, allow_unknown_codes=False)
    run_measures(root / "out", min_cell=None, profile="dst")
    run_did(root / "out", bootstrap=19, seed=1)
    return root / "out"


def test_every_family_builds_from_real_tables(out):
    style = st.load_style()
    specs = fr.figure_specs(out, lang="da", style=style)
    names = [s.name for s in specs]
    assert names[:12] == [f"fig7_{i:02d}_{m}_{p}" for i, (m, p) in enumerate(
        ((m, p) for m in ("education", "employment", "income", "non_western") for p in ("stock", "in", "out")),
        start=1)]
    families = {"fig2_", "fig_decomposition_", "fig_retention", "fig_tenure", "fig_did_", "fig_event_",
                "fig_dose_", "figm_"}
    firsts = {f: next(s for s in specs if s.name.startswith(f)) for f in families}
    with st.rc(style):
        for spec in firsts.values():
            fig = spec.build()
            fig.canvas.draw()
            assert fig.axes, spec.name


def test_trend_figure_matches_measures_table(out):
    style = st.load_style()
    spec = next(s for s in fr.figure_specs(out, style=style) if s.name == "fig7_04_employment_stock")
    ax = spec.build().axes[0]
    m = pl.read_parquet(out / "measures/measures.parquet").filter(
        (pl.col("level") == "group") & (pl.col("measure") == "employment") & (pl.col("population") == "stock"))
    for line in ax.get_lines():
        g = line.get_gid()
        rows = dict(m.filter(pl.col("unit") == g).select("year", "value").iter_rows())
        want = np.array([np.nan if rows.get(y) is None else rows[y] * 100 for y in line.get_xdata()], dtype=float)
        np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), want, equal_nan=True)


def test_report_sections_carry_no_identifiers(out):
    style = st.load_style()
    text = measures_section(out, style, "da") + did_section(out, style, "da") + disclosure_section(out, style, "da")
    # the public disclosure section says "withheld", never which rule withheld a cell (issue 16)
    assert "<table>" in text and "withheld" in text and "primary" not in text and "complementary" not in text
    tokens = set(re.findall(r"[A-Za-z0-9_-]{3,}", text))
    afd = set(pl.read_parquet(out / "afdeling.parquet")["afdeling_id"].to_list())
    assert not tokens & afd
    bef = pl.read_parquet(out.parent / "reg/bef/bef_2010.parquet")
    for col in ("PNR", "FAMILIE_ID", "ADRESSE_ID"):
        assert not tokens & set(bef[col].drop_nulls().cast(pl.String).to_list()), col


def test_issue18_figures_build_from_real_tables(out):
    style = st.load_style()
    specs = fr.figure_specs(out, lang="en", style=style)
    families = ("fig_families", "fig_household_tenure", "fig_cohorts_", "fig_displacement_", "fig_segregation_")
    firsts = {f: next((s for s in specs if s.name.startswith(f)), None) for f in families}
    assert all(firsts[f] is not None for f in families[:4]), firsts
    with st.rc(style):
        for spec in (s for s in firsts.values() if s is not None):
            fig = spec.build()
            fig.canvas.draw()
            assert fig.axes, spec.name


def test_segregation_change_parts_add_up_on_real_tables(out):
    change = pl.read_parquet(out / "measures/segregation_change.parquet")
    seg = pl.read_parquet(out / "measures/segregation.parquet")
    assert set(change["level"]) <= {"kom", "kom_type"}
    for level, parts in (("kom", ["additions", "removals", "group_marginal", "unit_marginal", "structural"]),
                         ("kom_type", ["additions", "removals", "group_marginal", "unit_marginal", "structural",
                                       "weights"])):
        rows = change.filter(pl.col("level") == level)
        if not rows.height:
            continue
        wide = rows.pivot("stat", index=["kom", "kom_type", "trait", "year1", "year2"], values="value")
        gap = (wide["diff"] - wide.select(pl.sum_horizontal(parts).alias("parts"))["parts"]).abs().max()
        assert gap < 1e-9, level
    kom = change.filter((pl.col("level") == "kom") & (pl.col("stat") == "M1"))
    m = seg.filter(pl.col("index") == "mutual_information").select("kom", "trait", year1="year", released="value")
    both = kom.join(m, on=["kom", "trait", "year1"], how="inner")
    assert both.height == kom.height  # every decomposed municipality-year is a released one
    assert np.allclose(both["value"].to_numpy(), both["released"].to_numpy(), atol=1e-12)
