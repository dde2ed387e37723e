"""Resource-strong families as the CFBU reports count them: households, not persons (issue 18).

Three crossings the reports publish (seed 000: 21 % of households are families with a child under 16,
64 % of them resource-strong, 12 % of those move out in a year; of the movers 46 / 25 / 29 % had lived
there up to 2, 2-5, over 5 years), per group of study afdelinger and year, for each variant of the
definition in ``families.toml``:

* ``family_households``: the households of 31 Dec t-1 in the study afdelinger by ``category``
  (``family_rs``, ``family_not_rs``, ``other`` and the totals ``family``, ``all``), length of residence
  ``band`` (years by t since the longest-resident member's stay began; ``all``) and ``outcome`` in year t
  (``moved_out`` as in :mod:`queries.flows.retention`, ``not_moved_out``, total ``households``);
* ``family_cohorts``: the households that moved in during year t (every member's unbroken stay began
  at 31 Dec t, and one member was not born that year) by category, followed ``horizon`` years: still
  living there (a member of the household still in the afdeling in the same unbroken stay) or not.

Only group-level cells (the groups of contract §2) and the pooled study series are computed: no row
links to an afdeling. Resource-strong members are :func:`panel.derive.composition_flags` with the
variant's ages and categories; the couple is :func:`panel.derive.couple_flags` (one definition each).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from panel.config import load_config
from panel.derive import composition_flags, couple_flags
from panel.errors import InputError
from panel.schema import TOOL_PARTS
from queries.flows.protection import pair_relation
from queries.flows.retention import stay_band

ALL = "all"
FINE = ("family_rs", "family_not_rs", "other")  # the categories every household is in exactly one of
STUDY = ("comparison", "study")  # (level, unit) of all study afdelinger pooled


def load_family_config(override: str | Path | None = None) -> dict[str, Any]:
    """``families.toml`` (merged with an optional user file), checked: a default variant that exists."""
    cfg = load_config("queries.flows", "families.toml", override)
    where = "queries/flows/families.toml"
    variants = cfg.get("variants") or {}
    if cfg.get("default") not in variants:
        raise InputError(f"{where}: default {cfg.get('default')!r} is not one of the variants {sorted(variants)}")
    for name, v in variants.items():
        if v.get("members") not in ("any", "parents"):
            raise InputError(f"{where}: variants.{name}.members must be 'any' or 'parents', got {v.get('members')!r}")
        if len(v.get("ages", [])) != 2 or not v.get("socio") or not isinstance(v.get("child_age"), int):
            raise InputError(f"{where}: variants.{name} needs ages = [lo, hi], socio = [...] and child_age")
    return cfg


def member_flags(composition: Mapping[str, Any], variant: Mapping[str, Any], household: list[str]) -> pl.Expr:
    """Per person (columns ``age``, ``socio_category``): a resource-strong member under ``variant``."""
    hd = {**dict(composition), "resource_strong_ages": list(variant["ages"]),
          "resource_strong_socio": list(variant["socio"])}
    rs = composition_flags(hd)["hh_rs"]
    if variant["members"] == "parents":
        rs = rs & couple_flags(hd, household)["hh_parent"]
    return rs


def _category(family: pl.Expr, rs: pl.Expr) -> pl.Expr:
    return (pl.when(family & rs).then(pl.lit("family_rs")).when(family).then(pl.lit("family_not_rs"))
            .otherwise(pl.lit("other")))


def with_totals(cells: pl.DataFrame, column: str, total: str, parts: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """``cells`` plus rows ``column = total`` summing ``n`` over ``parts`` (every other column kept).

    Examples
    --------
    >>> c = pl.DataFrame({"k": [1, 1, 2], "c": ["a", "b", "a"], "n": [2, 3, 4]})
    >>> with_totals(c, "c", "t", ["a", "b"]).filter(pl.col("c") == "t").sort("k").rows()
    [(1, 't', 5), (2, 't', 4)]
    """
    keys = [c for c in cells.columns if c not in (column, "n")]
    tot = (cells.filter(pl.col(column).is_in(list(parts))).group_by(keys).agg(pl.col("n").sum())
           .with_columns(pl.lit(total).alias(column)).select(cells.columns))
    return pl.concat([cells, tot.cast(cells.schema)])


def to_groups(cells: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """Afdeling cells (column ``unit``) summed to group cells and the pooled study series; afdelinger dropped."""
    keys = [c for c in cells.columns if c not in ("unit", "n")]
    grp = (cells.join(groups, left_on="unit", right_on="afdeling_id", how="inner")
           .group_by("group", *keys).agg(pl.col("n").sum()).rename({"group": "unit"})
           .with_columns(level=pl.lit("group")))
    study = cells.group_by(keys).agg(pl.col("n").sum()).with_columns(level=pl.lit(STUDY[0]), unit=pl.lit(STUDY[1]))
    cols = ["level", "unit", *keys, "n"]
    return pl.concat([grp.select(cols), study.select(cols)]).with_columns(pl.col("n").cast(pl.Int64))


def family_households(pairs: pl.LazyFrame, groups: pl.DataFrame, composition: Mapping[str, Any],
                      cfg: Mapping[str, Any], tenure_cfg: dict) -> pl.DataFrame:
    """Households of 31 Dec t-1 by variant, category, length-of-residence band and outcome (unprotected).

    Columns ``level, unit, year, variant, category, band, outcome, n`` (households).

    Examples
    --------
    >>> pr = pl.LazyFrame({"year": [2005] * 3, "afd_prev": ["A"] * 3, "study_prev": [True] * 3,
    ...     "hh_prev": [1, 1, 2], "age_prev": [40, 8, 30], "socio_prev": ["employed", "child", "unemployed"],
    ...     "spell_start_prev": [2001, 2001, 2004], "fate": ["out", "out", "stay"]})
    >>> g = pl.DataFrame({"afdeling_id": ["A"], "group": ["neither"]})
    >>> comp = {"adult_age": 18, "equivalence_adult_age": 14, "child_age": 18, "partner_age": 25,
    ...         "partner_age_gap": 15}
    >>> v = {"ages": [18, 120], "socio": ["employed"], "members": "any", "child_age": 16}
    >>> t = family_households(pr, g, comp, {"variants": {"x": v}},
    ...                       {"tenure": {"edges": [2, 5], "labels": ["le2", "2to5", "gt5"]}})
    >>> t.filter(level="group", band="all", outcome="moved_out", n=1)["category"].sort().to_list()
    ['all', 'family', 'family_rs']
    """
    labels = list(tenure_cfg["tenure"]["labels"])
    base = pairs.filter(pl.col("study_prev").fill_null(False)).select(
        "year", unit="afd_prev", hh="hh_prev", age="age_prev", socio_category="socio_prev",
        spell="spell_start_prev", fate="fate").collect()
    parts = []
    for name, v in cfg["variants"].items():
        hh = (base.with_columns(_rs=member_flags(composition, v, ["year", "hh"]))
              .group_by("unit", "year", "hh").agg(
                  family=(pl.col("age") < v["child_age"]).any(), rs=pl.col("_rs").any(),
                  stayed=(pl.col("fate") == "stay").any(), out=(pl.col("fate") == "out").any(),
                  first=pl.col("spell").min()))
        parts.append(hh.select(
            "unit", "year", variant=pl.lit(name), category=_category(pl.col("family"), pl.col("rs")),
            band=stay_band(pl.col("year") - pl.col("first"), tenure_cfg),
            outcome=pl.when(~pl.col("stayed") & pl.col("out")).then(pl.lit("moved_out"))
            .otherwise(pl.lit("not_moved_out"))))
    cells = pl.concat(parts).group_by(pl.all()).agg(n=pl.len().cast(pl.Int64))
    cells = to_groups(cells, groups)
    cells = with_totals(cells, "category", "family", ("family_rs", "family_not_rs"))
    cells = with_totals(cells, "category", ALL, ("family", "other"))
    cells = with_totals(cells, "band", ALL, labels)
    cells = with_totals(cells, "outcome", "households", ("moved_out", "not_moved_out"))
    return cells.sort("level", "unit", "year", "variant", "category", "band", "outcome")


def family_cohorts(sub: pl.DataFrame, groups: pl.DataFrame, composition: Mapping[str, Any],
                   cfg: Mapping[str, Any], *, first_year: int, last_year: int) -> pl.DataFrame:
    """In-mover households of year t followed ``horizon`` years: ``retained`` or ``left`` (unprotected).

    ``sub`` is the flows sub-panel with spells (:func:`queries.flows.base.load_frames`). Cohorts of the
    first observed year are left out (their stays may have begun earlier). Columns ``level, unit, year,
    variant, category, horizon, outcome, n`` (households; ``outcome`` ``households`` = the cohort).
    """
    rows = sub.filter(pl.col("study")).select(
        "person_id", "year", "afd", "hh", "age", socio_category="socio", spell="spell_start")
    arrived = (rows.filter(pl.col("year") > first_year)
               .group_by("afd", "year", "hh")
               .agg(new=(pl.col("spell") == pl.col("year")).all(), grown=(pl.col("age") > 0).any())
               .filter(pl.col("new") & pl.col("grown")).select("afd", "year", "hh"))
    members = rows.join(arrived, on=["afd", "year", "hh"], how="semi")
    later = sub.select("person_id", later="year", afd_later="afd", spell_later="spell_start")
    parts = []
    for k in cfg["cohorts"]["horizons"]:
        m = members.filter(pl.col("year") + k <= last_year).with_columns(_k=pl.col("year") + k)
        found = m.join(later, left_on=["person_id", "_k"], right_on=["person_id", "later"], how="left").with_columns(
            kept=((pl.col("afd_later") == pl.col("afd")) & (pl.col("spell_later") == pl.col("year"))).fill_null(False))
        for name, v in cfg["variants"].items():
            hh = (found.with_columns(_rs=member_flags(composition, v, ["year", "hh"]))
                  .group_by("afd", "year", "hh")
                  .agg(family=(pl.col("age") < v["child_age"]).any(), rs=pl.col("_rs").any(),
                       kept=pl.col("kept").any()))
            parts.append(hh.select(
                unit="afd", year="year", variant=pl.lit(name), category=_category(pl.col("family"), pl.col("rs")),
                horizon=pl.lit(k, pl.Int32),
                outcome=pl.when(pl.col("kept")).then(pl.lit("retained")).otherwise(pl.lit("left"))))
    schema = {"unit": pl.String, "year": pl.Int32, "variant": pl.String, "category": pl.String,
              "horizon": pl.Int32, "outcome": pl.String}
    if not parts:
        return pl.DataFrame(schema={"level": pl.String, **schema, "n": pl.Int64})
    cells = pl.concat(parts).cast(schema).group_by(pl.all()).agg(n=pl.len().cast(pl.Int64))
    cells = to_groups(cells, groups)
    cells = with_totals(cells, "category", "family", ("family_rs", "family_not_rs"))
    cells = with_totals(cells, "category", ALL, ("family", "other"))
    cells = with_totals(cells, "outcome", "households", ("retained", "left"))
    return cells.sort("level", "unit", "year", "variant", "category", "horizon", "outcome")


def unit_relations() -> list:
    """``any_tool`` = its three exclusive groups; the pooled study series = ``any_tool`` + ``neither``."""
    return [pair_relation(("level", "unit"), ("group", "any_tool"), [("group", g) for g in TOOL_PARTS], "any_tool"),
            pair_relation(("level", "unit"), STUDY, [("group", "any_tool"), ("group", "neither")], "study")]
