"""The flow tables one record year at a time equal the whole-history computation (issue 19).

``flow_tables`` reads the panel one year at a time (``year_frames``, spells carried
forward by ``carry_spells``) and works on blocks of years. The second
implementation here is the one it replaced: the whole history of every person ever
in a study afdeling collected at once (``load_frames``: spells numbered over each
person's history by ``with_spells``), all person-year pairs joined at once, each
table computed over all years. Every table must be equal row for row, for blocks
of one year, a few years and the whole history.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from panel.build import build
from queries.disclosure import load_rules
from queries.flows import flow_tables
from queries.flows.base import load_flow_config, load_frames, pairs, stock_measures, year_frames
from queries.flows.decomposition import decomposition
from queries.flows.decomposition_release import household_contributions, magnitude_table
from queries.flows.destinations import destinations
from queries.flows.displacement import displacement
from queries.flows.families import family_cohorts, family_households, load_family_config
from queries.flows.retention import retention, tenure
from queries.flows.trajectories import follow_up, trajectories, trajectory_magnitude, trajectory_stats
from queries.household import composition_config
from queries.registry import registry
from socialmix.synth import generate

RULES = load_rules("dst")
MAGNITUDE = ("units", "top1", "top2", "top_n", "abs_total")  # household statistics of the dominance rules


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flows_years")
    generate(root / "reg", persons=3000, seed=2, effect=0.05, years=(1999, 2013))
    build(root / "reg", root / "out", years=(2000, 2013))  # 15 record years: longer than any block or horizon
    return root / "out"


def whole_history(out: Path) -> dict[str, pl.DataFrame]:
    """Every flow table over all years at once (the computation before issue 19's year blocks)."""
    cfg, fam, comp = load_flow_config(), load_family_config(), composition_config(out)
    reg = stock_measures(registry())
    sub, groups, first, y1, y2 = load_frames(out, reg)
    pr = pairs(sub.lazy(), first_year=first, last_year=y2).collect().lazy()
    g = groups.lazy()
    stats, mags = [], []
    for k in cfg["trajectories"]["horizons"]:
        fu = follow_up(sub.lazy(), horizons=[k], y1=y1, y2=y2).collect().lazy()
        stats.append(trajectory_stats(fu, g, reg).collect())
        mags.append(trajectory_magnitude(fu, g, reg, rules=RULES).collect())
    return {
        "decomposition": decomposition(pr, g, reg, y1=y1).collect(),
        "retention": retention(pr, g).collect(),
        "tenure": tenure(pr, g, cfg, first_year=first).collect(),
        "destinations": destinations(pr, g).collect(),
        "trajectories": trajectories(pl.concat(stats).lazy()).collect(),
        "decomposition_magnitude": magnitude_table(household_contributions(pr, reg), g, rules=RULES).collect(),
        "trajectories_magnitude": pl.concat(mags, how="diagonal_relaxed"),
        "family_households": family_households(pr, groups, comp, fam, cfg),
        "family_cohorts": family_cohorts(sub, groups, comp, fam, first_year=first, last_year=y2),
        "displacement": displacement(pr, groups, reg, rules=RULES),
    }


@pytest.fixture(scope="module")
def reference(out: Path) -> dict[str, pl.DataFrame]:
    return whole_history(out)


def same_rows(a: pl.DataFrame, b: pl.DataFrame, name: str) -> None:
    assert a.columns == b.columns, name
    assert a.schema == b.schema, name
    assert a.height == b.height > 0, name
    key = list(a.columns)
    assert a.sort(key, nulls_last=True).equals(b.sort(key, nulls_last=True)), name


def test_year_frames_equal_the_whole_history(out: Path) -> None:
    reg = stock_measures(registry())
    sub = load_frames(out, reg)[0]
    years = pl.concat([rows for _, rows in year_frames(out, reg)])
    same_rows(years, sub, "sub-panel with spells")
    assert years["spell_start"].is_not_null().sum() > 0
    # spells that began before the first record year are running in it: some stays are long
    assert (years["year"] - years["spell_start"]).max() >= 10


@pytest.mark.parametrize("block_years", [pytest.param(1, marks=pytest.mark.slow), 4, 100])
def test_flow_tables_by_blocks_equal_the_whole_history(out: Path, reference: dict[str, pl.DataFrame],
                                                       block_years: int) -> None:
    tabs = flow_tables(out, rules=RULES, block_years=block_years)
    for name, ref in reference.items():
        got = tabs[name]
        if name.endswith("_magnitude"):
            # joined onto the tables by key, never released; abs_total is a plain float sum (its last digits
            # follow the row order of polars' threads, in one pass as in another): equal rows up to rounding
            key = [c for c in ref.columns if ref.schema[c] in (pl.String, pl.Int32, pl.Int64)]
            assert_frame_equal(got.select(ref.columns).sort(key), ref.sort(key), check_exact=False, rel_tol=1e-12)
            continue
        stats = [c for c in MAGNITUDE if c in ref.columns]  # displacement carries them for its dominance rules
        assert got.drop(stats).equals(ref.drop(stats)), name  # the same rows in the same order
        assert_frame_equal(got.select(stats), ref.select(stats), check_exact=False, rel_tol=1e-12)
