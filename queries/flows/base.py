"""The person-year pairs every flow table is built from.

Flows compare a person's 31 Dec t-1 record with the 31 Dec t record. Only
persons who ever live in a study afdeling can appear in a flow table, so the
panel is cut to them first (one semi-join over the whole panel); everything
after works on that much smaller frame, collected once and shared by all
tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from panel.config import load_config
from panel.errors import InputError
from panel.schema import household_parameters, record_years, scan_afdelinger, scan_panel
from queries.aggregate import sum_columns
from queries.household import add_household_columns, composition_config, household_columns, household_key
from queries.populations import group_membership
from queries.registry import Measure


def load_flow_config(override: str | Path | None = None) -> dict:
    """The shipped ``flows.toml`` merged with an optional user file."""
    return load_config("queries.flows", "flows.toml", override)


def panel_years(out: Path) -> tuple[int, int]:
    """First and last panel year (Y1, Y2), without the base year."""
    years = scan_panel(out).select(pl.col("year").min().alias("lo"), pl.col("year").max().alias("hi")).collect()
    lo, hi = years.row(0)
    if lo is None:
        raise InputError("panel has no rows", file=Path(out) / "panel")
    return int(lo), int(hi)


def study_persons(panel: pl.LazyFrame) -> pl.LazyFrame:
    """``person_id`` of everyone ever in a study afdeling (small: collected by one streaming pass)."""
    ever = panel.filter(pl.col("helhedsplan_id").is_not_null()).select("person_id").unique()
    return ever.collect(engine="streaming").lazy()


def subpanel(panel: pl.LazyFrame, measures: Mapping[str, Measure], *,
             config: Mapping[str, Any] | None = None, composition: Mapping[str, Any] | None = None,
             ever: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Every person-year (base year included) of persons ever in a study afdeling, narrowed.

    The household columns are the panel's, as built (``composition`` None:
    :func:`queries.household.household_columns`); a panel written before the
    build wrote them is counted with ``composition``
    (:func:`queries.household.add_household_columns`), which needs whole
    households, so on every person sharing a household-year with such a
    person before the cut. ``ever``: the persons to keep (:func:`study_persons`
    of the whole panel; default: of ``panel``), so that ``panel`` may be one
    year of it. Columns: ``person_id,
    year, afd, study, age, socio, kom, hh, rs, kids, y_<measure>...`` where
    ``rs`` marks a resource-strong household and ``kids`` one with children
    (registry definitions), and ``y_<m>`` is the measure's contribution (null
    outside its population or unknown).
    """
    keyed = panel.with_columns(household_key())
    # the two key sets are small: materialise them so each pass over the panel streams
    if ever is None:
        ever = study_persons(panel)
    if composition is None:
        with_hh = household_columns(keyed.join(ever, on="person_id", how="semi"), config=config)
    else:
        their_hh = keyed.join(ever, on="person_id", how="semi").select("year", "hh_key").unique()
        their_hh = their_hh.collect(engine="streaming").lazy()
        members = keyed.join(their_hh, on=["year", "hh_key"], how="semi")
        with_hh = (add_household_columns(members, config=config, composition=composition)
                   .join(ever, on="person_id", how="semi"))
    return (
        with_hh
        .select(
            "person_id",
            "year",
            pl.col("afdeling_id").alias("afd"),
            pl.col("helhedsplan_id").is_not_null().alias("study"),
            "age",
            pl.col("socio_category").alias("socio"),
            "kom",
            pl.col("hh_key").alias("hh"),
            pl.col("hh_resource_strong").fill_null(False).alias("rs"),
            (pl.col("hh_children") > 0).fill_null(False).alias("kids"),
            *[m.contribution().alias(f"y_{name}") for name, m in measures.items()],
        )
    )


