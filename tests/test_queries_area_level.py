"""The ``area`` level of the measures: cells pooled over an area's afdelinger, and its release relation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from test_disclosure_protect import recovered_cells
from test_queries_fixture import write_out

from panel.schema import scan_afdelinger
from queries.area_release import area_relations
from queries.cells import compute_cells
from queries.disclosure import load_rules
from queries.release import KEY, release_relations
from queries.run import run_measures

# A and B (study, h1) and D (not study) form area X; C (study, h2) is area Y alone
AREA = {"A": "X", "B": "X", "C": "Y", "D": "X"}


def _with_areas(out: Path) -> Path:
    write_out(out)
    path = out / "afdeling.parquet"
    afd = pl.read_parquet(path)
    afd.with_columns(boligomraade_id=pl.col("afdeling_id").replace_strict(AREA)).write_parquet(path)
    return out


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _with_areas(tmp_path_factory.mktemp("area") / "out")


def _cell(c: pl.DataFrame, level: str, unit: str, year: int, population: str = "stock",
          measure: str = "non_western") -> tuple:
    rows = c.filter(level=level, unit=unit, year=year, population=population, measure=measure)
    return tuple(rows.select("n", "value").row(0)) if rows.height else ()


def test_area_cells_pool_the_afdelinger_of_the_area(out: Path) -> None:
    c = compute_cells(out, rules=load_rules("dst"))
    # hand-counted from the fixture: 2010 stock of X = A (1-5) + B (11) + D (12); non-Western 4, 5
    assert _cell(c, "area", "X", 2010) == (7, pytest.approx(2 / 7))
    # 2011: A (1, 2, 3, 11), B (6, 7, 9, 8), D (12); non-Western 7, 8
    assert _cell(c, "area", "X", 2011) == (9, pytest.approx(2 / 9))
    assert _cell(c, "area", "Y", 2010) == (1, 1.0)
    assert _cell(c, "area", "Y", 2011) == ()  # nobody in C at the end of 2011
    # the rest: D alone (person 12); Y has no non-study afdeling
    assert _cell(c, "area_rest", "X", 2011) == (1, 0.0)
    assert c.filter(level="area_rest", unit="Y").height == 0
    # in-movers of 2011 into X (births are not in-moves): 6, 7, 8 into B and 11 (B -> A) into A
    assert _cell(c, "area", "X", 2011, "in")[0] == 4


def test_area_relation_names_study_afdelinger_and_the_rest(out: Path) -> None:
    rels = {r.name: r for r in area_relations(scan_afdelinger(out).collect())}
    assert set(rels) == {"area X", "area Y"}
    assert rels["area X"].total == {"level": "area", "unit": "X"}
    assert rels["area X"].parts == [{"level": "afdeling", "unit": "A"}, {"level": "afdeling", "unit": "B"},
                                    {"level": "area_rest", "unit": "X"}]
    assert rels["area Y"].parts == [{"level": "afdeling", "unit": "C"}, {"level": "area_rest", "unit": "Y"}]


def test_no_area_cells_without_the_area_column(tmp_path: Path) -> None:
    c = compute_cells(write_out(tmp_path / "out"), rules=load_rules("dst"))
    assert not set(c["level"]) & {"area", "area_rest"}


@pytest.mark.parametrize("min_cell", [1, 2, 3])
def test_released_areas_resist_subtraction(out: Path, min_cell: int) -> None:
    run_measures(out, rules=replace(load_rules("dst", min_cell=min_cell), class_min_n=0, reason="test"))
    m = pl.read_parquet(out / "measures" / "measures.parquet")
    assert set(m["level"]) == {"afdeling", "group", "area"}  # the rest is never published
    assert m.filter(~pl.col("suppressed") & (pl.col("n") < min_cell)).height == 0
    report = pl.read_csv(out / "measures" / "disclosure_report.csv")
    assert not report["cell"].str.contains("area_rest").any()
    truth = compute_cells(out, rules=load_rules("dst")).select(*KEY, "n")
    # the attacker sees the published cells and knows an unpublished rest exists wherever it has persons
    rest = truth.filter(level="area_rest").select(*KEY, n=pl.lit(None, pl.Int64), suppressed=pl.lit(True))
    released = pl.concat([m.select(*KEY, "n", "suppressed"), rest], how="vertical_relaxed")
    afd = scan_afdelinger(out).collect()
    rels = release_relations(afd, [])
    found = recovered_cells(released, truth, KEY, rels)
    # only a rest that could have been published may be worked out (it holds at least min_cell persons)
    n_of = {tuple(r[:-1]): r[-1] for r in truth.iter_rows()}
    assert {c for c in found if c[0] != "area_rest" or n_of[c] < min_cell} == set()
    if min_cell == 3:  # Y = C alone: C's 2010 cell (1 person) is withheld, so Y's must be too
        assert m.filter(level="area", unit="Y", year=2010, population="stock")["suppressed"].all()


def test_area_relation_forces_a_second_withheld_part() -> None:
    from queries.disclosure import protect

    afd = pl.DataFrame({"afdeling_id": ["A", "B", "D"], "helhedsplan_id": ["h", "h", None],
                        "boligomraade_id": ["X", "X", "X"]})
    cells = pl.DataFrame({"level": ["area", "afdeling", "afdeling", "area_rest"], "unit": ["X", "A", "B", "X"],
                          "year": [2010] * 4, "population": ["stock"] * 4, "measure": ["m"] * 4,
                          "n": [40, 17, 3, 20], "value": [0.5] * 4})
    rules = replace(load_rules("dst"), class_min_n=0)
    withheld = {}
    for name, rels in (("without", []), ("with", area_relations(afd))):
        released, _ = protect(cells, rules=rules, key=KEY, relations=rels)
        withheld[name] = set(released.filter("suppressed")["unit"] + released.filter("suppressed")["level"])
    assert withheld["without"] == {"Bafdeling"}  # B (3 persons) alone: X - A - rest gives it back
    assert len(withheld["with"]) == 2 and "Bafdeling" in withheld["with"]
