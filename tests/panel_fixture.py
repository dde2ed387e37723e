"""A tiny register delivery written by hand (years 2003-2005), shared by the panel tests.

Persons (PNRs are made up; ``P`` + number):

| person | 2003 | 2004 | 2005 | notes |
|---|---|---|---|---|
| P1 | ad1 (A1) | ad2 (A1): internal | ad3 (A2): between | family F1 with P6 in 2005 |
| P2 | p1 (private) | ad1 (A1): into_sector | p2: out_of_sector | |
| P3 | - | ad3 (A2): immigration | -: exit | family F3 with P4 |
| P4 | - | ad3 (A2): birth (born 2004) | ad3 | |
| P5 | ad4 (A3) | -: exit | - | |
| P6 | - | - | ad3 (A2): immigration | |
| P7 | p2 | p2 | p2 | born 1987-12-31: age 17 in 2004, 18 in 2005 |
| P8 | p3 | p3 | p3 | born 1940-01-01: age 64 in 2004, 65 in 2005 |
| P9 | no address | ad1 (A1): into_sector | ad1 | no family, no IND/UDDA/AKM rows |
| P10 | p1 | p2 (private move, no event) | p2 | |

A1, A2 are study afdelinger (helhedsplan HP1); A3 is not in the study.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

D = dt.date
SECRET = "SECRET"  # every identifier value written contains it; no message or output may


def pnr(p: str) -> str:
    return f"{SECRET}{p}"


def ident(x: str | None) -> str | None:
    return None if x is None else f"{SECRET}{x}"

BEF_COLS = ["PNR", "FOED_DAG", "KOEN", "IE_TYPE", "OPR_LAND", "FAMILIE_ID", "ADRESSE_ID", "KOM"]
PERSON = {  # PNR: FOED_DAG, KOEN, IE_TYPE, OPR_LAND
    "P1": (D(1980, 6, 15), 1, 1, 5100),
    "P2": (D(1975, 1, 1), 2, 2, 5453),
    "P3": (D(1990, 9, 9), 1, 2, 5453),
    "P4": (D(2004, 3, 1), 2, 3, 5453),
    "P5": (D(1950, 5, 5), 1, 3, 5170),
    "P6": (D(1982, 3, 3), 2, 1, 5100),
    "P7": (D(1987, 12, 31), 2, 1, 5100),
    "P8": (D(1940, 1, 1), 1, 1, 5100),
    "P9": (D(1985, 7, 7), 1, 2, 5453),
    "P10": (D(1960, 2, 2), 2, 1, 5100),
}
RESIDENCE = {  # year: PNR -> (FAMILIE_ID, ADRESSE_ID, KOM)
    2003: {"P1": ("F1", "ad1", 101), "P2": ("F2", "p1", 101), "P5": (None, "ad4", 202), "P7": ("F7", "p2", 101),
           "P8": ("F8", "p3", 303), "P9": (None, None, None), "P10": ("F10", "p1", 101)},
    2004: {"P1": ("F1", "ad2", 101), "P2": ("F2", "ad1", 101), "P3": ("F3", "ad3", 101), "P4": ("F3", "ad3", 101),
           "P7": ("F7", "p2", 101), "P8": ("F8", "p3", 303), "P9": (None, "ad1", 101), "P10": ("F10", "p2", 101)},
    2005: {"P1": ("F1", "ad3", 101), "P2": ("F2", "p2", 101), "P4": ("F3", "ad3", 101), "P6": ("F1", "ad3", 101),
           "P7": ("F7", "p2", 101), "P8": ("F8", "p3", 303), "P9": (None, "ad1", 101), "P10": ("F10", "p2", 101)},
}
UDDA = {
    2003: {"P1": 30, "P2": 15, "P7": 10, "P8": 70, "P10": 20},
    2004: {"P1": 30, "P2": 15, "P3": None, "P7": 10, "P8": 70, "P10": 20, "X1": 20},  # X1: orphan
    2005: {"P1": 30, "P2": 20, "P4": None, "P6": 70, "P7": 10, "P8": 70, "P10": 20},
}
IND = {
    2003: {"P1": 90_000.0, "P2": 150_000.0, "P5": 100_000.0, "P7": 0.0, "P8": 140_000.0, "P10": 280_000.0},
    2004: {"P1": 100_000.0, "P2": 200_000.0, "P3": 50_000.0, "P7": 10_000.0, "P8": 150_000.0, "P10": 300_000.0},
    2005: {"P1": 120_000.0, "P2": 210_000.0, "P6": 80_000.0, "P7": 20_000.0, "P8": 160_000.0, "P10": 310_000.0,
           "X2": 1.0},  # X2: orphan
}
AKM = {  # SOCIO02 in every year of the fixture (the shipped config switches to SOCIO13 only in 2009)
    2003: {"P1": 131, "P2": 330, "P5": 322, "P7": 310, "P8": 111, "P10": 321},
    2004: {"P1": 131, "P2": 330, "P3": 999, "P7": 310, "P8": 210, "P10": 321},
    2005: {"P1": 120, "P2": 210, "P6": 139, "P7": 310, "P8": 322, "P10": 321, "X3": 410},  # X3: orphan
}
CPI = {2003: 80.0, 2004: 90.0, 2005: 100.0, 2013: 120.0}


def _frame(rows: dict[str, object], value: str, dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame({"PNR": [pnr(p) for p in rows], value: list(rows.values())},
                        schema={"PNR": pl.String, value: dtype})


def bef_frame(year: int) -> pl.DataFrame:
    rows = [(pnr(p), *PERSON[p], ident(f), ident(a), k) for p, (f, a, k) in RESIDENCE[year].items()]
    return pl.DataFrame(rows, schema={"PNR": pl.String, "FOED_DAG": pl.Date, "KOEN": pl.Int8, "IE_TYPE": pl.Int8,
                                      "OPR_LAND": pl.Int16, "FAMILIE_ID": pl.String, "ADRESSE_ID": pl.String,
                                      "KOM": pl.Int16}, orient="row")


def write_registers(reg: Path, *, socio13_from: int | None = None) -> Path:
    """Write the delivery into ``reg`` (AKM column SOCIO13 from ``socio13_from`` on, if given)."""
    for sub in ("bef", "udda", "ind", "akm", "lookup"):
        (reg / sub).mkdir(parents=True, exist_ok=True)
    for year in (2003, 2004, 2005):
        bef_frame(year).write_parquet(reg / "bef" / f"bef_{year}.parquet")
        _frame(UDDA[year], "HFAUDD", pl.Int16).write_parquet(reg / "udda" / f"udda_{year}.parquet")
        _frame(IND[year], "DISPON_NY", pl.Float64).write_parquet(reg / "ind" / f"ind_{year}.parquet")
        col = "SOCIO13" if socio13_from is not None and year >= socio13_from else "SOCIO02"
        _frame(AKM[year], col, pl.Int16).write_parquet(reg / "akm" / f"akm_{year}.parquet")
    pl.DataFrame({
        "AFDELING_ID": ["A1", "A2", "A3"], "HELHEDSPLAN_ID": ["HP1", "HP1", None], "KOM": [101, 101, 202],
        "ANVISNING": [True, False, False], "FLEKSIBEL": [False, True, False], "TOOL_START": [2005, 2006, None],
        "FLEX_SHARE": [None, 0.5, None],
    }).write_parquet(reg / "lookup" / "afdeling.parquet")
    pl.DataFrame({"ADRESSE_ID": [ident(a) for a in ("ad1", "ad2", "ad3", "ad4")], "AFDELING_ID": ["A1", "A1", "A2", "A3"]}).write_parquet(
        reg / "lookup" / "afdeling_address.parquet")
    (reg / "lookup" / "cpi.csv").write_text("YEAR,CPI\n" + "".join(f"{y},{c}\n" for y, c in CPI.items()))
    (reg / "lookup" / "hfaudd.csv").write_text("HFAUDD,LEVEL\n10,H10\n15,H15\n20,H20\n30,H30\n70,H70\n")
    (reg / "lookup" / "country.csv").write_text("OPR_LAND,WESTERN\n5100,true\n5170,true\n5453,false\n")
    return reg
