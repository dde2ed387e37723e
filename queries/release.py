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

Against a reader who combines the tables (issue 16, part 3): with
``rules.lockstep`` a (level, unit, year, population) block is withheld whole
when any of its measures is (the measures of one population share
denominators); with ``rules.audit`` every withheld primary cell must keep a
wide enough interval under every relation a reader can see
(:mod:`queries.audit`), protection being extended block by block until it
does. Protect, expand, protect again ... until stable.

Published tables (all through :func:`queries.disclosure.protect`):
``measures`` (levels afdeling, for study afdelinger only, group and area),
``comparison`` (series study / sector / population), ``municipal_gap``
(afdeling value minus the municipal stock value).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from panel.errors import DisclosureError
from panel.schema import TOOL_PARTS
from queries.area_release import withhold_closed_areas, withhold_open_areas
from queries.audit import AuditStats, audit, build, extension
from queries.disclosure import Relation, Rules, cell_label, empty_report, primary_flags, protect
from queries.flows.protection import whole_blocks
from queries.populations import group_membership
from queries.registry import registry

KEY = ["level", "unit", "year", "population", "measure"]
MEASURE_COLUMNS = ["level", "unit", "year", "population", "measure", "n", "value", "suppressed"]
BLOCK = ["level", "unit", "year", "population"]  # withheld whole under rules.lockstep
MAX_ROUNDS = 200
DETAIL = {"complementary": "protects a suppressed cell in an additive relation",
          "lockstep": "withheld with its population block (the block's measures share denominators)",
          "audit": "widens the interval of a withheld cell (interval audit)"}
# the area level is its own table: contract §4 gives measures.parquet the levels afdeling and group only
TABLE_OF_LEVEL = {"afdeling": "measures", "group": "measures", "area": "area_measures", "comparison": "comparison",
                  "kom": "municipal_gap"}


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


def protect_release(cells: pl.DataFrame, afd: pl.DataFrame, *, rules: Rules, stats: AuditStats | None = None
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop unpublished rows (non-study afdelinger), protect the rest; return (released, report).

    Rounds of :func:`queries.disclosure.protect` (every cell withheld so far kept
    withheld), then, with ``rules.lockstep``, whole population blocks, then, with
    ``rules.audit``, one more block per cell the interval audit fails, until a
    round adds nothing. ``stats`` (if given) receives the audit's figures.
    """
    study = afd.filter(pl.col("helhedsplan_id").is_not_null())["afdeling_id"]
    # sorted: ties in the choice of complementary cells follow table order, so a fixed order makes
    # the suppression pattern reproducible (group_by output order is not)
    published = cells.filter((pl.col("level") != "afdeling") | pl.col("unit").is_in(study.implode())).sort(KEY)
    published = withhold_open_areas(published, afd, rules)
    kom_units = published.filter(pl.col("level") == "kom")["unit"].unique().sort().to_list()
    relations = release_relations(afd, kom_units)
    stats = stats if stats is not None else AuditStats()
    model = build(published, relations, KEY, rules, registry()) if rules.audit else None
    primary = primary_flags(published, rules)
    is_primary = primary["_rule"].is_not_null().to_numpy()
    why = np.full(published.height, None, dtype=object)  # why a non-primary cell is withheld
    extra = np.zeros(published.height, dtype=bool)
    for _ in range(MAX_ROUNDS):
        released, _report = protect(published.with_columns(_extra=pl.Series(extra)), rules=rules, key=KEY,
                                    relations=relations, name="measures", inherited="_extra")
        hidden = released["suppressed"].to_numpy()
        why[hidden & ~is_primary & (why == None)] = "complementary"  # noqa: E711 - elementwise
        extra = hidden.copy()
        if rules.lockstep:
            whole = whole_blocks(published, hidden, BLOCK).to_numpy()
            if (whole & ~hidden).any():
                why[whole & ~hidden & ~is_primary] = "lockstep"
                extra |= whole
                continue
        if model is not None:
            failed = audit(model, hidden, stats)
            add = extension(model, hidden, failed) if failed else []
            if failed and not add:
                stats.unresolved = len({i for i, _ in failed})
            if add:
                mark = np.zeros(published.height, dtype=bool)
                mark[add] = True
                whole = whole_blocks(published, mark, BLOCK).to_numpy()
                why[whole & ~hidden & ~is_primary] = "audit"
                extra |= whole
                blocks = cell_label(published[add], BLOCK).unique(maintain_order=True).to_list()
                stats.extensions += len(blocks)
                stats.added += blocks
                continue
        break
    else:
        raise DisclosureError(f"the measures release did not settle in {MAX_ROUNDS} rounds of protection")
    stats.withheld = int(hidden.sum())
    rule = np.where(is_primary, primary["_rule"].to_numpy(), why)
    detail = np.where(is_primary, primary["_detail"].to_numpy(),
                      np.array([DETAIL.get(w, "") if w else "" for w in why], dtype=object))
    t = published.select(KEY).with_columns(rule=pl.Series(rule.tolist(), dtype=pl.String),
                                           detail=pl.Series(detail.tolist(), dtype=pl.String)).filter(pl.Series(hidden))
    report = t.select(table=pl.lit("measures"), cell=cell_label(t, KEY), rule=pl.col("rule")
                      .replace({"lockstep": "complementary", "audit": "complementary"}), detail="detail")
    # an area cell pools its afdelinger: a closed area's cell goes wherever one of them is withheld
    released, report = withhold_closed_areas(released, report, afd, KEY)
    level = pl.col("cell").str.extract(r"^level=([^;]*)")
    report = report.with_columns(table=level.replace_strict(TABLE_OF_LEVEL, default="measures"))
    return released.drop("_extra", strict=False), report


def split(released: pl.DataFrame, afd: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The published tables: ``measures``, ``area_measures``, ``comparison``, ``municipal_gap``."""
    order = ["unit", "year", "population", "measure"]
    measures = (released.filter(pl.col("level").is_in(["afdeling", "group"])).select(MEASURE_COLUMNS)
                .sort(["level", *order]))
    area = released.filter(pl.col("level") == "area").select(MEASURE_COLUMNS).sort(["level", *order])
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
    return {"measures": measures, "area_measures": area, "comparison": comparison, "municipal_gap": gap}


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
