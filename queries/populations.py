"""Whose characteristics: the stock, in-movers and out-movers of an afdeling-year (contract §2).

* ``stock`` of year t: everyone whose afdeling on 31 Dec t is A (their year-t record);
* ``in`` of year t: movers of a kind in ``IN_KINDS`` with ``to_afdeling`` A,
  measured on their year-t record (after the move);
* ``out`` of year t: movers of a kind in ``OUT_KINDS`` with ``from_afdeling``
  A, measured on their year t-1 record (``panel_base`` for the first year).

All three are dated t. Rows keep the panel columns (and the household
columns), with ``afdeling_id`` set to the afdeling the person counts for,
``helhedsplan_id`` that afdeling's, ``year`` the dated year and
``record_year`` the year of the record measured.

Groups are sets of study afdelinger (an afdeling may be in several; a move
between two afdelinger of one group counts in both). :func:`group_rows`
repeats a row once per group of its afdeling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import polars as pl

from panel.errors import InputError
from panel.schema import GROUPS, IN_KINDS, OUT_KINDS, record_years, scan_afdelinger, scan_moves, scan_panel
from queries.household import add_household_columns

Population = Literal["stock", "in", "out"]
POPULATIONS: tuple[str, ...] = get_args(Population)


def check_population(population: str) -> None:
    if population not in POPULATIONS:
        raise InputError(f"population must be one of {', '.join(POPULATIONS)}, got {population!r}")


def group_membership(afdelinger: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``afdeling_id``, ``group``: one row per study afdeling and group it belongs to.

    Tool flags that are null count as false. ``any_tool`` overlaps the three
    exclusive tool groups; ``neither`` is the rest of the study afdelinger.

    Examples
    --------
    >>> a = pl.DataFrame({"afdeling_id": ["A", "B", "C"], "helhedsplan_id": ["h", "h", None],
    ...                   "anvisning": [True, False, True], "fleksibel": [True, False, False]})
    >>> group_membership(a).sort("afdeling_id", "group").collect().rows()
    [('A', 'any_tool'), ('A', 'both'), ('B', 'neither')]
    """
    a, f = pl.col("anvisning").fill_null(False), pl.col("fleksibel").fill_null(False)
    flags = {"any_tool": a | f, "anvisning_only": a & ~f, "fleksibel_only": ~a & f, "both": a & f,
             "neither": ~a & ~f}
    if set(flags) != set(GROUPS):
        raise InputError(f"group definitions {sorted(flags)} do not match panel.schema.GROUPS")
    study = afdelinger.lazy().filter(pl.col("helhedsplan_id").is_not_null())
    return pl.concat([study.filter(cond).select("afdeling_id", group=pl.lit(g)) for g, cond in flags.items()])


def _label(rows: pl.LazyFrame, afdelinger: pl.LazyFrame) -> pl.LazyFrame:
    """Attach the counted afdeling's helhedsplan_id (study afdeling or not)."""
    return (rows.drop("helhedsplan_id")
            .join(afdelinger.select("afdeling_id", "helhedsplan_id"), on="afdeling_id", how="left"))


def stock_rows(records: pl.LazyFrame, afdelinger: pl.LazyFrame, *, years: list[int]) -> pl.LazyFrame:
    """Residents on 31 Dec of each of ``years``, counted for their afdeling."""
    rows = records.filter(pl.col("afdeling_id").is_not_null() & pl.col("year").is_in(years))
    return _label(rows.with_columns(record_year=pl.col("year")), afdelinger)


def in_rows(records: pl.LazyFrame, moves: pl.LazyFrame, afdelinger: pl.LazyFrame, *,
            years: list[int]) -> pl.LazyFrame:
    """In-movers of each of ``years``, measured on their record of that year, counted for ``to_afdeling``."""
    mv = (moves.filter(pl.col("kind").is_in(IN_KINDS) & pl.col("to_afdeling").is_not_null()
                       & pl.col("year").is_in(years))
          .select("person_id", "year", counted=pl.col("to_afdeling")))
    rows = (mv.join(records, on=["person_id", "year"], how="inner")
            .with_columns(afdeling_id=pl.col("counted"), record_year=pl.col("year")).drop("counted"))
    return _label(rows, afdelinger)


def out_rows(records: pl.LazyFrame, moves: pl.LazyFrame, afdelinger: pl.LazyFrame, *,
             years: list[int]) -> pl.LazyFrame:
    """Out-movers of each of ``years``, measured on their t-1 record, counted for ``from_afdeling``."""
    mv = (moves.filter(pl.col("kind").is_in(OUT_KINDS) & pl.col("from_afdeling").is_not_null()
                       & pl.col("year").is_in(years))
          .select("person_id", dated=pl.col("year"), record_year=(pl.col("year") - 1).cast(pl.Int32),
                  counted=pl.col("from_afdeling")))
    rows = (mv.join(records.rename({"year": "record_year"}), on=["person_id", "record_year"], how="inner")
            .with_columns(afdeling_id=pl.col("counted"), year=pl.col("dated")).drop("counted", "dated"))
    return _label(rows, afdelinger)


def rows_for(population: Population, records: pl.LazyFrame, moves: pl.LazyFrame, afdelinger: pl.LazyFrame,
             *, years: list[int]) -> pl.LazyFrame:
    """Dispatch to :func:`stock_rows`, :func:`in_rows` or :func:`out_rows`."""
    check_population(population)
    if population == "stock":
        return stock_rows(records, afdelinger, years=years)
    if population == "in":
        return in_rows(records, moves, afdelinger, years=years)
    return out_rows(records, moves, afdelinger, years=years)


def panel_years(out: str | Path) -> list[int]:
    """The panel years of OUT (without the base year)."""
    return record_years(out)


def records(out: str | Path) -> pl.LazyFrame:
    """Every person-year record of OUT (base year included) with the household columns."""
    return scan_panel(out, include_base=True).pipe(add_household_columns)


def population_rows(out: str | Path, population: Population, *,
                    level: Literal["afdeling", "group"] = "afdeling") -> pl.LazyFrame:
    """Person-level rows of a population: one per person per afdeling-year (or group-year) it counts for.

    For analyses inside the secure environment (e.g. DiD on microdata); never
    release these rows. Columns: the panel columns with ``afdeling_id`` and
    ``helhedsplan_id`` of the afdeling counted for, ``year`` (dated year),
    ``record_year``, the household columns, and with ``level="group"`` also
    ``group``. Apply a registry measure with ``m.counted()`` / ``m.value``.

    Examples
    --------
    >>> from queries.registry import registry
    >>> m = registry()["employment"]
    >>> rows = population_rows("OUT", "in").filter(m.counted())  # doctest: +SKIP
    """
    check_population(population)
    if level not in ("afdeling", "group"):
        raise InputError(f"level must be 'afdeling' or 'group', got {level!r}")
    afd = scan_afdelinger(out)
    rows = rows_for(population, records(out), scan_moves(out), afd, years=panel_years(out))
    if level == "group":
        rows = rows.join(group_membership(afd), on="afdeling_id", how="inner")
    return rows
