"""The report's areas section: areas by rule version and status per year (counts only), in da and en."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analyses.figures import style as st
from analyses.report import areas_section, build_report
from queries.areas.rules import CRITERIA


def _write(out: Path) -> Path:
    (out / "areas").mkdir(parents=True)
    pl.DataFrame({"area": ["X", "Y", "Z", "X", "Y", "Z", "X", "Y", "Z"],
                  "year": [2012, 2012, 2012, 2013, 2013, 2013, 2013, 2013, 2013],
                  "rule": ["2015"] * 6 + ["2018"] * 3,
                  "status": ["listed", "listed", "none", "listed", "none", "none", "ghetto", "udsat", "udsat"],
                  "suppressed": [False, False, False, False, False, False, False, True, False]}).with_columns(
        [pl.lit(0.3).alias(c) for c in CRITERIA] + [pl.lit(False).alias(f"{c}_met") for c in CRITERIA],
        residents=pl.lit(1500)).write_parquet(out / "areas" / "areas.parquet")
    # X holds a study afdeling (helhedsplan h1), Y and Z do not
    pl.DataFrame({"afdeling_id": ["A", "B", "C"], "helhedsplan_id": ["h1", None, None],
                  "boligomraade_id": ["X", "Y", "Z"]}).write_parquet(out / "afdeling.parquet")
    return out


def test_areas_section_counts_areas_by_status_and_year(tmp_path: Path) -> None:
    out = _write(tmp_path / "out")
    style = st.load_style()
    fig = ("fig_areas_listed", "Listed areas", "areas/areas", "image/png", "AAAA")
    body = areas_section(out, style, "en", [fig, ("fig7_x", "t", "s", "image/png", "BBBB")])
    # hand-counted: 2015 rules: listed 2 in 2012 (X study, Y), 1 in 2013 (X); 2018 in 2013: ghetto X,
    # udsat Y and Z (a withheld criterion does not hide the status), none of them a study area
    assert ("<tr><td>List of 2015 (2013 agreement)</td><td>listed</td><td class=\"num\">2 (1)</td>"
            "<td class=\"num\">1 (1)</td></tr>") in body
    assert ("<tr><td>Rules of 2018</td><td>udsat (deprived)</td><td class=\"num\">0</td>"
            "<td class=\"num\">2 (0)</td></tr>") in body
    assert "<td>ghetto area</td><td class=\"num\">0</td><td class=\"num\">1 (1)</td>" in body
    assert ">none<" not in body
    assert "base64,AAAA" in body and "base64,BBBB" not in body
    da = areas_section(out, style, "da", [])
    assert "<td>Reglerne fra 2018</td><td>udsat boligområde</td>" in da
    assert "Ingen områdetabeller" in areas_section(tmp_path / "nothing", style, "da", [])


def test_report_has_the_areas_section_once(tmp_path: Path) -> None:
    html = build_report(_write(tmp_path / "out"), lang="da")
    assert html.count("<h2 id='areas'>Boligområder og de officielle lister</h2>") == 1
    assert "<a href='#areas'>" in html
