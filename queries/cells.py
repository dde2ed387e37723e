"""All unprotected cells of the measures release, one record year at a time.

Each record year y of OUT (base year included) is read once, gets its
household columns, and feeds: the stock and in-movers of y, the out-movers of
y+1 (measured on their year-y record), the municipal and whole-population
stock of y. Every cell key holds the year, so each year's cells are finished
on its own; two years are in flight at once (threads), which keeps memory to
about two years of the panel. The steps over every person of a year use dense
arrays indexed by household (:mod:`queries.dense`) where the year allows it;
:func:`choose_path` decides once per year (:class:`YearPath`), and
``path="reference"`` in :func:`year_cells` runs the group_by path they are
tested against. Whose rows are counted is :func:`queries.populations.year_rows`.

The result (:func:`compute_cells`) is the long table ``level``, ``unit``,
``year``, ``population``, ``measure``, ``n``, ``value`` plus the magnitude
columns, with levels ``afdeling`` (every afdeling, study or not), ``group``,
``area`` and ``area_rest`` (:func:`queries.populations.area_membership`),
``comparison`` (units ``study``, ``sector``, ``population``) and ``kom``.
It is NOT protected: analyses may use it inside the secure environment;
:mod:`queries.release` protects it for publication.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import polars as pl

from panel.errors import InputError
from panel.progress import step, track
from panel.schema import (
    HOUSEHOLD_COMPOSITION,
    OUT_KINDS,
    PANEL_SCHEMA,
    household_parameters,
    record_years,
    scan_afdelinger,
    scan_moves,
    scan_panel,
)
from queries.afdeling_dense import dense_afdeling_cells, dense_applies
from queries.aggregate import Agg, TopK, aggregate, cells, indicators, regroup, regroup_hh, regroup_sums
from queries.dense import (
    CELL_SCHEMA,
    DENSE_FACTOR,
    KOM_HH_BLOCK,
    dense_kom_applies,
    kom_population_stats,
    long_cells,
    reuse_heap,
)
from queries.disclosure import Rules
from queries.household import composition_config, household_columns_frame, household_key
from queries.populations import POPULATIONS, area_membership, fed_by, group_membership, panel_years, year_rows
from queries.registry import Measure, registry

# Columns every run reads: cell keys and the inputs of the household composition.
BASE_COLUMNS = ("person_id", "year", "afdeling_id", "household_id", "kom", "age", "socio_category")


def needed_columns(measures: Mapping[str, Measure]) -> list[str]:
    """Panel columns the measures read (from their expressions), plus the keys: read no more."""
    cols = set(BASE_COLUMNS)
    for m in measures.values():
        cols |= set(m.value.meta.root_names()) | set(m.population.meta.root_names())
    return [c for c in PANEL_SCHEMA if c in cols and c not in HOUSEHOLD_COMPOSITION]  # those: see _year_records


NEEDED = tuple(needed_columns(registry()))
YEAR_THREADS = 2  # record years in flight at once (memory: about one year of the panel each)
KOM_UNKNOWN = "unknown"


def _year_records(out: Path, year: int, config: Mapping | None, *, columns: list[str],
                  only: pl.Series | None = None, from_panel: bool = False) -> pl.DataFrame:
    """Records of one year with household columns; ``only``: the cells need only these persons' rows.

    ``from_panel``: the panel's household composition columns are the
    measures' (:func:`queries.household.panel_composition_usable`), so they
    are read instead of counted again, and ``only`` keeps just those persons;
    else their whole households are kept, to count them.
    """
    columns = [*columns, *HOUSEHOLD_COMPOSITION] if from_panel else columns
    lf = scan_panel(out, include_base=True).filter(pl.col("year") == year).select(columns)
    if only is not None and from_panel:
        lf = lf.filter(pl.col("person_id").is_in(only.implode()))
    elif only is not None:
        keyed = lf.with_columns(household_key())
        keep = keyed.filter(pl.col("person_id").is_in(only.implode())).select("hh_key").unique()
        lf = keyed.join(keep, on="hh_key", how="semi").drop("hh_key")
    return household_columns_frame(lf.collect(), config=config, composition=composition_config(out),
                                   from_panel=from_panel)


def _label(df: pl.LazyFrame, level: str | pl.Expr, unit: pl.Expr, population: str | None = None) -> pl.LazyFrame:
    df = df.with_columns(level=pl.lit(level) if isinstance(level, str) else level, unit=unit.cast(pl.String))
    if population is not None:
        df = df.with_columns(population=pl.lit(population))
    return df


def person_rows(ind: pl.DataFrame) -> np.ndarray | None:
    """Row of each person_id in a frame with one row per person (dense array), or None (sparse or repeated ids)."""
    pid_s = ind["person_id"]
    lo, hi = pid_s.min(), pid_s.max()
    if lo is None or lo < 0 or hi > max(DENSE_FACTOR * ind.height, 1 << 23):
        return None
    pid = pid_s.to_numpy()
    pos = np.full(int(hi) + 1, -1, dtype=np.int32)
    pos[pid] = np.arange(ind.height, dtype=np.int32)
    if np.count_nonzero(pos >= 0) != ind.height:  # a person_id on two rows: use the join
        return None
    return pos


def _by_kom(ind: pl.DataFrame, measures: Mapping[str, Measure]) -> Agg:
    """Municipal aggregates of all persons; households are keyed by one packed Int64 (kom, hh_key).

    A one-column group_by over every person of the year is about twice as
    fast as a (kom, hh_key) one; the packing is undone right after.
    """
    code = pl.col("kom").cast(pl.Int64).fill_null(-1) + 2
    packed = ind.lazy().with_columns(hh_key=code * KOM_HH_BLOCK + pl.col("hh_key"))
    kom_code = (pl.col("hh_key") + KOM_HH_BLOCK // 2) // KOM_HH_BLOCK
    hh = (regroup_hh(packed, [], measures)
          .with_columns(kom=pl.when(kom_code > 1).then(kom_code - 2).cast(pl.Int16),
                        hh_key=pl.col("hh_key") - kom_code * KOM_HH_BLOCK))
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


def _stock_and_movers(rec: pl.DataFrame, moves: pl.DataFrame, *, year: int, years: list[int],
                      measures: Mapping[str, Measure]) -> Agg | None:
    """Afdeling aggregates of the populations fed by the records of ``year`` (:func:`queries.populations.year_rows`)."""
    if not fed_by(year, years):
        return None
    keys = ["afdeling_id", "year", "population"]
    rows = (year_rows(rec, moves, record_year=year, years=years, columns=[c for c in rec.columns if c != "afdeling_id"])
            .rename({"counted": "afdeling_id"})
            .with_columns(population=pl.col("pop").replace_strict(range(len(POPULATIONS)), POPULATIONS,
                                                                 return_dtype=pl.String)))
    agg = aggregate(indicators(rows, keys, measures), keys, measures)
    sums, hh = pl.collect_all(list(agg))
    return Agg(sums.lazy(), hh.lazy())


def _afdeling_cells(agg: Agg, afd: pl.DataFrame, measures: Mapping[str, Measure], rules: Rules, *,
                    topk: TopK) -> list[pl.LazyFrame]:
    """Afdeling, group, area and the study and sector comparison cells from afdeling aggregates (any years).

    Pooling afdelinger re-sums each household's contributions over the
    afdelinger it is counted for (the general path: any household may span
    afdelinger; :mod:`queries.afdeling_dense` covers the usual case).
    """
    member = group_membership(afd).collect().lazy()
    areas = area_membership(afd).collect().lazy()
    study = afd.filter(pl.col("helhedsplan_id").is_not_null()).select("afdeling_id").lazy()
    agg = Agg(agg.sums, agg.hh.collect().lazy())
    keys = ["year", "population"]
    return [
        _label(cells(agg, ["afdeling_id", *keys], measures, rules=rules, topk=topk), "afdeling", pl.col("afdeling_id")),
        _label(cells(regroup(agg.apply(lambda lf: lf.join(member, on="afdeling_id")), ["group", *keys], measures),
                     ["group", *keys], measures, rules=rules, topk=topk), "group", pl.col("group")),
        _label(cells(regroup(agg.apply(lambda lf: lf.join(areas, on="afdeling_id")), ["level", "unit", *keys],
                             measures), ["level", "unit", *keys], measures, rules=rules, topk=topk),
               pl.col("level"), pl.col("unit")),
        _label(cells(regroup(agg.apply(lambda lf: lf.join(study, on="afdeling_id", how="semi")), keys, measures),
                     keys, measures, rules=rules, topk=topk), "comparison", pl.lit("study")),
        _label(cells(regroup(agg, keys, measures), keys, measures, rules=rules, topk=topk), "comparison",
               pl.lit("sector")),
    ]


def _kom_cells_general(ind: pl.DataFrame, measures: Mapping[str, Measure], *, year: int,
                       rules: Rules, topk: TopK) -> list[pl.LazyFrame]:
    """Municipal and whole-population stock cells by group_bys (any household ids)."""
    kom = _by_kom(ind, measures).apply(lambda lf: lf.with_columns(year=pl.lit(year, pl.Int32))).collect()
    everyone = _pool_households(kom, measures).apply(lambda lf: lf.with_columns(year=pl.lit(year, pl.Int32)))
    return [_label(cells(kom, ["kom", "year"], measures, rules=rules, topk=topk), "kom",
                   pl.col("kom").cast(pl.String).fill_null(KOM_UNKNOWN), "stock"),
            _label(cells(everyone, ["year"], measures, rules=rules, topk=topk), "comparison", pl.lit("population"), "stock")]


def _kom_cells_dense(rec: pl.DataFrame, slots: tuple[np.ndarray, int], measures: Mapping[str, Measure], *,
                     year: int, rules: Rules) -> list[pl.LazyFrame]:
    """:func:`_kom_cells_general` with the household contributions counted in dense arrays (same cells).

    Only the magnitude indicators of every person are materialised; the
    municipal sums are one lazy group_by over the records.
    """
    mags = {n: m for n, m in measures.items() if m.magnitude}
    sums, ind = pl.collect_all([regroup_sums(indicators(rec.lazy(), ["kom"], measures), ["kom"], measures,
                                             floats=False), indicators(rec.lazy(), ["kom"], mags)])
    kom_stats, pop_stats, floats = kom_population_stats(ind, *slots, measures, rules=rules)  # floats: the municipal float sums, the same every run
    sums = sums.join(floats, on="kom", how="left", nulls_equal=True)
    total = pl.concat([regroup_sums(sums.lazy(), [], measures, floats=False).collect(),
                       floats.drop("kom").sum()], how="horizontal")
    yr = pl.lit(year, pl.Int32)
    kom = long_cells(sums, kom_stats, ["kom"], measures).with_columns(year=yr)
    pop = long_cells(total, pop_stats, [], measures).with_columns(year=yr)
    return [_label(kom.lazy(), "kom", pl.col("kom").cast(pl.String).fill_null(KOM_UNKNOWN), "stock"),
            _label(pop.lazy(), "comparison", pl.lit("population"), "stock")]


def _finish(frames: list[pl.LazyFrame]) -> pl.DataFrame:
    """The frames as one long cell table of :data:`queries.dense.CELL_SCHEMA` (each cast before the concat,
    so the year tables of :func:`compute_cells` concatenate without another copy)."""
    done = pl.collect_all([f.select([(pl.col(c) if c in f.collect_schema().names() else pl.lit(None)).cast(t).alias(c)
                                     for c, t in CELL_SCHEMA.items()]) for f in frames])
    return pl.concat(done, how="vertical")


PathName = Literal["dense", "general", "reference"]
PATHS: tuple[str, ...] = get_args(PathName)


@dataclass(frozen=True)
class YearPath:
    """How the cells of one record year are computed: chosen once per year by :func:`choose_path`.

    ``kom`` (municipal and whole-population cells) and ``afdeling`` (afdeling,
    group, study and sector cells) are each ``dense`` (arrays indexed by
    household and integer cell codes: :mod:`queries.dense`,
    :mod:`queries.afdeling_dense`), ``general`` (group_bys and joins; any
    household ids, households counted for several afdelinger) or
    ``reference`` (general, with polars' top-k for the dominance statistics:
    what the fast paths are tested against). ``slots``: the household slots of
    the dense municipal cells; ``pos``: each person's row (movers gathered by
    position) or None (joined).
    """

    kom: PathName
    afdeling: PathName
    slots: tuple[np.ndarray, int] | None = None
    pos: np.ndarray | None = None

    @property
    def topk(self) -> TopK:
        return "polars" if "reference" in (self.kom, self.afdeling) else "numpy"


def choose_path(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int, years: list[int],
                want: PathName = "dense") -> YearPath:
    """The dense path where this year's data allow it (else general); ``want`` another to force it."""
    if want not in PATHS:
        raise InputError(f"path must be one of {', '.join(PATHS)}, got {want!r}")
    if want != "dense":
        return YearPath(want, want)
    slots = dense_kom_applies(rec) if year in years else None
    pos = person_rows(rec)
    afdeling = "dense" if dense_applies(rec, moves, afd, year=year, years=years, pos=pos) else "general"
    return YearPath("dense" if slots is not None else "general", afdeling, slots, pos)


