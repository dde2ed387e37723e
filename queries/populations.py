"""Whose characteristics: the stock, in-movers and out-movers of an afdeling-year (contract §2), defined once.

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
between two afdelinger of one group counts in both). Areas
(:func:`area_membership`) pool the afdelinger of a boligomraade the same way.

This module is the only definition: :func:`movers` says which move events
make an in- or out-mover, of which afdeling, dated when and measured on which
record year; :func:`year_rows` gives the coded person rows of every
population a record year feeds (what both paths of :mod:`queries.cells` sum),
and :func:`population_rows` the same over all years for analyses (the DiD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar, get_args

import numpy as np
import polars as pl

from panel.errors import InputError
from panel.schema import (
    GROUPS,
    IN_KINDS,
    OUT_KINDS,
    household_parameters,
    record_years,
    scan_afdelinger,
    scan_moves,
    scan_panel,
)
from queries.household import add_household_columns, composition_config, household_columns

Population = Literal["stock", "in", "out"]
POPULATIONS: tuple[str, ...] = get_args(Population)  # a population's code (column ``pop``) is its position
MOVER_KINDS = {"in": IN_KINDS, "out": OUT_KINDS}  # move kinds that make a mover
MOVER_SIDE = {"in": "to_afdeling", "out": "from_afdeling"}  # the afdeling a mover counts for
RECORD_LAG = {"stock": 0, "in": 0, "out": 1}  # record year measured = dated year - lag
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


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


AREA_LEVELS = ("area", "area_rest")  # pooled afdelinger of an area; ``area_rest`` is never published


def area_membership(afdelinger: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``afdeling_id``, ``level``, ``unit``: the afdelinger pooled in each area cell.

    Only areas (``boligomraade_id``) holding a study afdeling get cells: the
    other areas are not part of the study, and publishing every area would
    add cells and disclosure risk. An ``area`` cell pools every afdeling of
    the area, study or not; ``area_rest`` pools its non-study afdelinger. The
    rest is never published, but area minus its published afdelinger gives
    it, so the release withholds an area cell whose rest would be withheld
    (:mod:`queries.area_release`).

    Examples
    --------
    >>> a = pl.DataFrame({"afdeling_id": ["A", "B", "C", "D"], "helhedsplan_id": ["h", None, None, None],
    ...                   "boligomraade_id": ["X", "X", "Y", None]})
    >>> area_membership(a).sort("level", "afdeling_id").collect().rows()
    [('A', 'area', 'X'), ('B', 'area', 'X'), ('B', 'area_rest', 'X')]
    """
    lf = afdelinger.lazy()
    if "boligomraade_id" not in lf.collect_schema().names():
        return pl.LazyFrame(schema={"afdeling_id": pl.String, "level": pl.String, "unit": pl.String})
    have = lf.filter(pl.col("boligomraade_id").is_not_null())
    studied = have.filter(pl.col("helhedsplan_id").is_not_null()).select("boligomraade_id").unique()
    members = have.join(studied, on="boligomraade_id", how="semi")
    area = members.select("afdeling_id", level=pl.lit("area"), unit="boligomraade_id")
    rest = members.filter(pl.col("helhedsplan_id").is_null()).select(
        "afdeling_id", level=pl.lit("area_rest"), unit="boligomraade_id")
    return pl.concat([area, rest]).select(pl.col("afdeling_id").cast(pl.String), "level",
                                          pl.col("unit").cast(pl.String))


def _label(rows: pl.LazyFrame, afdelinger: pl.LazyFrame) -> pl.LazyFrame:
    """Attach the counted afdeling's helhedsplan_id (study afdeling or not)."""
    return (rows.drop("helhedsplan_id")
            .join(afdelinger.select("afdeling_id", "helhedsplan_id"), on="afdeling_id", how="left"))


def stock_rows(records: pl.LazyFrame, afdelinger: pl.LazyFrame, *, years: list[int]) -> pl.LazyFrame:
    """Residents on 31 Dec of each of ``years``, counted for their afdeling."""
    rows = records.filter(pl.col("afdeling_id").is_not_null() & pl.col("year").is_in(years))
    return _label(rows.with_columns(record_year=pl.col("year")), afdelinger)


