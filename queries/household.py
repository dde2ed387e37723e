"""Household composition for the household-level measures, by group_by (no row loops).

A household is a ``household_id`` (the panel's per-year surrogate of
FAMILIE_ID) in a year; a person without one is a one-person household. The
composition must be taken over *all* persons of the year (the whole panel
year), before any population filter, so a household's children count even if
only the parents are in the population.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from queries.registry import measure_config

HOUSEHOLD_COLUMNS = ("hh_key", "hh_adults", "hh_n14", "hh_u14", "hh_children", "hh_resource_strong", "eq_scale")


def household_key() -> pl.Expr:
    """``household_id``, or a negative per-person key for a person without one (never published)."""
    return (pl.when(pl.col("household_id").is_not_null())
            .then(pl.col("household_id").cast(pl.Int64))
            .otherwise(-pl.col("person_id").cast(pl.Int64) - 1)).alias("hh_key")


def add_household_columns(records: pl.LazyFrame, *, config: Mapping[str, Any] | None = None) -> pl.LazyFrame:
    """Add household columns to person-year records (any number of years).

    ``hh_adults`` persons 18+; ``hh_n14`` / ``hh_u14`` persons aged 14+ / under
    14 (equivalence scale); ``hh_children`` members under the configured child
    age; ``hh_resource_strong`` true if a member aged 22-59 is employed or in
    education (null if not and the person's own status is unknown);
    ``eq_scale`` the OECD-modified scale 1 + 0.5 (n14 - 1) + 0.3 u14.

    Examples
    --------
    >>> lf = pl.LazyFrame({"person_id": [1, 2, 3], "year": [2010] * 3, "household_id": [7, 7, None],
    ...                    "age": [40, 10, 30], "socio_category": ["employed", "child", None]})
    >>> add_household_columns(lf).collect()["eq_scale"].to_list()
    [1.3, 1.3, 1.0]
    """
    cfg = dict(config or measure_config())
    hh = cfg["household"]
    adult_min = cfg["ages"]["adult_min"]
    age = pl.col("age")
    rs_member = (age.is_between(hh["resource_strong_min_age"], hh["resource_strong_max_age"])
                 & pl.col("socio_category").is_in(["employed", "education"])).fill_null(False)
    # one Int64 join key (year, household): a single-column join is much faster than a two-column one
    year_hh = (pl.col("year").cast(pl.Int64) * (1 << 34) + pl.col("hh_key")).alias("_yhh")
    keyed = records.with_columns(household_key()).with_columns(year_hh)
    comp = keyed.group_by("_yhh").agg(
        hh_adults=(age >= adult_min).sum().cast(pl.Int16),
        hh_n14=(age >= hh["equivalence_adult_age"]).sum().cast(pl.Int16),
        hh_u14=(age < hh["equivalence_adult_age"]).sum().cast(pl.Int16),
        hh_children=(age < hh["child_age"]).sum().cast(pl.Int16),
        _rs=rs_member.any(),
    )
    n14, u14 = pl.col("hh_n14"), pl.col("hh_u14")
    w_a, w_c = hh["equivalence_adult_weight"], hh["equivalence_child_weight"]
    scale = (pl.when(n14 >= 1).then(1 + w_a * (n14 - 1) + w_c * u14)
             .otherwise(1 + w_c * (u14 - 1))).cast(pl.Float64)
    return (keyed.join(comp, on="_yhh", how="left").drop("_yhh")
            .with_columns(eq_scale=scale,
                          hh_resource_strong=pl.when(pl.col("_rs")).then(True)
                          .when(pl.col("socio_category").is_not_null()).then(False))
            .drop("_rs"))


def household_columns_frame(records: pl.DataFrame, *, config: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """:func:`add_household_columns` for one year already in memory, by counting into dense arrays.

    ``household_id`` is a per-year surrogate (the smallest ``person_id`` of the
    household), so it indexes a dense array (:func:`queries.dense.household_slots`):
    each composition flag is counted per household into a small uint8 array
    (``np.add.at``; it fits the CPU cache) and gathered back, instead of a hash
    group_by over millions of
    households and a join (the costliest step of the measures at
    whole-population scale). Same columns, types and values as
    :func:`add_household_columns`; falls back to it for several years, a
    sparse id range or a household of more than 255 persons.

    Examples
    --------
    >>> df = pl.DataFrame({"person_id": [1, 2, 3], "year": [2010] * 3, "household_id": [7, 7, None],
    ...                    "age": [40, 10, 30], "socio_category": ["employed", "child", None]},
    ...                   schema_overrides={"household_id": pl.Int32, "age": pl.Int16})
    >>> household_columns_frame(df)["eq_scale"].to_list()
    [1.3, 1.3, 1.0]
    """
    from queries.dense import household_slots

    slots = household_slots(records) if records.height and records["year"].n_unique() == 1 else None
    if slots is None:
        return add_household_columns(records.lazy(), config=config).collect()
    slot, n_slots = slots
    cfg = dict(config or measure_config())
    hh = cfg["household"]
    adult_min = cfg["ages"]["adult_min"]
    age = pl.col("age")
    flags = records.select(
        (age >= adult_min).fill_null(False).alias("hh_adults"),
        (age >= hh["equivalence_adult_age"]).fill_null(False).alias("hh_n14"),
        (age < hh["equivalence_adult_age"]).fill_null(False).alias("hh_u14"),
        (age < hh["child_age"]).fill_null(False).alias("hh_children"),
        (age.is_between(hh["resource_strong_min_age"], hh["resource_strong_max_age"])
         & pl.col("socio_category").is_in(["employed", "education"])).fill_null(False).alias("_rs"),
    )
    members = np.zeros(n_slots, dtype=np.uint16)
    np.add.at(members, slot, np.ones(len(slot), dtype=np.uint16))  # (a scalar takes a slow path)
    if members.max(initial=0) > 255:  # a uint8 count per household would overflow
        return add_household_columns(records.lazy(), config=config).collect()
    # one small (cache-sized) counter array per flag: scatter-add, then gather back per person
    cols = {}
    for name in flags.columns:
        count = np.zeros(n_slots, dtype=np.uint8)
        np.add.at(count, slot, flags[name].to_numpy().view(np.uint8))
        cols[name] = pl.Series(name, count[slot]).cast(pl.Int16) if name != "_rs" else pl.Series(name,
                                                                                              count[slot] > 0)
    out = records.with_columns(household_key()).with_columns(**cols)
    n14, u14 = pl.col("hh_n14"), pl.col("hh_u14")
    w_a, w_c = hh["equivalence_adult_weight"], hh["equivalence_child_weight"]
    scale = (pl.when(n14 >= 1).then(1 + w_a * (n14 - 1) + w_c * u14)
             .otherwise(1 + w_c * (u14 - 1))).cast(pl.Float64)
    return (out.with_columns(eq_scale=scale,
                             hh_resource_strong=pl.when(pl.col("_rs")).then(True)
                             .when(pl.col("socio_category").is_not_null()).then(False))
            .drop("_rs"))
