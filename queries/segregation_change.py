"""Segregation per municipality type and the decomposition of its change (issue 18, contract §10).

Two summaries beside ``segregation.parquet``:

* ``segregation_types``: per municipality size class (:mod:`queries.municipalities`), trait, index and
  year, the person-weighted mean of the released municipality values, over the municipalities released in
  every year of the trait (a balanced set, so a line does not move because a municipality drops out).
  For the mutual information M this mean is exactly the within-municipality part of M of the pooled
  table of the type's units (M's decomposability); for the other indices it is a summary.
* ``segregation_change``: the change of M between two years split as R ``segregation``'s
  ``mutual_difference(method = "shapley")`` does (Deutsch et al. 2009): ``additions`` and ``removals``
  (units present in one year only), ``group_marginal`` (the trait's overall share changed),
  ``unit_marginal`` (the units' sizes changed) and ``structural`` (who lives where, margins held), which
  add up to ``diff`` = M2 − M1. Per municipality; per type the components are weighted by each
  municipality's mean weight in the two years, plus ``weights`` (the change in the municipalities'
  weights), so they add up to the change of the type's mean M.

Both are computed from the unit counts inside the secure environment but release only functions of the
already released (disclosure-checked) municipality cells: a municipality-year withheld in
``segregation`` is left out of every summary, so nothing here tells more about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

COMPONENTS = ("additions", "removals", "group_marginal", "unit_marginal", "structural")
STATS = ("M1", "M2", "diff", *COMPONENTS)
TYPE_STATS = ("M1", "M2", "diff", *COMPONENTS, "weights")
CHANGE_COLUMNS = ("level", "kom", "kom_type", "trait", "year1", "year2", "stat", "value", "n1", "n2",
                  "municipalities", "suppressed")
TYPE_COLUMNS = ("kom_type", "year", "trait", "index", "value", "n", "municipalities")


def mutual_information(n: np.ndarray) -> float:
    """M of a units × groups count table (natural logarithm, 0 ln 0 = 0)."""
    n = np.asarray(n, dtype=float)
    total = n.sum()
    if total <= 0:
        return 0.0
    p = n / total
    pu = p.sum(1, keepdims=True)
    pg = p.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / (pu * pg)), 0.0)
    return float(terms.sum())


def ipf(source: np.ndarray, target: np.ndarray, *, units: bool = True, groups: bool = True,
        precision: float = 1e-12, max_iterations: int = 10_000) -> np.ndarray:
    """``source`` fitted to the unit (row) and/or group (column) margins of ``target`` (R ``ipf``).

    The margin not taken from ``target`` is kept at the source's own. Proportions are fitted, then scaled
    to the source's total, as R ``segregation``'s ``ipf_compute`` does; converged to ``precision`` (R's
    default .001 leaves a visible error in the components).
    """
    p = np.asarray(source, dtype=float) / source.sum()
    q = np.asarray(target, dtype=float) / target.sum()
    row_t = q.sum(1) if units else p.sum(1)
    col_t = q.sum(0) if groups else p.sum(0)
    for _ in range(max_iterations):
        p = p * (row_t / p.sum(1))[:, None]
        p = p * (col_t / p.sum(0))[None, :]
        if max(np.abs(p.sum(1) - row_t).max(), np.abs(p.sum(0) - col_t).max()) <= precision:
            break
    return p * source.sum()


def common_table(units1: Sequence[str], n1: np.ndarray, units2: Sequence[str], n2: np.ndarray,
                 fill: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The units and groups present in both tables: (orig1, orig2, filled1, filled2) on one grid.

    A unit (group) is present when it has persons in a common group (unit); empty cells of the common
    grid are filled with a tiny count for the IPF (R ``create_common_data``).
    """
    i1 = {u: i for i, u in enumerate(units1)}
    i2 = {u: i for i, u in enumerate(units2)}
    n1 = np.asarray(n1, dtype=float)
    n2 = np.asarray(n2, dtype=float)
    groups = np.ones(n1.shape[1], dtype=bool)
    both = [u for u in units1 if u in i2]
    for _ in range(2):  # units by common groups, then groups by the common units (as R does)
        both = [u for u in both if n1[i1[u], groups].sum() > 0 and n2[i2[u], groups].sum() > 0]
        r1, r2 = [i1[u] for u in both], [i2[u] for u in both]
        groups = (n1[r1].sum(0) > 0) & (n2[r2].sum(0) > 0)
    o1 = n1[np.ix_(r1, groups)]
    o2 = n2[np.ix_(r2, groups)]
    positive = np.concatenate([n1[n1 > 0], n2[n2 > 0]])
    if positive.size and fill > positive.min():
        fill = positive.min() / 1000
    return o1, o2, np.where(o1 > 0, o1, fill), np.where(o2 > 0, o2, fill)


