"""Disclosure control and final shape of the count tables: retention, tenure, destinations, trajectories.

Each is protected as a long table of cells (``n`` persons or households) over
its additive relations (see :mod:`queries.flows.protection`); a share or rate
is published only when both its numerator and denominator cells are. Totals
that measures.parquet already publishes (all out-/in-movers of a unit-year:
the ``non_western`` out/in cells, whose population is everyone) are pinned
and inherit that table's suppression.
"""

from __future__ import annotations

import polars as pl

from queries.disclosure import Rules
from queries.flows.protection import flow_relations, pair_relation, protect_passes, total_relation
from queries.flows.trajectories import KEY as TRAJECTORY_KEY

ALL = "all"


def _denominator(released: pl.DataFrame, block: list[str], total: pl.Expr, value: str) -> pl.DataFrame:
    """Add ``value`` = n / published total of the block (null when either is hidden)."""
    tot = released.filter(total).select(*block, _den=pl.col("n"))
    return released.join(tot, on=block, how="left").with_columns(
        (pl.col("n") / pl.col("_den")).alias(value)).drop("_den")


def _flow_flags(flags: pl.DataFrame | None, population: str) -> pl.DataFrame | None:
    """Suppression of the measures' all-persons in/out cell per (level, unit, year)."""
    if flags is None:
        return None
    return flags.filter((pl.col("measure") == "non_western") & (pl.col("population") == population)).select(
        "level", "unit", "year", _ext_hidden="suppressed")


def _inherit_total(cells: pl.DataFrame, ext: pl.DataFrame | None, is_total: pl.Expr) -> pl.DataFrame:
    if ext is None:
        return cells.with_columns(inherited=pl.lit(False), pinned=is_total)
    c = cells.join(ext, on=["level", "unit", "year"], how="left")
    hid = is_total & pl.col("_ext_hidden").fill_null(False)
    return c.with_columns(inherited=hid, pinned=is_total & ~hid).drop("_ext_hidden")


def protect_retention(ret: pl.DataFrame, groups: pl.DataFrame, *, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Long retention table: outcome households / moved_out / not_moved_out, with ``rate`` of households."""
    key = ["level", "unit", "year", "category", "outcome"]
    long = pl.concat([
        ret.select("level", "unit", "year", "category", outcome=pl.lit(o), n=e.cast(pl.Int64))
        for o, e in (("households", pl.col("households")), ("moved_out", pl.col("moved_out")),
                     ("not_moved_out", pl.col("households") - pl.col("moved_out")))
    ]).filter(pl.col("n") > 0)
    families = [
        [total_relation("outcome", "households", ["moved_out", "not_moved_out"], "outcome")],
        [total_relation("category", ALL, ["resource_strong", "not_resource_strong"], "category")],
        flow_relations(groups, rules),
    ]
    released, report = protect_passes(long, rules=rules, key=key, families=families, name="retention",
                                      null_columns=("n",))
    released = _denominator(released, ["level", "unit", "year", "category"], pl.col("outcome") == "households",
                            "rate")
    return released.select(*key, "n", "rate", "suppressed").sort(key), report


def protect_tenure(ten: pl.DataFrame, groups: pl.DataFrame, flags: pl.DataFrame | None, *, rules: Rules
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tenure bands of out-movers, with ``share`` of the unit-year's out-movers."""
    key = ["level", "unit", "year", "band", "left_censored"]
    parts = ten.filter(pl.col("n") > 0).select(*key, "n")
    totals = parts.group_by("level", "unit", "year").agg(pl.col("n").sum()).with_columns(
        band=pl.lit(ALL), left_censored=pl.lit(False)).select(*key, "n")
    cells = _inherit_total(pl.concat([parts, totals]), _flow_flags(flags, "out"), pl.col("band") == ALL)
    bands = ten["band"].unique().sort().to_list()
    rel = [pair_relation(("band", "left_censored"), (ALL, False), [(b, c) for b in bands for c in (False, True)])]
    released, report = protect_passes(cells, rules=rules, key=key, families=[rel, flow_relations(groups, rules)],
                                      name="tenure", null_columns=("n",), block=["level", "unit", "year"])
    released = _denominator(released, ["level", "unit", "year"], pl.col("band") == ALL, "share")
    return (released.filter(pl.col("band") != ALL).select(*key, "n", "share", "suppressed").sort(key),
            report.filter(~pl.col("cell").str.contains(f"band={ALL};")))


def protect_destinations(dest: pl.DataFrame, groups: pl.DataFrame, flags: pl.DataFrame | None, *, rules: Rules
                         ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Destinations / origins with ``share`` of the unit-year's movers in that direction."""
    key = ["level", "unit", "year", "direction", "dimension", "category"]
    parts = dest.filter(pl.col("n") > 0).select(*key, "n")
    totals = (parts.group_by("level", "unit", "year", "direction", "dimension").agg(pl.col("n").sum())
              .with_columns(category=pl.lit(ALL)).select(*key, "n"))
    cells = []
    for d in ("out", "in"):
        sub = pl.concat([parts, totals]).filter(pl.col("direction") == d)
        cells.append(_inherit_total(sub, _flow_flags(flags, d), pl.col("category") == ALL))
    cells = pl.concat(cells)
    rels = []
    for dim in ("housing", "municipality"):
        cats = parts.filter(pl.col("dimension") == dim)["category"].unique().sort().to_list()
        rels.append(pair_relation(("dimension", "category"), (dim, ALL), [(dim, c) for c in cats]))
    rels.append(pair_relation(("dimension", "category"), ("housing", "abroad"), [("municipality", "abroad")]))
    released, report = protect_passes(cells, rules=rules, key=key, families=[rels, flow_relations(groups, rules)],
                                      name="destinations", null_columns=("n",),
                                      block=["level", "unit", "year", "direction"])
    block = ["level", "unit", "year", "direction", "dimension"]
    released = _denominator(released, block, pl.col("category") == ALL, "share")
    return (released.filter(pl.col("category") != ALL).select(*key, "n", "share", "suppressed").sort(key),
            report.filter(~pl.col("cell").str.contains(f"category={ALL}$")))


def protect_trajectories(traj: pl.DataFrame, groups: pl.DataFrame, magnitude: pl.DataFrame | None, *, rules: Rules
                         ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Trajectories: every (unit, baseline, horizon, status, measure, transition) cell protected on its n."""
    cells = traj.filter(pl.col("n") > 0)
    if magnitude is not None and magnitude.height and set(TRAJECTORY_KEY) <= set(magnitude.columns):
        cells = cells.join(magnitude, on=TRAJECTORY_KEY, how="left")
    released, report = protect_passes(cells, rules=rules, key=TRAJECTORY_KEY, families=[flow_relations(groups, rules)],
                                      name="trajectories", null_columns=("n", "value_base", "value_follow"))
    return released.select(*TRAJECTORY_KEY, "n", "value_base", "value_follow", "suppressed").sort(TRAJECTORY_KEY), report
