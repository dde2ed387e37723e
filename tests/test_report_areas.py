"""The report's areas section: counts of listed areas by rule version, year and status, in da and en."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analyses.report import areas_section


def test_areas_section_counts_listed_areas(tmp_path: Path) -> None:
    (tmp_path / "areas").mkdir()
    pl.DataFrame({"area": ["X", "Y", "Z", "X", "Y", "Z"], "year": [2015] * 3 + [2018] * 3,
                  "rule": ["2015"] * 3 + ["2018"] * 3,
                  "status": ["listed", "listed", "none", "ghetto", "udsat", "udsat"],
                  "suppressed": [False, False, False, False, False, True]}).write_parquet(
        tmp_path / "areas" / "areas.parquet")
    fig = ("fig_areas_listed", "Listed areas", "areas.parquet", "image/png", "AAAA")
    key, title, body = areas_section(tmp_path, "en", [fig, ("fig7_x", "t", "s", "image/png", "BBBB")])
    assert (key, title) == ("areas", "Housing areas and the official lists")
    # hand-counted: 2015 listed 2 (Z none); 2018 ghetto 1, udsat 1 (Z withheld, not counted)
    assert "<td>2015</td><td>2015</td><td>listed</td><td class=\"num\">2</td>" in body
    assert "<td>2018</td><td>2018</td><td>udsat</td><td class=\"num\">1</td>" in body
    assert ">none<" not in body
    assert "base64,AAAA" in body and "base64,BBBB" not in body
    assert areas_section(tmp_path, "da", [])[1] == "Boligområder og de officielle lister"
    assert "Ingen" in areas_section(tmp_path / "nothing", "da", [])[2]
