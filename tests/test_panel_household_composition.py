"""The build writes the household composition (one definition, one configuration); the measures read it.

The panel's columns (window sums in ``panel.derive``) are checked against the
measures' own group_by count (``queries.household.add_household_columns``),
and ``compute_cells`` gives the same cells reading them as counting anew.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from small_build import small_build

import queries.cells as cells_module
from panel.schema import HOUSEHOLD_COMPOSITION, household_parameters, scan_panel
from queries.cells import compute_cells
from queries.disclosure import load_rules
from queries.household import (
    HOUSEHOLD_COLUMNS,
    add_household_columns,
    composition_config,
    household_columns_frame,
)
from queries.registry import measure_config, registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_build(tmp_path_factory.mktemp("hh_composition"), seed=3)


def test_panel_columns_equal_the_measures_own_count(out: Path) -> None:
    rec = scan_panel(out, include_base=True).collect()
    assert rec.select(pl.col(HOUSEHOLD_COMPOSITION).null_count().sum()).row(0) == (0,) * len(HOUSEHOLD_COMPOSITION)
    assert rec["hh_children"].sum() > 0 and rec["hh_rs"].sum() > 0 and (rec["hh_adults"] == 1).sum() > 0
    for year in (2003, 2004, 2005):
        one = rec.filter(pl.col("year") == year)
        counted = add_household_columns(one.lazy()).collect().sort("person_id")
        read = household_columns_frame(one, from_panel=True).sort("person_id")
        for col in HOUSEHOLD_COLUMNS:
            assert read[col].equals(counted[col], check_names=False), (year, col)


def test_parameters_travel_with_the_panel(out: Path, tmp_path: Path) -> None:
    shipped = tomllib.loads((ROOT / "panel" / "registers.toml").read_text(encoding="utf-8"))
    assert household_parameters(out) == shipped["derive"]["household"] == composition_config(out)
    assert composition_config() == shipped["derive"]["household"]  # a panel without them: the shipped ones
    # measures.toml no longer holds any composition parameter (one configuration)
    assert not {"child_age", "equivalence_adult_age", "resource_strong_min_age"} & set(measure_config()["household"])
    # the measures follow the panel's parameters, as built
    other = copy.deepcopy(household_parameters(out))
    other["resource_strong_ages"] = [25, 55]
    assert "persons 25-55" in registry(composition=other)["resource_strong"].description


def test_cells_same_read_or_counted(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = load_rules("dst")
    read = compute_cells(out, rules=rules)
    monkeypatch.setattr(cells_module, "household_parameters", lambda _out: None)
    counted = compute_cells(out, rules=rules)
    key = ["level", "unit", "year", "population", "measure"]
    assert read.height == counted.height > 1000
    assert read.select(key + ["n", "units"]).sort(key).equals(counted.select(key + ["n", "units"]).sort(key))
    # values to the last bits (the order of floating-point sums is not fixed)
    assert_frame_equal(read.sort(key), counted.sort(key), rel_tol=1e-12, abs_tol=1e-9)
