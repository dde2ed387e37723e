"""The additive relations the area cells add to the measures release.

An ``area`` cell (:func:`queries.populations.area_membership`) pools every
afdeling of a boligomraade holding a study afdeling. Its study afdelinger are
published too, so a reader could subtract the published ones from the area
and recover a withheld afdeling cell. The release therefore declares

* each area = the sum of its study afdelinger + its ``area_rest`` (its
  non-study afdelinger pooled).

``area_rest`` is a cell of the protected table but never published (table
:data:`UNPUBLISHED`): complementary suppression treats it like a published
cell -- conservative, since a reader cannot see it -- so a withheld afdeling
is never the only withheld part of its area. An area whose afdelinger are all
study afdelinger has no rest rows (a part without rows is a zero).
"""

from __future__ import annotations

import polars as pl

from queries.disclosure import Relation
from queries.populations import area_membership

UNPUBLISHED = "unpublished"  # report table of cells protected but never written (``area_rest``)


def area_relations(afd: pl.DataFrame) -> list[Relation]:
    """One relation per studied area: area = its study afdelinger + ``area_rest``."""
    member = area_membership(afd).collect()
    study = set(afd.filter(pl.col("helhedsplan_id").is_not_null())["afdeling_id"].cast(pl.String).to_list())
    rels = []
    for (unit,), part in member.filter(pl.col("level") == "area").group_by(["unit"], maintain_order=True):
        afds = sorted(a for a in part["afdeling_id"].to_list() if a in study)
        parts = [{"level": "afdeling", "unit": a} for a in afds] + [{"level": "area_rest", "unit": unit}]
        rels.append(Relation(total={"level": "area", "unit": unit}, parts=parts, name=f"area {unit}"))
    return rels
