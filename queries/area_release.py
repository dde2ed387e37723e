"""What the area cells add to the measures release: one relation kind and one withholding rule.

An ``area`` cell (:func:`queries.populations.area_membership`) pools every
afdeling of a boligomraade holding a study afdeling. Always

    area = its study afdelinger (published) + its rest (the non-study afdelinger, never published).

* Where the area has no non-study afdeling (the rest is structurally empty),
  the area is the exact sum of published cells (:func:`area_relations`).
  Rather than declaring that to complementary suppression (13 times slower
  on the demo), :func:`withhold_closed_areas` hides the area cell wherever one
  of its afdelinger is withheld; elsewhere the area adds nothing to them.
* Otherwise the rest is an unknown to the reader, so the identity pins no
  published cell and needs no relation -- unless the rest is itself small:
  area minus the published afdelinger gives the rest (and a withheld
  afdeling plus the rest), so :func:`withhold_open_areas` withholds the area
  cell wherever its rest (the ``area_rest`` cell, protected like any cell but
  never published) would be withheld by the primary rules or has nobody in
  it. An open area is part of no relation, so this needs no complement.

Declaring ``area = study afdelinger + area_rest`` as a relation instead (the
first attempt) coupled every area to complementary suppression and made the
demo's release take more than 15 minutes. Areas therefore enter no relation:
both rules act on the area cells alone, before and after :func:`protect`.
"""

from __future__ import annotations

import polars as pl

from queries.disclosure import Relation, Rules, cell_label, primary_flags
from queries.populations import area_membership

REST = "area_rest"
INHERITED = "suppressed"  # the bool column :func:`queries.disclosure.protect` reads as "must be hidden"


def _study_flags(afd: pl.DataFrame) -> pl.DataFrame:
    """``unit`` (area), ``afdeling_id``, ``study`` for every afdeling of an area with cells."""
    member = area_membership(afd).filter(pl.col("level") == "area").collect()
    study = afd.filter(pl.col("helhedsplan_id").is_not_null()).select(
        pl.col("afdeling_id").cast(pl.String), study=pl.lit(True))
    return member.join(study, on="afdeling_id", how="left").select(
        "unit", "afdeling_id", pl.col("study").fill_null(False))


def area_relations(afd: pl.DataFrame) -> list[Relation]:
    """area = the sum of its afdelinger, for each area whose afdelinger are all (published) study afdelinger."""
    flags = _study_flags(afd)
    closed = (flags.group_by("unit").agg(pl.col("study").all().alias("closed"), pl.col("afdeling_id").sort())
              .filter("closed").sort("unit"))
    return [Relation(total={"level": "area", "unit": unit}, parts=[{"level": "afdeling", "unit": a} for a in afds],
                     name=f"area {unit}") for unit, afds in closed.select("unit", "afdeling_id").iter_rows()]


def withhold_open_areas(cells: pl.DataFrame, afd: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """``cells`` without the ``area_rest`` rows; area rows whose rest fails the primary rules marked to hide.

    The mark is the ``suppressed`` column :func:`queries.disclosure.protect` reads as inherited
    suppression (added as all-false when absent). An open area's cell with no rest row in its block
    (the rest holds nobody there) is the exact sum of its study afdelinger and is withheld too.
    """
    if "level" not in cells.columns or cells.filter(pl.col("level") == "area").height == 0:
        return cells.filter(pl.col("level") != REST) if "level" in cells.columns else cells
    rest = cells.filter(pl.col("level") == REST)
    flagged = primary_flags(rest, rules).filter(pl.col("_rule").is_not_null())
    block = [c for c in ("year", "population", "measure") if c in cells.columns]
    open_units = _study_flags(afd).filter(~pl.col("study")).select("unit").unique()
    areas = cells.filter(pl.col("level") == "area").select("unit", *block).join(open_units, on="unit", how="semi")
    safe_rest = rest.join(flagged.select("unit", *block), on=["unit", *block], how="anti").select("unit", *block)
    hide = areas.join(safe_rest, on=["unit", *block], how="anti").with_columns(
        level=pl.lit("area"), _hide=pl.lit(True))
    out = cells.filter(pl.col("level") != REST).join(hide, on=["level", "unit", *block], how="left",
                                                     maintain_order="left")
    mark = pl.col("_hide").fill_null(False)
    if INHERITED in out.columns:
        mark = mark | pl.col(INHERITED).fill_null(False)
    return out.with_columns(mark.alias(INHERITED)).drop("_hide")


def withhold_closed_areas(released: pl.DataFrame, report: pl.DataFrame, afd: pl.DataFrame,
                          key: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Withhold a closed area's cell (all its afdelinger published study afdelinger) where one of them is.

    Instead of declaring area = its afdelinger to complementary suppression (which made the demo's
    release 13 times slower), the area cell is hidden wherever the identity could give back a withheld
    afdeling; where all its afdelinger are published the area says nothing they do not. A closed area
    is part of no relation, so this needs no complement. Adds the report rows (rule ``inherited``).
    """
    flags = _study_flags(afd)
    closed = flags.group_by("unit").agg(pl.col("study").all().alias("closed")).filter("closed").select("unit")
    if closed.height == 0 or "level" not in released.columns:
        return released, report
    block = [c for c in key if c not in ("level", "unit")]
    member = flags.join(closed, on="unit", how="semi").select(afdeling="afdeling_id", area="unit")
    hit = (released.filter((pl.col("level") == "afdeling") & pl.col("suppressed"))
           .join(member, left_on="unit", right_on="afdeling").select(*block, unit=pl.col("area")).unique()
           .with_columns(level=pl.lit("area"), _hide=pl.lit(True)))
    out = released.join(hit, on=["level", "unit", *block], how="left", maintain_order="left")
    new = pl.col("_hide").fill_null(False) & ~pl.col("suppressed")
    added = out.filter(new)
    out = out.with_columns([pl.when(new).then(None).otherwise(pl.col(c)).alias(c) for c in ("n", "value")]
                           + [(pl.col("suppressed") | new).alias("suppressed")]).drop("_hide")
    if added.height:
        rows = pl.DataFrame({"table": "measures", "cell": cell_label(added, key), "rule": "inherited",
                             "detail": "an afdeling of the area is suppressed"})
        report = pl.concat([report, rows.select(report.columns).cast(report.schema)])
    return out, report
