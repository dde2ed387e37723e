"""Afdeling, group, area and study/sector cells of one record year, keyed by one integer per cell.

The general path (:func:`queries.cells._stock_and_movers` and
``_afdeling_cells``) groups by the ``afdeling_id`` string, the year and the
population, then joins and re-groups for every pooled level. Here every row
of the three populations fed by a record year gets one small integer,
``cell = afdeling code * 3 + population`` (the afdeling's row in the
afdeling table; stock and in-movers are of the record year, out-movers of
the next), so that sums are one single-key group_by (float sums one
``np.bincount`` in row order: the same every run), household contributions
one group_by on a packed integer, and the dominance statistics come from
numpy arrays indexed by cell (:func:`queries.dense.top_sums`) without
numbering the cells first. A pooled cell (a group, the study afdelinger, the
sector) takes its statistics from its afdeling cells' k largest households
and their counts and totals, not from the households again.

Pooling afdelinger (groups, study, sector) re-sums a household over the
afdelinger it is counted for. When every household is counted for one
afdeling per population -- nearly always -- that re-sum leaves its rows as
they are; otherwise the general path runs (decided once per year,
:func:`dense_applies`). The same cells as the general path (tested in
``tests/test_queries_speed_paths.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from queries.aggregate import float_columns, indicators
from queries.dense import CELL_HH_BLOCK, count_col, float_sums, long_cells, stats_from_sums, sum_col, top_sums
from queries.disclosure import Rules
from queries.populations import POPULATIONS, area_membership, fed_by, group_membership, year_rows
from queries.registry import Measure


def afdeling_codes(afd: pl.DataFrame) -> pl.DataFrame:
    """``afdeling_id`` -> ``code``: the afdeling's row in the afdeling table (cell = code * 3 + population)."""
    ids = afd["afdeling_id"]
    return pl.DataFrame({"afdeling_id": ids, "code": pl.Series(np.arange(len(ids)), dtype=pl.Int64)})


def _cell(lookup: pl.DataFrame) -> pl.Expr:
    # a lookup expression, not a join: the rows keep their order (the float sums add them in it)
    code = pl.col("counted").replace_strict(lookup["afdeling_id"], lookup["code"], default=None,
                                            return_dtype=pl.Int64)
    return (code * 3 + pl.col("pop")).alias("cell")


def dense_applies(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int, years: list[int],
                  pos: np.ndarray | None) -> bool:
    """Whether :func:`dense_afdeling_cells` may run for this record year (decided before, not after, the work).

    It needs every afdeling counted for in the afdeling table, and every
    household counted for one afdeling per population: pooling (groups,
    study, sector) then leaves a household's rows as they are instead of
    re-summing them over its afdelinger.
    """
    rows = year_rows(rec, moves, record_year=year, years=years, columns=["hh_key"], pos=pos)
    cell = rows.select(_cell(afdeling_codes(afd)), "pop", "hh_key").collect()
    if cell["cell"].null_count():
        return False
    shifted = cell["hh_key"] + (1 << 31)  # (a hash set of packed keys: about 4x faster than is_duplicated)
    per_cell = (cell["cell"] * CELL_HH_BLOCK + shifted).n_unique()
    return per_cell == (cell["pop"] * CELL_HH_BLOCK + shifted).n_unique()


def _rows(rec: pl.DataFrame, moves: pl.DataFrame, lookup: pl.DataFrame, *, year: int, years: list[int],
          pos: np.ndarray | None, measures: Mapping[str, Measure]) -> pl.DataFrame:
    """Indicator rows of the populations fed by the records of ``year`` (:func:`queries.populations.year_rows`),
    with ``cell``.

    One lazy query: the stock's filter, the afdeling codes and the indicators
    are fused, so the persons' columns are never copied out first.
    """
    roots = {c for m in measures.values() for e in (m.value, m.population) for c in e.meta.root_names()}
    need = [c for c in rec.columns if c in roots or c == "hh_key"]
    rows = year_rows(rec, moves, record_year=year, years=years, columns=need, pos=pos)
    return indicators(rows.with_columns(_cell(lookup)).drop("year"), ["cell"], measures).collect()