def movers(moves: FrameT, population: str, *, years: list[int] | None = None) -> FrameT:
    """The move events that make the in- or out-movers of ``years``: ``person_id``, ``year`` (dated),
    ``record_year`` (the record measured) and ``counted`` (the afdeling they count for), in the moves' order.

    Examples
    --------
    >>> mv = pl.DataFrame({"person_id": [1, 2, 3], "year": [2011] * 3, "kind": ["between", "birth", "exit"],
    ...                    "from_afdeling": ["A", None, "B"], "to_afdeling": ["B", "B", None]})
    >>> movers(mv, "out").rows()
    [(1, 2011, 2010, 'A')]
    """
    if population not in MOVER_KINDS:
        raise InputError(f"movers: population must be 'in' or 'out', got {population!r}")
    side = MOVER_SIDE[population]
    keep = pl.col("kind").is_in(MOVER_KINDS[population]) & pl.col(side).is_not_null()
    if years is not None:
        keep &= pl.col("year").is_in(years)
    return moves.filter(keep).select(
        "person_id", pl.col("year").cast(pl.Int32),
        record_year=(pl.col("year") - RECORD_LAG[population]).cast(pl.Int32), counted=pl.col(side))


def fed_by(record_year: int, years: list[int]) -> list[tuple[str, int]]:
    """(population, dated year) of every population measured on the records of ``record_year``.

    Stock and in-movers of that year (a panel year), the out-movers of the next.
    """
    return [(p, record_year + RECORD_LAG[p]) for p in POPULATIONS if record_year + RECORD_LAG[p] in years]


def year_rows(rec: pl.DataFrame, moves: pl.DataFrame, *, record_year: int, years: list[int], columns: list[str],
              pos: np.ndarray | None = None) -> pl.LazyFrame:
    """The person rows of every population fed by the records ``rec`` of ``record_year``.

    Columns: ``columns`` of ``rec``, ``counted`` (the afdeling counted for),
    ``pop`` (the population's code, its position in :data:`POPULATIONS`) and
    ``year`` (dated). Stock rows in ``rec``'s order, then in-movers, then
    out-movers in the order of ``moves`` (float sums add rows in this order).
    ``pos``: the row of each ``person_id`` in ``rec`` (movers gathered by
    position, :func:`queries.cells.person_rows`), or None (joined).
    """
    parts = []
    for population, dated in fed_by(record_year, years):
        code = pl.lit(POPULATIONS.index(population), pl.Int64)
        if population == "stock":
            rows = rec.lazy().filter(pl.col("afdeling_id").is_not_null()).select(*columns, counted="afdeling_id")
        else:
            mv = movers(moves.filter(pl.col("year") == dated), population)
            if pos is None:
                cols = ["person_id", *(c for c in columns if c != "person_id")]
                rows = mv.select("person_id", "counted").join(rec.select(cols), on="person_id")
            else:
                pid = mv["person_id"].to_numpy()
                r = np.full(len(pid), -1, dtype=np.int64)
                inside = (pid >= 0) & (pid < len(pos))
                r[inside] = pos[pid[inside]]
                found = r >= 0
                rows = rec.select(columns)[r[found]].with_columns(counted=mv["counted"].filter(pl.Series(found)))
            rows = rows.lazy().select(*columns, "counted")
        parts.append(rows.with_columns(pop=code, year=pl.lit(dated, pl.Int32)))
    if not parts:
        return pl.LazyFrame(schema={**{c: rec.schema[c] for c in columns}, "counted": pl.String, "pop": pl.Int64,
                                    "year": pl.Int32})
    return pl.concat(parts)


def in_rows(records: pl.LazyFrame, moves: pl.LazyFrame, afdelinger: pl.LazyFrame, *,
            years: list[int]) -> pl.LazyFrame:
    """In-movers of each of ``years``, measured on their record of that year, counted for ``to_afdeling``."""
    return _measured(records, movers(moves, "in", years=years), afdelinger)


def out_rows(records: pl.LazyFrame, moves: pl.LazyFrame, afdelinger: pl.LazyFrame, *,
             years: list[int]) -> pl.LazyFrame:
    """Out-movers of each of ``years``, measured on their t-1 record, counted for ``from_afdeling``."""
    return _measured(records, movers(moves, "out", years=years), afdelinger)


def _measured(records: pl.LazyFrame, mv: pl.LazyFrame, afdelinger: pl.LazyFrame) -> pl.LazyFrame:
    """The movers' records of their ``record_year``, counted for their afdeling and dated their move's year."""
    rows = (mv.rename({"year": "dated"})
            .join(records.rename({"year": "record_year"}), on=["person_id", "record_year"], how="inner")
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
    """Every person-year record of OUT (base year included) with the household columns.

    The composition columns the build wrote are used as they are; a panel
    written before them is counted with the same flags (:mod:`queries.household`).
    """
    composition = composition_config(out)
    if household_parameters(out) is not None:
        return scan_panel(out, include_base=True).pipe(household_columns)
    return scan_panel(out, include_base=True).pipe(add_household_columns, composition=composition)


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
