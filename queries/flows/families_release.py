"""Disclosure control of the household tables of :mod:`queries.flows.families` and
:mod:`queries.flows.displacement`.

All rules are :func:`queries.disclosure.protect`'s, run through
:func:`queries.flows.protection.protect_passes` over each table's additive relations. Two things are
added here, because these tables repeat cells:

* a cell that is the same count under several keys (the ``all`` households under each variant; a
  cohort's size under each horizon; the families of two variants with the same child age) is one cell:
  when any copy is hidden, every copy is hidden and the passes rerun (:func:`protect_equal`);
* cells equal to cells another table of the release already publishes (the ``retention`` households
  and movers; the measures' group-level out-/in-mover cells) are pinned to that table's fate
  (``pinned`` / ``inherited`` of ``protect_passes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from queries.disclosure import Relation, Rules
from queries.flows.protection import protect_passes, total_relation

RETENTION_CATEGORY = {"all": "all", "family": "families_with_children"}  # ours -> retention's (child age 18)


def protect_equal(cells: pl.DataFrame, *, rules: Rules, key: list[str], families: Sequence[Sequence[Relation]],
                  equal: pl.Expr, name: str, block: Sequence[str] = (), max_rounds: int = 10
                  ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``protect_passes`` until the copies of each cell (rows with the same ``equal`` value) share their fate."""
    t = cells.with_columns(_eq=equal)
    if "inherited" not in t.columns:
        t = t.with_columns(inherited=pl.lit(False))
    released, report = protect_passes(t.drop("_eq"), rules=rules, key=key, families=families, name=name,
                                      null_columns=("n",), block=block)
    for _ in range(max_rounds):
        hid = released.select(*key, "suppressed").join(t.select(*key, "_eq"), on=key, how="left")
        classes = hid.group_by("_eq").agg(pl.col("suppressed").any().alias("_any"))
        marked = (t.select(*key, "_eq").join(classes, on="_eq", how="left")["_any"].fill_null(False))
        gap = int((marked & ~t.select(*key).join(released.select(*key, "suppressed"), on=key, how="left")
                   ["suppressed"].fill_null(False)).sum())
        if not gap:
            break
        t = t.with_columns(inherited=pl.col("inherited") | marked)
        released, report = protect_passes(t.drop("_eq"), rules=rules, key=key, families=families, name=name,
                                          null_columns=("n",), block=block)
    return released, report


def retention_fate(dest: Path | None) -> pl.DataFrame | None:
    """``level, unit, year, category, outcome, hidden`` of the retention release in ``dest``, if written."""
    path = None if dest is None else Path(dest) / "retention.parquet"
    if path is None or not path.exists():
        return None
    ret = pl.read_parquet(path)
    if not {"level", "unit", "year", "category", "outcome", "suppressed"} <= set(ret.columns):
        return None
    return ret.select("level", "unit", "year", "category", "outcome", hidden="suppressed")


def _pin(cells: pl.DataFrame, fate: pl.DataFrame | None, same: pl.Expr, on: list[str]) -> pl.DataFrame:
    """``inherited`` / ``pinned`` for the rows ``same`` that another table publishes (joined on ``on``)."""
    if fate is None:
        return cells.with_columns(inherited=pl.lit(False), pinned=pl.lit(False))
    c = cells.with_columns(_same=same).join(fate, on=on, how="left")
    hidden = pl.col("_same") & pl.col("hidden").fill_null(False)
    shown = pl.col("_same") & pl.col("hidden").is_not_null() & ~pl.col("hidden")
    return c.with_columns(inherited=hidden, pinned=shown).drop("_same", "hidden")


def _rate(released: pl.DataFrame, block: list[str], total: pl.Expr, name: str) -> pl.DataFrame:
    tot = released.filter(total).select(*block, _den=pl.col("n"))
    return released.join(tot, on=block, how="left").with_columns((pl.col("n") / pl.col("_den")).alias(name)) \
        .drop("_den")


