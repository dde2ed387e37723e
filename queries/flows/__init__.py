"""Where a change in the social mix comes from (issue 6): flow tables beside the measures.

``write_flow_tables(out, dest, rules=...)`` writes, through the disclosure
control of :mod:`queries.disclosure`, into the staged ``measures/`` folder:

* ``decomposition``: each year-on-year change of a stock share/mean measure,
  split exactly into stayers, in-movers, out-movers, entries and exits;
* ``retention``: households that moved out, resource-strong and families apart;
* ``tenure``: out-movers by length of stay (left-censoring flagged);
* ``destinations``: where out-movers went and in-movers came from;
* ``trajectories``: residents of a baseline year followed k years, stayers and
  leavers apart;
* ``family_households``, ``family_cohorts``, ``displacement`` (issue 18, group
  level only): :mod:`queries.flows.households_release`.

Column definitions and the algebra: docs/flows.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from panel.errors import InputError
from panel.progress import step
from panel.schema import scan_afdelinger
from queries.disclosure import Rules, write_released
from queries.flows.base import load_flow_config, pairs, panel_years, stock_measures, year_frames
from queries.flows.decomposition import KEYS as DECOMPOSITION_KEYS
from queries.flows.decomposition import decomposition
from queries.flows.decomposition_release import (
    PUBLISHED,
    household_contributions,
    magnitude_table,
    protect_decomposition,
)
from queries.flows.destinations import destinations
from queries.flows.displacement import KEY as DISPLACEMENT_KEY
from queries.flows.displacement import displacement
from queries.flows.families import family_cohorts, family_households, load_family_config
from queries.flows.households_release import write_household_tables
from queries.flows.protection import at_flow_level, measures_flags
from queries.flows.release import (
    protect_destinations,
    protect_retention,
    protect_tenure,
    protect_trajectories,
)
from queries.flows.retention import retention, tenure
from queries.flows.trajectories import follow_up, trajectories, trajectory_magnitude, trajectory_stats
from queries.household import composition_config
from queries.populations import group_membership
from queries.registry import Measure, registry

__all__ = ["write_flow_tables", "flow_tables"]


BLOCK_YEARS = 3  # record years whose pairs are worked on at once (memory: these plus the longest horizon)


def flow_tables(out: str | Path, *, measures: Mapping[str, Measure] | None = None,
                config: str | Path | None = None, rules: Rules | None = None,
                block_years: int = BLOCK_YEARS) -> dict[str, Any]:
    """The UNPROTECTED flow tables (for use inside the secure environment; never release these).

    Keys: ``decomposition`` (with the counts behind each component),
    ``retention``, ``tenure``, ``destinations``, ``trajectories``, ``groups`` (the
    afdeling -> group map used), the household tables of
    :mod:`queries.flows.households_release` and, when ``rules`` is given, the
    household statistics ``decomposition_magnitude`` and ``trajectories_magnitude``
    that the dominance rules need.

    Every row is dated by a year t and read from the records of t-1 and t, or
    of a baseline year b and b+k: the record years are read one at a time
    (:func:`queries.flows.base.year_frames`) and worked on ``block_years`` at a
    time, so memory holds a block plus the longest horizon, whatever the
    length of the history (the tables are the same for any block size).

    Examples
    --------
    >>> tabs = flow_tables("OUT")  # doctest: +SKIP
    >>> tabs["decomposition"].filter(pl.col("measure") == "employment")  # doctest: +SKIP
    """
    if block_years < 1:
        raise InputError(f"block_years must be at least 1, got {block_years}")
    out = Path(out)
    cfg = load_flow_config(config)
    fam_cfg = load_family_config()
    comp = composition_config(out)
    reg = stock_measures(measures if measures is not None else registry())
    y1, y2 = panel_years(out)
    groups = group_membership(scan_afdelinger(out)).collect()
    horizons = {"trajectories": list(cfg["trajectories"]["horizons"]), "cohorts": list(fam_cfg["cohorts"]["horizons"])}
    longest = max([0, *horizons["trajectories"], *horizons["cohorts"]])
    parts: dict[str, list[pl.DataFrame]] = defaultdict(list)
    frames: dict[int, pl.DataFrame] = {}
    first: int | None = None
    block: list[int] = []
    years = year_frames(out, reg)
    while True:
        item = next(years, None)
        if item is not None:
            year, rows = item
            if first is None and rows.height:
                first = year
            if first is not None:
                frames[year] = rows
                block.append(year)
        if block and (item is None or len(block) == block_years):
            _block_tables(parts, frames, block, groups, reg, cfg, fam_cfg, comp, horizons,
                          first=first, y1=y1, y2=y2, rules=rules)
            for y in [y for y in frames if y < block[-1] + 1 - longest]:  # no later block reads them
                del frames[y]
            block = []
        if item is None:
            break
    needed = ["decomposition", "trajectory_stats", "family_cohorts"]
    if rules is not None:
        needed += ["decomposition_magnitude", "trajectories_magnitude"]
    if not all(parts.get(n) for n in needed):
        # a history too short for some table (one year; horizons longer than it): the empty table, as computed
        empty: dict[str, list[pl.DataFrame]] = defaultdict(list)
        last = [max(frames)] if frames else []
        _block_tables(empty, frames or {y1: _empty_frame(out, reg)}, last or [y1], groups, reg, cfg, fam_cfg, comp,
                      horizons, first=first if first is not None else y1, y1=y1, y2=y2, rules=rules, force=True)
        for name, rows in empty.items():
            if not parts.get(name):
                parts[name] = rows
    return _assemble(parts, groups, fam_cfg, rules=rules)


def _empty_frame(out: Path, reg: Mapping[str, Measure]) -> pl.DataFrame:
    """The sub-panel of no person (its columns and types), for the empty tables."""
    return next(year_frames(out, reg))[1].clear()


def _window(frames: Mapping[int, pl.DataFrame], lo: int, hi: int) -> pl.DataFrame:
    return pl.concat([f for y, f in sorted(frames.items()) if lo <= y <= hi])


def _block_tables(parts: dict[str, list[pl.DataFrame]], frames: Mapping[int, pl.DataFrame], block: list[int],
                  groups: pl.DataFrame, reg: Mapping[str, Measure], cfg: dict, fam_cfg: dict, comp: Mapping[str, Any],
                  horizons: Mapping[str, list[int]], *, first: int, y1: int, y2: int, rules: Rules | None,
                  force: bool = False) -> None:
    """The rows of every flow table dated in the record years ``block`` (appended to ``parts``).

    ``force``: compute each table even when no row can be dated in the block (its empty frame)."""
    a, b = block[0], block[-1]
    g = groups.lazy()
    lo = max(first, a - 1)  # pairs of years lo < t <= b
    if force or lo < min(b, y2):
        with step(f"flows: person-year pairs {a}-{b}"):
            pr = pairs(_window(frames, lo, b).lazy(), first_year=lo, last_year=min(b, y2)).collect().lazy()
        with step(f"flows: decomposition, retention, tenure, destinations {a}-{b}"):
            parts["decomposition"].append(decomposition(pr, g, reg, y1=y1).collect())
            parts["retention"].append(retention(pr, g).collect())
            parts["tenure"].append(tenure(pr, g, cfg, first_year=first).collect())
            parts["destinations"].append(destinations(pr, g).collect())
            if rules is not None:
                parts["decomposition_magnitude"].append(
                    magnitude_table(household_contributions(pr, reg), g, rules=rules).collect())
        with step(f"flows: resource-strong families, displacement {a}-{b}"):
            parts["family_households"].append(family_households(pr, groups, comp, fam_cfg, cfg))
            parts["displacement"].append(displacement(pr, groups, reg, rules=rules))
        del pr
    with step(f"flows: trajectories, cohorts {a}-{b}"):
        for k in horizons["trajectories"]:  # baseline years b0 with b0 + k in the block
            if force or max(y1, a - k) <= min(b, y2) - k:
                fu = follow_up(_window(frames, a - k, b).lazy(), horizons=[k], y1=max(y1, a - k),
                               y2=min(b, y2)).collect().lazy()
                parts["trajectory_stats"].append(trajectory_stats(fu, g, reg).collect())
                if rules is not None:
                    parts["trajectories_magnitude"].append(trajectory_magnitude(fu, g, reg, rules=rules).collect())
        for k in horizons["cohorts"]:  # cohorts of years t > first with t + k in the block
            if force or max(first + 1, a - k) <= min(b, y2) - k:
                one = {**fam_cfg, "cohorts": {**fam_cfg["cohorts"], "horizons": [k]}}
                parts["family_cohorts"].append(family_cohorts(_window(frames, a - k, b), groups, comp, one,
                                                              first_year=max(first, a - k - 1), last_year=min(b, y2)))


def _assemble(parts: Mapping[str, list[pl.DataFrame]], groups: pl.DataFrame, fam_cfg: dict, *,
              rules: Rules | None) -> dict[str, Any]:
    """The blocks' rows as whole tables, in each table's order."""
    def cat(name: str, how: Literal["vertical", "diagonal_relaxed"] = "vertical") -> pl.DataFrame:
        if not parts.get(name):
            raise InputError(f"no record years for the flow table {name}: the panel needs two consecutive years")
        return pl.concat(parts[name], how=how)

    tabs: dict[str, Any] = {
        "decomposition": cat("decomposition").sort(DECOMPOSITION_KEYS),
        "retention": cat("retention").sort("level", "unit", "year", "category"),
        "tenure": cat("tenure").sort("level", "unit", "year", "band", "left_censored"),
        "destinations": cat("destinations").sort("level", "unit", "year", "direction", "dimension", "category"),
        "trajectories": trajectories(cat("trajectory_stats").lazy()).collect(),
    }
    if rules is not None:
        tabs["decomposition_magnitude"] = cat("decomposition_magnitude")
        tabs["trajectories_magnitude"] = cat("trajectories_magnitude", "diagonal_relaxed")
    tabs["groups"] = groups
    tabs["family_config"] = fam_cfg
    tabs["family_households"] = cat("family_households").sort(
        "level", "unit", "year", "variant", "category", "band", "outcome")
    tabs["family_cohorts"] = cat("family_cohorts").sort(
        "level", "unit", "year", "variant", "category", "horizon", "outcome")
    tabs["displacement"] = cat("displacement").sort(DISPLACEMENT_KEY)
    return tabs


def write_flow_tables(out: Path, dest: Path, *, rules: Rules, measures: Mapping[str, Measure] | None = None,
                      config: str | Path | None = None) -> None:
    """Compute, protect and write the flow tables into ``dest`` (the staged ``measures/`` folder).

    Reads OUT through ``panel.schema``; reads ``dest/measures.parquet`` (when
    written) so that flows of a suppressed stock or mover cell stay hidden.
    Each table is written as .parquet and .csv; suppressions are appended to
    ``dest/disclosure_report.csv``.

    Examples
    --------
    >>> from queries.disclosure import load_rules
    >>> write_flow_tables(Path("OUT"), Path("OUT/measures"), rules=load_rules("dst"))  # doctest: +SKIP
    """
    dest = Path(dest)
    tabs = flow_tables(out, measures=measures, config=config, rules=rules)
    groups = tabs["groups"]
    for name in ("decomposition", "decomposition_magnitude", "retention", "tenure", "destinations", "trajectories",
                 "trajectories_magnitude"):  # group level only, unless rules.flow_level says afdeling
        tabs[name] = at_flow_level(tabs[name], rules)
    flags = measures_flags(dest)
    with step("flows: disclosure control"):
        dec, dec_rep = protect_decomposition(tabs["decomposition"], flags, tabs["decomposition_magnitude"],
                                             rules=rules)
        ret, ret_rep = protect_retention(tabs["retention"], groups, rules=rules)
        ten, ten_rep = protect_tenure(tabs["tenure"], groups, flags, rules=rules)
        dst, dst_rep = protect_destinations(tabs["destinations"], groups, flags, rules=rules)
        trj, trj_rep = protect_trajectories(tabs["trajectories"], groups, tabs["trajectories_magnitude"],
                                            rules=rules)
    write_released(dec, dest / "decomposition", dec_rep, rules=rules, null_columns=PUBLISHED)
    write_released(ret, dest / "retention", ret_rep, rules=rules, null_columns=("n", "rate"))
    write_released(ten, dest / "tenure", ten_rep, rules=rules, null_columns=("n", "share"))
    write_released(dst, dest / "destinations", dst_rep, rules=rules, null_columns=("n", "share"))
    write_released(trj, dest / "trajectories", trj_rep, rules=rules,
                   null_columns=("n", "value_base", "value_follow"))
    write_household_tables(tabs, dest, flags, load_flow_config(config), rules=rules)  # issue 18: group level only
