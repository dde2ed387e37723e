"""``compute_cells(afdelinger="study")`` keeps the afdeling-level cells of the study afdelinger only,
and every other cell -- the sector series included -- exactly as the full table has them."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from small_build import small_build

import queries.cells as cells_module
from panel.errors import InputError
from queries.cells import compute_cells
from queries.disclosure import load_rules

KEY = ["level", "unit", "year", "population", "measure"]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_build(tmp_path_factory.mktemp("study_only"), seed=5)


@pytest.mark.parametrize("dense", [True, False])
def test_study_only_is_the_full_table_filtered(out: Path, dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not dense:  # the general path (a household counted for two afdelinger) filters the same way
        monkeypatch.setattr(cells_module, "dense_applies", lambda *a, **k: False)
    rules = load_rules("dst")
    full = compute_cells(out, rules=rules)
    some = compute_cells(out, rules=rules, afdelinger="study")
    study = pl.read_parquet(out / "afdeling.parquet").filter(pl.col("helhedsplan_id").is_not_null())["afdeling_id"]
    want = full.filter((pl.col("level") != "afdeling") | pl.col("unit").is_in(study.implode()))
    assert 0 < some.filter(level="afdeling").height < full.filter(level="afdeling").height
    assert set(some.filter(level="afdeling")["unit"]) <= set(study)
    assert some.filter(level="comparison", unit="sector").height > 0
    counts = [*KEY, "n", "units"]
    assert some.select(counts).sort(KEY).equals(want.select(counts).sort(KEY))
    # values to the last bits (the order of floating-point sums is not fixed)
    assert_frame_equal(some.sort(KEY), want.sort(KEY), rel_tol=1e-12, abs_tol=1e-9)


def test_unknown_choice_is_an_input_error(out: Path) -> None:
    with pytest.raises(InputError, match="afdelinger"):
        compute_cells(out, rules=load_rules("dst"), afdelinger="some")  # type: ignore[arg-type]
