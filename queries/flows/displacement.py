"""Displacement (seeds 002 ~283-290, ~2330-2340; 004): who goes where, and who comes from where.

The out-movers of a group-year (contract §2, measured on their t-1 record) and its in-movers (their t
record) by one exclusive ``place``, with the four contract measures (n, value) of each:

* out-movers: ``study_afdeling`` (another study afdeling), ``other_public_housing``, ``private_housing``
  (outside public housing in the same municipality), ``other_municipality`` (outside public housing in
  another or an unknown municipality); the place ``all`` is the measures' out-mover cell;
* in-movers: the same places of origin, and ``abroad`` (immigrants); ``all`` is the measures' in cell;
* ``exit`` (out-movers' direction ``exit``): residents of 31 Dec t-1 who died or emigrated in year t
  (not movers in the contract, so outside ``all``).

Group level and the pooled study series only (no afdeling rows).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from panel.schema import TOOL_PARTS
from queries.aggregate import fsum
from queries.disclosure import Rules, magnitude_stats
from queries.flows.families import STUDY
from queries.flows.protection import pair_relation, protect_passes
from queries.registry import CONTRACT_MEASURES, Measure

KEY = ["level", "unit", "year", "direction", "measure", "place"]
PLACES = ("study_afdeling", "other_public_housing", "private_housing", "other_municipality")


def _place(study: str, afd: str, kom_here: str, kom_there: str) -> pl.Expr:
    return (pl.when(pl.col(study).fill_null(False)).then(pl.lit("study_afdeling"))
            .when(pl.col(afd).is_not_null()).then(pl.lit("other_public_housing"))
            .when(pl.col(kom_here) == pl.col(kom_there)).then(pl.lit("private_housing"))
            .otherwise(pl.lit("other_municipality")))


def mover_rows(pairs: pl.LazyFrame) -> pl.LazyFrame:
    """``unit, year, direction, place, hh, y_<m>...`` per mover (afdeling of the study side as ``unit``)."""
    ys = [c for c in pairs.collect_schema().names() if c.startswith("y_") and not c.endswith("_prev")]
    out = pairs.filter(pl.col("study_prev").fill_null(False) & pl.col("fate").is_in(["out", "exit"])).select(
        unit="afd_prev", year="year",
        direction=pl.when(pl.col("fate") == "exit").then(pl.lit("exit")).otherwise(pl.lit("out")),
        place=pl.when(pl.col("fate") == "exit").then(pl.lit("exit"))
        .otherwise(_place("study", "afd", "kom", "kom_prev")),
        hh="hh_prev", **{c: f"{c}_prev" for c in ys})
    inn = pairs.filter(pl.col("study").fill_null(False) & pl.col("origin").is_in(["in", "immigration"])).select(
        unit="afd", year="year", direction=pl.lit("in"),
        place=pl.when(pl.col("origin") == "immigration").then(pl.lit("abroad"))
        .otherwise(_place("study_prev", "afd_prev", "kom_prev", "kom")),
        hh="hh", **{c: c for c in ys})
    return pl.concat([out, inn])


def displacement(pairs: pl.LazyFrame, groups: pl.DataFrame, measures: Mapping[str, Measure], *,
                 rules: Rules | None = None) -> pl.DataFrame:
    """Cells ``level, unit, year, direction, measure, place, n, value`` (+ magnitude statistics; unprotected).

    Examples
    --------
    >>> pr = pl.LazyFrame({"year": [2005, 2005], "afd_prev": ["A", "A"], "afd": [None, None],
    ...     "study_prev": [True, True], "study": [None, None], "fate": ["out", "out"], "origin": [None, None],
    ...     "kom_prev": [101, 101], "kom": [101, 147], "hh_prev": [1, 2], "hh": [1, 2],
    ...     "y_employment_prev": [1.0, 0.0], "y_employment": [None, None]})
    >>> g = pl.DataFrame({"afdeling_id": ["A"], "group": ["neither"]})
    >>> d = displacement(pr, g, {}).filter(level="group")
    >>> d.select("place", "n", "value").rows()
    [('all', 2, 0.5), ('other_municipality', 1, 0.0), ('private_housing', 1, 1.0)]
    """
    names = [m for m in CONTRACT_MEASURES if f"y_{m}" in pairs.collect_schema().names()]
    rows = mover_rows(pairs).collect()
    rows = pl.concat([rows.join(groups, left_on="unit", right_on="afdeling_id", how="inner")
                      .drop("unit").rename({"group": "unit"}).with_columns(level=pl.lit("group")),
                      rows.with_columns(level=pl.lit(STUDY[0]), unit=pl.lit(STUDY[1]))], how="diagonal")
    rows = pl.concat([rows, rows.filter(pl.col("direction") != "exit").with_columns(place=pl.lit("all"))])
    long = pl.concat([rows.select("level", "unit", "year", "direction", "place", "hh", measure=pl.lit(m),
                                  y=pl.col(f"y_{m}")) for m in names]).filter(pl.col("y").is_not_null())
    keys = ["level", "unit", "year", "direction", "measure", "place"]
    # order-independent float sums (queries.aggregate.fsum): the same OUT gives the same bytes
    cells = (long.group_by(keys).agg(n=pl.len().cast(pl.Int64), _s=fsum(pl.col("y").cast(pl.Float64)))
             .with_columns(value=pl.col("_s") / pl.col("n")).drop("_s"))
    if rules is not None:
        mags = [m for m in names if measures.get(m) is not None and measures[m].magnitude]
        hh = (long.filter(pl.col("measure").is_in(mags)).group_by(*keys, "hh")
              .agg(c=fsum(pl.col("y").cast(pl.Float64))))
        cells = cells.join(magnitude_stats(hh, keys, value="c", rules=rules).collect(), on=keys, how="left")
    return cells.sort(keys)


def protect_displacement(cells: pl.DataFrame, flags: pl.DataFrame | None, *, rules: Rules
                         ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Protected displacement cells, ``share`` of the direction's movers; ``all`` pinned to measures.parquet."""
    t = cells.with_columns(pinned=pl.lit(False), inherited=pl.lit(False))
    if flags is not None:
        f = flags.filter(pl.col("population").is_in(["in", "out"])).select(
            "level", "unit", "year", direction="population", measure="measure", _hidden="suppressed")
        t = t.join(f, on=["level", "unit", "year", "direction", "measure"], how="left")
        total = pl.col("place") == "all"
        t = t.with_columns(inherited=total & pl.col("_hidden").fill_null(False),
                           pinned=total & (pl.col("_hidden") == False)).drop("_hidden")  # noqa: E712
    rels = [pair_relation(("direction", "place"), ("out", "all"), [("out", p) for p in PLACES], "out"),
            pair_relation(("direction", "place"), ("in", "all"), [("in", p) for p in (*PLACES, "abroad")], "in")]
    units = [pair_relation(("level", "unit"), ("group", "any_tool"), [("group", g) for g in TOOL_PARTS]),
             pair_relation(("level", "unit"), STUDY, [("group", "any_tool"), ("group", "neither")])]
    released, report = protect_passes(t, rules=rules, key=KEY, families=[rels, units], name="displacement",
                                      null_columns=("n", "value"), block=["level", "unit", "year", "direction",
                                                                          "measure"])
    tot = released.filter(pl.col("place") == "all").select("level", "unit", "year", "direction", "measure",
                                                           _den=pl.col("n"))
    released = (released.join(tot, on=["level", "unit", "year", "direction", "measure"], how="left")
                .with_columns(share=pl.when(pl.col("place") != "exit").then(pl.col("n") / pl.col("_den"))))
    return released.select(*KEY, "n", "value", "share", "suppressed").sort(KEY), report
