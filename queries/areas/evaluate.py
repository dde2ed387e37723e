"""One rule version applied to person-years: the area table and the afdeling table, with disclosure.

Released design (docs/areas.md): the area table publishes each criterion's
value and whether it is met; the afdeling table only the ``*_met`` flags and
residents. Publishing afdeling values beside area values would let a reader
difference a withheld afdeling numerator out of its area's; flags are not
additive, so the two tables cannot be linked that way.
"""

from __future__ import annotations

import polars as pl

from queries.areas.criteria import COUNT, DENOM, assign_status, criterion_values, lag_window, yearly
from queries.areas.rules import CRITERIA, RuleVersion

AREA_COLUMNS = ("area", "year", "rule", "residents",
                *(c for name in CRITERIA for c in (name, f"{name}_met")), "status", "suppressed")
AFDELING_COLUMNS = ("afdeling", "area", "year", "rule", "residents", *(f"{name}_met" for name in CRITERIA),
                    "suppressed")


def _small(units: pl.DataFrame, version: RuleVersion, min_persons: int, class_min_n: int = 0) -> pl.DataFrame:
    """Per unit-year and criterion: whether its yearly count rests on too few persons (either side).

    A share of exactly 0 or 1 ("no one / everyone in the area") also needs ``class_min_n`` persons (the
    release's class-disclosure rule).
    """
    flags = []
    for c in version.criteria.values():
        n = pl.col(DENOM + c.name)
        if c.name == "income_ratio":
            small = n < min_persons  # a mean of fewer than min_persons taxpayers
        else:
            k = pl.col(COUNT + c.name)
            small = ((n < min_persons) | ((k > 0) & (k < min_persons)) | ((n - k > 0) & (n - k < min_persons))
                     | (((k == 0) | (k == n)) & (n < class_min_n)))
        flags.append(small.fill_null(True).alias(f"_small_{c.name}"))
    return units.with_columns(flags)


def _window_any(frame: pl.DataFrame, keys: list[str], column: str, years: int) -> pl.Series:
    """True where ``column`` is true in any year of the averaging window."""
    joined, cols = lag_window(frame.with_columns(pl.col(column).cast(pl.Int8)), keys, column, years)
    return joined.select(pl.max_horizontal([pl.col(c).fill_null(0) for c in cols]).cast(pl.Boolean).alias(column))[column]


def evaluate(persons: pl.DataFrame | pl.LazyFrame, version: RuleVersion, *,
             min_persons: int, class_min_n: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(area table, afdeling table) of ``version`` for person-years with ``area``, ``afdeling``, ``region``.

    ``persons`` is the whole population (the national and regional references
    need everyone); rows with a null ``area`` count only in the references.
    A LazyFrame is aggregated without holding the population in memory; only
    the residents of areas are collected.
    """
    lf = persons.lazy()
    national = yearly(lf, version, []).collect()
    region = yearly(lf.filter(pl.col("region").is_not_null()), version, ["region"]).collect()
    in_area = lf.filter(pl.col("area").is_not_null()).collect().lazy()
    area_region = (in_area.group_by("area", "year").agg(pl.col("region").drop_nulls().mode().sort().first()))
    units = (yearly(in_area, version, ["area"]).join(area_region, on=["area", "year"], how="left")
             .collect().sort("area", "year"))
    afd = (yearly(in_area.filter(pl.col("afdeling").is_not_null()), version, ["area", "afdeling"])
           .join(area_region, on=["area", "year"], how="left").collect().sort("area", "afdeling", "year"))
    values = criterion_values(units, version, keys=["area"], national=national, region=region)
    afd_values = criterion_values(afd, version, keys=["area", "afdeling"], national=national, region=region)
    afd_max = afd_values.group_by("area", "year").agg([pl.col(c).max() for c in version.criteria])
    table = assign_status(values, version, keys=["area"], afdeling_max=afd_max)

    # disclosure: a criterion resting on too few persons in any year it averages is withheld
    small = _small(units, version, min_persons, class_min_n)
    withheld = small.select("area", "year")
    for c in version.criteria.values():
        withheld = withheld.with_columns(_window_any(small, ["area"], f"_small_{c.name}", c.average_years)
                                         .alias(f"_w_{c.name}"))
    table = table.join(withheld, on=["area", "year"], how="left")
    tiny = pl.col("residents") < min_persons
    hide = {c: (pl.col(f"_w_{c}") | tiny) for c in version.criteria}
    table = table.with_columns(
        [pl.when(h).then(None).otherwise(pl.col(c)).alias(c) for c, h in hide.items()]
        + [pl.when(tiny).then(None).otherwise(pl.col(f"{c}_met")).alias(f"{c}_met") for c in version.criteria]
        + [pl.when(tiny).then(None).otherwise(pl.col("residents")).alias("residents")],
        suppressed=pl.any_horizontal([*hide.values(), tiny]).fill_null(True),
    )
    table = _complete(table.with_columns(rule=pl.lit(version.name)), AREA_COLUMNS)

    afd_small = _small(afd, version, min_persons, class_min_n).select(
        "area", "afdeling", "year", *(f"_small_{c}" for c in version.criteria))
    afd_table = afd_values.join(afd_small, on=["area", "afdeling", "year"], how="left")
    tiny_afd = pl.col("residents") < min_persons
    afd_table = afd_table.with_columns(
        [pl.when(pl.col(f"_small_{c}") | tiny_afd).then(None).otherwise(pl.col(f"{c}_met")).alias(f"{c}_met")
         for c in version.criteria]
        + [pl.when(tiny_afd).then(None).otherwise(pl.col("residents")).alias("residents")],
        suppressed=pl.any_horizontal([pl.col(f"_small_{c}") for c in version.criteria] + [tiny_afd]),
        rule=pl.lit(version.name),
    )
    return table, _complete(afd_table, AFDELING_COLUMNS)


def _complete(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Every released column, in order; criteria a version does not use are null."""
    def col(c: str) -> pl.Expr:
        if c in frame.columns:
            return pl.col(c)
        return pl.lit(None, dtype=pl.Boolean if c.endswith("_met") else pl.Float64).alias(c)

    return frame.select([col(c) for c in columns])
