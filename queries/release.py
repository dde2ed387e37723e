"""Protect the measures release and split it into its published tables.

The release holds these additive relations, for n and for n*value, in every
(year, population, measure) block; complementary suppression runs over all
of them at once (:func:`release_relations`):

* each group = the sum of its study afdelinger;
* ``any_tool`` = ``anvisning_only`` + ``fleksibel_only`` + ``both``;
* comparison ``study`` = ``any_tool`` + ``neither``;
* comparison ``population`` (stock) = the sum of the municipal cells;
* areas enter no relation: an area cell is withheld where its afdelinger or its unpublished rest
  would give back a withheld cell (:mod:`queries.area_release`).

``sector`` = study + non-study afdelinger, and a municipality = its
afdelinger + residents outside public housing: non-study afdelinger and
non-public residents are never published, so these hold no information
about a single published cell and need no relation.

Published tables (all through :func:`queries.disclosure.protect`):
``measures`` (levels afdeling, for study afdelinger only, group and area),
``comparison`` (series study / sector / population), ``municipal_gap``
(afdeling value minus the municipal stock value).
"""

from __future__ import annotations

import polars as pl

from panel.schema import TOOL_PARTS
from queries.area_release import withhold_closed_areas, withhold_open_areas
from queries.disclosure import Relation, Rules, empty_report, protect
from queries.populations import group_membership

KEY = ["level", "unit", "year", "population", "measure"]
MEASURE_COLUMNS = ["level", "unit", "year", "population", "measure", "n", "value", "suppressed"]
TABLE_OF_LEVEL = {"afdeling": "measures", "group": "measures", "comparison": "comparison", "kom": "municipal_gap"}


def release_relations(afd: pl.DataFrame, kom_units: list[str]) -> list[Relation]:
    """The additive relations among the rows of the release (see the module docstring)."""
    member = group_membership(afd).collect()
    rels = []
    for (g,), part in member.group_by(["group"], maintain_order=True):
        rels.append(Relation(total={"level": "group", "unit": g},
                             parts=[{"level": "afdeling", "unit": a} for a in part["afdeling_id"].to_list()],
                             name=f"group {g}"))
    rels.append(Relation(total={"level": "group", "unit": "any_tool"},
                         parts=[{"level": "group", "unit": g} for g in TOOL_PARTS],
                         name="any_tool"))
    rels.append(Relation(total={"level": "comparison", "unit": "study"},
                         parts=[{"level": "group", "unit": g} for g in ("any_tool", "neither")], name="study"))
    if kom_units:
        rels.append(Relation(total={"level": "comparison", "unit": "population"},
                             parts=[{"level": "kom", "unit": k} for k in kom_units], name="municipalities"))
    return rels


def protect_release(cells: pl.DataFrame, afd: pl.DataFrame, *, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop unpublished rows (non-study afdelinger), protect the rest; return (released, report)."""
    study = afd.filter(pl.col("helhedsplan_id").is_not_null())["afdeling_id"]
    # sorted: ties in the choice of complementary cells follow table order, so a fixed order makes
    # the suppression pattern reproducible (group_by output order is not)
    published = cells.filter((pl.col("level") != "afdeling") | pl.col("unit").is_in(study.implode())).sort(KEY)
    published = withhold_open_areas(published, afd, rules)
    kom_units = published.filter(pl.col("level") == "kom")["unit"].unique().sort().to_list()
    released, report = protect(published, rules=rules, key=KEY, relations=release_relations(afd, kom_units),
                               name="measures")
    released, report = withhold_closed_areas(released, report, afd, KEY)
    level = pl.col("cell").str.extract(r"^level=([^;]*)")
    report = report.with_columns(table=level.replace_strict(TABLE_OF_LEVEL, default="measures"))
    return released, report


def split(released: pl.DataFrame, afd: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The published tables: ``measures``, ``comparison``, ``municipal_gap``."""
    order = ["unit", "year", "population", "measure"]
    measures = (released.filter(pl.col("level").is_in(["afdeling", "group", "area"])).select(MEASURE_COLUMNS)
                .sort(["level", *order]))
    comparison = (released.filter(pl.col("level") == "comparison")
                  .select(series="unit", year="year", population="population", measure="measure", n="n",
                          value="value", suppressed="suppressed").sort(["series", "year", "population", "measure"]))
    kom = (released.filter((pl.col("level") == "kom") & (pl.col("population") == "stock"))
           .select(kom="unit", year="year", measure="measure", kom_n="n", kom_value="value",
                   kom_suppressed="suppressed"))
    afd_kom = afd.select(unit="afdeling_id", kom=pl.col("kom").cast(pl.String).fill_null("unknown"))
    gap = (released.filter(pl.col("level") == "afdeling").drop("level")
           .join(afd_kom, on="unit", how="left")
           .join(kom, on=["kom", "year", "measure"], how="left")
           .with_columns(suppressed=pl.col("suppressed") | pl.col("kom_suppressed").fill_null(True))
           .with_columns([pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c)
                          for c in ("n", "value", "kom_n", "kom_value")])
           .with_columns(gap=pl.col("value") - pl.col("kom_value"))
           .select("unit", "kom", "year", "population", "measure", "n", "value", "kom_n", "kom_value", "gap",
                   "suppressed")
           .sort(["unit", *order[1:]]))
    return {"measures": measures, "comparison": comparison, "municipal_gap": gap}


def gap_report(gap: pl.DataFrame, released: pl.DataFrame) -> pl.DataFrame:
    """Report rows for gap cells hidden because their afdeling or municipal cell is (rule ``inherited``)."""
    own = released.filter((pl.col("level") == "afdeling") & pl.col("suppressed")).select(
        "unit", "year", "population", "measure", own=pl.lit(True))
    rows = (gap.filter(pl.col("suppressed"))
            .join(own, on=["unit", "year", "population", "measure"], how="left")
            .with_columns(detail=pl.when(pl.col("own")).then(pl.lit("afdeling cell suppressed in measures"))
                          .otherwise(pl.lit("municipal cell suppressed"))))
    if rows.height == 0:
        return empty_report()
    cell = pl.concat_str([pl.lit("unit="), pl.col("unit"), pl.lit("; year="), pl.col("year").cast(pl.String),
                          pl.lit("; population="), pl.col("population"), pl.lit("; measure="), pl.col("measure")])
    return rows.select(table=pl.lit("municipal_gap"), cell=cell, rule=pl.lit("inherited"), detail="detail")
