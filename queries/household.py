"""The household columns of the measures, from the ONE household composition of :mod:`panel.derive`.

A household is a ``household_id`` (the panel's per-year surrogate of
FAMILIE_ID) in a year; a person without one is a one-person household. The
composition is taken over *all* persons of the year (the whole panel year),
before any population filter, so a household's children count even if only
the parents are in the population.

Who counts in which column is :func:`panel.derive.composition_flags`, with the
parameters of ``[derive.household]`` in ``panel/registers.toml`` (the only
place they live; each panel partition records the ones it was built with).
The build writes the counts; here they are read (:func:`household_columns_frame`
with ``from_panel``) and only panels written before the build did are counted
again, with the same flags. ``measures.toml`` holds the equivalence weights only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl

from panel.derive import composition_flags, couple_flags
from panel.regconfig import load_register_config
from panel.schema import household_parameters
from queries.registry import measure_config

HOUSEHOLD_COLUMNS = ("hh_key", "hh_adults", "hh_n14", "hh_u14", "hh_children", "hh_resource_strong", "eq_scale",
                     "hh_couple")
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
RESOURCE_STRONG_SOCIO = ["employed", "education"]  # AKM categories of a resource-strong member


def composition_config(out: str | Path | None = None) -> dict[str, Any]:
    """The household composition parameters: the panel's (as built), else the shipped ``[derive.household]``.

    Examples
    --------
    >>> composition_config()["child_age"]
    18
    """
    params = household_parameters(out) if out is not None else None
    shipped = dict(load_register_config()["derive"]["household"])
    # keys added since the panel was built (partner_age, ...) come from the shipped config
    return {**shipped, **params} if params is not None else shipped


def _composition(composition: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters given, else the shipped ones; partner keys a panel built before them lacks are shipped."""
    shipped = composition_config()
    return {**shipped, **dict(composition or shipped)}


def _member_flags(composition: Mapping[str, Any] | None) -> dict[str, pl.Expr]:
    """:func:`panel.derive.composition_flags`, with ``_rs`` for the resource-strong flag."""
    flags = composition_flags(dict(composition or composition_config()))
    flags["_rs"] = flags.pop("hh_rs")
    return flags


def household_key() -> pl.Expr:
    """``household_id``, or a negative per-person key for a person without one (never published)."""
    return (pl.when(pl.col("household_id").is_not_null())
            .then(pl.col("household_id").cast(pl.Int64))
            .otherwise(-pl.col("person_id").cast(pl.Int64) - 1)).alias("hh_key")


def add_household_columns(records: pl.LazyFrame, *, config: Mapping[str, Any] | None = None,
                          composition: Mapping[str, Any] | None = None) -> pl.LazyFrame:
    """Add household columns to person-year records (any number of years).

    ``hh_adults`` persons 18+; ``hh_n14`` / ``hh_u14`` persons aged 14+ / under
    14 (equivalence scale); ``hh_children`` members under the configured child
    age; ``hh_resource_strong`` true if a member aged 22-59 is employed or in
    education (null if not and the person's own status is unknown);
    ``eq_scale`` the OECD-modified scale 1 + 0.5 (n14 - 1) + 0.3 u14;
    ``hh_couple`` the person is one of the household's couple (:func:`panel.derive.couple_flags`).
    ``composition``: the ``[derive.household]`` parameters (default: shipped);
    ``config``: the measures config (equivalence weights).

    Examples
    --------
    >>> lf = pl.LazyFrame({"person_id": [1, 2, 3], "year": [2010] * 3, "household_id": [7, 7, None],
    ...                    "age": [40, 10, 30], "socio_category": ["employed", "child", None]})
    >>> add_household_columns(lf).collect()["eq_scale"].to_list()
    [1.3, 1.3, 1.0]
    """
    cfg = dict(config or measure_config())
    flags = _member_flags(composition)
    # one Int64 join key (year, household): a single-column join is much faster than a two-column one
    year_hh = (pl.col("year").cast(pl.Int64) * (1 << 34) + pl.col("hh_key")).alias("_yhh")
    records = records.drop([*HOUSEHOLD_COLUMNS, "hh_rs", "hh_couple"], strict=False)  # the panel's: counted anew
    keyed = records.with_columns(household_key()).with_columns(year_hh)
    comp = keyed.group_by("_yhh").agg(
        **{name: flag.sum().cast(pl.Int16) for name, flag in flags.items() if name != "_rs"},
        _rs=flags["_rs"].any(),
    )
    joined = keyed.join(comp, on="_yhh", how="left")
    return _finish(joined.with_columns(couple_flags(_composition(composition), "_yhh")["hh_couple"]).drop("_yhh"),
                   cfg)


