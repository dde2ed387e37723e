"""The same OUT gives the same release, byte for byte, however polars schedules its threads.

Before float sums were made order-independent (``queries.aggregate.fsum``, ``queries.dense.float_sums``),
two runs of ``socialmix measures`` on the demo differed in the last digits of 2,462 lines; on a 6,000-person
build, four repeated ``compute_cells`` calls differed from the first in 56-284 cells.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from panel.schema import scan_afdelinger, scan_moves, scan_panel
from queries.aggregate import fsum
from queries.cells import compute_cells, year_cells
from queries.disclosure import load_rules
from queries.household import household_columns_frame
from queries.populations import panel_years
from queries.registry import registry
from queries.run import run_measures
from tests.small_build import small_build

RULES = load_rules("dst")
KEY = ["level", "unit", "year", "population", "measure"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_build(tmp_path_factory.mktemp("deterministic"), seed=5, persons=6000)


def test_fsum_is_the_same_in_any_row_order_and_equals_the_exact_sum() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(1e5, 5e4, 50_000)
    df = pl.DataFrame({"g": rng.integers(0, 7, len(x)), "x": x})
    runs = {tuple(df.sample(fraction=1.0, shuffle=True, seed=s).group_by("g").agg(fsum(pl.col("x")))
                  .sort("g")["x"].to_list()) for s in range(5)}
    assert len(runs) == 1
    exact = [math.fsum(x[df["g"].to_numpy() == g]) for g in range(7)]
    assert np.allclose(runs.pop(), exact, rtol=1e-12, atol=0)
    # as sum: an all-null group sums to 0; NaN and infinities propagate; values too large for 128 bits add as floats
    odd = pl.DataFrame({"g": [1, 1, 2, 3, 3, 4, 4, 5, 5], "x": [None, None, 1.5, float("nan"), 2.0, float("inf"), 1.0,
                                                             1e300, 1e300]}, schema={"g": pl.Int8, "x": pl.Float64})
    got = odd.group_by("g").agg(fsum(pl.col("x"))).sort("g")
    want = odd.group_by("g").agg(pl.col("x").sum()).sort("g")
    assert got.equals(want)
    assert got["x"].to_list()[:2] == [0.0, 1.5] and math.isnan(got["x"][2]) and got["x"][3] == math.inf


def test_compute_cells_twice_gives_identical_cells(built: Path) -> None:
    # n, value and units are published; the household dominance statistics may differ in the last digit
    # (queries.afdeling_dense: a plain group_by of households)
    first = compute_cells(built, rules=RULES).sort(KEY).select(*KEY, "n", "value", "units")
    for _ in range(3):
        assert compute_cells(built, rules=RULES).sort(KEY).select(*KEY, "n", "value", "units").equals(first)


def test_general_path_twice_gives_identical_cells(built: Path) -> None:
    years = panel_years(built)
    rec = household_columns_frame(scan_panel(built).filter(pl.col("year") == years[0]).collect())
    moves, afd = scan_moves(built).collect(), scan_afdelinger(built).collect()
    runs = [year_cells(rec, moves, afd, year=years[0], years=years, measures=registry(), rules=RULES,
                       path="general").sort(KEY).select(*KEY, "n", "value", "units") for _ in range(4)]
    assert all(r.equals(runs[0]) for r in runs[1:])


def test_socialmix_measures_twice_writes_identical_files(built: Path, tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        shutil.copytree(built, out)
        run_measures(out)
        outs.append(out / "measures")
    files = sorted(p.relative_to(outs[0]).as_posix() for p in outs[0].rglob("*") if p.is_file())
    assert "trajectories.csv" in files and "measures.csv" in files
    assert "internal/disclosure_reasons.csv" in files  # the reasons, beside the public report
    assert files == sorted(p.relative_to(outs[1]).as_posix() for p in outs[1].rglob("*") if p.is_file())

    def content(path: Path) -> list[bytes]:  # the audit's timing (its ``seconds`` figure) is the one clock reading
        return [ln for ln in path.read_bytes().splitlines() if not (path.parent.name == "internal" and b"seconds" in ln)]

    differ = [f for f in files if content(outs[0] / f) != content(outs[1] / f)]
    assert differ == []
