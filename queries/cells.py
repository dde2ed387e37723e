"""All unprotected cells of the measures release, one record year at a time.

Each record year y of OUT (base year included) is read once, gets its
household columns, and feeds: the stock and in-movers of y, the out-movers of
y+1 (measured on their year-y record), the municipal and whole-population
stock of y. Working year by year keeps memory to one year of the panel.

The result (:func:`compute_cells`) is the long table ``level``, ``unit``,
``year``, ``population``, ``measure``, ``n``, ``value`` plus the magnitude
columns, with levels ``afdeling`` (every afdeling, study or not), ``group``,
``comparison`` (units ``study``, ``sector``, ``population``) and ``kom``.
It is NOT protected: analyses may use it inside the secure environment;
:mod:`queries.release` protects it for publication.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from panel.progress import step
from panel.schema import IN_KINDS, OUT_KINDS, PANEL_SCHEMA, scan_afdelinger, scan_moves, scan_panel
from queries.aggregate import Agg, aggregate, cells, indicators, regroup, regroup_hh, regroup_sums
from queries.disclosure import Rules
from queries.household import household_columns_frame, household_key
from queries.populations import group_membership, panel_years
from queries.registry import Measure, registry

# Columns every run reads: cell keys and the inputs of the household composition.
BASE_COLUMNS = ("person_id", "year", "afdeling_id", "household_id", "kom", "age", "socio_category")


def needed_columns(measures: Mapping[str, Measure]) -> list[str]:
    """Panel columns the measures read (from their expressions), plus the keys: read no more."""
    cols = set(BASE_COLUMNS)
    for m in measures.values():
        cols |= set(m.value.meta.root_names()) | set(m.population.meta.root_names())
    return [c for c in PANEL_SCHEMA if c in cols]


NEEDED = tuple(needed_columns(registry()))
KOM_UNKNOWN = "unknown"


def _year_records(out: Path, year: int, config: Mapping | None, *, columns: list[str],
                  only: pl.Series | None = None) -> pl.DataFrame:
    """Records of one year with household columns; ``only``: keep the households of these persons."""
    lf = scan_panel(out, include_base=True).filter(pl.col("year") == year).select(columns)
    if only is not None:
        keyed = lf.with_columns(household_key())
        keep = keyed.filter(pl.col("person_id").is_in(only.implode())).select("hh_key").unique()
        lf = keyed.join(keep, on="hh_key", how="semi").drop("hh_key")
    return household_columns_frame(lf.collect(), config=config)


def _label(df: pl.LazyFrame, level: str, unit: pl.Expr, population: str | None = None) -> pl.LazyFrame:
    df = df.with_columns(level=pl.lit(level), unit=unit.cast(pl.String))
    if population is not None:
        df = df.with_columns(population=pl.lit(population))
    return df


def _movers(ind: pl.DataFrame, moves: pl.DataFrame, *, year: int, kinds: tuple[str, ...], side: str,
            measures: Mapping[str, Measure], population: str) -> Agg:
    """Aggregates of the movers of ``year`` (``kinds``, counted for the ``side`` afdeling), from their indicators."""
    mv = (moves.lazy().filter((pl.col("year") == year) & pl.col("kind").is_in(kinds) & pl.col(side).is_not_null())
          .select("person_id", counted=pl.col(side)))
    rows = mv.join(ind.lazy().drop("afdeling_id", "kom"), on="person_id", how="inner").rename(
        {"counted": "afdeling_id"})
    return aggregate(rows, ["afdeling_id"], measures).apply(
        lambda lf: lf.with_columns(year=pl.lit(year, pl.Int32), population=pl.lit(population)))


_BLOCK = 1 << 34  # > the range of hh_key (+-2^31), so (kom, hh_key) packs into one Int64


def _by_kom(ind: pl.DataFrame, measures: Mapping[str, Measure]) -> Agg:
    """Municipal aggregates of all persons; households are keyed by one packed Int64 (kom, hh_key).

    A one-column group_by over every person of the year is about twice as
    fast as a (kom, hh_key) one; the packing is undone right after.
    """
    code = pl.col("kom").cast(pl.Int64).fill_null(-1) + 2
    packed = ind.lazy().with_columns(hh_key=code * _BLOCK + pl.col("hh_key"))
    kom_code = (pl.col("hh_key") + _BLOCK // 2) // _BLOCK
    hh = (regroup_hh(packed, [], measures)
          .with_columns(kom=pl.when(kom_code > 1).then(kom_code - 2).cast(pl.Int16),
                        hh_key=pl.col("hh_key") - kom_code * _BLOCK))
    return Agg(regroup_sums(ind.lazy(), ["kom"], measures), hh)


def _pool_households(kom: Agg, measures: Mapping[str, Measure]) -> Agg:
    """The whole population from the municipal aggregates: households re-summed over municipalities.

    Nearly every household lives in one municipality; when none spans two, the
    (kom, household) contributions already are the household contributions, and
    the re-summing group_by over millions of households is skipped.
    """
    hh = kom.hh.drop("kom", "year", strict=False).collect()
    if hh["hh_key"].n_unique() == hh.height:
        return Agg(regroup_sums(kom.sums, [], measures), hh.lazy())
    return regroup(kom, [], measures)


def year_cells(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int, years: list[int],
               measures: Mapping[str, Measure], rules: Rules) -> pl.DataFrame:
    """Cells fed by the records of one year (see the module docstring).

    The person rows become measure indicators once; the municipal cells come
    from one pass over all persons, the stock from the public-housing persons,
    the movers from joining the moves onto the indicators.
    """
    ind = indicators(rec.lazy(), ["person_id", "kom", "afdeling_id"], measures).collect()
    member = group_membership(afd).collect().lazy()
    study = afd.filter(pl.col("helhedsplan_id").is_not_null()).select("afdeling_id").lazy()
    parts: list[Agg] = []
    kom = None
    if year in years:
        stock = aggregate(ind.lazy().filter(pl.col("afdeling_id").is_not_null()), ["afdeling_id"], measures)
        parts.append(stock.apply(lambda lf: lf.with_columns(year=pl.lit(year, pl.Int32), population=pl.lit("stock"))))
        parts.append(_movers(ind, moves, year=year, kinds=IN_KINDS, side="to_afdeling", measures=measures,
                             population="in"))
        kom = _by_kom(ind, measures).apply(lambda lf: lf.with_columns(year=pl.lit(year, pl.Int32))).collect()
    if year + 1 in years:
        parts.append(_movers(ind, moves, year=year + 1, kinds=OUT_KINDS, side="from_afdeling",
                             measures=measures, population="out"))
    del ind
    agg = Agg(pl.concat([p.sums for p in parts], how="diagonal_relaxed"),
              pl.concat([p.hh for p in parts], how="diagonal_relaxed")).collect()
    keys = ["year", "population"]
    frames = [
        _label(cells(agg, ["afdeling_id", *keys], measures, rules=rules), "afdeling", pl.col("afdeling_id")),
        _label(cells(regroup(agg.apply(lambda lf: lf.join(member, on="afdeling_id")), ["group", *keys], measures),
                     ["group", *keys], measures, rules=rules), "group", pl.col("group")),
        _label(cells(regroup(agg.apply(lambda lf: lf.join(study, on="afdeling_id", how="semi")), keys, measures),
                     keys, measures, rules=rules), "comparison", pl.lit("study")),
        _label(cells(regroup(agg, keys, measures), keys, measures, rules=rules), "comparison", pl.lit("sector")),
    ]
    if kom is not None:
        frames.append(_label(cells(kom, ["kom", "year"], measures, rules=rules), "kom",
                             pl.col("kom").cast(pl.String).fill_null(KOM_UNKNOWN), "stock"))
        # everyone: pool households over municipalities by the household key alone (one-column group_by)
        everyone = _pool_households(kom, measures).apply(lambda lf: lf.with_columns(year=pl.lit(year, pl.Int32)))
        frames.append(_label(cells(everyone, ["year"], measures, rules=rules),
                             "comparison", pl.lit("population"), "stock"))
    cols = ["level", "unit", "year", "population", "measure", "n", "value", "units", "top1", "top2", "top_n",
            "abs_total"]
    done = pl.collect_all([f.select([pl.col(c) if c in f.collect_schema().names() else pl.lit(None).alias(c)
                                     for c in cols]) for f in frames])
    return pl.concat(done, how="vertical_relaxed")


def compute_cells(out: str | Path, *, rules: Rules, measures: Mapping[str, Measure] | None = None,
                  config: Mapping | None = None) -> pl.DataFrame:
    """Every unprotected cell of OUT (all levels, populations, years and measures).

    Examples
    --------
    >>> from queries.disclosure import load_rules
    >>> c = compute_cells("OUT", rules=load_rules("dst"))  # doctest: +SKIP
    >>> c.filter(level="afdeling", population="stock", measure="income")  # doctest: +SKIP
    """
    out = Path(out)
    measures = dict(measures or registry(config))
    columns = needed_columns(measures)
    years = panel_years(out)
    rec_years = sorted(scan_panel(out, include_base=True).select(pl.col("year").unique()).collect()["year"])
    afd = scan_afdelinger(out).collect()
    moves = scan_moves(out).collect()
    parts = []
    for y in rec_years:
        if y not in years and y + 1 not in years:
            continue
        with step(f"measures: records of {y}"):
            only = None
            if y not in years:  # base year: only the households of the out-movers of the first year
                only = moves.filter((pl.col("year") == y + 1) & pl.col("kind").is_in(OUT_KINDS))["person_id"]
            rec = _year_records(out, y, config, columns=columns, only=only)
            parts.append(year_cells(rec, moves, afd, year=y, years=years, measures=measures, rules=rules))
            del rec
    parts = [p for p in parts if p.height]
    table = pl.concat(parts, how="vertical_relaxed")
    return table.with_columns(pl.col("year").cast(pl.Int32), pl.col("n").cast(pl.Int64),
                              pl.col("units").cast(pl.Int64))


def afdeling_year_cells(out: str | Path, *, measures: Mapping[str, Measure] | None = None,
                        population: str | None = None) -> pl.DataFrame:
    """Unsuppressed afdeling-year cells (``afdeling_id``, ``year``, ``population``, ``measure``, ``n``, ``value``).

    For analyses inside the secure environment only (e.g. afdeling-level DiD
    outcomes); never write it to a released table.
    """
    from queries.disclosure import load_rules

    c = compute_cells(out, rules=load_rules("dst"), measures=measures).filter(pl.col("level") == "afdeling")
    if population is not None:
        c = c.filter(pl.col("population") == population)
    return c.select(afdeling_id="unit", year="year", population="population", measure="measure", n="n",
                    value="value")
