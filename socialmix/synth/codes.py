"""DST-style code tables and identifier strings of the synthetic registers.

The lookups written to ``REG/lookup/`` are built from the calibration, so
every code the generator draws is resolvable by the build. Identifiers are
integer surrogates inside the generator and become DST-looking strings only
when a file is written (a bijective scramble, so they look arbitrary but stay
unique and stable across years).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

LEVELS = ("H10", "H15", "H20", "H30", "H35", "H40", "H50", "H60", "H70", "H80")
_MOD = 10**10


def hfaudd_table(cfg: dict[str, Any]) -> pl.DataFrame:
    """The ``lookup/hfaudd.csv`` table: every code of every level."""
    codes = [(c, lev) for lev in LEVELS for c in cfg["codes"][lev]]
    return pl.DataFrame({"HFAUDD": [c for c, _ in codes], "LEVEL": [lev for _, lev in codes]},
                        schema={"HFAUDD": pl.Int32, "LEVEL": pl.String})


def country_table(cfg: dict[str, Any]) -> pl.DataFrame:
    """The ``lookup/country.csv`` table (Denmark and Western countries are WESTERN true)."""
    c = cfg["codes"]
    west = [c["denmark"], *c["western_countries"]]
    non = list(c["nonwestern_countries"])
    return pl.DataFrame({"OPR_LAND": west + non, "WESTERN": [True] * len(west) + [False] * len(non)},
                        schema={"OPR_LAND": pl.Int32, "WESTERN": pl.Boolean}).sort("OPR_LAND")


def cpi_table(cfg: dict[str, Any], *, base_year: int | None = None) -> pl.DataFrame:
    """The ``lookup/cpi.csv`` table for the generated years (and ``base_year``, the build's price year)."""
    years = sorted({*range(cfg["years"]["first"], cfg["years"]["last"] + 1), *([base_year] if base_year else [])})
    return pl.DataFrame({"YEAR": list(years), "CPI": [float(cfg["cpi"][str(y)]) for y in years]},
                        schema={"YEAR": pl.Int32, "CPI": pl.Float64})


def level_code_arrays(cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per level (index into LEVELS): padded code matrix and the number of codes."""
    lists = [cfg["codes"][lev] for lev in LEVELS]
    width = max(len(x) for x in lists)
    mat = np.zeros((len(LEVELS), width), dtype=np.int32)
    for i, x in enumerate(lists):
        mat[i, : len(x)] = x
    return mat, np.array([len(x) for x in lists], dtype=np.int32)


def scramble(x: pl.Expr, *, salt: int) -> pl.Expr:
    """A 10-digit identifier string from a non-negative integer surrogate.

    ``(x * 7_919_000_003 + salt) mod 10**10`` is a bijection on ``[0, 10**10)``
    (the multiplier is coprime to 10), so distinct surrogates stay distinct.

    Examples
    --------
    >>> pl.select(scramble(pl.lit(1, pl.Int64), salt=0)).item()
    '7919000003'
    """
    mult = 7_919_000_003
    # split the product to stay inside int64: x < 10**9 here
    hi = (x // 100_000) * ((mult * 100_000) % _MOD) % _MOD
    lo = (x % 100_000) * mult % _MOD
    return ((hi + lo + salt) % _MOD).cast(pl.String).str.zfill(10)


def pnr(birth: pl.Expr, serial: pl.Expr) -> pl.Expr:
    """A CPR-style PNR ``DDMMYY`` + 4 digits from a birth date and a per-date serial.

    The last four digits are ``serial * 7919 mod 10**4`` (a bijection for
    serial < 10 000), so two persons born the same day never share a PNR.
    """
    last4 = (serial.cast(pl.Int64) * 7919 % 10_000).cast(pl.String).str.zfill(4)
    return pl.concat_str([birth.dt.strftime("%d%m%y"), last4])


def pnr_order(birth_days: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """An integer that sorts like :func:`pnr`'s string (``DDMMYY`` then the last four digits).

    Why: the registers are written in PNR order, and sorting integers each
    year is far cheaper than sorting millions of strings. ``birth_days`` are
    days since 1970-01-01.
    """
    d = np.asarray(birth_days).astype("datetime64[D]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    last4 = np.asarray(serial).astype(np.int64) * 7919 % 10_000
    return ((day * 100 + month) * 100 + year % 100) * 10_000 + last4
