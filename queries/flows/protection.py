"""Disclosure control of the flow tables: relations and passes over ``queries.disclosure.protect``.

All rules live in :mod:`queries.disclosure`; this module only states which
additive relations each flow table holds and runs ``protect`` once per family
of relations (``protect`` takes relations over one set of match columns),
feeding each pass's suppressions to the next as inherited, until a whole
round adds none. Cells published elsewhere (in ``measures.parquet``) are
*pinned*: they take part in the relations as published cells but are never
chosen for complementary suppression (their ``n`` is set very large for the
choice); if ``protect`` still has to hide one, the caller hides the cells
that depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from panel.schema import GROUPS, TOOL_PARTS
from queries.disclosure import Relation, Rules, cell_label, protect

PINNED_N = 10**12  # never the smallest published cell of a relation


def group_relations(groups: pl.DataFrame, *, afdeling: bool = True) -> list[Relation]:
    """Each group = the sum of its afdelinger; ``any_tool`` = its three exclusive groups.

    Match columns ``level`` and ``unit``: valid for counts and person sums of
    every flow table (a person or household is in one afdeling at a time).
    ``afdeling=False`` (a release at group level, :func:`at_flow_level`): only ``any_tool``.
    """
    rels = []
    for g in GROUPS if afdeling else ():
        afd = groups.filter(pl.col("group") == g)["afdeling_id"].sort().to_list()
        if afd:
            rels.append(Relation(total={"level": "group", "unit": g},
                                 parts=[{"level": "afdeling", "unit": a} for a in afd], name=f"group {g}"))
    rels.append(Relation(total={"level": "group", "unit": "any_tool"},
                         parts=[{"level": "group", "unit": g} for g in TOOL_PARTS], name="any_tool"))
    return rels


def flow_relations(groups: pl.DataFrame, rules: Rules) -> list[Relation]:
    """:func:`group_relations` of the level the rules publish flow tables at."""
    return group_relations(groups, afdeling=rules.flow_level == "afdeling")


def at_flow_level(table: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """The rows of a flow table the release publishes: no ``afdeling`` rows unless ``rules.flow_level``
    is ``"afdeling"``.

    Afdeling-level flow rows tie the measures' withheld afdeling cells to published ones (a trajectory's
    gained - lost, a decomposition's stayers and exits), so the release keeps them at group level
    (issue 16, part 3).
    """
    if rules.flow_level == "afdeling" or "level" not in table.columns:
        return table
    return table.filter(pl.col("level") != "afdeling")


def total_relation(column: str, total: str, parts: Sequence[str], name: str) -> Relation:
    """``total`` = sum of ``parts`` in the one key column ``column``."""
    return Relation(total={column: total}, parts=[{column: p} for p in parts], name=name)


def pair_relation(cols: tuple[str, str], total: tuple, parts: Sequence[tuple], name: str = "") -> Relation:
    """``total`` = sum of ``parts``, cells named by two key columns (values given as pairs)."""
    return Relation(total=dict(zip(cols, total, strict=True)),
                    parts=[dict(zip(cols, p, strict=True)) for p in parts], name=name or "+".join(cols))


def protect_passes(table: pl.DataFrame, *, rules: Rules, key: list[str], families: Sequence[Sequence[Relation]],
                   name: str, null_columns: Sequence[str] = ("n", "value"), block: Sequence[str] = (),
                   max_rounds: int = 20) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run :func:`queries.disclosure.protect` per relation family until no pass hides a new cell.

    ``table`` may carry bool columns ``inherited`` (cells hidden because a
    cell they derive from is) and ``pinned`` (published elsewhere, e.g. in
    measures.parquet). A pinned cell's ``n`` is replaced by :data:`PINNED_N`
    so it is never picked for complementary suppression; should ``protect``
    still hide one (the block cannot be protected while it is shown), every
    other cell of its ``block`` is hidden, the passes rerun, and the pinned
    cell is hidden here too. Returns ``(released, report)``;
    the report names each suppressed cell once, with the first rule that hid it.
    """
    # a fixed row order: ties in complementary suppression follow it (group_by output order is not fixed)
    t = table.sort(key).with_columns(
        pl.col("inherited").fill_null(False) if "inherited" in table.columns else pl.lit(False).alias("inherited"),
        pl.col("pinned").fill_null(False) if "pinned" in table.columns else pl.lit(False).alias("pinned"))
    t = t.with_columns(pinned=pl.col("pinned") & ~pl.col("inherited"))
    pinned = t["pinned"]
    base = t.drop("pinned").with_columns(n=pl.when(pinned).then(PINNED_N).otherwise(pl.col("n")))
    released, report = _passes(base, rules=rules, key=key, families=families, name=name,
                               null_columns=null_columns, max_rounds=max_rounds)
    forced = pinned & released["suppressed"]
    hit = pl.Series(np.zeros(base.height, dtype=bool))
    if forced.any() and block:
        hit = whole_blocks(base, forced, block)
        base = base.with_columns(inherited=pl.col("inherited") | (hit & ~pinned))
        released, report = _passes(base, rules=rules, key=key, families=families, name=name,
                                   null_columns=null_columns, max_rounds=max_rounds)
    keep = pinned & ~hit  # published elsewhere and not forced: shown with its true values
    released = released.with_columns(
        [pl.when(keep).then(t[c]).otherwise(pl.col(c)).alias(c) for c in null_columns]
    ).with_columns(suppressed=pl.col("suppressed") & ~keep)
    gone = released.filter(pinned & hit)
    released = released.with_columns(
        [pl.when(pinned & hit).then(None).otherwise(pl.col(c)).alias(c) for c in null_columns]
    ).with_columns(suppressed=pl.col("suppressed") | (pinned & hit))
    if report.height:
        report = report.filter(~pl.col("cell").is_in(cell_label(released.filter(pinned), key).implode()))
    if gone.height:
        report = pl.concat([report, pl.DataFrame({
            "table": name, "cell": cell_label(gone, key), "rule": "complementary",
            "detail": "published elsewhere; hidden here with its whole block, which it would reveal"})])
    return released, report


