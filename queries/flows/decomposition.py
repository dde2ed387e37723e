"""Exact decomposition of a year-on-year change in a stock measure (issue 6, contract §4).

For a unit (afdeling or group) and a share/mean measure, let ``M_t`` be the
persons of the stock at 31 Dec t who are in the measure population with a
known value, ``N_t = |M_t|`` and ``V_t = sum_{M_t} y / N_t``. Because the
mean of ``y - V_{t-1}`` over ``M_{t-1}`` is zero,

    V_t - V_{t-1} = (1/N_t) * [ sum_C (y_t - y_{t-1})                                   stayers, own change
                                + sum_J (y_t - V_{t-1}) - sum_L (y_{t-1} - V_{t-1})     stayers joining/leaving
                                + sum_I (y_t - V_{t-1})                                 in-movers
                                - sum_O (y_{t-1} - V_{t-1})                             out-movers
                                + sum_E (y_t - V_{t-1})                                 entries
                                - sum_X (y_{t-1} - V_{t-1}) ]                           exits

with C the stayers in the population both years, J (L) the stayers only in
it at t (t-1), I the in-movers, O the out-movers, E births and immigrants,
X deaths and emigrants. Each component is a sum of per-group sufficient
statistics (counts and sums), so afdeling statistics add up to group ones and
the whole table is one aggregation. docs/flows.md has the derivation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import polars as pl

from queries.aggregate import fsum, sum_columns
from queries.registry import Measure

KEYS = ["level", "unit", "year", "measure"]
COMPONENTS = ["stayers", "in_movers", "out_movers", "entries", "exits"]
# counts behind each released component (for the disclosure control)
COMPONENT_COUNTS = {
    "stayers": "n_stayers",
    "stayers_membership": "n_membership",
    "in_movers": "n_I",
    "out_movers": "n_O",
    "entries": "n_E",
    "exits": "n_X",
}

_PREV_STATS = ("n_prev", "s_prev", "n_C", "sC_prev", "sC_cur", "n_L", "s_L", "n_O", "s_O", "n_X", "s_X")
_CUR_STATS = ("n_cur", "s_cur", "n_J", "s_J", "n_I", "s_I", "n_B", "s_B", "n_M", "s_M")
STATS = _PREV_STATS + _CUR_STATS


def _side(pairs: pl.LazyFrame, *, study: str, unit: str,
          stats: Mapping[str, tuple[pl.Expr, str | None]], shares: Collection[str] = ()) -> pl.LazyFrame:
    """One side's statistics per unit and year: ``name: (condition, None)`` counts the rows where the
    condition holds, ``name: (condition, column)`` sums the column over them.

    A column in ``shares`` holds only 0 and 1, whose float sum is exact in any
    order: it is added plainly (what :func:`queries.aggregate.fsum` would give,
    several times faster)."""
    def total(cond: pl.Expr, y: str) -> pl.Expr:
        term = pl.when(cond.fill_null(False)).then(pl.col(y))
        return term.sum() if y in shares else fsum(term)

    aggs = [(total(cond, y) if y else cond.fill_null(False).sum().cast(pl.Int64)).alias(name)
            for name, (cond, y) in stats.items()]
    return pairs.filter(pl.col(study).fill_null(False)).group_by(pl.col(unit).alias("unit"), "year").agg(aggs)


def afdeling_stats(pairs: pl.LazyFrame, measures: Mapping[str, Measure]) -> pl.LazyFrame:
    """Counts and sums per study afdeling, year t and measure (one row each).

    Each side (the t-1 residents, the t residents) is one group_by counting
    every measure at once; its rows do not depend on the measure.
    """
    fate, origin = pl.col("fate"), pl.col("origin")
    prev_stats: dict[str, tuple[pl.Expr, str | None]] = {}
    cur_stats: dict[str, tuple[pl.Expr, str | None]] = {}
    names = list(measures)
    for i, name in enumerate(names):
        yp, yc = f"y_{name}_prev", f"y_{name}"
        in_p, in_c = pl.col(yp).is_not_null(), pl.col(yc).is_not_null()
        both = (fate == "stay") & in_p & in_c
        left = (fate == "stay") & in_p & ~in_c
        out, ext = (fate == "out") & in_p, (fate == "exit") & in_p
        prev_stats |= {f"{s}|{i}": v for s, v in {
            "n_prev": (in_p, None), "s_prev": (in_p, yp),
            "n_C": (both, None), "sC_prev": (both, yp), "sC_cur": (both, yc),
            "n_L": (left, None), "s_L": (left, yp),
            "n_O": (out, None), "s_O": (out, yp),
            "n_X": (ext, None), "s_X": (ext, yp),
        }.items()}
        joined = (origin == "stay") & in_c & ~in_p
        moved_in, born, immigrated = ((origin == o) & in_c for o in ("in", "birth", "immigration"))
        cur_stats |= {f"{s}|{i}": v for s, v in {
            "n_cur": (in_c, None), "s_cur": (in_c, yc),
            "n_J": (joined, None), "s_J": (joined, yc),
            "n_I": (moved_in, None), "s_I": (moved_in, yc),
            "n_B": (born, None), "s_B": (born, yc),
            "n_M": (immigrated, None), "s_M": (immigrated, yc),
        }.items()}
    if not names:
        return pl.LazyFrame(schema={"unit": pl.String, "year": pl.Int32, **dict.fromkeys(STATS, pl.Int64),
                                    "measure": pl.String, "level": pl.String})
    shares = {f"y_{n}{s}" for n, m in measures.items() if m.kind == "share" for s in ("", "_prev")}
    prev = _side(pairs, study="study_prev", unit="afd_prev", stats=prev_stats, shares=shares)
    cur = _side(pairs, study="study", unit="afd", stats=cur_stats, shares=shares)
    sides = prev.join(cur, on=["unit", "year"], how="full", coalesce=True).collect().lazy()
    frames = [sides.select("unit", "year", *[pl.col(f"{s}|{i}").alias(s) for s in (*_PREV_STATS, *_CUR_STATS)],
                           pl.lit(name).alias("measure")) for i, name in enumerate(names)]
    fill = [pl.col(c).fill_null(0) for c in STATS]
    return pl.concat(frames).with_columns(fill).with_columns(pl.lit("afdeling").alias("level"))


def group_stats(afd_stats: pl.LazyFrame, groups: pl.LazyFrame) -> pl.LazyFrame:
    """Group statistics: sums of the statistics of the group's afdelinger (persons pooled)."""
    return (
        afd_stats.join(groups, left_on="unit", right_on="afdeling_id", how="inner")
        .group_by("group", "year", "measure")
        .agg(sum_columns(afd_stats, STATS))  # (the same float sums every run)
        .rename({"group": "unit"})
        .with_columns(pl.lit("group").alias("level"))
    )


