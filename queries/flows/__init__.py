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

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from panel.progress import step
from queries.disclosure import Rules, write_released
from queries.flows.base import load_flow_config, load_frames, pairs, stock_measures
from queries.flows.decomposition import decomposition
from queries.flows.decomposition_release import (
    PUBLISHED,
    household_contributions,
    magnitude_table,
    protect_decomposition,
)
from queries.flows.destinations import destinations
from queries.flows.households_release import household_tables, write_household_tables
from queries.flows.protection import at_flow_level, measures_flags
from queries.flows.release import (
    protect_destinations,
    protect_retention,
    protect_tenure,
    protect_trajectories,
)
from queries.flows.retention import retention, tenure
from queries.flows.trajectories import follow_up, trajectories, trajectory_magnitude, trajectory_stats
from queries.registry import Measure, registry

__all__ = ["write_flow_tables", "flow_tables"]


def flow_tables(out: str | Path, *, measures: Mapping[str, Measure] | None = None,
                config: str | Path | None = None, rules: Rules | None = None) -> dict[str, pl.DataFrame]:
    """The UNPROTECTED flow tables (for use inside the secure environment; never release these).

    Keys: ``decomposition`` (with the counts behind each component),
    ``retention``, ``tenure``, ``destinations``, ``trajectories``, ``groups`` (the
    afdeling -> group map used) and, when ``rules`` is given, the household
    statistics ``decomposition_magnitude`` and ``trajectories_magnitude`` that
    the dominance rules need.

    Examples
    --------
    >>> tabs = flow_tables("OUT")  # doctest: +SKIP
    >>> tabs["decomposition"].filter(pl.col("measure") == "employment")  # doctest: +SKIP
    """
    out = Path(out)
    cfg = load_flow_config(config)
    reg = stock_measures(measures if measures is not None else registry())
    with step("flows: person-year pairs"):
        sub, groups, first, y1, y2 = load_frames(out, reg)
        pr = pairs(sub.lazy(), first_year=first, last_year=y2).collect().lazy()
    g = groups.lazy()
    tabs: dict[str, pl.DataFrame] = {}
    with step("flows: decomposition"):
        tabs["decomposition"] = decomposition(pr, g, reg, y1=y1).collect()
    with step("flows: retention, tenure, destinations"):
        tabs["retention"] = retention(pr, g).collect()
        tabs["tenure"] = tenure(pr, g, cfg, first_year=first).collect()
        tabs["destinations"] = destinations(pr, g).collect()
    with step("flows: trajectories"):
        stats, traj_mag = [], []
        for k in cfg["trajectories"]["horizons"]:  # one horizon at a time bounds memory
            fu = follow_up(sub.lazy(), horizons=[k], y1=y1, y2=y2).collect().lazy()
            stats.append(trajectory_stats(fu, g, reg).collect())
            if rules is not None:
                traj_mag.append(trajectory_magnitude(fu, g, reg, rules=rules).collect())
        tabs["trajectories"] = trajectories(pl.concat(stats).lazy()).collect()
    if rules is not None:
        with step("flows: household statistics"):
            tabs["decomposition_magnitude"] = magnitude_table(household_contributions(pr, reg), g,
                                                              rules=rules).collect()
            tabs["trajectories_magnitude"] = pl.concat(traj_mag, how="diagonal_relaxed")
    tabs["groups"] = groups
    tabs.update(household_tables(out, sub, pr, groups, reg, cfg, first_year=first, last_year=y2, rules=rules))
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