def year_cells(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int, years: list[int],
               measures: Mapping[str, Measure], rules: Rules, path: PathName = "dense") -> pl.DataFrame:
    """Cells fed by the records of one year (see the module docstring), on the path :func:`choose_path` picks.

    ``path="reference"`` runs the group_by path the fast ones are tested against.
    """
    plan = choose_path(rec, moves, afd, year=year, years=years, want=path)
    frames = _year_frames(rec, moves, afd, year=year, years=years, measures=measures, rules=rules, plan=plan)
    return _finish(frames) if frames else pl.DataFrame()


def _year_frames(rec: pl.DataFrame, moves: pl.DataFrame, afd: pl.DataFrame, *, year: int, years: list[int],
                 measures: Mapping[str, Measure], rules: Rules, plan: YearPath,
                 study_only: bool = False) -> list[pl.LazyFrame]:
    """Municipal and afdeling-level cells of one record year, each frame collected.

    ``study_only``: afdeling-level rows for the study afdelinger only (the
    others still count in the sector series).
    """
    kom: list[pl.LazyFrame] = []
    if year in years:
        kom = (_kom_cells_dense(rec, plan.slots, measures, year=year, rules=rules) if plan.kom == "dense"
               else _kom_cells_general(indicators(rec.lazy(), ["kom"], measures).collect(), measures, year=year,
                                       rules=rules, topk=plan.topk))
        kom = [f.collect().lazy() for f in kom]
    if plan.afdeling == "dense":
        done = dense_afdeling_cells(rec, moves, afd, year=year, years=years, measures=measures, rules=rules,
                                    pos=plan.pos, study_only=study_only)
        return kom + ([done.lazy()] if done.height else [])
    agg = _stock_and_movers(rec, moves, year=year, years=years, measures=measures)
    if agg is None:
        return kom
    frames = [f.collect().lazy() for f in _afdeling_cells(agg, afd, measures, rules, topk=plan.topk)]
    if study_only:
        study = afd.filter(pl.col("helhedsplan_id").is_not_null())["afdeling_id"].implode()
        frames = [f.filter((pl.col("level") != "afdeling") | pl.col("unit").is_in(study)) for f in frames]
    return kom + frames