def whole_blocks(table: pl.DataFrame, hit: pl.Series | np.ndarray, block: Sequence[str]) -> pl.Series:
    """True for every row of a block (rows with the same values of ``block``) that holds a row where ``hit``.

    Used to withhold a block whole: the pinned cells a pass had to hide (:func:`protect_passes`), the
    population blocks of the measures release (``lockstep``, :func:`queries.release.protect_release`).
    """
    flagged = table.select(*block).with_columns(pl.Series("_hit", hit, dtype=pl.Boolean))
    return flagged.select(pl.col("_hit").any().over(list(block)))["_hit"]


def _passes(base: pl.DataFrame, *, rules: Rules, key: list[str], families: Sequence[Sequence[Relation]],
            name: str, null_columns: Sequence[str], max_rounds: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    hidden = base["inherited"]
    reports = []
    released = base
    for _ in range(max_rounds):
        start = int(hidden.sum())
        for fam in families or [[]]:
            released, report = protect(base.with_columns(hidden.alias("inherited")), rules=rules, key=key,
                                       relations=list(fam), name=name, null_columns=null_columns,
                                       inherited="inherited")
            reports.append(report)
            hidden = released["suppressed"]
        if int(hidden.sum()) == start:
            break
    report = pl.concat(reports)
    first = report.filter(pl.col("rule") != "inherited").unique("cell", keep="first", maintain_order=True)
    inh = report.filter(pl.col("rule") == "inherited").unique("cell", keep="first", maintain_order=True)
    return released, pl.concat([first, inh.join(first, on="cell", how="anti")])


def measures_flags(dest: Path) -> pl.DataFrame | None:
    """``level, unit, year, population, measure, suppressed`` of the measures release in ``dest``, if written."""
    path = Path(dest) / "measures.parquet"
    if not path.exists():
        return None
    return pl.read_parquet(path, columns=["level", "unit", "year", "population", "measure", "suppressed"])
