"""Do resource-strong households and families stay? Exit rates and length of stay at move-out.

Retention is counted in households, as in the CFBU/SFI retention reports: a
household of 31 Dec t-1 (members living in the afdeling) has *moved out* in
year t when none of those members lives in the afdeling at 31 Dec t and at
least one of them is still in the BEF (the others may have died or
emigrated). A household that splits (a grown child leaves home) has not moved
out. Length of stay is counted per out-mover (person) from the first year-end
of the unbroken stay; a stay already running in the first observed year is
*left-censored* (its true length is at least the one shown).
"""

from __future__ import annotations

import polars as pl

from queries.flows.base import add_group_rows

CATEGORIES = ("all", "resource_strong", "not_resource_strong", "families_with_children")


def households(pairs: pl.LazyFrame) -> pl.LazyFrame:
    """One row per household of 31 Dec t-1 in a study afdeling, with its category flags and outcome.

    ``resource_strong`` and ``families_with_children`` are the registry's
    household definitions (queries/household.py) on the t-1 records.
    """
    return (
        pairs.filter(pl.col("study_prev").fill_null(False))
        .group_by(pl.col("afd_prev").alias("unit"), "year", "hh_prev")
        .agg(
            pl.col("rs_prev").any().alias("resource_strong"),
            pl.col("kids_prev").any().alias("families_with_children"),
            (pl.col("fate") == "stay").any().alias("_stayed"),
            (pl.col("fate") == "out").any().alias("_out"),
        )
        .with_columns((~pl.col("_stayed") & pl.col("_out")).alias("moved_out"))
    )


def retention(pairs: pl.LazyFrame, groups: pl.LazyFrame) -> pl.LazyFrame:
    """Households at 31 Dec t-1 and those that moved out in year t, by category (unsuppressed).

    Columns: ``level, unit, year, category, households, moved_out, exit_rate``.

    Examples
    --------
    >>> pr = pl.LazyFrame({"year": [2005] * 3, "afd_prev": ["A"] * 3, "study_prev": [True] * 3,
    ...                    "hh_prev": [1, 1, 2], "rs_prev": [True, True, False], "kids_prev": [True, True, False],
    ...                    "fate": ["out", "out", "stay"]})
    >>> g = pl.LazyFrame({"afdeling_id": ["A"], "group": ["neither"]})
    >>> r = retention(pr, g).collect().filter(pl.col("level") == "afdeling")
    >>> r.select("category", "households", "moved_out").rows()
    [('all', 2, 1), ('families_with_children', 1, 1), ('not_resource_strong', 1, 0), ('resource_strong', 1, 1)]
    """
    hh = households(pairs)
    flag = {
        "all": pl.lit(True),
        "resource_strong": pl.col("resource_strong"),
        "not_resource_strong": ~pl.col("resource_strong"),
        "families_with_children": pl.col("families_with_children"),
    }
    counts = pl.concat(
        [
            hh.filter(flag[c])
            .group_by("unit", "year")
            .agg(pl.len().cast(pl.Int64).alias("households"), pl.col("moved_out").sum().cast(pl.Int64))
            .with_columns(pl.lit(c).alias("category"))
            for c in CATEGORIES
        ]
    )
    keys = ["year", "category"]
    return (
        add_group_rows(counts, groups, keys, ["households", "moved_out"])
        .with_columns((pl.col("moved_out") / pl.col("households")).alias("exit_rate"))
        .select("level", "unit", "year", "category", "households", "moved_out", "exit_rate")
        .sort("level", "unit", "year", "category")
    )


def stay_band(stay: pl.Expr, cfg: dict) -> pl.Expr:
    """The ``[tenure]`` band label of a length of stay in whole years (bands (0, e1], (e1, e2], ..., (ek, inf)).

    Examples
    --------
    >>> cfg = {"tenure": {"edges": [2, 5], "labels": ["le2", "2to5", "gt5"]}}
    >>> pl.select(stay_band(pl.Series([0, 2, 3, 5, 6]), cfg)).to_series().to_list()
    ['le2', 'le2', '2to5', '2to5', 'gt5']
    """
    edges, labels = cfg["tenure"]["edges"], cfg["tenure"]["labels"]
    band = pl.when(stay <= edges[0]).then(pl.lit(labels[0]))
    for lo, label in zip(edges[1:], labels[1:-1], strict=True):
        band = band.when(stay <= lo).then(pl.lit(label))
    return band.otherwise(pl.lit(labels[-1]))


def tenure(pairs: pl.LazyFrame, groups: pl.LazyFrame, cfg: dict, *, first_year: int) -> pl.LazyFrame:
    """Out-movers of year t by length of stay band and left-censoring (unsuppressed).

    Length of stay = t - first year-end of the unbroken stay, so a person seen
    at 31 Dec 2008 and gone by 31 Dec 2010 stayed 2 years. Columns:
    ``level, unit, year, band, left_censored, n, share`` (share of the unit's
    out-movers that year).
    """
    band = stay_band(pl.col("year") - pl.col("spell_start_prev"), cfg)
    counts = (
        pairs.filter(pl.col("study_prev").fill_null(False) & (pl.col("fate") == "out"))
        .with_columns(band.alias("band"), (pl.col("spell_start_prev") <= first_year).alias("left_censored"))
        .group_by(pl.col("afd_prev").alias("unit"), "year", "band", "left_censored")
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )
    both = add_group_rows(counts, groups, ["year", "band", "left_censored"], ["n"])
    return (
        both.with_columns((pl.col("n") / pl.col("n").sum().over("level", "unit", "year")).alias("share"))
        .select("level", "unit", "year", "band", "left_censored", "n", "share")
        .sort("level", "unit", "year", "band", "left_censored")
    )