def protect_family_households(cells: pl.DataFrame, cfg: dict, tenure_labels: list[str], *, rules: Rules,
                              dest: Path | None = None, relations: list[Relation]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Protected ``family_households`` with ``share`` (of all households), ``of_families`` and ``rate``."""
    key = ["level", "unit", "year", "variant", "category", "band", "outcome"]
    cells = cells.filter(pl.col("n") > 0)
    fate = retention_fate(dest)
    if fate is not None:
        fate = fate.with_columns(pl.col("category").replace({v: k for k, v in RETENTION_CATEGORY.items()}))
    child = {v: int(x["child_age"]) for v, x in cfg["variants"].items()}
    age = pl.col("variant").replace_strict(child, return_dtype=pl.Int64)
    comparable = (pl.col("band") == "all") & pl.col("outcome").is_in(["households", "moved_out"]) & (
        (pl.col("category") == "all") | ((pl.col("category") == "family") & (age == 18)))
    cells = _pin(cells, fate, comparable, ["level", "unit", "year", "category", "outcome"])
    families = [
        [total_relation("category", "all", ["family", "other"], "category"),
         total_relation("category", "family", ["family_rs", "family_not_rs"], "family")],
        [total_relation("band", "all", tenure_labels, "band")],
        [total_relation("outcome", "households", ["moved_out", "not_moved_out"], "outcome")],
        relations,
    ]
    equal = pl.concat_str([pl.col(c).cast(pl.String) for c in ("level", "unit", "year", "category", "band",
                                                                "outcome")]
                          + [pl.when(pl.col("category") == "all").then(pl.lit(""))
                             .when(pl.col("category").is_in(["family", "other"])).then(age.cast(pl.String))
                             .otherwise(pl.col("variant"))], separator="|")
    released, report = protect_equal(cells, rules=rules, key=key, families=families, equal=equal,
                                     name="family_households", block=["level", "unit", "year"])
    released = _rate(released, ["level", "unit", "year", "variant", "band", "outcome"],
                     pl.col("category") == "all", "share")
    released = _rate(released, ["level", "unit", "year", "variant", "band", "outcome"],
                     pl.col("category") == "family", "of_families")
    released = released.with_columns(of_families=pl.when(pl.col("category").is_in(["family_rs", "family_not_rs"]))
                                     .then(pl.col("of_families")))
    released = _rate(released, ["level", "unit", "year", "variant", "category", "band"],
                     pl.col("outcome") == "households", "rate")
    released = _rate(released, ["level", "unit", "year", "variant", "category", "outcome"],
                     pl.col("band") == "all", "band_share")
    cols = [*key, "n", "share", "of_families", "rate", "band_share", "suppressed"]
    return released.select(cols).sort(key), report


def protect_family_cohorts(cells: pl.DataFrame, cfg: dict, *, rules: Rules, relations: list[Relation]
                           ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Protected ``family_cohorts`` with ``rate`` = retained / cohort households."""
    key = ["level", "unit", "year", "variant", "category", "horizon", "outcome"]
    cells = cells.filter(pl.col("n") > 0)
    child = {v: int(x["child_age"]) for v, x in cfg["variants"].items()}
    age = pl.col("variant").replace_strict(child, return_dtype=pl.Int64).cast(pl.String)
    families = [
        [total_relation("category", "all", ["family", "other"], "category"),
         total_relation("category", "family", ["family_rs", "family_not_rs"], "family")],
        [total_relation("outcome", "households", ["retained", "left"], "outcome")],
        relations,
    ]
    equal = pl.concat_str([pl.col("level"), pl.col("unit"), pl.col("year").cast(pl.String), pl.col("category"),
                           pl.col("outcome"),
                           pl.when(pl.col("outcome") == "households").then(pl.lit(""))
                           .otherwise(pl.col("horizon").cast(pl.String)),
                           pl.when(pl.col("category") == "all").then(pl.lit(""))
                           .when(pl.col("category").is_in(["family", "other"])).then(age)
                           .otherwise(pl.col("variant"))], separator="|")
    released, report = protect_equal(cells, rules=rules, key=key, families=families, equal=equal,
                                     name="family_cohorts", block=["level", "unit", "year"])
    released = _rate(released, ["level", "unit", "year", "variant", "category", "horizon"],
                     pl.col("outcome") == "households", "rate")
    return released.select(*key, "n", "rate", "suppressed").sort(key), report