def mutual_difference(units1: Sequence[str], n1: np.ndarray, units2: Sequence[str], n2: np.ndarray
                      ) -> dict[str, float]:
    """R ``segregation::mutual_difference(method = "shapley")`` for two units × groups count tables.

    Examples
    --------
    >>> d = mutual_difference(["x", "y"], np.array([[8, 2], [2, 8]]), ["x", "y"], np.array([[8, 2], [2, 8]]))
    >>> round(d["diff"], 12), round(d["structural"], 12)
    (0.0, 0.0)
    """
    M1 = mutual_information(n1)
    M2 = mutual_information(n2)
    o1, o2, f1, f2 = common_table(units1, n1, units2, n2)
    if o1.size == 0 or o1.shape[1] < 2:
        return {"M1": M1, "M2": M2, "diff": M2 - M1, "additions": M2, "removals": -M1, "group_marginal": 0.0,
                "unit_marginal": 0.0, "structural": 0.0}
    m = mutual_information
    m_aaa, m_bbb = m(o1), m(o2)
    m_bba = m(ipf(f1, f2))
    m_aba = m(ipf(f1, f2, groups=False))  # group margin of 1, unit margin of 2
    m_baa = m(ipf(f1, f2, units=False))   # group margin of 2, unit margin of 1
    m_aab = m(ipf(f2, f1))
    m_bab = m(ipf(f2, f1, groups=False))  # structure of 2, its group margin, unit margin of 1
    m_abb = m(ipf(f2, f1, units=False))   # structure of 2, group margin of 1, its unit margin
    structural = 0.5 * (m_aab - m_aaa) + 0.5 * (m_bbb - m_bba)
    group_marginal = 0.25 * (m_baa - m_aaa + (m_bba - m_aba) + m_bbb - m_abb + (m_bab - m_aab))
    unit_marginal = 0.25 * (m_aba - m_aaa + (m_bba - m_baa) + m_bbb - m_bab + (m_abb - m_aab))
    return {"M1": M1, "M2": M2, "diff": M2 - M1, "additions": M2 - m_bbb, "removals": m_aaa - M1,
            "group_marginal": group_marginal, "unit_marginal": unit_marginal, "structural": structural}