def compute_cells(out: str | Path, *, rules: Rules, measures: Mapping[str, Measure] | None = None,
                  config: Mapping | None = None, afdelinger: Literal["all", "study"] = "all") -> pl.DataFrame:
    """Every unprotected cell of OUT (all levels, populations, years and measures).

    Record years are worked on two at a time (threads); each yields its
    finished cells, so memory holds about two years of the panel.
    ``afdelinger="study"`` keeps afdeling-level cells for the study
    afdelinger only -- all the release publishes; the other afdelinger (95 %
    of the cells at whole-population scale) still count in the sector series.

    Examples
    --------
    >>> from queries.disclosure import load_rules
    >>> c = compute_cells("OUT", rules=load_rules("dst"))  # doctest: +SKIP
    >>> c.filter(level="afdeling", population="stock", measure="income")  # doctest: +SKIP
    """
    if afdelinger not in ("all", "study"):
        raise InputError(f"afdelinger must be 'all' or 'study', got {afdelinger!r}")
    composition = composition_config(out)  # the panel's, as built: the one household composition
    with reuse_heap():
        return _compute_cells(Path(out), rules=rules,
                              measures=dict(measures or registry(config, composition=composition)), config=config,
                              study_only=afdelinger == "study")


def _compute_cells(out: Path, *, rules: Rules, measures: dict[str, Measure], config: Mapping | None,
                   study_only: bool) -> pl.DataFrame:
    columns = needed_columns(measures)
    years = panel_years(out)
    rec_years = record_years(out, include_base=True)
    from_panel = household_parameters(out) is not None
    afd = scan_afdelinger(out).collect()
    moves = scan_moves(out).collect()

    def one_year(y: int) -> pl.DataFrame | None:
        with step(f"measures: records of {y}"):
            only = None
            if y not in years:  # base year: only the out-movers of the first year (and their households)
                only = moves.filter((pl.col("year") == y + 1) & pl.col("kind").is_in(OUT_KINDS))["person_id"]
            rec = _year_records(out, y, config, columns=columns, only=only, from_panel=from_panel)
            near = moves.filter(pl.col("year").is_in([y, y + 1]))  # the moves a record year feeds
            # every cell key holds the year: a record year's cells are finished on their own
            plan = choose_path(rec, near, afd, year=y, years=years)  # the path, chosen once for the year
            frames = _year_frames(rec, near, afd, year=y, years=years, measures=measures, rules=rules, plan=plan,
                                  study_only=study_only)
            return _finish(frames) if frames else None  # finished in its thread: only its cells stay

    # the base year (only its out-movers) last: it evens out the final pair of threads
    todo = sorted((y for y in rec_years if y in years or y + 1 in years), key=lambda y: (y not in years, y))
    # two years at a time: one year's single-threaded numpy steps overlap the other's polars steps
    with ThreadPoolExecutor(max_workers=YEAR_THREADS) as pool:
        tables = [t for t in track(pool.map(one_year, todo), "measures: years", total=len(todo)) if t is not None]
    return pl.concat(tables, how="vertical")


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
