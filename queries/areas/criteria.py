"""The five criteria of the area lists, per area (or afdeling) and year, and the statuses they give.

Input is person-years with ``unit`` (the area or afdeling), ``year``, ``age``,
``non_western``, ``socio_category``, ``education_level``, ``convicted`` (null
= no conviction register), ``gross_income`` (null = not delivered) and
``region``. The reference values (national conviction share, the region's mean
gross income) come from the whole population, not only public housing.

Criterion values (a share as a fraction; ``income_ratio`` the area's mean over
the region's):

- ``outside_work_education``: persons in the age band with a known AKM category
  that is none of ``categories`` (employed, education), over those persons;
- ``non_western_origin``: non-Western residents over all residents;
- ``convicted``: residents in the age band convicted that year (any counted
  offence), over the residents in the band;
- ``basic_education``: residents in the band whose highest education is in
  ``levels`` (and unknown, if ``include_unknown``), over the band (unknowns in
  the denominator only if counted);
- ``income_ratio``: mean gross income of the band's taxpayers (a gross income
  delivered) excluding students (AKM ``education``) over the same group's mean
  in the area's region.

A criterion with ``average_years`` = k is the mean of its yearly values over
years t−k+1 … t, and missing (null) when one of them is missing.
"""

from __future__ import annotations

import polars as pl

from queries.areas.rules import Criterion, RuleVersion

COUNT = "_k_"
DENOM = "_n_"


def _band(c: Criterion) -> pl.Expr:
    return pl.col("age").is_between(c.ages[0], c.ages[1])


def _parts(c: Criterion) -> tuple[pl.Expr, pl.Expr]:
    """(in denominator, numerator value) of one criterion's yearly share or mean, per person."""
    band = _band(c)
    if c.name == "outside_work_education":
        known = pl.col("socio_category").is_not_null()
        return band & known, ~pl.col("socio_category").is_in(list(c.categories))
    if c.name == "non_western_origin":
        return band & pl.col("non_western").is_not_null(), pl.col("non_western")
    if c.name == "convicted":
        return band & pl.col("convicted").is_not_null(), pl.col("convicted")
    if c.name == "basic_education":
        level = pl.col("education_level")
        basic = level.is_in(list(c.levels))
        if c.include_unknown:
            return band, basic.fill_null(True)
        return band & level.is_not_null(), basic
    # income_ratio: the mean gross income of taxpayers excluding students
    taxpayer = pl.col("gross_income").is_not_null() & (pl.col("socio_category").fill_null("") != "education")
    return band & taxpayer, pl.col("gross_income")


def yearly(persons: pl.LazyFrame, version: RuleVersion, keys: list[str]) -> pl.LazyFrame:
    """Per ``keys`` (+ year): residents and, per criterion, ``_k_name`` (numerator) and ``_n_name``."""
    aggs = [pl.len().cast(pl.Int64).alias("residents")]
    for c in version.criteria.values():
        inside, value = _parts(c)
        aggs.append(value.cast(pl.Float64).filter(inside).sum().alias(COUNT + c.name))
        aggs.append(inside.fill_null(False).sum().cast(pl.Int64).alias(DENOM + c.name))
    return persons.group_by([*keys, "year"]).agg(aggs)


def _yearly_value(name: str) -> pl.Expr:
    n = pl.col(DENOM + name)
    return pl.when(n > 0).then(pl.col(COUNT + name) / n).otherwise(None)


def lag_window(frame: pl.DataFrame, keys: list[str], column: str, years: int) -> tuple[pl.DataFrame, list[str]]:
    """``column`` of years t, t−1 … t−years+1 side by side per row of ``frame`` (null where a year is missing).

    Returns the joined frame (in ``frame``'s row order) and the names of the window's columns.
    """
    out = frame.select([*keys, "year", column])
    for lag in range(1, years):
        out = out.join(frame.select([*keys, (pl.col("year") + lag).alias("year"), pl.col(column).alias(f"_lag{lag}")]),
                       on=[*keys, "year"], how="left", maintain_order="left")
    return out, [column, *(f"_lag{lag}" for lag in range(1, years))]


def _averaged(frame: pl.DataFrame, keys: list[str], column: str, years: int) -> pl.Series:
    """Mean of ``column`` over years t−years+1 … t within ``keys``; null when a year is missing."""
    if years == 1:
        return frame[column]
    joined, cols = lag_window(frame, keys, column, years)
    return joined.select(pl.when(pl.all_horizontal([pl.col(c).is_not_null() for c in cols]))
                         .then(pl.mean_horizontal(cols)).otherwise(None).alias(column))[column]


EPS = 1e-12  # a share equal to its threshold up to rounding is equal (3 x 1.0 % is 3.0 %)


