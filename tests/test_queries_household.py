"""Household composition worked out by hand, and a second implementation of the cells."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_queries_fixture import write_out

from queries.cells import compute_cells
from queries.disclosure import load_rules
from queries.household import add_household_columns, composition_config
from queries.populations import population_rows
from queries.registry import registry


def test_composition_counts_every_member_of_the_year() -> None:
    # household 5 in 2010: adults 35 (unknown status) and 67 (pensioner), children 15 and 3, one of
    # them (15) living elsewhere is still a member; household 6: a student of 23 alone; person 9: no
    # FAMILIE_ID -> own household even though household_id null is shared.
    lf = pl.LazyFrame({
        "person_id": [1, 2, 3, 4, 5, 8, 9],
        "year": [2010] * 7,
        "household_id": [5, 5, 5, 5, 6, None, None],
        "age": [35, 67, 15, 3, 23, 40, 41],
        "socio_category": [None, "old_age_pension", "child", "child", "education", "employed", "unemployed"],
    })
    got = add_household_columns(lf).sort("person_id").collect()
    assert got["hh_adults"].to_list() == [2, 2, 2, 2, 1, 1, 1]
    # household 5: persons 14+ = 35, 67, 15 -> 1 + 0.5 * 2; under 14 = 3 -> + 0.3 => 2.3
    assert got["eq_scale"].to_list() == pytest.approx([2.3] * 4 + [1.0, 1.0, 1.0])
    assert got["hh_children"].to_list() == [2, 2, 2, 2, 0, 0, 0]
    # resource-strong member aged 22-59 employed or student: none in household 5 (35 unknown, 67 too old);
    # the 35-year-old's own status is unknown -> null; household 6: the student -> true
    assert got["hh_resource_strong"].to_list() == [None, False, False, False, True, True, False]


def test_child_age_is_a_parameter() -> None:
    comp = composition_config()  # [derive.household] of the register config: the one composition
    comp["child_age"] = 16
    lf = pl.LazyFrame({"person_id": [1, 2], "year": [2010, 2010], "household_id": [1, 1], "age": [40, 17],
                       "socio_category": ["employed", "education"]})
    assert add_household_columns(lf, composition=comp).collect()["hh_children"].to_list() == [0, 0]
    assert add_household_columns(lf).collect()["hh_children"].to_list() == [1, 1]
    reg = registry(composition=comp)
    assert "16" in reg["families_with_children"].description


def test_cells_match_a_second_implementation(tmp_path: Path) -> None:
    """Afdeling cells from population_rows + a plain group_by equal compute_cells (n and value)."""
    out = write_out(tmp_path / "out")
    cells = compute_cells(out, rules=load_rules("dst")).filter(level="afdeling")
    for population in ("stock", "in", "out"):
        rows = population_rows(out, population)
        for name, m in registry().items():
            plain = (rows.filter(m.counted()).group_by("afdeling_id", "year")
                     .agg(n=pl.len(), value=m.value.cast(pl.Float64).mean()).collect())
            mine = cells.filter(population=population, measure=name).select(
                afdeling_id="unit", year="year", n2="n", value2="value")
            j = plain.join(mine, on=["afdeling_id", "year"], how="full", coalesce=True)
            assert j.height == plain.height == mine.height, (population, name)
            assert (j["n"] == j["n2"]).all()
            assert ((j["value"] - j["value2"]).abs() < 1e-9).all(), (population, name)


def test_municipal_households_survive_key_packing() -> None:
    """(kom, hh_key) packed into one Int64 and back: null kom and negative keys included."""
    from queries.aggregate import indicators
    from queries.cells import _by_kom

    ms = {"income": registry()["income"]}
    rows = pl.DataFrame({"person_id": [1, 2, 3, 4], "kom": pl.Series([101, 101, None, 851], dtype=pl.Int16),
                         "hh_key": [7, 7, -5, -2_000_000_000], "age": [30, 40, 50, 60],
                         "hh_income_2013": [10.0, 10.0, 3.0, 4.0]})
    ind = indicators(rows.lazy(), ["person_id", "kom"], ms).collect()
    hh = _by_kom(ind, ms).hh.sort("hh_key").collect()
    assert hh.select("kom", "hh_key", "k|income", "c|income").rows() == [
        (851, -2_000_000_000, 1, 4.0), (None, -5, 1, 3.0), (101, 7, 2, 20.0)]
