"""A tiny hand-written DST-style register delivery for the secure-environment tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl


def write_delivery(reg: Path, years: range = range(2004, 2008)) -> None:
    """A tiny, valid DST-style delivery: 3 persons per year, every register and lookup."""
    for y in years:
        (reg / "bef").mkdir(parents=True, exist_ok=True)
        pl.DataFrame({
            "PNR": ["a1", "a2", "a3"], "FOED_DAG": [dt.date(1970, 1, 1)] * 3, "KOEN": [1, 2, 1],
            "IE_TYPE": [1, 2, 3], "OPR_LAND": [5100, 5120, 5100], "FAMILIE_ID": ["f1", "f1", None],
            "ADRESSE_ID": ["x1", "x2", None],
        }).write_parquet(reg / "bef" / f"bef_{y}.parquet")
        for name, cols in (("udda", {"HFAUDD": [10, 20, None]}), ("ind", {"DISPON_NY": [1.0, 2.0, 3.0]}),
                           ("akm", {("SOCIO02" if y <= 2008 else "SOCIO13"): [111, 210, 330]})):
            (reg / name).mkdir(parents=True, exist_ok=True)
            pl.DataFrame({"PNR": ["a1", "a2", "a3"], **cols}).write_parquet(reg / name / f"{name}_{y}.parquet")
    lk = reg / "lookup"
    lk.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"AFDELING_ID": ["A"], "HELHEDSPLAN_ID": ["H"], "KOM": [101], "ANVISNING": [True],
                  "FLEKSIBEL": [False], "TOOL_START": [2008], "FLEX_SHARE": [0.1]}).write_parquet(lk / "afdeling.parquet")
    pl.DataFrame({"ADRESSE_ID": ["x1"], "AFDELING_ID": ["A"]}).write_parquet(lk / "afdeling_address.parquet")
    (lk / "cpi.csv").write_text("YEAR,CPI\n" + "".join(f"{y},{100 + y - 2000}\n" for y in range(2000, 2014)))
    (lk / "hfaudd.csv").write_text("HFAUDD,LEVEL\n10,H10\n20,H20\n")
    (lk / "country.csv").write_text("OPR_LAND,WESTERN\n5100,true\n5120,false\n")
