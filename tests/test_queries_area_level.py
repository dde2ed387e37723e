"""The ``area`` level of the measures: cells pooled over an area's afdelinger, and its release relation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from test_disclosure_protect import recovered_cells
from test_queries_fixture import write_out

from panel.schema import scan_afdelinger
from queries.area_release import area_relations, withhold_closed_areas
from queries.cells import compute_cells
from queries.disclosure import Relation, load_rules, primary_flags, protect
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
    assert set(c["level"]) == {"afdeling", "group", "area", "area_rest", "comparison", "kom"}
    assert _cell(c, "area_rest", "X", 2011) == (1, 0.0)  # D alone (person 12)
    assert c.filter(level="area_rest", unit="Y").height == 0  # Y has no non-study afdeling
    # in-movers of 2011 into X (births are not in-moves): 6, 7, 8 into B and 11 (B -> A) into A
    assert _cell(c, "area", "X", 2011, "in")[0] == 4


def test_area_relation_only_where_every_afdeling_is_published(out: Path) -> None:
    # X holds the non-study D (never published): X - A - B = D + a withheld part, no single cell; Y = C exactly
    rels = area_relations(scan_afdelinger(out).collect())
    assert [(r.name, r.total, r.parts) for r in rels] == [
        ("area Y", {"level": "area", "unit": "Y"}, [{"level": "afdeling", "unit": "C"}])]


def test_no_area_cells_without_the_area_column(tmp_path: Path) -> None:
    c = compute_cells(write_out(tmp_path / "out"), rules=load_rules("dst"))
    assert not set(c["level"]) & {"area", "area_rest"}


@pytest.mark.parametrize("min_cell", [1, 2, 3])
def test_released_areas_resist_subtraction(out: Path, min_cell: int) -> None:
    rules = replace(load_rules("dst", min_cell=min_cell), class_min_n=0, reason="test")
    run_measures(out, rules=rules)
    m = pl.read_parquet(out / "measures" / "measures.parquet")
    assert set(m["level"]) == {"afdeling", "group"}  # contract §4; the areas have their own table
    m = pl.concat([m, pl.read_parquet(out / "measures" / "area_measures.parquet")])
    assert set(m["level"]) == {"afdeling", "group", "area"}  # the rest is never published
    assert m.filter(~pl.col("suppressed") & (pl.col("n") < min_cell)).height == 0
    cells = compute_cells(out, rules=load_rules("dst"))
    truth = cells.select(*KEY, "n")
    # X's rest is D alone: its cells are D's afdeling cells (computed from D's residents, not from X)
    d = cells.filter(level="afdeling", unit="D").with_columns(level=pl.lit("area_rest"), unit=pl.lit("X"))
    rest = cells.filter(level="area_rest")
    assert rest.select(*KEY, "n").sort(KEY).equals(d.select(*KEY, "n").sort(KEY))
    # the attacker knows every true identity: X = A + B + rest (the rest unknown to them: never published),
    # Y = C; a rest without a row holds nobody, a zero the attacker may assume
    released = pl.concat([m.select(*KEY, "n", "suppressed"),
                          d.select(*KEY, n=pl.lit(None, pl.Int64), suppressed=pl.lit(True))],
                         how="vertical_relaxed")
    afd = scan_afdelinger(out).collect()
    x_rel = Relation(total={"level": "area", "unit": "X"}, name="area X",
                     parts=[{"level": "afdeling", "unit": u} for u in ("A", "B")]
                     + [{"level": "area_rest", "unit": "X"}])
    found = recovered_cells(released, pl.concat([truth, d.select(*KEY, "n")]), KEY,
                            [*release_relations(afd, []), *area_relations(afd), x_rel])
    # what may be worked out are cells the primary rules would publish (a rest; an area withheld only
    # because its rest holds nobody in the block, so that it equals its published afdelinger)
    primary = primary_flags(pl.concat([cells.filter(pl.col("level") != "area_rest"), d]), rules)
    unsafe = set(primary.filter(pl.col("_rule").is_not_null()).select(KEY).rows())
    assert found & unsafe == set()
    # with lockstep, afdeling and group cells withheld only with their block may be worked out too:
    # they pass the primary rules (checked above), so they could have been published
    assert {c[0] for c in found} <= {"area_rest", "area", "afdeling", "group"}
    if min_cell == 1 and not rules.lockstep:  # with lockstep the rest's blocks go whole and stay hidden
        assert any(c[0] == "area_rest" for c in found)  # A + B + X give D's cells: why the rest is protected
    if min_cell == 3:  # Y = C alone: C's 2010 cell (1 person) is withheld, so Y's must be too
        assert m.filter(level="area", unit="Y", year=2010, population="stock")["suppressed"].all()
        # D holds 1 person (12) in 2010 and 2011: X is withheld in every stock block
        assert m.filter(level="area", unit="X", population="stock")["suppressed"].all()


def test_closed_area_is_withheld_with_its_afdeling() -> None:
    # area X = A + B exactly (no non-study afdeling); B (3 persons) is withheld under min_cell 5
    afd = pl.DataFrame({"afdeling_id": ["A", "B"], "helhedsplan_id": ["h", "h"], "boligomraade_id": ["X", "X"]})
    cells = pl.DataFrame({"level": ["area", "afdeling", "afdeling"], "unit": ["X", "A", "B"],
                          "year": [2010] * 3, "population": ["stock"] * 3, "measure": ["m"] * 3,
                          "n": [20, 17, 3], "value": [0.5] * 3})
    rules = replace(load_rules("dst", min_cell=5), class_min_n=0, reason="test")
    released, report = protect(cells, rules=rules, key=KEY)
    assert set(released.filter("suppressed").select("level", "unit").rows()) == {("afdeling", "B")}
    released, report = withhold_closed_areas(released, report, afd, KEY)
    # X - A would give B back, so X goes too (A may stay: B and X together are not recoverable)
    assert set(released.filter("suppressed").select("level", "unit").rows()) == {("afdeling", "B"), ("area", "X")}
    assert released.filter(level="area")["n"].to_list() == [None]
    assert report.filter(pl.col("cell").str.contains("level=area"))["rule"].to_list() == ["inherited"]
    # with B published (min_cell 3) nothing is withheld: X = A + B adds nothing to them
    released, report = protect(cells, rules=replace(rules, min_persons=3), key=KEY)
    assert not withhold_closed_areas(released, report, afd, KEY)[0]["suppressed"].any()