def dense_afdeling_cells(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int,
                        years: list[int], measures: Mapping[str, Measure], rules: Rules,
                        pos: np.ndarray | None = None, study_only: bool = False) -> pl.DataFrame:
    """Afdeling, group and study/sector comparison cells fed by the records of ``year``.

    ``rec`` has the household columns (``hh_key``); ``pos`` is
    :func:`queries.cells.person_rows` of ``rec`` (movers gathered by position)
    or None (joined); ``study_only``: afdeling-level rows for the study
    afdelinger only. Returns the cell columns of :mod:`queries.cells`. Only
    for a year where :func:`dense_applies` (:func:`queries.cells.choose_path`
    asks it once per year).

    Examples
    --------
    >>> cells = dense_afdeling_cells(rec, moves, afd, year=2010, years=list(range(2004, 2014)),
    ...                              measures=registry(), rules=load_rules("dst"))  # doctest: +SKIP
    """
    ids = afd["afdeling_id"]
    lookup = afdeling_codes(afd)
    if not fed_by(year, years):
        return pl.DataFrame()
    rows = _rows(rec, moves, lookup, year=year, years=years, pos=pos, measures=measures)
    if rows.height == 0:
        return pl.DataFrame()
    mags = [n for n, m in measures.items() if m.magnitude]
    flo = float_columns(measures)  # summed by float_sums in row order below, not by the group_bys
    value_cols = [c for n in measures for c in (count_col(n), sum_col(n)) if c not in flo]
    sums_lf = rows.lazy().group_by("cell").agg([pl.col(c).sum() for c in value_cols])
    # households: a plain group_by. Its float sums feed only the dominance statistics, which never leave;
    # a last-digit difference between runs could matter only at a share equal to its limit to the last
    # digit. (A stable sort + np.add.reduceat made them repeatable too, at +0.3 s on the whole population.)
    hh_lf = (rows.lazy().with_columns(_k=pl.col("cell") * CELL_HH_BLOCK + pl.col("hh_key") + (1 << 31))
             .group_by("_k").agg([pl.col(c).sum() for n in mags for c in (count_col(n), sum_col(n))])
             .with_columns(cell=pl.col("_k") // CELL_HH_BLOCK, hh_key=pl.col("_k") % CELL_HH_BLOCK - (1 << 31)).drop("_k"))
    sums, hh = pl.collect_all([sums_lf, hh_lf])
    n_afd = len(ids)
    study = lookup.filter(afd["helhedsplan_id"].is_not_null())["code"]
    units, pairs = _pooled_units(afd, lookup, study)
    n_cells, n_pooled = 3 * n_afd, 3 * len(units)
    pair_cell = np.concatenate([pairs["code"].to_numpy() * 3 + p for p in range(3)])
    pooled_cell = np.concatenate([pairs["u"].to_numpy() * 3 + p for p in range(3)])
    stats = {n: _stats(hh, n, n_cells, pair_cell, pooled_cell, n_pooled, rules=rules) for n in mags}
    own = sums.rename({"cell": "g"})
    if study_only:  # the other afdelinger count in the pooled cells only
        own = own.filter((pl.col("g") // 3).is_in(study.implode()))
    wide = pl.concat([
        own,
        sums.with_columns(code=pl.col("cell") // 3).join(pairs, on="code")
        .group_by(g=n_cells + pl.col("u") * 3 + pl.col("cell") % 3).agg(pl.col(value_cols).sum()),
    ], how="vertical_relaxed")
    # float sums: afdeling cells in row order, pooled cells over the (sorted) member pairs
    by_cell = float_sums(rows["cell"].to_numpy(), rows, flo, n_cells)
    all_cells = {c: np.concatenate([v, np.bincount(pooled_cell, weights=v[pair_cell], minlength=n_pooled)])
                 for c, v in by_cell.items()}
    g = wide["g"].to_numpy()
    wide = wide.with_columns(**{c: v[g] for c, v in all_cells.items()})
    cell_of = pl.concat([
        pl.DataFrame({"u": np.arange(n_afd), "level": "afdeling", "unit": ids}),
        units.with_columns(u=pl.col("u") + n_afd),
    ], how="vertical_relaxed").join(pl.DataFrame({"p": range(3)}), how="cross").select(
        g=pl.when(pl.col("u") < n_afd).then(pl.col("u") * 3).otherwise(n_cells + (pl.col("u") - n_afd) * 3)
        + pl.col("p"),
        level="level", unit="unit", year=pl.when(pl.col("p") == 2).then(year + 1).otherwise(year).cast(pl.Int32),
        population=pl.col("p").replace_strict(range(3), POPULATIONS, return_dtype=pl.String))
    n_all = n_cells + n_pooled
    stat_rows = pl.concat([pl.DataFrame({"g": np.arange(n_all), "measure": name, **st}) for name, st in stats.items()]
                          ) if stats else None
    return long_cells(wide, stat_rows, ["g"], measures).join(cell_of, on="g", how="left").drop("g")


def _pooled_units(afd: pl.DataFrame, lookup: pl.DataFrame, study: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pooled units ``u``, ``level``, ``unit``; member pairs ``code``, ``u``): groups, study, sector, areas.

    ``study``: the codes of the study afdelinger.
    """
    member = group_membership(afd).collect().join(lookup, on="afdeling_id")
    names = sorted(member["group"].unique().to_list())
    units = pl.DataFrame({"u": range(len(names) + 2), "level": ["group"] * len(names) + ["comparison"] * 2,
                          "unit": [*names, "study", "sector"]})
    areas = area_membership(afd).collect().join(lookup, on="afdeling_id")
    area_units = areas.select("level", "unit").unique().sort("level", "unit").with_row_index("u", offset=units.height)
    units = pl.concat([units, area_units.with_columns(pl.col("u").cast(pl.Int64))], how="vertical_relaxed")
    pairs = pl.concat([
        member.select("code", u=pl.col("group").replace_strict(names, range(len(names)), return_dtype=pl.Int64)),
        pl.DataFrame({"code": study, "u": len(names)}, schema={"code": pl.Int64, "u": pl.Int64}),
        lookup.select("code", u=pl.lit(len(names) + 1, pl.Int64)),
        areas.join(area_units, on=["level", "unit"]).select("code", pl.col("u").cast(pl.Int64)),
    ]).sort("u", "code")  # a fixed order: pooled float sums add the members in it
    return units, pairs


def _stats(hh: pl.DataFrame, name: str, n_cells: int, pair_cell: np.ndarray, pooled_cell: np.ndarray,
           n_pooled: int, *, rules: Rules) -> dict[str, np.ndarray]:
    """Dominance statistics of one magnitude measure for every afdeling cell, then every pooled cell.

    A pooled cell's k largest households are among the k largest of its
    afdeling cells (each household is in one), so pooling needs only each
    afdeling cell's k largest values, not its households again.
    """
    ks = list(range(1, max(2, rules.dominance_n) + 1))
    sel = (hh[count_col(name)] > 0).to_numpy() & hh[sum_col(name)].is_not_null().to_numpy()
    cell, a = hh["cell"].to_numpy()[sel], np.abs(hh[sum_col(name)].to_numpy()[sel])
    prefix = top_sums(cell, a, n_cells, ks)
    values = np.diff(np.column_stack([np.zeros(n_cells), *(prefix[k] for k in ks)]), axis=1)  # k-th largest
    units = np.bincount(cell, minlength=n_cells)
    abs_total = np.bincount(cell, weights=a, minlength=n_cells)
    pooled = top_sums(np.repeat(pooled_cell, len(ks)), values[pair_cell].ravel(), n_pooled, ks)
    own = stats_from_sums(units, abs_total, prefix, rules=rules)
    pool = stats_from_sums(np.bincount(pooled_cell, weights=units[pair_cell], minlength=n_pooled).astype(np.int64),
                           np.bincount(pooled_cell, weights=abs_total[pair_cell], minlength=n_pooled), pooled,
                           rules=rules)
    return {key: np.concatenate([own[key], pool[key]]) for key in own}