def with_spells(sub: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``spell_start``: the first year-end of the person's unbroken stay in the afdeling.

    A stay is unbroken while the person is in the same afdeling at every
    consecutive year-end (moves inside the afdeling do not break it; a year
    outside it, or outside the BEF, does). Null for rows outside public housing.

    Examples
    --------
    >>> lf = pl.LazyFrame({"person_id": [1, 1, 1, 1], "year": [1, 2, 3, 5], "afd": ["a", "a", "b", "b"]})
    >>> with_spells(lf).collect()["spell_start"].to_list()
    [1, 1, 3, 5]
    """
    prev_afd = pl.col("afd").shift(1).over("person_id")
    prev_year = pl.col("year").shift(1).over("person_id")
    cont = ((prev_afd == pl.col("afd")) & (prev_year == pl.col("year") - 1)).fill_null(False)
    return (
        sub.sort("person_id", "year")
        .with_columns((~cont).cast(pl.Int32).cum_sum().over("person_id").alias("_spell"))
        .with_columns(
            pl.when(pl.col("afd").is_not_null())
            .then(pl.col("year").min().over("person_id", "_spell"))
            .alias("spell_start")
        )
        .drop("_spell")
    )


def carry_spells(cur: pl.DataFrame, prev: pl.DataFrame | None) -> pl.DataFrame:
    """:func:`with_spells` one year at a time: add ``spell_start`` to the rows of year t from those of t-1.

    ``prev`` holds the sub-panel rows of year t-1 with their ``spell_start``
    (None when t-1 is not observed). A stay goes on when the person lived in
    the same afdeling at 31 Dec t-1; else it starts at t. The only state
    carried across years is one integer per person.

    Examples
    --------
    >>> y1 = carry_spells(pl.DataFrame({"person_id": [1, 2], "year": [1, 1], "afd": ["a", "a"]}), None)
    >>> y2 = pl.DataFrame({"person_id": [1, 2, 3], "year": [2, 2, 2], "afd": ["a", "b", None]})
    >>> carry_spells(y2, y1)["spell_start"].to_list()
    [1, 2, None]
    """
    here = pl.col("afd").is_not_null()
    if prev is None:
        return cur.with_columns(spell_start=pl.when(here).then(pl.col("year")))
    before = prev.filter(pl.col("afd").is_not_null()).select("person_id", _afd="afd", _start="spell_start")
    return (cur.join(before, on="person_id", how="left")
            .with_columns(spell_start=pl.when(here & (pl.col("afd") == pl.col("_afd"))).then(pl.col("_start"))
                          .when(here).then(pl.col("year")))
            .drop("_afd", "_start"))


def year_frames(out: Path, measures: Mapping[str, Measure], *, config: Mapping[str, Any] | None = None
                ) -> Iterator[tuple[int, pl.DataFrame]]:
    """The sub-panel of :func:`load_frames` (with spells) one record year at a time, base year first.

    Only one year of the panel is read at a time; what crosses years is the
    set of persons ever in a study afdeling and the spell start of each.
    """
    built = household_parameters(out) is not None  # the build wrote the household composition: read it
    panel = scan_panel(out, include_base=True)
    ever = study_persons(panel)
    prev: pl.DataFrame | None = None
    for year in record_years(out, include_base=True):
        rows = subpanel(panel.filter(pl.col("year") == year), measures, config=config, ever=ever,
                        composition=None if built else composition_config(out)).collect()
        rows = carry_spells(rows, prev if prev is not None and prev.height and int(prev["year"][0]) == year - 1
                            else None)
        yield year, rows
        prev = rows


def add_group_rows(afd_counts: pl.LazyFrame, groups: pl.LazyFrame, keys: list[str], sums: list[str]) -> pl.LazyFrame:
    """Afdeling counts plus group rows (sums over the group's afdelinger), with a ``level`` column."""
    grp = (
        afd_counts.join(groups, left_on="unit", right_on="afdeling_id", how="inner")
        .group_by("group", *keys)
        .agg(sum_columns(afd_counts, sums))  # (the same float sums every run)
        .rename({"group": "unit"})
        .with_columns(pl.lit("group").alias("level"))
    )
    return pl.concat([afd_counts.with_columns(pl.lit("afdeling").alias("level")), grp], how="diagonal")


def pairs(sub: pl.LazyFrame, *, first_year: int, last_year: int) -> pl.LazyFrame:
    """Person x year t rows joining the t-1 record (suffix ``_prev``) and the t record.

    Only years ``first_year < t <= last_year`` (t-1 must be observed) and only
    pairs with a study afdeling at t-1 or t. Adds
    ``present_prev``/``present`` (in the BEF at the year-end), the fate of a
    t-1 resident of ``afd_prev`` (``stay``, ``out``, ``exit``) and the origin
    of a t resident of ``afd`` (``stay``, ``in``, ``birth``, ``immigration``),
    following contract §2: a move inside one afdeling is no move, ``exit`` is
    death or emigration, a person not in the BEF at t-1 and aged 0 at t is a
    birth, otherwise an immigrant.
    """
    cur = sub.with_columns(pl.lit(True).alias("present"))
    prev = cur.with_columns(pl.col("year") + 1).rename(
        {c: f"{c}_prev" for c in cur.collect_schema().names() if c not in ("person_id", "year")}
    )
    # only pairs with a study afdeling on one side feed a table: cut both sides before the join
    in_study = sub.filter(pl.col("study")).select("person_id", "year")
    needed = pl.concat([in_study, in_study.with_columns(pl.col("year") + 1)]).unique()
    cur = cur.join(needed, on=["person_id", "year"], how="semi")
    prev = prev.join(needed, on=["person_id", "year"], how="semi")
    same = (pl.col("afd_prev") == pl.col("afd")).fill_null(False)
    return (
        cur.join(prev, on=["person_id", "year"], how="full", coalesce=True)
        .filter((pl.col("year") > first_year) & (pl.col("year") <= last_year))
        .with_columns(pl.col("present").fill_null(False), pl.col("present_prev").fill_null(False))
        .with_columns(
            pl.when(pl.col("afd_prev").is_null())
            .then(None)
            .when(same)
            .then(pl.lit("stay"))
            .when(pl.col("present"))
            .then(pl.lit("out"))
            .otherwise(pl.lit("exit"))
            .alias("fate"),
            pl.when(pl.col("afd").is_null())
            .then(None)
            .when(same)
            .then(pl.lit("stay"))
            .when(pl.col("present_prev"))
            .then(pl.lit("in"))
            .when(pl.col("age") == 0)
            .then(pl.lit("birth"))
            .otherwise(pl.lit("immigration"))
            .alias("origin"),
        )
    )


def stock_measures(measures: Mapping[str, Measure]) -> dict[str, Measure]:
    """The share and mean measures (a decomposition of a sum is not defined here)."""
    return {k: m for k, m in measures.items() if m.kind in ("share", "mean")}


def load_frames(out: Path, measures: Mapping[str, Measure], *, config: Mapping[str, Any] | None = None
                ) -> tuple[pl.DataFrame, pl.DataFrame, int, int, int]:
    """Collect the narrowed sub-panel (with spells) and the afdeling -> group map once.

    Returns ``(sub, groups, first_year, y1, y2)`` where ``first_year`` is the
    first observed year (Y1-1 when the base year was built).
    """
    y1, y2 = panel_years(out)
    # the streaming engine keeps the three passes over the whole panel to bounded memory
    built = household_parameters(out) is not None  # the build wrote the household composition: read it
    sub = subpanel(scan_panel(out, include_base=True), measures, config=config,
                   composition=None if built else composition_config(out)).collect(engine="streaming")
    sub = sub.lazy().pipe(with_spells).collect()
    first_year = int(sub["year"].min()) if sub.height else y1
    groups = group_membership(scan_afdelinger(out)).collect()
    return sub, groups, first_year, y1, y2
