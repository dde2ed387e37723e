"""Afdeling, group and study/sector cells of one record year, keyed by one integer per cell.

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
they are; otherwise :func:`dense_afdeling_cells` returns None and the caller
takes the general path. The same cells as the general path (tested in
``tests/test_queries_speed_paths.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from queries.aggregate import float_columns, indicators
from queries.dense import float_sums, long_cells, stats_from_sums, top_sums
from queries.disclosure import Rules
from queries.populations import POPULATIONS, fed_by, group_membership, year_rows
from queries.registry import Measure

_HH_BLOCK = 1 << 33  # > the range of hh_key shifted to >= 0 (+-2^31), so (cell, hh_key) packs into one Int64


def _rows(rec: pl.DataFrame, moves: pl.DataFrame, lookup: pl.DataFrame, *, year: int, years: list[int],
          pos: np.ndarray | None, measures: Mapping[str, Measure]) -> pl.DataFrame | None:
    """Indicator rows of the populations fed by the records of ``year`` (:func:`queries.populations.year_rows`),
    with ``cell``.

    One lazy query: the stock's filter, the afdeling codes and the indicators
    are fused, so the persons' columns are never copied out first. None if an
    afdeling id is missing from the afdeling table.
    """
    roots = {c for m in measures.values() for e in (m.value, m.population) for c in e.meta.root_names()}
    need = [c for c in rec.columns if c in roots or c == "hh_key"]
    if not fed_by(year, years):
        return pl.DataFrame()
    rows = year_rows(rec, moves, record_year=year, years=years, columns=need, pos=pos)
    # a lookup expression, not a join: the rows keep their order (the float sums add them in it)
    code = pl.col("counted").replace_strict(lookup["afdeling_id"], lookup["code"], default=None, return_dtype=pl.Int64)
    coded = rows.with_columns(cell=code * 3 + pl.col("pop")).drop("year")
    out = indicators(coded, ["cell"], measures).collect()
    return None if out["cell"].null_count() else out


def dense_afdeling_cells(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int,
                        years: list[int], measures: Mapping[str, Measure], rules: Rules,
                        pos: np.ndarray | None = None, study_only: bool = False) -> pl.DataFrame | None:
    """Afdeling, group and study/sector comparison cells fed by the records of ``year``.

    ``rec`` has the household columns (``hh_key``); ``pos`` is
    :func:`queries.cells.person_rows` of ``rec`` (movers gathered by position)
    or None (joined); ``study_only``: afdeling-level rows for the study
    afdelinger only. Returns the cell columns of :mod:`queries.cells`, or
    None when the general path is needed (an afdeling id missing from the
    afdeling table, or a household counted for two afdelinger in one
    population).

    Examples
    --------
    >>> cells = dense_afdeling_cells(rec, moves, afd, year=2010, years=list(range(2004, 2014)),
    ...                              measures=registry(), rules=load_rules("dst"))  # doctest: +SKIP
    """
    ids = afd["afdeling_id"]
    lookup = pl.DataFrame({"afdeling_id": ids, "code": pl.Series(np.arange(len(ids)), dtype=pl.Int64)})
    rows = _rows(rec, moves, lookup, year=year, years=years, pos=pos, measures=measures)
    if rows is None:
        return None
    if rows.height == 0:
        return pl.DataFrame()
    mags = [n for n, m in measures.items() if m.magnitude]
    flo = float_columns(measures)  # summed by float_sums in row order below, not by the group_bys
    value_cols = [c for n in measures for c in (f"k|{n}", f"c|{n}") if c not in flo]
    sums_lf = rows.lazy().group_by("cell").agg([pl.col(c).sum() for c in value_cols])
    # households: a plain group_by. Its float sums feed only the dominance statistics, which never leave;
    # a last-digit difference between runs could matter only at a share equal to its limit to the last
    # digit. (A stable sort + np.add.reduceat made them repeatable too, at +0.3 s on the whole population.)
    hh_lf = (rows.lazy().with_columns(_k=pl.col("cell") * _HH_BLOCK + pl.col("hh_key") + (1 << 31))
             .group_by("_k").agg([pl.col(c).sum() for n in mags for c in (f"k|{n}", f"c|{n}")])
             .with_columns(cell=pl.col("_k") // _HH_BLOCK, hh_key=pl.col("_k") % _HH_BLOCK - (1 << 31)).drop("_k"))
    sums, hh = pl.collect_all([sums_lf, hh_lf])
    # a household in two cells of one population (two afdelinger) would need re-summing when pooled
    pop_hh = (hh["cell"] % 3) * _HH_BLOCK + hh["hh_key"]
    if pop_hh.n_unique() != len(pop_hh):  # (a hash set: about 4x faster than is_duplicated)
        return None
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
    """(pooled units ``u``, ``level``, ``unit``; member pairs ``code``, ``u``): the groups, study and sector.

    ``study``: the codes of the study afdelinger.
    """
    member = group_membership(afd).collect().join(lookup, on="afdeling_id")
    names = sorted(member["group"].unique().to_list())
    units = pl.DataFrame({"u": range(len(names) + 2), "level": ["group"] * len(names) + ["comparison"] * 2,
                          "unit": [*names, "study", "sector"]})
    pairs = pl.concat([
        member.select("code", u=pl.col("group").replace_strict(names, range(len(names)), return_dtype=pl.Int64)),
        pl.DataFrame({"code": study, "u": len(names)}, schema={"code": pl.Int64, "u": pl.Int64}),
        lookup.select("code", u=pl.lit(len(names) + 1, pl.Int64)),
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
    sel = (hh[f"k|{name}"] > 0).to_numpy() & hh[f"c|{name}"].is_not_null().to_numpy()
    cell, a = hh["cell"].to_numpy()[sel], np.abs(hh[f"c|{name}"].to_numpy()[sel])
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
