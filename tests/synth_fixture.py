"""Shared synthetic registers for the tests/test_synth_*.py modules, and a plain reader.

Registers are generated once per test process (cached), so all synth test
modules share them. ``person_year`` joins one year of the register files
with plain polars, independently of panel/ and queries/, so the tests check
the generator against the contract definitions directly.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import polars as pl

from socialmix.synth import generate

MID_PERSONS = 120_000
SMALL_PERSONS = 20_000
EFFECT = 0.10
PENSION = [321, 322, 323]
_ROOT = Path(tempfile.mkdtemp(prefix="socialmix-synth-tests-"))


@functools.cache
def registers(persons: int, seed: int, effect: float) -> Path:
    """Generate (once per process) and return the REG folder."""
    reg = _ROOT / f"reg_{persons}_{seed}_{effect}"
    generate(reg, persons=persons, seed=seed, effect=effect)
    return reg


def socio_column(year: int) -> str:
    return "SOCIO02" if year <= 2008 else "SOCIO13"


@functools.cache
def _lookups(reg: Path) -> dict[str, pl.DataFrame]:
    lk = reg / "lookup"
    return {
        "afdeling": pl.read_parquet(lk / "afdeling.parquet"),
        "address": pl.read_parquet(lk / "afdeling_address.parquet"),
        "cpi": pl.read_csv(lk / "cpi.csv"),
        "hfaudd": pl.read_csv(lk / "hfaudd.csv"),
        "country": pl.read_csv(lk / "country.csv"),
    }


@functools.cache
def person_year(reg: Path, year: int) -> pl.DataFrame:
    """One row per BEF person of ``year`` with afdeling, group flags and the four measure inputs."""
    lk = _lookups(reg)
    afd = lk["afdeling"]
    cpi = dict(zip(lk["cpi"]["YEAR"], lk["cpi"]["CPI"], strict=True))
    bef = pl.read_parquet(reg / "bef" / f"bef_{year}.parquet")
    udda = pl.read_parquet(reg / "udda" / f"udda_{year}.parquet").with_columns(udda_row=pl.lit(True))
    ind = pl.read_parquet(reg / "ind" / f"ind_{year}.parquet")
    akm = pl.read_parquet(reg / "akm" / f"akm_{year}.parquet").rename({socio_column(year): "SOCIO"})
    d = (bef.join(lk["address"], on="ADRESSE_ID", how="left")
         .join(afd, on="AFDELING_ID", how="left", suffix="_AFD")
         .join(udda, on="PNR", how="left").join(lk["hfaudd"], on="HFAUDD", how="left")
         .join(ind, on="PNR", how="left").join(akm, on="PNR", how="left")
         .join(lk["country"], on="OPR_LAND", how="left"))
    age = year - pl.col("FOED_DAG").dt.year()
    known = pl.col("SOCIO").is_not_null() & ~pl.col("SOCIO").is_in([0, 999])
    adult = age.is_between(18, 64)
    inc = pl.col("DISPON_NY").fill_null(0.0) * cpi[2013] / cpi[year]
    d = d.with_columns(
        age=age, adult=adult,
        lf=adult & known & ~pl.col("SOCIO").is_in(PENSION),
        employed=pl.col("SOCIO").is_between(111, 139),
        competence=pl.when(pl.col("LEVEL").is_null()).then(None).otherwise(~pl.col("LEVEL").is_in(["H10", "H15"])),
        non_western=pl.col("IE_TYPE").is_in([2, 3]) & ~pl.col("WESTERN"),
        study=pl.col("HELHEDSPLAN_ID").is_not_null(),
        inc=inc,
    )
    return d.with_columns(hh_income=pl.col("inc").sum().over("FAMILIE_ID"))


def levels(d: pl.DataFrame) -> dict[str, float]:
    """The four contract measures, person-weighted, over the rows of ``d``."""
    lf = d.filter(pl.col("lf"))
    return {
        "education": lf["competence"].drop_nulls().mean(),
        "employment": lf["employed"].mean(),
        "income": d.filter(pl.col("adult"))["hh_income"].mean(),
        "non_western": d["non_western"].mean(),
    }