def _compare(value: pl.Expr, compare: str, bound: pl.Expr | float) -> pl.Expr:
    return {">": value > bound + EPS, ">=": value >= bound - EPS, "<": value < bound - EPS,
            "<=": value <= bound + EPS}[compare]


def criterion_values(units: pl.DataFrame, version: RuleVersion, *, keys: list[str],
                     national: pl.DataFrame, region: pl.DataFrame) -> pl.DataFrame:
    """Values and ``*_met`` of every criterion of ``version`` per unit-year, from :func:`yearly` output.

    ``units`` must carry ``region`` (the unit's region); ``national`` is
    :func:`yearly` over the whole population (keys = []), ``region`` over the
    whole population by region (keys = ["region"]). Both years and lagged
    years must be present for averaged criteria.
    """
    units = units.sort([*keys, "year"])
    national = national.sort("year")
    out = units.select([*keys, "year", "region", "residents"])
    for c in version.criteria.values():
        if c.name == "income_ratio":
            ref = region.select("region", "year", _yearly_value(c.name).alias("_ref"))
            ratio = units.join(ref, on=["region", "year"], how="left").select(
                [*keys, "year", (_yearly_value(c.name) / pl.col("_ref")).alias("_v")])
            value = _averaged(ratio, keys, "_v", c.average_years)
            bound: pl.Expr | float = c.threshold
        else:
            yearly_v = units.select([*keys, "year", _yearly_value(c.name).alias("_v")])
            value = _averaged(yearly_v, keys, "_v", c.average_years)
            bound = c.threshold
            if c.relative_to_national:
                nat = national.select("year", _yearly_value(c.name).alias("_v"))
                nat = nat.with_columns(_averaged(nat, [], "_v", c.average_years).alias("_nat")).select("year", "_nat")
                out = out.join(nat, on="year", how="left")
                bound = c.threshold * pl.col("_nat")
        out = out.with_columns(value.alias(c.name))
        out = out.with_columns(_compare(pl.col(c.name), c.compare, bound).alias(f"{c.name}_met"))
        if "_nat" in out.columns:
            out = out.drop("_nat")
    return out


def assign_status(values: pl.DataFrame, version: RuleVersion, *, keys: list[str],
                  afdeling_max: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``status``: the last status of ``version`` whose conditions hold (a null criterion is not met).

    ``afdeling_max`` (keys + year + one column per criterion: the largest
    afdeling value inside the unit) serves alternatives with
    ``afdeling_max_at_least`` (kombineret udlejning before 2009).
    """
    frame = values.sort([*keys, "year"])
    if afdeling_max is not None:
        frame = frame.join(afdeling_max.rename({c: f"_max_{c}" for c in afdeling_max.columns
                                                if c not in (*keys, "year")}), on=[*keys, "year"], how="left")
    big = pl.col("residents") >= version.min_residents
    held: dict[str, pl.Expr] = {}
    status = pl.lit("none")
    for s in version.statuses:
        cond = big
        if s.of:
            cond = cond & (pl.sum_horizontal([pl.col(f"{c}_met").fill_null(False).cast(pl.Int32) for c in s.of])
                           >= s.needed)
        for r in s.requires:
            cond = cond & (pl.col(f"_held_{r}") if r in held else pl.col(f"{r}_met").fill_null(False))
        if s.any:
            alts = []
            for a in s.any:
                alt = (pl.col("residents") >= a.min_residents) & _compare(pl.col(a.criterion), a.compare,
                                                                           a.threshold).fill_null(False)
                if a.afdeling_max_at_least is not None:
                    alt = alt & (pl.col(f"_max_{a.criterion}") >= a.afdeling_max_at_least).fill_null(False)
                alts.append(alt)
            cond = cond & pl.any_horizontal(alts)
        frame = frame.with_columns(cond.fill_null(False).alias(f"_held_{s.name}"))
        if s.years_running > 1:
            base = frame.select([*keys, "year", f"_held_{s.name}"])
            run = frame.select([*keys, "year"]).with_columns(_ok=pl.lit(True))
            for lag in range(s.years_running):
                lagged = base.select([*keys, (pl.col("year") + lag).alias("year"),
                                      pl.col(f"_held_{s.name}").alias("_b")])
                run = run.join(lagged, on=[*keys, "year"], how="left").with_columns(
                    _ok=pl.col("_ok") & pl.col("_b").fill_null(False)).drop("_b")
            frame = frame.drop(f"_held_{s.name}").join(run.rename({"_ok": f"_held_{s.name}"}),
                                                       on=[*keys, "year"], how="left")
        held[s.name] = pl.col(f"_held_{s.name}")
        status = pl.when(pl.col(f"_held_{s.name}")).then(pl.lit(s.name)).otherwise(status)
    frame = frame.with_columns(status=status)
    return frame.drop([c for c in frame.columns if c.startswith("_held_") or c.startswith("_max_")])
