"""Where out-movers go and where in-movers come from.

Two independent classifications of every mover, each summing to the unit's
movers: ``housing`` (another study afdeling, another public-housing
afdeling, outside public housing, or abroad for immigrants) and
``municipality`` (same ``kom`` as before the move, another one, or unknown).
Movers are those of contract §2: out-movers ``between`` and
``out_of_sector``; in-movers ``between``, ``into_sector`` and
``immigration``. At group level a move between two afdelinger of the group
is an out-move and an in-move of the group (its housing category is then
``study_afdeling``).
"""

from __future__ import annotations

import polars as pl

from queries.flows.base import add_group_rows


def _housing(study: str, afd: str, present: str) -> pl.Expr:
    return (
        pl.when(pl.col(study).fill_null(False))
        .then(pl.lit("study_afdeling"))
        .when(pl.col(afd).is_not_null())
        .then(pl.lit("other_afdeling"))
        .when(pl.col(present))
        .then(pl.lit("outside_public_housing"))
        .otherwise(pl.lit("abroad"))
    )


def _municipality() -> pl.Expr:
    return (
        pl.when(~pl.col("present_prev"))
        .then(pl.lit("abroad"))
        .when(pl.col("kom").is_null() | pl.col("kom_prev").is_null())
        .then(pl.lit("unknown"))
        .when(pl.col("kom") == pl.col("kom_prev"))
        .then(pl.lit("same_municipality"))
        .otherwise(pl.lit("other_municipality"))
    )


def destinations(pairs: pl.LazyFrame, groups: pl.LazyFrame) -> pl.LazyFrame:
    """Movers by direction, classification and category, with the share of the unit's movers.

    Columns: ``level, unit, year, direction (out|in), dimension (housing|municipality),
    category, n, share``.

    Examples
    --------
    >>> pr = pl.LazyFrame({"year": [2005], "afd_prev": ["A"], "afd": [None], "study_prev": [True],
    ...                    "study": [None], "present_prev": [True], "present": [True], "fate": ["out"],
    ...                    "origin": [None], "kom_prev": [101], "kom": [101]})
    >>> g = pl.LazyFrame({"afdeling_id": ["A"], "group": ["neither"]})
    >>> d = destinations(pr, g).collect().filter(pl.col("level") == "afdeling")
    >>> d.select("dimension", "category", "n").rows()
    [('housing', 'outside_public_housing', 1), ('municipality', 'same_municipality', 1)]
    """
    out = pairs.filter(pl.col("study_prev").fill_null(False) & (pl.col("fate") == "out")).select(
        pl.col("afd_prev").alias("unit"),
        "year",
        pl.lit("out").alias("direction"),
        _housing("study", "afd", "present").alias("housing"),
        _municipality().alias("municipality"),
    )
    inn = pairs.filter(pl.col("study").fill_null(False) & pl.col("origin").is_in(["in", "immigration"])).select(
        pl.col("afd").alias("unit"),
        "year",
        pl.lit("in").alias("direction"),
        _housing("study_prev", "afd_prev", "present_prev").alias("housing"),
        _municipality().alias("municipality"),
    )
    movers = pl.concat([out, inn])
    counts = pl.concat(
        [
            movers.group_by("unit", "year", "direction", pl.col(d).alias("category"))
            .agg(pl.len().cast(pl.Int64).alias("n"))
            .with_columns(pl.lit(d).alias("dimension"))
            for d in ("housing", "municipality")
        ]
    )
    both = add_group_rows(counts, groups, ["year", "direction", "dimension", "category"], ["n"])
    total = pl.col("n").sum().over("level", "unit", "year", "direction", "dimension")
    return (
        both.with_columns((pl.col("n") / total).alias("share"))
        .select("level", "unit", "year", "direction", "dimension", "category", "n", "share")
        .sort("level", "unit", "year", "direction", "dimension", "category")
    )
