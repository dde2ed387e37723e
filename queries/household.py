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


# a household_id range up to this many times the rows (or 2^23) is counted in a dense array (no hashing, no sort)
_DENSE_FACTOR = 4
_BITS = 10  # 5 fields x 10 bits < 2^53: float64 sums of packed flags stay exact


def household_columns_frame(records: pl.DataFrame, *, config: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """:func:`add_household_columns` for one year already in memory, by counting into dense arrays.

    ``household_id`` is a per-year surrogate (the smallest ``person_id`` of the
    household), so it indexes a dense array: each composition count is one
    ``np.bincount`` over the persons and one gather back, instead of a hash
    group_by over millions of households and a join (the costliest step of the
    measures at whole-population scale). Same columns, types and values as
    :func:`add_household_columns`; falls back to it for several years or a
    sparse id range.

    Examples
    --------
    >>> df = pl.DataFrame({"person_id": [1, 2, 3], "year": [2010] * 3, "household_id": [7, 7, None],
    ...                    "age": [40, 10, 30], "socio_category": ["employed", "child", None]},
    ...                   schema_overrides={"household_id": pl.Int32, "age": pl.Int16})
    >>> household_columns_frame(df)["eq_scale"].to_list()
    [1.3, 1.3, 1.0]
    """
    hid_s = records["household_id"]
    lo, hi = hid_s.min(), hid_s.max()
    if (records.height == 0 or records["year"].n_unique() > 1 or lo is None or lo < 0
            or hi > max(_DENSE_FACTOR * records.height, 1 << 23)):
        return add_household_columns(records.lazy(), config=config).collect()
    cfg = dict(config or measure_config())
    hh = cfg["household"]
    adult_min = cfg["ages"]["adult_min"]
    age = pl.col("age")
    flags = records.select(
        adults=(age >= adult_min).fill_null(False),
        n14=(age >= hh["equivalence_adult_age"]).fill_null(False),
        u14=(age < hh["equivalence_adult_age"]).fill_null(False),
        children=(age < hh["child_age"]).fill_null(False),
        rs=(age.is_between(hh["resource_strong_min_age"], hh["resource_strong_max_age"])
            & pl.col("socio_category").is_in(["employed", "education"])).fill_null(False),
    )
    has = hid_s.is_not_null().to_numpy()
    hid = hid_s.fill_null(0).to_numpy().astype(np.int64)
    if not has.all():
        hid = np.where(has, hid, int(hi) + 1)  # persons without a household: one spare slot, then their own flags
    # the five flags packed into one number per person: one scatter-add and one gather instead of five
    # (each a pass of random memory accesses); fields are _BITS wide, exact while a household has < 2^_BITS members
    packed = np.zeros(records.height, dtype=np.int64)
    for i, name in enumerate(flags.columns):
        packed |= flags[name].to_numpy().astype(np.int64) << (_BITS * i)
    members = np.bincount(hid, minlength=int(hi) + 2)
    if members[: int(hi) + 1].max(initial=0) >= 1 << _BITS:
        return add_household_columns(records.lazy(), config=config).collect()
    total = np.bincount(hid, weights=packed, minlength=int(hi) + 2).astype(np.int64)
    per_person = np.where(has, total[hid], packed)
    mask = (1 << _BITS) - 1
    comp = {name: (per_person >> (_BITS * i)) & mask for i, name in enumerate(flags.columns)}
    out = records.with_columns(household_key()).with_columns(
        hh_adults=pl.Series(comp["adults"]).cast(pl.Int16),
        hh_n14=pl.Series(comp["n14"]).cast(pl.Int16),
        hh_u14=pl.Series(comp["u14"]).cast(pl.Int16),
        hh_children=pl.Series(comp["children"]).cast(pl.Int16),
        _rs=pl.Series(comp["rs"] > 0),
    )
    n14, u14 = pl.col("hh_n14"), pl.col("hh_u14")
    w_a, w_c = hh["equivalence_adult_weight"], hh["equivalence_child_weight"]
    scale = (pl.when(n14 >= 1).then(1 + w_a * (n14 - 1) + w_c * u14)
             .otherwise(1 + w_c * (u14 - 1))).cast(pl.Float64)
    return (out.with_columns(eq_scale=scale,
                             hh_resource_strong=pl.when(pl.col("_rs")).then(True)
                             .when(pl.col("socio_category").is_not_null()).then(False))
            .drop("_rs"))
