"""Hand-written OUT folders in the panel schema for the flow tests (and a check of the writer)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from panel.schema import AFDELING_SCHEMA, MOVES_SCHEMA, PANEL_SCHEMA, scan_afdelinger, scan_panel


def write_out(out: Path, rows: list[dict], afdelinger: list[dict], *, base_year: int | None) -> Path:
    """Write a minimal OUT: panel/ (+ panel_base/ for ``base_year``), afdeling.parquet, moves.parquet.

    ``rows`` are person-years with any subset of PANEL_SCHEMA columns; ``helhedsplan_id``
    is filled from the afdeling table, ``in_labour_force`` from age (18-64) when absent.
    """
    afd = pl.DataFrame(afdelinger).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in AFDELING_SCHEMA.items() if c not in afdelinger[0]]
    ).select([pl.col(c).cast(t) for c, t in AFDELING_SCHEMA.items()])
    df = pl.DataFrame(rows, infer_schema_length=None)
    if "in_labour_force" not in df.columns:
        df = df.with_columns(pl.col("age").is_between(18, 64).alias("in_labour_force"))
    df = df.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in PANEL_SCHEMA.items() if c not in df.columns and c != "helhedsplan_id"]
    )
    df = df.join(afd.select("afdeling_id", "helhedsplan_id"), on="afdeling_id", how="left")
    df = df.select([pl.col(c).cast(t) for c, t in PANEL_SCHEMA.items()])
    for year, part in df.partition_by("year", as_dict=True).items():
        root = "panel_base" if year[0] == base_year else "panel"
        d = out / root / f"year={year[0]}"
        d.mkdir(parents=True, exist_ok=True)
        part.drop("year").write_parquet(d / "part-0.parquet")
    afd.write_parquet(out / "afdeling.parquet")
    pl.DataFrame(schema=MOVES_SCHEMA).write_parquet(out / "moves.parquet")
    return out


def test_writer_round_trips_through_the_schema_scanners(tmp_path: Path) -> None:
    afd = [{"afdeling_id": "A", "helhedsplan_id": "h1", "anvisning": True, "fleksibel": False}]
    rows = [
        {"person_id": 1, "year": 2003, "afdeling_id": "A", "age": 30},
        {"person_id": 1, "year": 2004, "afdeling_id": "A", "age": 31},
        {"person_id": 2, "year": 2004, "afdeling_id": None, "age": 70},
    ]
    out = write_out(tmp_path / "out", rows, afd, base_year=2003)
    panel = scan_panel(out, include_base=True).sort("year", "person_id").collect()
    assert panel["year"].to_list() == [2003, 2004, 2004]
    assert panel["helhedsplan_id"].to_list() == ["h1", "h1", None]
    assert panel["in_labour_force"].to_list() == [True, True, False]
    assert scan_panel(out).collect().height == 2
    assert scan_afdelinger(out).collect()["anvisning"].to_list() == [True]
