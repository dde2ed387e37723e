"""``panel.schema.record_years`` reads the years from the partition listing, as a scan of the year column would."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from panel.schema import PANEL_SCHEMA, record_years, scan_panel


def test_years_from_partitions_match_a_scan(tmp_path: Path) -> None:
    for sub, year in (("panel", 2004), ("panel", 2005), ("panel_base", 2003)):
        d = tmp_path / sub / f"year={year}"
        d.mkdir(parents=True)
        cols = {c: [None, None] for c in PANEL_SCHEMA if c != "year"}
        pl.DataFrame(cols, schema={c: t for c, t in PANEL_SCHEMA.items() if c != "year"}).write_parquet(
            d / "part-0.parquet")
    (tmp_path / "panel" / "year=2006").mkdir()  # an empty partition directory is not a year
    (tmp_path / "panel" / "notes").mkdir()
    assert record_years(tmp_path) == [2004, 2005]
    assert record_years(tmp_path, include_base=True) == [2003, 2004, 2005]
    scanned = scan_panel(tmp_path, include_base=True).select(pl.col("year").unique()).collect()["year"]
    assert sorted(scanned.to_list()) == record_years(tmp_path, include_base=True)
