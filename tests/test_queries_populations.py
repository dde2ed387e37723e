"""The one definition of the populations (contract §2), against the hand-worked fixture, and its consumers.

The fixture of ``test_queries_fixture`` (base year 2009, panel 2010-2011) worked out by hand:

* stock 2011 of B: p6, p7, p9 (born 2011), p8;
* in 2011: B gets p6 (into_sector), p7 (between C->B), p8 (immigration) -- p9's birth is no move in;
  A gets p11 (between B->A); measured on their 2011 records (p7 aged 28, p11 46);
* out 2010: p10 leaves A (out_of_sector), measured on the 2009 base record (aged 50);
* out 2011: p5 leaves A (out_of_sector), p7 leaves C, p11 leaves B; p4's exit (death) is no move out;
  measured on their 2010 records (p5 25, p7 27, p11 45).

The second half checks that the DiD's afdeling-year cells (what ``analyses.did.run.measure_cells``
computes from ``population_rows``) are the published measures' cells (``compute_cells``), on the
fixture and on a small synthetic build: one definition, so the estimates and the tables agree.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from small_build import small_build
from test_queries_fixture import write_out

from analyses.did.run import measure_cells
from queries.cells import compute_cells, year_cells
from queries.disclosure import load_rules
from queries.household import household_columns_frame
from queries.populations import POPULATIONS, movers, population_rows, year_rows
from queries.registry import registry

KEY = ["person_id", "afdeling_id", "year", "record_year", "age"]


@pytest.fixture(scope="module")
def fixture_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_out(tmp_path_factory.mktemp("populations") / "out")


def _rows(out: Path, population: str) -> set[tuple]:
    return set(population_rows(out, population).select(KEY).collect().rows())


def test_in_movers_by_hand(fixture_out: Path) -> None:
    assert _rows(fixture_out, "in") == {(6, "B", 2011, 2011, 30), (7, "B", 2011, 2011, 28), (8, "B", 2011, 2011, 21),
                                        (11, "A", 2011, 2011, 46)}


def test_out_movers_by_hand(fixture_out: Path) -> None:
    assert _rows(fixture_out, "out") == {(10, "A", 2010, 2009, 50), (5, "A", 2011, 2010, 25),
                                         (7, "C", 2011, 2010, 27), (11, "B", 2011, 2010, 45)}


def test_stock_by_hand(fixture_out: Path) -> None:
    got = population_rows(fixture_out, "stock").filter(pl.col("year") == 2011).select("afdeling_id", "person_id")
    by_afd = {a: sorted(g["person_id"]) for (a,), g in got.collect().group_by("afdeling_id")}
    assert by_afd == {"A": [1, 2, 3, 11], "B": [6, 7, 8, 9], "D": [12]}


def test_group_rows_count_a_move_inside_a_group_twice(fixture_out: Path) -> None:
    # p11 moves B -> A: both are any_tool afdelinger, so p11 is an in-mover and an out-mover of any_tool 2011
    rows = population_rows(fixture_out, "in", level="group").filter(pl.col("group") == "any_tool")
    assert 11 in rows.collect()["person_id"].to_list()
    rows = population_rows(fixture_out, "out", level="group").filter(pl.col("group") == "any_tool")
    assert sorted(rows.filter(pl.col("year") == 2011).collect()["person_id"]) == [5, 11]


def test_movers_dates_and_records() -> None:
    mv = pl.DataFrame({"person_id": [1, 2, 3, 4], "year": [2011] * 4,
                       "kind": ["between", "immigration", "internal", "out_of_sector"],
                       "from_afdeling": ["A", None, "B", "C"], "to_afdeling": ["B", "D", "B", None]})
    assert movers(mv, "in").rows() == [(1, 2011, 2011, "B"), (2, 2011, 2011, "D")]
    assert movers(mv, "out").rows() == [(1, 2011, 2010, "A"), (4, 2011, 2010, "C")]


def test_year_rows_of_a_record_year(fixture_out: Path) -> None:
    """The 2010 records feed the stock of 2010 (no in-movers that year) and the out-movers of 2011."""
    from panel.schema import scan_moves, scan_panel

    rec = household_columns_frame(scan_panel(fixture_out).filter(pl.col("year") == 2010).collect())
    rows = year_rows(rec, scan_moves(fixture_out).collect(), record_year=2010, years=[2010, 2011],
                     columns=["person_id", "age"]).collect()
    got = {(POPULATIONS[p], y, c, pid) for p, y, c, pid in rows.select("pop", "year", "counted", "person_id").rows()}
    stock = {("stock", 2010, a, p) for a, p in (("A", 1), ("A", 2), ("A", 3), ("A", 4), ("A", 5), ("C", 7),
                                                  ("B", 11), ("D", 12))}
    assert got == stock | {("out", 2011, "A", 5), ("out", 2011, "C", 7), ("out", 2011, "B", 11)}


def _did_cells(out: Path, population: str, names: list[str]) -> pl.DataFrame:
    return measure_cells(out, population, names).select("afdeling_id", "year", "measure", "n", value="y")


def _published_cells(out: Path, population: str) -> pl.DataFrame:
    c = compute_cells(out, rules=load_rules("dst")).filter((pl.col("level") == "afdeling")
                                                            & (pl.col("population") == population)
                                                            & (pl.col("n") > 0))
    return c.select(afdeling_id="unit", year="year", measure="measure", n="n", value="value")


@pytest.mark.parametrize("population", POPULATIONS)
def test_did_cells_equal_published_cells_on_the_fixture(fixture_out: Path, population: str) -> None:
    _same_cells(fixture_out, population)


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_build(tmp_path_factory.mktemp("populations_synth"), seed=5, persons=4000)


@pytest.mark.parametrize("population", POPULATIONS)
def test_did_cells_equal_published_cells_on_a_build(synth_out: Path, population: str) -> None:
    _same_cells(synth_out, population)


def _same_cells(out: Path, population: str) -> None:
    names = list(registry())
    did = _did_cells(out, population, names)
    pub = _published_cells(out, population)
    key = ["afdeling_id", "year", "measure"]
    assert did.height == pub.height > 0
    j = did.join(pub, on=key, how="full", coalesce=True)
    assert j["n"].equals(j["n_right"], check_names=False)
    assert (j["value"] - j["value_right"]).abs().max() <= 1e-9 * max(1.0, j["value"].abs().max())


def test_both_paths_take_movers_from_the_one_definition(fixture_out: Path) -> None:
    """Dense and general afdeling cells of a record year equal (they share ``year_rows``)."""
    from panel.schema import scan_afdelinger, scan_moves, scan_panel

    rec = household_columns_frame(scan_panel(fixture_out).filter(pl.col("year") == 2010).collect())
    args = {"moves": scan_moves(fixture_out).collect(), "afd": scan_afdelinger(fixture_out).collect(), "year": 2010,
            "years": [2010, 2011], "measures": registry(), "rules": load_rules("dst")}
    key = ["level", "unit", "year", "population", "measure"]
    dense = year_cells(rec, path="dense", **args).sort(key)
    general = year_cells(rec, path="reference", **args).sort(key)
    assert dense.select(*key, "n").equals(general.select(*key, "n"))
    out_a = dense.filter(level="afdeling", unit="A", population="out", measure="non_western")
    assert out_a.select("year", "n", "value").rows() == [(2011, 1, 1.0)]  # p5, non-Western, left A in 2011


def test_flow_decomposition_counts_the_same_movers(synth_out: Path) -> None:
    """The flows take movers from the record pairs (queries.flows.base.pairs), not from moves.parquet; their
    in-movers plus immigrants (n_I + n_M, sums s_I + s_M) and out-movers (n_O, s_O) are the populations' in and out."""
    from queries.flows import flow_tables

    dec = flow_tables(synth_out)["decomposition"].filter(pl.col("level") == "afdeling")
    cells = compute_cells(synth_out, rules=load_rules("dst")).filter(level="afdeling")
    key = ["unit", "year", "measure"]
    for pop, n, s in (("in", pl.col("n_I") + pl.col("n_M"), pl.col("s_I") + pl.col("s_M")),
                      ("out", pl.col("n_O"), pl.col("s_O"))):
        flow = dec.select(*key, n_flow=n, s_flow=s)
        pub = cells.filter(population=pop).select(*key, "n", s=pl.col("n") * pl.col("value"))
        j = flow.join(pub, on=key, how="left").with_columns(pl.col("n").fill_null(0), pl.col("s").fill_null(0.0))
        assert j.height > 100 and j.filter(pl.col("n") > 0).height > 100
        assert (j["n_flow"] == j["n"]).all(), pop
        assert ((j["s_flow"] - j["s"]).abs() <= 1e-6 * (1 + j["s"].abs())).all(), pop