def components(stats: pl.LazyFrame, *, y1: int) -> pl.LazyFrame:
    """Change and its components from the statistics, for t > Y1 with a stock in both years."""
    n_t = pl.col("n_cur")
    v_prev = pl.col("s_prev") / pl.col("n_prev")

    def rel(s: str, n: str) -> pl.Expr:  # sum over a set of (y - V_{t-1})
        return pl.col(s) - pl.col(n) * v_prev

    membership = (rel("s_J", "n_J") - rel("s_L", "n_L")) / n_t
    return (
        stats.filter((pl.col("year") > y1) & (pl.col("n_prev") > 0) & (pl.col("n_cur") > 0))
        .with_columns(
            (pl.col("s_cur") / n_t - v_prev).alias("change"),
            ((pl.col("sC_cur") - pl.col("sC_prev")) / n_t + membership).alias("stayers"),
            (rel("s_I", "n_I") / n_t).alias("in_movers"),
            (-rel("s_O", "n_O") / n_t).alias("out_movers"),
            ((pl.col("s_B") + pl.col("s_M") - (pl.col("n_B") + pl.col("n_M")) * v_prev) / n_t).alias("entries"),
            (-rel("s_X", "n_X") / n_t).alias("exits"),
            membership.alias("stayers_membership"),
            (pl.col("n_C") + pl.col("n_J") + pl.col("n_L")).alias("n_stayers"),
            (pl.col("n_J") + pl.col("n_L")).alias("n_membership"),
            (pl.col("n_B") + pl.col("n_M")).alias("n_E"),
        )
    )


def decomposition(
    pairs: pl.LazyFrame, groups: pl.LazyFrame, measures: Mapping[str, Measure], *, y1: int
) -> pl.LazyFrame:
    """Unsuppressed decomposition with the counts behind each component.

    Examples
    --------
    >>> from queries.registry import registry
    >>> pr = pl.LazyFrame({"year": [2005] * 3, "afd_prev": ["A", "A", None], "afd": ["A", None, "A"],
    ...                    "study_prev": [True, True, None], "study": [True, None, True],
    ...                    "fate": ["stay", "out", None], "origin": ["stay", None, "in"],
    ...                    "y_employment_prev": [0.0, 1.0, None], "y_employment": [1.0, None, 1.0]})
    >>> g = pl.LazyFrame({"afdeling_id": ["A"], "group": ["neither"]})
    >>> d = decomposition(pr, g, {"employment": registry()["employment"]}, y1=2004).collect()
    >>> d.filter(pl.col("level") == "afdeling").select("change", "stayers", "in_movers", "out_movers").row(0)
    (0.5, 0.5, 0.25, -0.25)
    """
    afd = afdeling_stats(pairs, measures)
    stats = pl.concat([afd, group_stats(afd, groups)], how="diagonal")
    return components(stats, y1=y1).sort(KEYS)
