"""A tiny OUT folder written by hand in the panel schema, for the queries tests.

Afdelinger: A (study, anvisning only, kom 101), B (study, both tools, kom 101),
C (study, neither, kom 102), D (not in the study, kom 102). Base year 2009,
panel years 2010-2011.

People (2010 unless said):
  household 1 in A: p1 40 employed H30; p2 38 student H10; p3 10 child          hh income 400 000
  household 2 in A: p4 70 old-age pension H30 non-Western (exits in 2011)      150 000
  household 3 in A: p5 25 cash benefit H15 non-Western (out of sector 2011)    100 000
  p7 in C 2010: 27 cash benefit H10 non-Western, alone, 90 000; moves C->B 2011:
      2011 28 unemployed, household 10 with p6 (30 employed H40, into sector) and p9 (born 2011)
      household 10 income 600 000
  p8 immigrates to B 2011: 21 student, unknown education, non-Western, alone, 50 000
  p10 in A 2009 (base): 50 employed, alone, 300 000; out of sector 2010
  p11 in B 2010: 45 employed H50, alone, 350 000; moves B->A 2011 (360 000)
  p12 in D both years: 60 employed, alone, 250 000
  p13, p14 outside public housing (kom 101, 102)
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from panel.schema import AFDELING_SCHEMA, HOUSEHOLD_COMPOSITION, MOVES_SCHEMA, PANEL_SCHEMA

COLS = ["person_id", "afdeling_id", "age", "non_western", "education_level", "competence_education",
        "socio_category", "in_labour_force", "employed", "hh_income_2013", "household_id", "kom"]
STUDY = {"A": "h1", "B": "h1", "C": "h2"}
KOM = {"A": 101, "B": 101, "C": 102, "D": 102}

# person, afdeling, age, non_western, education, competence, socio, LF, employed, hh income, household, kom
Y2009 = [
    (10, "A", 50, False, "H30", True, "employed", True, True, 300_000.0, 30, 101),
    (13, None, 44, False, "H40", True, "employed", True, True, 500_000.0, 60, 101),
]
Y2010 = [
    (1, "A", 40, False, "H30", True, "employed", True, True, 400_000.0, 1, 101),
    (2, "A", 38, False, "H10", False, "education", True, False, 400_000.0, 1, 101),
    (3, "A", 10, False, None, None, "child", False, False, 400_000.0, 1, 101),
    (4, "A", 70, True, "H30", True, "old_age_pension", False, False, 150_000.0, 2, 101),
    (5, "A", 25, True, "H15", False, "cash_benefit", True, False, 100_000.0, 3, 101),
    (7, "C", 27, True, "H10", False, "cash_benefit", True, False, 90_000.0, 20, 102),
    (6, None, 29, False, "H40", True, "employed", True, True, 550_000.0, 21, 102),
    (10, None, 51, False, "H30", True, "unemployed", True, False, 120_000.0, 30, 101),
    (11, "B", 45, False, "H50", True, "employed", True, True, 350_000.0, 40, 101),
    (12, "D", 60, False, "H30", True, "employed", True, True, 250_000.0, 50, 102),
    (13, None, 45, False, "H40", True, "employed", True, True, 500_000.0, 60, 101),
    (14, None, 33, True, None, None, None, None, None, 80_000.0, None, 102),
]
Y2011 = [
    (1, "A", 41, False, "H30", True, "employed", True, True, 410_000.0, 1, 101),
    (2, "A", 39, False, "H10", False, "education", True, False, 410_000.0, 1, 101),
    (3, "A", 11, False, None, None, "child", False, False, 410_000.0, 1, 101),
    (5, None, 26, True, "H15", False, "cash_benefit", True, False, 100_000.0, 3, 101),
    (6, "B", 30, False, "H40", True, "employed", True, True, 600_000.0, 10, 101),
    (7, "B", 28, True, "H10", False, "unemployed", True, False, 600_000.0, 10, 101),
    (9, "B", 0, False, None, None, "child", False, False, 600_000.0, 10, 101),
    (8, "B", 21, True, None, None, "education", True, False, 50_000.0, 11, 101),
    (10, None, 52, False, "H30", True, "unemployed", True, False, 120_000.0, 30, 101),
    (11, "A", 46, False, "H50", True, "employed", True, True, 360_000.0, 40, 101),
    (12, "D", 61, False, "H30", True, "employed", True, True, 250_000.0, 50, 102),
    (13, None, 46, False, "H40", True, "employed", True, True, 500_000.0, 60, 101),
    (14, None, 34, True, None, None, None, None, None, 80_000.0, None, 102),
]
MOVES = [
    (10, 2010, "out_of_sector", "A", None),
    (6, 2011, "into_sector", None, "B"),
    (7, 2011, "between", "C", "B"),
    (8, 2011, "immigration", None, "B"),
    (9, 2011, "birth", None, "B"),
    (11, 2011, "between", "B", "A"),
    (5, 2011, "out_of_sector", "A", None),
    (4, 2011, "exit", "A", None),
]
AFDELINGER = [
    ("A", "h1", 101, True, False, 2008, 0.0),
    ("B", "h1", 101, True, True, 2008, 0.3),
    ("C", "h2", 102, False, False, None, None),
    ("D", None, 102, False, False, None, None),
]


def year_frame(rows: list[tuple], year: int) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema=COLS, orient="row")
    return df.with_columns(
        year=pl.lit(year),
        helhedsplan_id=pl.col("afdeling_id").replace_strict(STUDY, default=None),
        sex=pl.lit(1), income_2013=pl.col("hh_income_2013"), hh_size=pl.lit(1),
        ie_type=pl.when(pl.col("non_western")).then(2).otherwise(1),
    ).select([pl.col(c).cast(t) for c, t in PANEL_SCHEMA.items() if c not in HOUSEHOLD_COMPOSITION])


def write_out(out: Path, years: dict[int, list[tuple]] | None = None, *, base: dict[int, list[tuple]] | None = None,
              moves: list[tuple] | None = None, afdelinger: list[tuple] | None = None) -> Path:
    """Write a panel-schema OUT folder (defaults: the fixture above)."""
    years = {2010: Y2010, 2011: Y2011} if years is None else years
    base = {2009: Y2009} if base is None else base
    for d, frames in (("panel", years), ("panel_base", base)):
        for y, rows in frames.items():
            p = out / d / f"year={y}"
            p.mkdir(parents=True)
            year_frame(rows, y).drop("year").write_parquet(p / "part-0.parquet")
    pl.DataFrame(moves if moves is not None else MOVES, schema=list(MOVES_SCHEMA), orient="row").select(
        [pl.col(c).cast(t) for c, t in MOVES_SCHEMA.items()]).write_parquet(out / "moves.parquet")
    pl.DataFrame(afdelinger if afdelinger is not None else AFDELINGER, schema=list(AFDELING_SCHEMA),
                 orient="row").select([pl.col(c).cast(t) for c, t in AFDELING_SCHEMA.items()]).write_parquet(
        out / "afdeling.parquet")
    return out


def test_fixture_reads_back_through_the_schema(tmp_path: Path) -> None:
    from panel.schema import scan_moves, scan_panel

    out = write_out(tmp_path / "out")
    panel = scan_panel(out, include_base=True).collect()
    assert panel.height == len(Y2009) + len(Y2010) + len(Y2011)
    assert scan_moves(out).collect().height == len(MOVES)