def household_columns(records: FrameT, *, config: Mapping[str, Any] | None = None) -> FrameT:
    """The measures' household columns from the composition columns the build wrote (nothing counted)."""
    cfg = dict(config or measure_config())
    return _finish(records.with_columns(household_key(), _rs=pl.col("hh_rs")).drop("hh_rs"), cfg)


# Dense counting packs the five per-household counts into one integer per person: 8 bits a field,
# the member count above them. The packed sums stay below 2**53, so a float64 bincount is exact.
_FIELD = 256
_FLAGS = ("hh_adults", "hh_n14", "hh_u14", "hh_children", "_rs")
_MEMBERS = _FIELD ** len(_FLAGS)


def household_columns_frame(records: pl.DataFrame, *, config: Mapping[str, Any] | None = None,
                            composition: Mapping[str, Any] | None = None, from_panel: bool = False
                            ) -> pl.DataFrame:
    """:func:`add_household_columns` for one year already in memory, by one dense count.

    ``household_id`` is a per-year surrogate (the smallest ``person_id`` of the
    household), so it indexes a dense array (:func:`queries.dense.household_slots`).
    Each person's five composition flags and a member count are packed into one
    integer (8 bits a flag), summed per household by a single ``np.bincount``
    and gathered back: one pass over the persons instead of a hash group_by
    over millions of households and a join, or one scatter per flag (this was
    the costliest step of the measures at whole-population scale). Same
    columns, types and values as :func:`add_household_columns`; falls back to it
    for several years, a sparse id range or a household of more than 255 persons
    (a flag count would overflow its 8 bits).

    Examples
    --------
    >>> df = pl.DataFrame({"person_id": [1, 2, 3], "year": [2010] * 3, "household_id": [7, 7, None],
    ...                    "age": [40, 10, 30], "socio_category": ["employed", "child", None]},
    ...                   schema_overrides={"household_id": pl.Int32, "age": pl.Int16})
    >>> household_columns_frame(df)["eq_scale"].to_list()
    [1.3, 1.3, 1.0]
    """
    from queries.dense import household_slots

    cfg = dict(config or measure_config())
    if from_panel:  # the build counted the households
        return household_columns(records, config=cfg)
    slots = household_slots(records) if records.height and records["year"].n_unique() == 1 else None
    if slots is None:
        return add_household_columns(records.lazy(), config=config, composition=composition).collect()
    slot, n_slots = slots
    flags = _member_flags(composition)
    packed = pl.lit(float(_MEMBERS))
    for i, name in enumerate(_FLAGS):
        packed = packed + flags[name].cast(pl.Float64) * float(_FIELD ** i)
    weight = records.select(packed).to_series().to_numpy()
    per_hh = np.bincount(slot, weights=weight, minlength=n_slots)
    if per_hh.max(initial=0) >= _FIELD * _MEMBERS:  # a household of 256+ persons
        return add_household_columns(records.lazy(), config=config, composition=composition).collect()
    # each person's household sums; byte i of the little-endian integer is field i
    fields = per_hh.astype("<i8")[slot].view(np.uint8).reshape(-1, 8)
    counts = {name: pl.Series(name, fields[:, i]) for i, name in enumerate(_FLAGS)}
    out = records.drop("hh_rs", "hh_couple", strict=False).with_columns(household_key()).with_columns(
        *(c.cast(pl.Int16) for n, c in counts.items() if n != "_rs"), _rs=counts["_rs"] > 0)
    out = out.with_columns(couple_flags(_composition(composition), "hh_key")["hh_couple"])
    return _finish(out, cfg)


def _finish(frame: FrameT, cfg: Mapping[str, Any]) -> FrameT:
    """``eq_scale`` and ``hh_resource_strong`` from the member counts and ``_rs`` (a resource-strong member)."""
    hh = cfg["household"]
    n14, u14 = pl.col("hh_n14"), pl.col("hh_u14")
    w_a, w_c = hh["equivalence_adult_weight"], hh["equivalence_child_weight"]
    scale = (pl.when(n14 >= 1).then(1 + w_a * (n14 - 1) + w_c * u14)
             .otherwise(1 + w_c * (u14 - 1))).cast(pl.Float64)
    return (frame.with_columns(eq_scale=scale,
                               hh_resource_strong=pl.when(pl.col("_rs")).then(True)
                               .when(pl.col("socio_category").is_not_null()).then(False))
            .drop("_rs"))