def change_pairs(years: Sequence[int], pairs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """The configured (year1, year2) pairs present in the data; none configured = first and last year."""
    ys = sorted(set(int(y) for y in years))
    if not ys:
        return []
    wanted = [tuple(int(x) for x in p) for p in pairs] or [(ys[0], ys[-1])]
    return [(a, b) for a, b in wanted if a in ys and b in ys and a < b]


def municipality_change(counts: pl.DataFrame, released: pl.DataFrame, pairs: Sequence[Sequence[int]]
                        ) -> pl.DataFrame:
    """Long table ``kom, trait, year1, year2, stat, value, n1, n2`` from :func:`unit_counts` output.

    Only municipality-traits whose indices are released (not suppressed) in both years are decomposed.
    """
    ok = set(released.filter(~pl.col("suppressed").fill_null(False))
             .select("kom", "year", "trait").unique().iter_rows())
    rows: list[tuple] = []
    years = counts["year"].unique().to_list()
    by = {k: g for k, g in counts.sort("unit").group_by(["kom", "trait", "year"])}
    for y1, y2 in change_pairs(years, pairs):
        for kom, trait in sorted({(k, t) for k, t, y in by if y == y1}):
            if (kom, y1, trait) not in ok or (kom, y2, trait) not in ok or (kom, trait, y2) not in by:
                continue
            g1, g2 = by[(kom, trait, y1)], by[(kom, trait, y2)]
            n1 = np.column_stack([g1["a"].to_numpy(), (g1["t"] - g1["a"]).to_numpy()])
            n2 = np.column_stack([g2["a"].to_numpy(), (g2["t"] - g2["a"]).to_numpy()])
            d = mutual_difference(g1["unit"].to_list(), n1, g2["unit"].to_list(), n2)
            rows += [(kom, trait, y1, y2, s, float(d[s]), int(n1.sum()), int(n2.sum())) for s in STATS]
    schema = {"kom": pl.Int16, "trait": pl.String, "year1": pl.Int32, "year2": pl.Int32, "stat": pl.String,
              "value": pl.Float64, "n1": pl.Int64, "n2": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def type_change(change: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """Per type: Σ w̄_k c_k for every component c, and ``weights`` = Σ (w2_k − w1_k) M̄_k.

    w1_k, w2_k are a municipality's share of its type's persons in each year (over the municipalities
    decomposed), w̄ and M̄ the means of the two years; the parts add up to Σ w2 M2 − Σ w1 M1.
    """
    if not change.height:
        return change.with_columns(kom_type=pl.lit(None, pl.String), municipalities=pl.lit(0, pl.Int64))
    c = change.join(classes.select("kom", "kom_type"), on="kom", how="inner")
    keys = ["kom_type", "trait", "year1", "year2"]
    c = c.with_columns(w1=pl.col("n1") / pl.col("n1").sum().over([*keys, "stat"]),
                       w2=pl.col("n2") / pl.col("n2").sum().over([*keys, "stat"]))
    m = (c.filter(pl.col("stat").is_in(["M1", "M2"])).pivot("stat", index=["kom", *keys, "w1", "w2"],
                                                               values="value"))
    weights = m.group_by(keys).agg(value=((pl.col("w2") - pl.col("w1")) * (pl.col("M1") + pl.col("M2")) / 2).sum())
    parts = (c.filter(~pl.col("stat").is_in(["M1", "M2", "diff"])).group_by([*keys, "stat"])
             .agg(value=(pl.col("value") * (pl.col("w1") + pl.col("w2")) / 2).sum()))
    levels = m.group_by(keys).agg(M1=(pl.col("w1") * pl.col("M1")).sum(), M2=(pl.col("w2") * pl.col("M2")).sum())
    levels = (levels.with_columns(diff=pl.col("M2") - pl.col("M1"))
              .unpivot(["M1", "M2", "diff"], index=keys, variable_name="stat", value_name="value"))
    size = c.filter(pl.col("stat") == "M1").group_by(keys).agg(n1=pl.col("n1").sum(), n2=pl.col("n2").sum(),
                                                                 municipalities=pl.len().cast(pl.Int64))
    out = pl.concat([levels, parts.select(levels.columns),
                     weights.with_columns(stat=pl.lit("weights")).select(levels.columns)])
    return out.join(size, on=keys, how="left")


def change_table(counts: pl.DataFrame, released: pl.DataFrame, classes: pl.DataFrame,
                 pairs: Sequence[Sequence[int]]) -> pl.DataFrame:
    """``segregation_change``: municipality rows (``level`` kom) and type rows (``level`` kom_type)."""
    kom = municipality_change(counts, released, pairs)
    typ = type_change(kom, classes)
    kom_rows = kom.join(classes.select("kom", "kom_type"), on="kom", how="left").with_columns(
        level=pl.lit("kom"), municipalities=pl.lit(1, pl.Int64))
    typ_rows = typ.with_columns(level=pl.lit("kom_type"), kom=pl.lit(None, pl.Int16))
    order = {s: i for i, s in enumerate(TYPE_STATS)}
    both = pl.concat([kom_rows.select(CHANGE_COLUMNS[:-1]), typ_rows.select(CHANGE_COLUMNS[:-1])], how="vertical_relaxed")
    return (both.with_columns(suppressed=pl.lit(False), _o=pl.col("stat").replace_strict(order, return_dtype=pl.Int32))
            .sort("level", "kom_type", "kom", "trait", "year1", "year2", "_o", nulls_last=True).drop("_o"))


def type_indices(released: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """``segregation_types``: person-weighted means of the released municipality indices per type.

    Balanced: a municipality counts for a trait only if its indices are released in every year of the
    trait, so the set of municipalities behind a line is the same in every year.
    """
    rel = released.filter(pl.col("value").is_not_null() & ~pl.col("suppressed").fill_null(False))
    years = released.group_by("trait").agg(_years=pl.col("year").n_unique())
    full = (rel.group_by("kom", "trait").agg(_have=pl.col("year").n_unique()).join(years, on="trait")
            .filter(pl.col("_have") == pl.col("_years")).select("kom", "trait"))
    r = rel.join(full, on=["kom", "trait"], how="semi").join(classes.select("kom", "kom_type"), on="kom")
    return (r.group_by("kom_type", "year", "trait", "index")
            .agg(value=(pl.col("value") * pl.col("n")).sum() / pl.col("n").sum(), n=pl.col("n").sum(),
                 municipalities=pl.len().cast(pl.Int64))
            .select(TYPE_COLUMNS).sort("kom_type", "trait", "index", "year"))


def segregation_summaries(out: str | Path, counts: pl.DataFrame, released: pl.DataFrame, *,
                          config: str | Path | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``segregation_types``, ``segregation_change``) of OUT from its unit counts and released indices.

    Both tables carry ``suppressed`` = false: they are built from released municipality cells only.
    """
    from panel.schema import scan_panel
    from queries.municipalities import municipality_classes
    from queries.segregation import segregation_config

    cfg = segregation_config(config)
    classes = municipality_classes(scan_panel(out), cfg["kom_size_bounds"])
    types = type_indices(released, classes).with_columns(suppressed=pl.lit(False))
    m = released.filter(pl.col("index") == "mutual_information") if "mutual_information" in cfg["indices"] \
        else released.select("kom", "year", "trait", "suppressed").unique()
    change = change_table(counts, m, classes, cfg["change_years"])
    return types, change
