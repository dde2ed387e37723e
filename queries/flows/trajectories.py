"""Residents of a baseline year followed k years on, stayers and leavers apart.

Does a resident who gets a job stay? For the stock of an afdeling at 31 Dec b
and a horizon k, a *stayer* lives in the same afdeling at every year-end b …
b+k (moves inside it allowed); a *leaver* is in the BEF at b+k but not a
stayer (moved, possibly back); persons not in the BEF at b+k (dead,
emigrated) are left out. Per measure, only persons counted by it at both b
and b+k (a balanced panel) enter: ``n``, the mean at b (``value_base``) and at
b+k (``value_follow``). For shares, ``gained`` / ``lost`` rows count persons
going from 0 to 1 / 1 to 0 (e.g. into and out of employment), so
P(stay | got a job) = gained(stayer) / (gained(stayer) + gained(leaver)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from queries.aggregate import fsum
from queries.disclosure import Rules, magnitude_stats
from queries.flows.base import add_group_rows
from queries.registry import Measure

KEY = ["level", "unit", "baseline_year", "horizon", "status", "measure", "transition"]


def follow_up(sub: pl.LazyFrame, *, horizons: Sequence[int], y1: int, y2: int) -> pl.LazyFrame:
    """Residents of study afdelinger at b (Y1 <= b <= Y2-k) joined to their b+k record, with ``status``."""
    base = sub.filter(pl.col("study") & pl.col("year").is_between(y1, y2))
    frames = []
    for k in horizons:
        later = sub.select(
            "person_id",
            (pl.col("year") - k).alias("year"),
            pl.col("afd").alias("afd_k"),
            pl.col("spell_start").alias("spell_k"),
            pl.col("hh").alias("hh_k"),
            *[pl.col(c).alias(f"{c}_k") for c in sub.collect_schema().names() if c.startswith("y_")],
        )
        joined = base.filter(pl.col("year") + k <= y2).join(later, on=["person_id", "year"], how="inner")
        stayer = ((pl.col("afd_k") == pl.col("afd")) & (pl.col("spell_k") <= pl.col("year"))).fill_null(False)
        frames.append(joined.with_columns(
            pl.lit(k, dtype=pl.Int32).alias("horizon"),
            pl.when(stayer).then(pl.lit("stayer")).otherwise(pl.lit("leaver")).alias("status"),
        ))
    return pl.concat(frames)


def trajectory_stats(fu: pl.LazyFrame, groups: pl.LazyFrame, measures: Mapping[str, Measure]) -> pl.LazyFrame:
    """Counts and sums per unit, baseline year, horizon, status, measure and transition (unsuppressed)."""
    keys = ["baseline_year", "horizon", "status", "measure", "transition"]
    aggs = []
    for name, m in measures.items():
        yb, yk = pl.col(f"y_{name}"), pl.col(f"y_{name}_k")
        counted = fu.filter(yb.is_not_null() & yk.is_not_null()).select(
            pl.col("afd").alias("unit"), pl.col("year").alias("baseline_year"), "horizon", "status",
            pl.lit(name).alias("measure"), yb.alias("yb"), yk.alias("yk"))
        parts = {"all": pl.lit(True)}
        if m.kind == "share":
            parts |= {"gained": (pl.col("yb") == 0) & (pl.col("yk") == 1),
                      "lost": (pl.col("yb") == 1) & (pl.col("yk") == 0)}
        add = (lambda e: e.sum()) if m.kind == "share" else fsum  # 0/1 values: a plain sum is exact in any order
        for transition, cond in parts.items():
            aggs.append(counted.filter(cond).group_by("unit", "baseline_year", "horizon", "status", "measure")
                        .agg(pl.len().cast(pl.Int64).alias("n"), add(pl.col("yb")).alias("s_base"),
                             add(pl.col("yk")).alias("s_follow"))
                        .with_columns(pl.lit(transition).alias("transition")))
    return add_group_rows(pl.concat(aggs), groups, keys, ["n", "s_base", "s_follow"])


def trajectories(stats: pl.LazyFrame) -> pl.LazyFrame:
    """Means from the statistics: ``value_base``, ``value_follow`` for transition ``all`` (null otherwise)."""
    is_all = pl.col("transition") == "all"
    return stats.with_columns(
        pl.when(is_all).then(pl.col("s_base") / pl.col("n")).alias("value_base"),
        pl.when(is_all).then(pl.col("s_follow") / pl.col("n")).alias("value_follow"),
    ).select(*KEY, "n", "value_base", "value_follow").sort(KEY)


def trajectory_magnitude(fu: pl.LazyFrame, groups: pl.LazyFrame, measures: Mapping[str, Measure], *,
                         rules: Rules) -> pl.LazyFrame:
    """Household dominance statistics of the ``all`` cells of magnitude measures (e.g. income).

    Both the baseline and the follow-up mean are published, so each cell gets
    the statistics of whichever year is more dominated (fewest households,
    largest top-N share).
    """
    keys = ["baseline_year", "horizon", "status", "measure"]
    sides = []
    for hh, y in (("hh", "y_{}"), ("hh_k", "y_{}_k")):
        contrib = []
        for name, m in measures.items():
            if not m.magnitude:
                continue
            yb, yk = pl.col(f"y_{name}"), pl.col(f"y_{name}_k")
            contrib.append(fu.filter(yb.is_not_null() & yk.is_not_null()).select(
                pl.col("afd").alias("unit"), pl.col("year").alias("baseline_year"), "horizon", "status",
                pl.lit(name).alias("measure"), pl.col(hh).alias("hh"), pl.col(y.format(name)).alias("c")))
        if not contrib:
            return pl.LazyFrame(schema={c: pl.String for c in ("level", "unit")})
        c = pl.concat(contrib).group_by("unit", *keys, "hh").agg(fsum(pl.col("c")))
        grp = (c.join(groups, left_on="unit", right_on="afdeling_id", how="inner")
               .group_by("group", *keys, "hh").agg(fsum(pl.col("c"))).rename({"group": "unit"}))
        sides.append(pl.concat([
            magnitude_stats(c, ["unit", *keys], value="c", rules=rules).with_columns(level=pl.lit("afdeling")),
            magnitude_stats(grp, ["unit", *keys], value="c", rules=rules).with_columns(level=pl.lit("group")),
        ], how="diagonal"))
    both = pl.concat(sides, how="diagonal")
    ratio = pl.col("top_n") / pl.col("abs_total")
    worst = (both.with_columns(_r=ratio.fill_nan(1.0).fill_null(1.0)).sort("_r", descending=True)
             .group_by("level", "unit", *keys, maintain_order=True)
             .agg(pl.col("units").min(), pl.col("top1").first(), pl.col("top2").first(), pl.col("top_n").first(),
                  pl.col("abs_total").first()))
    return worst.with_columns(transition=pl.lit("all"))
