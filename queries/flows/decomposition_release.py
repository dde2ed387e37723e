"""Disclosure control of the decomposition (contract §4 ``measures/decomposition.parquet``).

Each decomposition row is protected as a block of cells, one per part, with
the persons behind it as ``n``:

* ``change`` (derived from two published stock cells of measures.parquet), the
  five components, ``stayers_membership`` (published), and the unpublished
  pieces ``stayers_own``, ``births``, ``immigration`` and ``in_all`` (the
  measures' in-movers = in_movers + immigration, published in measures.parquet);
* relations: change = stayers + in_movers + out_movers + entries + exits;
  stayers = stayers_own + stayers_membership; entries = births + immigration;
  in_all = in_movers + immigration;
* ``change``, ``out_movers`` (= the measures' out-movers) and ``in_all`` are
  pinned: published in measures.parquet, so never chosen for complementary
  suppression; a row that cannot be protected while they are shown (e.g. only
  stayers, with a dominated stayers part: stayers = change) is hidden whole;
* every part of a row whose stock cell (t or t-1) is suppressed in
  measures.parquet is hidden (rule ``inherited``);
* income-like (magnitude) parts also get the household dominance rules.
A part with no persons is an exact published zero.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from queries.aggregate import fsum
from queries.disclosure import Rules, magnitude_stats
from queries.flows.protection import protect_passes, total_relation
from queries.registry import Measure

BLOCK = ["level", "unit", "year", "measure"]
KEY = [*BLOCK, "part"]
PUBLISHED = ["change", "stayers", "in_movers", "out_movers", "entries", "exits", "stayers_membership"]
PINNED = ("change", "out_movers", "in_all")

# part -> (count expression, value expression) over the components frame
_V = pl.col("s_prev") / pl.col("n_prev")


def _rel(s: str, n: str) -> pl.Expr:
    return (pl.col(s) - pl.col(n) * _V) / pl.col("n_cur")


PARTS: dict[str, tuple[pl.Expr, pl.Expr]] = {
    "change": (pl.col("n_prev") + pl.col("n_cur"), pl.col("change")),
    "stayers": (pl.col("n_stayers"), pl.col("stayers")),
    "stayers_own": (pl.col("n_C"), (pl.col("sC_cur") - pl.col("sC_prev")) / pl.col("n_cur")),
    "stayers_membership": (pl.col("n_membership"), pl.col("stayers_membership")),
    "in_movers": (pl.col("n_I"), pl.col("in_movers")),
    "out_movers": (pl.col("n_O"), pl.col("out_movers")),
    "entries": (pl.col("n_E"), pl.col("entries")),
    "births": (pl.col("n_B"), _rel("s_B", "n_B")),
    "immigration": (pl.col("n_M"), _rel("s_M", "n_M")),
    "exits": (pl.col("n_X"), pl.col("exits")),
    "in_all": (pl.col("n_I") + pl.col("n_M"), _rel("s_I", "n_I") + _rel("s_M", "n_M")),
}

RELATIONS = [
    total_relation("part", "change", ["stayers", "in_movers", "out_movers", "entries", "exits"], "change"),
    total_relation("part", "stayers", ["stayers_own", "stayers_membership"], "stayers"),
    total_relation("part", "entries", ["births", "immigration"], "entries"),
    total_relation("part", "in_all", ["in_movers", "immigration"], "in_all"),
]

# which person roles (see decomposition.afdeling_stats) feed which part, and from which record
_ROLE_PARTS = {
    "C": ("stayers", "stayers_own"),
    "J": ("stayers", "stayers_membership"),
    "L": ("stayers", "stayers_membership"),
    "I": ("in_movers",),
    "B": ("entries", "births"),
    "M": ("entries", "immigration"),
    "X": ("exits",),
}


def household_contributions(pairs: pl.LazyFrame, measures: Mapping[str, Measure]) -> pl.LazyFrame:
    """``unit, year, measure, part, hh_year, hh, c``: each household's sum of its members' terms.

    Only for magnitude measures; stayers in the population both years
    contribute their own change, everyone else their value in the year they
    are measured.
    """
    frames = []
    for name, m in measures.items():
        if not m.magnitude:
            continue
        yp, yc = pl.col(f"y_{name}_prev"), pl.col(f"y_{name}")
        fate, origin = pl.col("fate"), pl.col("origin")
        roles = {
            "C": ((fate == "stay") & yp.is_not_null() & yc.is_not_null(), "afd", yc - yp, "cur"),
            "J": ((origin == "stay") & yp.is_null() & yc.is_not_null(), "afd", yc, "cur"),
            "L": ((fate == "stay") & yp.is_not_null() & yc.is_null(), "afd_prev", yp, "prev"),
            "I": ((origin == "in") & yc.is_not_null(), "afd", yc, "cur"),
            "B": ((origin == "birth") & yc.is_not_null(), "afd", yc, "cur"),
            "M": ((origin == "immigration") & yc.is_not_null(), "afd", yc, "cur"),
            "X": ((fate == "exit") & yp.is_not_null(), "afd_prev", yp, "prev"),
        }
        for role, (cond, unit, value, rec) in roles.items():
            study = pl.col("study" if rec == "cur" else "study_prev").fill_null(False)
            hh = pl.col("hh" if rec == "cur" else "hh_prev")
            rows = pairs.filter(cond.fill_null(False) & study).select(
                pl.col(unit).alias("unit"), "year", pl.lit(name).alias("measure"),
                pl.lit(rec).alias("hh_year"), hh.alias("hh"), value.alias("c"))
            for part in _ROLE_PARTS[role]:
                frames.append(rows.with_columns(pl.lit(part).alias("part")))
    if not frames:
        return pl.LazyFrame(schema={"unit": pl.String, "year": pl.Int32, "measure": pl.String, "part": pl.String,
                                    "hh_year": pl.String, "hh": pl.Int64, "c": pl.Float64})
    keys = ["unit", "year", "measure", "part", "hh_year", "hh"]
    return pl.concat(frames).group_by(keys).agg(fsum(pl.col("c")))


def magnitude_table(contrib: pl.LazyFrame, groups: pl.LazyFrame, *, rules: Rules) -> pl.LazyFrame:
    """Magnitude statistics per afdeling and group cell (households re-summed within a group)."""
    keys = ["year", "measure", "part"]
    afd = magnitude_stats(contrib, ["unit", *keys], value="c", rules=rules).with_columns(level=pl.lit("afdeling"))
    grp_hh = (contrib.join(groups, left_on="unit", right_on="afdeling_id", how="inner")
              .group_by("group", *keys, "hh_year", "hh").agg(fsum(pl.col("c"))).rename({"group": "unit"}))
    grp = magnitude_stats(grp_hh, ["unit", *keys], value="c", rules=rules).with_columns(level=pl.lit("group"))
    return pl.concat([afd, grp], how="diagonal")


def long_cells(comp: pl.DataFrame, flags: pl.DataFrame | None) -> pl.DataFrame:
    """One row per (block, part) with persons: ``n``, ``value``, ``inherited``, ``pinned``."""
    long = pl.concat([
        comp.select(*BLOCK, part=pl.lit(p), n=n.cast(pl.Int64), value=v.cast(pl.Float64))
        for p, (n, v) in PARTS.items()
    ]).filter(pl.col("n") > 0)
    stock_hidden = pl.lit(False)
    own_hidden = pl.lit(False)
    if flags is not None:
        f = flags.select("level", "unit", "year", "population", "measure", hid="suppressed")
        stock = f.filter(pl.col("population") == "stock").drop("population")
        prev = stock.with_columns(pl.col("year") + 1).rename({"hid": "hid_prev"})
        flows = (f.filter(pl.col("population") != "stock")
                 .with_columns(part=pl.col("population").replace_strict({"in": "in_all", "out": "out_movers"}))
                 .drop("population").rename({"hid": "hid_flow"}))
        long = (long.join(stock, on=BLOCK, how="left").join(prev, on=BLOCK, how="left")
                .join(flows, on=KEY, how="left"))
        # a stock cell missing from measures.parquet would be an error upstream: treat as hidden
        stock_hidden = pl.col("hid").fill_null(True) | pl.col("hid_prev").fill_null(True)
        own_hidden = pl.col("part").is_in(["in_all", "out_movers"]) & pl.col("hid_flow").fill_null(False)
    stock_hidden = stock_hidden.any().over(BLOCK) if flags is not None else stock_hidden
    long = long.with_columns(inherited=stock_hidden | own_hidden)
    return long.with_columns(pinned=pl.col("part").is_in(PINNED) & ~pl.col("inherited")).select(
        *KEY, "n", "value", "inherited", "pinned")


def protect_decomposition(comp: pl.DataFrame, flags: pl.DataFrame | None, magnitude: pl.DataFrame | None,
                          *, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Protected wide decomposition and its disclosure report rows."""
    cells = long_cells(comp, flags)
    if magnitude is not None and magnitude.height:
        cells = cells.join(magnitude, on=KEY, how="left").with_columns(
            [pl.when(pl.col("pinned")).then(None).otherwise(pl.col(c)).alias(c)
             for c in ("units", "top1", "top2", "top_n", "abs_total")])
    released, report = protect_passes(cells, rules=rules, key=KEY, families=[RELATIONS], block=BLOCK,
                                      name="decomposition", null_columns=("n", "value"))
    return widen(comp, released), report.filter(~pl.col("cell").str.contains("part=(births|immigration|stayers_own|in_all)"))


