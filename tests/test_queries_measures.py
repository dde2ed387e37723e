"""Measure values worked out by hand on the fixture of tests/test_queries_fixture.py."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_queries_fixture import write_out

from queries.cells import compute_cells
from queries.disclosure import load_rules
from queries.populations import population_rows
from queries.registry import CONTRACT_MEASURES, registry


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_out(tmp_path_factory.mktemp("q") / "out")


@pytest.fixture(scope="module")
def cells(out: Path) -> pl.DataFrame:
    return compute_cells(out, rules=load_rules("dst"))


def _cell(cells: pl.DataFrame, level: str, unit: str, year: int, population: str) -> dict[str, tuple[int, float]]:
    c = cells.filter(level=level, unit=unit, year=year, population=population)
    return {m: (n, v) for m, n, v in c.select("measure", "n", "value").iter_rows()}


def _check(got: dict[str, tuple[int, float]], want: dict[str, tuple[int, float]]) -> None:
    assert set(got) == set(want)
    for m, (n, v) in want.items():
        assert got[m][0] == n, m
        assert got[m][1] == pytest.approx(v), m


# Stock of A, 2010: p1 40 employed H30, p2 38 student H10, p3 10 child (household 1, 400 000);
# p4 70 pensioner H30 non-Western (150 000); p5 25 cash benefit H15 non-Western (100 000).
STOCK_A_2010 = {
    "education": (3, 1 / 3),           # labour force p1 p2 p5; competence p1
    "employment": (3, 1 / 3),          # p1
    "income": (3, 300_000.0),          # (400 + 400 + 100) / 3 thousand
    "non_western": (5, 2 / 5),         # p4 p5
    "under_18": (5, 1 / 5),            # p3
    "over_64": (5, 1 / 5),             # p4
    "single_adults": (4, 2 / 4),       # 18+: p1 p2 (two adults) p4 p5 (alone)
    "outside_labour_force": (3, 1 / 3),  # 18-64 known: p1 p2 p5; student p2
    "unemployed": (4, 0.0),            # 18+ known: p1 p2 p4 p5
    "cash_benefit": (4, 1 / 4),        # p5
    "grundskole_18_29": (1, 1.0),      # p5 (H15 counts as grundskole)
    # household 1: scale 1 + 0.5 + 0.3 = 1.8 -> 222 222.2 each for p1 p2 p3
    "equivalised_income": (5, (3 * 400_000 / 1.8 + 150_000 + 100_000) / 5),
    "families_with_children": (5, 3 / 5),  # household 1 has p3 (10)
    "resource_strong": (3, 2 / 3),     # 22-59: p1 p2 (household 1 has an employed member), p5 not
    "danish_origin": (5, 3 / 5),       # p1 p2 p3 (ie_type 1; p4 p5 are immigrants)
    "personal_income_18plus": (4, (400_000 + 400_000 + 150_000 + 100_000) / 4),  # p1 p2 p4 p5 own income
    "employment_all_residents": (5, 1 / 5),  # p1, children and pensioners counted
    "disability_pension_18_64": (3, 0.0),    # 18-64 known: p1 p2 p5
    "early_retirement_18_64": (3, 0.0),
    "education_18_64": (3, 1 / 3),     # p2: with the two zeros above it adds up to outside_labour_force
}

# In-movers to B, 2011, on their 2011 records: p6 30 employed H40 and p7 28 unemployed H10 non-Western
# (household 10 with newborn p9, 600 000), p8 21 student unknown education non-Western (50 000).
# p9 is a birth (not an in-mover); p11 B->A counts for A.
IN_B_2011 = {
    "education": (2, 1 / 2),           # p6 yes, p7 no, p8 unknown
    "employment": (3, 1 / 3),
    "income": (3, (600_000 * 2 + 50_000) / 3),
    "non_western": (3, 2 / 3),
    "under_18": (3, 0.0),
    "over_64": (3, 0.0),
    "single_adults": (3, 1 / 3),       # p8
    "outside_labour_force": (3, 1 / 3),  # p8 in education
    "unemployed": (3, 1 / 3),          # p7 (2011 status)
    "cash_benefit": (3, 0.0),
    "grundskole_18_29": (1, 1.0),      # p7 (28); p6 is 30, p8 unknown
    "equivalised_income": (3, (2 * 600_000 / 1.8 + 50_000) / 3),  # household 10: 2 adults + baby
    "families_with_children": (3, 2 / 3),
    "resource_strong": (2, 1.0),       # 22-59: p6 p7, household 10 has p6 employed
    "danish_origin": (3, 1 / 3),       # p6
    "personal_income_18plus": (3, (600_000 * 2 + 50_000) / 3),
    "employment_all_residents": (3, 1 / 3),
    "disability_pension_18_64": (3, 0.0),
    "early_retirement_18_64": (3, 0.0),
    "education_18_64": (3, 1 / 3),     # p8
}

# Out-movers of C, 2011 (p7 C->B), measured on the 2010 record: 27, cash benefit, H10, alone, 90 000.
OUT_C_2011 = {
    "education": (1, 0.0), "employment": (1, 0.0), "income": (1, 90_000.0), "non_western": (1, 1.0),
    "under_18": (1, 0.0), "over_64": (1, 0.0), "single_adults": (1, 1.0), "outside_labour_force": (1, 0.0),
    "unemployed": (1, 0.0), "cash_benefit": (1, 1.0), "grundskole_18_29": (1, 1.0),
    "equivalised_income": (1, 90_000.0), "families_with_children": (1, 0.0), "resource_strong": (1, 0.0),
    "danish_origin": (1, 0.0), "personal_income_18plus": (1, 90_000.0), "employment_all_residents": (1, 0.0),
    "disability_pension_18_64": (1, 0.0), "early_retirement_18_64": (1, 0.0), "education_18_64": (1, 0.0),
}


def test_registry_keeps_the_contract_names() -> None:
    reg = registry()
    assert set(CONTRACT_MEASURES) <= set(reg)
    assert {reg[m].kind for m in CONTRACT_MEASURES} == {"share", "mean"}
    assert set(STOCK_A_2010) == set(reg)


def test_stock(cells: pl.DataFrame) -> None:
    _check(_cell(cells, "afdeling", "A", 2010, "stock"), STOCK_A_2010)


def test_in_movers_use_the_year_t_record(cells: pl.DataFrame) -> None:
    _check(_cell(cells, "afdeling", "B", 2011, "in"), IN_B_2011)


def test_out_movers_use_the_year_t_minus_1_record(cells: pl.DataFrame) -> None:
    _check(_cell(cells, "afdeling", "C", 2011, "out"), OUT_C_2011)


def test_out_movers_of_the_first_year_use_the_base_year(cells: pl.DataFrame) -> None:
    # p10 left A in 2010; on the 2009 base record: 50, employed, 300 000 (2010 record: unemployed, 120 000)
    got = _cell(cells, "afdeling", "A", 2010, "out")
    assert got["employment"] == (1, 1.0)
    assert got["income"] == (1, 300_000.0)


def test_a_move_inside_a_group_counts_in_both(cells: pl.DataFrame) -> None:
    # any_tool = {A, B}. In 2011: in = p11 (to A) + p6 p7 p8 (to B); out = p5 (from A, cash benefit 2010)
    # + p11 (from B, employed 2010).
    assert _cell(cells, "group", "any_tool", 2011, "in")["non_western"] == (4, pytest.approx(2 / 4))
    assert _cell(cells, "group", "any_tool", 2011, "out")["employment"] == (2, pytest.approx(1 / 2))
    # both = {B}: p11 out; anvisning_only = {A}: p5 out
    assert _cell(cells, "group", "both", 2011, "out")["employment"] == (1, 1.0)
    assert _cell(cells, "group", "anvisning_only", 2011, "out")["employment"] == (1, 0.0)
    # neither = {C}: stock 2010 = p7
    assert _cell(cells, "group", "neither", 2010, "stock")["cash_benefit"] == (1, 1.0)


def test_internal_moves_births_and_exits_are_not_movers(cells: pl.DataFrame) -> None:
    # A in 2011: only p11 moved in (p1's internal move does not count); out of A: p5 (p4 exited)
    assert _cell(cells, "afdeling", "A", 2011, "in")["non_western"] == (1, 0.0)
    assert _cell(cells, "afdeling", "A", 2011, "out")["non_western"] == (1, 1.0)


def test_comparison_series(cells: pl.DataFrame) -> None:
    # 2010 stock: study = A (5) + B (p11) + C (p7) = 7 persons, non-Western p4 p5 p7;
    # sector adds D (p12); population adds p6 p10 p13 p14 (p14 non-Western) = 12.
    assert _cell(cells, "comparison", "study", 2010, "stock")["non_western"] == (7, pytest.approx(3 / 7))
    assert _cell(cells, "comparison", "sector", 2010, "stock")["non_western"] == (8, pytest.approx(3 / 8))
    assert _cell(cells, "comparison", "population", 2010, "stock")["non_western"] == (12, pytest.approx(4 / 12))


def test_municipal_cells_cover_all_residents(cells: pl.DataFrame) -> None:
    # kom 101 in 2010: p1-p5, p10, p11, p13 = 8 persons; employment over labour force p1 p2 p5 p10 p11 p13:
    # employed p1 p11 p13 -> 3 / 6
    assert _cell(cells, "kom", "101", 2010, "stock")["employment"] == (6, pytest.approx(0.5))
    assert _cell(cells, "kom", "101", 2010, "stock")["non_western"] == (8, pytest.approx(2 / 8))


def test_dominance_statistics_are_household_sums(cells: pl.DataFrame) -> None:
    c = cells.filter(level="afdeling", unit="A", year=2010, population="stock", measure="income")
    # adults 18-64: p1 p2 (household 1: 2 x 400 000), p5 (100 000)
    assert c.select("units", "top1", "top2", "abs_total").row(0) == (2, 800_000.0, 100_000.0, 900_000.0)


def test_population_rows_for_analyses(out: Path) -> None:
    rows = population_rows(out, "out").collect()
    got = sorted(rows.select("person_id", "year", "record_year", "afdeling_id").iter_rows())
    assert got == [(5, 2011, 2010, "A"), (7, 2011, 2010, "C"), (10, 2010, 2009, "A"), (11, 2011, 2010, "B")]
    grp = population_rows(out, "in", level="group").filter(pl.col("group") == "any_tool").collect()
    assert sorted(grp["person_id"].to_list()) == [6, 7, 8, 11]
    m = registry()["employment"]
    emp = population_rows(out, "stock").filter(m.counted() & (pl.col("afdeling_id") == "A")
                                                & (pl.col("year") == 2010)).collect()
    assert emp.height == 3