def widen(comp: pl.DataFrame, released: pl.DataFrame) -> pl.DataFrame:
    """Back to one row per (level, unit, year, measure): zeros for empty parts, nulls for hidden ones.

    ``suppressed`` is true when the change itself is hidden (then every part
    is); ``suppressed_parts`` lists the hidden parts of a row (``;``-separated).
    """
    pub = released.filter(pl.col("part").is_in(PUBLISHED))
    vals = pub.pivot(on="part", index=BLOCK, values="value")
    sups = pub.pivot(on="part", index=BLOCK, values="suppressed")
    sups = sups.rename({p: f"_s_{p}" for p in PUBLISHED if p in sups.columns})
    out = comp.select(BLOCK).join(vals, on=BLOCK, how="left").join(sups, on=BLOCK, how="left")
    out = out.with_columns(
        [pl.lit(None, dtype=pl.Float64).alias(p) for p in PUBLISHED if p not in out.columns]
        + [pl.lit(None, dtype=pl.Boolean).alias(f"_s_{p}") for p in PUBLISHED if f"_s_{p}" not in out.columns])
    change_hidden = pl.col("_s_change").fill_null(False)
    hidden = {p: change_hidden | pl.col(f"_s_{p}").fill_null(False) for p in PUBLISHED}
    return out.with_columns(
        [pl.when(hidden[p]).then(None).otherwise(pl.col(p).fill_null(0.0)).alias(p) for p in PUBLISHED],
        suppressed=change_hidden,
        suppressed_parts=pl.concat_list([pl.when(hidden[p]).then(pl.lit(p)) for p in PUBLISHED])
        .list.drop_nulls().list.join(";"),
    ).select(*BLOCK, *PUBLISHED, "suppressed", "suppressed_parts").sort(BLOCK)
