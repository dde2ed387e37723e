"""The change decomposition adds up, and matches components worked out by hand."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import polars as pl
import pytest
from test_flows_fixtures import write_out

from queries.flows.base import load_frames, pairs
from queries.flows.decomposition import COMPONENTS, decomposition
from queries.registry import Measure, registry

AFD = [
    {"afdeling_id": "A", "helhedsplan_id": "h1", "anvisning": True, "fleksibel": False},
    {"afdeling_id": "B", "helhedsplan_id": "h2", "anvisning": False, "fleksibel": True},
    {"afdeling_id": "Z", "helhedsplan_id": None, "anvisning": False, "fleksibel": False},
]

EMPLOYMENT = {"employment": registry()["employment"]}


def _p(pid: int, year: int, afd: str | None, age: int, emp: int | None) -> dict:
    return {
        "person_id": pid,
        "year": year,
        "afdeling_id": afd,
        "age": age,
        "employed": None if emp is None else bool(emp),
        "non_western": pid % 2 == 0,
    }


def hand_rows() -> list[dict]:
    """2004 -> 2005 in A (anvisning_only) and B (fleksibel_only); 2003 = 2004 (base), 2006 = 2005."""
    y04 = [
        _p(1, 2004, "A", 30, 1),  # stayer, 1 -> 0
        _p(2, 2004, "A", 30, 0),  # stayer, 0 -> 1
        _p(3, 2004, "A", 30, 1),  # stayer, 1 -> 1
        _p(4, 2004, "A", 30, 0),  # stayer, 0 -> 1
        _p(5, 2004, "A", 64, 0),  # stayer who turns 65: leaves the labour force (L)
        _p(6, 2004, "A", 30, 1),  # moves A -> B (out of A, into B; both in any_tool)
        _p(7, 2004, "A", 30, 0),  # dies or emigrates (exit)
        _p(8, 2004, "A", 17, None),  # turns 18 in 2005: joins the labour force (J)
        _p(9, 2004, None, 30, 0),  # private housing in 2004, moves into A
        _p(21, 2004, "B", 40, 1),  # stayer in B, 1 -> 1
        _p(22, 2004, "B", 40, 0),  # stayer in B, 0 -> 1
        _p(31, 2004, "Z", 40, 1),  # non-study afdeling, never in a study one: ignored
    ]
    y05 = [
        _p(1, 2005, "A", 31, 0),
        _p(2, 2005, "A", 31, 1),
        _p(3, 2005, "A", 31, 1),
        _p(4, 2005, "A", 31, 1),
        _p(5, 2005, "A", 65, None),
        _p(6, 2005, "B", 31, 1),
        _p(8, 2005, "A", 18, 1),
        _p(9, 2005, "A", 31, 1),
        _p(10, 2005, "A", 40, 1),  # immigrant (entry)
        _p(11, 2005, "A", 0, None),  # birth (entry, outside the labour force)
        _p(21, 2005, "B", 41, 1),
        _p(22, 2005, "B", 41, 1),
        _p(31, 2005, "Z", 41, 1),
    ]
    y03 = [{**r, "year": 2003, "age": r["age"] - 1} for r in y04]
    y06 = [{**r, "year": 2006, "age": r["age"] + 1} for r in y05]
    return y03 + y04 + y05 + y06


@pytest.fixture()
def hand_out(tmp_path: Path) -> Path:
    return write_out(tmp_path / "out", hand_rows(), AFD, base_year=2003)


def _decompose(out: Path, measures: dict[str, Measure]) -> pl.DataFrame:
    sub, groups, first, y1, y2 = load_frames(out, measures)
    pr = pairs(sub.lazy(), first_year=first, last_year=y2)
    return decomposition(pr, groups.lazy(), measures, y1=y1).collect()


def _row(df: pl.DataFrame, unit: str, year: int) -> dict:
    hit = df.filter((pl.col("unit") == unit) & (pl.col("year") == year) & (pl.col("measure") == "employment"))
    assert hit.height == 1
    return hit.row(0, named=True)


def test_components_worked_out_by_hand(hand_out: Path) -> None:
    df = _decompose(hand_out, EMPLOYMENT)
    # Afdeling A, 2004 -> 2005, employment (labour force 18-64).
    # M_2004 = p1..p7 with y = 1,0,1,0,0,1,0: N=7, V_2004 = 3/7.
    # M_2005 = p1,p2,p3,p4,p8,p9,p10 with y = 0,1,1,1,1,1,1: N_t=7, V_2005 = 6/7; change = 3/7.
    # stayers own change (p1..p4): (-1 + 1 + 0 + 1)/7 = 1/7
    # membership: J = p8: (1 - 3/7); L = p5: -(0 - 3/7)  -> (4/7 + 3/7)/7 = 1/7; stayers = 2/7
    # in-movers p9: (1 - 3/7)/7 = 4/49; out-movers p6: -(1 - 3/7)/7 = -4/49
    # entries p10 (p11 is a birth outside the labour force): (1 - 3/7)/7 = 4/49
    # exits p7: -(0 - 3/7)/7 = 3/49.      Sum: 14/49 + 4/49 - 4/49 + 4/49 + 3/49 = 21/49 = 3/7.
    a = _row(df, "A", 2005)
    want = {"change": F(3, 7), "stayers": F(2, 7), "in_movers": F(4, 49), "out_movers": F(-4, 49),
            "entries": F(4, 49), "exits": F(3, 49), "stayers_membership": F(1, 7)}
    for k, v in want.items():
        assert a[k] == pytest.approx(float(v), abs=1e-12), k
    # Afdeling B: 2004 q21=1, q22=0 (V=1/2, N=2); 2005 q21=1, q22=1, p6=1 (V=1, N_t=3): change 1/2
    # stayers (0 + 1)/3 = 1/3; in-mover p6 (1 - 1/2)/3 = 1/6.
    b = _row(df, "B", 2005)
    assert (b["change"], b["stayers"], b["in_movers"]) == pytest.approx((0.5, 1 / 3, 1 / 6), abs=1e-12)
    assert (b["out_movers"], b["entries"], b["exits"]) == (0.0, 0.0, 0.0)
    # Group any_tool = A + B: the move A -> B counts as out-mover AND in-mover.
    # M_2004: N=9, sum 3 + 1 = 4, V = 4/9.  M_2005: N_t=10, sum 6 + 3 = 9, V = 9/10; change 41/90.
    # stayers own (p1..p4, q21, q22): (-1+1+0+1) + (0+1) = 2; membership p8 (1-4/9), p5 -(0-4/9): 1
    #   -> stayers 3/10.  in-movers p9, p6: 2(1-4/9)/10 = 1/9.  out-mover p6: -(1-4/9)/10 = -1/18
    #   entries p10: (1-4/9)/10 = 1/18.  exits p7: (4/9)/10 = 2/45.  Sum = (27+10-5+5+4)/90 = 41/90.
    g = _row(df, "any_tool", 2005)
    want = {"change": F(41, 90), "stayers": F(3, 10), "in_movers": F(1, 9), "out_movers": F(-1, 18),
            "entries": F(1, 18), "exits": F(2, 45)}
    for k, v in want.items():
        assert g[k] == pytest.approx(float(v), abs=1e-12), k
    # anvisning_only is A alone, fleksibel_only B alone
    assert _row(df, "anvisning_only", 2005)["change"] == pytest.approx(3 / 7)
    assert _row(df, "fleksibel_only", 2005)["in_movers"] == pytest.approx(1 / 6)
    # Z is not a study afdeling; no row for the first panel year (t > Y1 only)
    assert df.filter(pl.col("unit") == "Z").height == 0
    assert df["year"].min() == 2005
    # 2006 repeats 2005: nobody moves, nobody changes
    assert _row(df, "A", 2006)["change"] == 0.0


def test_components_add_up(hand_out: Path) -> None:
    df = _decompose(hand_out, EMPLOYMENT)
    total = df.select(pl.sum_horizontal(COMPONENTS) - pl.col("change")).to_series()
    assert total.abs().max() < 1e-12


def test_disclosure_of_the_decomposition(hand_out: Path) -> None:
    from queries.disclosure import load_rules
    from queries.flows.decomposition_release import protect_decomposition

    comp = _decompose(hand_out, EMPLOYMENT)
    # threshold 1: nothing to hide, the published row is the raw one
    rel, rep = protect_decomposition(comp, None, None, rules=load_rules("dst", min_cell=1))
    a = rel.filter((pl.col("unit") == "A") & (pl.col("year") == 2005)).row(0, named=True)
    assert a["exits"] == pytest.approx(3 / 49) and not a["suppressed"] and rep.height == 0
    # threshold 2: the exit of p7 (1 person) is hidden, and another component with it
    rel, rep = protect_decomposition(comp, None, None, rules=load_rules("dst", min_cell=2))
    a = rel.filter((pl.col("unit") == "A") & (pl.col("year") == 2005)).row(0, named=True)
    assert a["exits"] is None and "exits" in a["suppressed_parts"]
    assert sum(a[c] is None for c in COMPONENTS) >= 2
    assert rep.filter(pl.col("cell").str.ends_with("unit=A; year=2005; measure=employment; part=exits"))[
        "rule"].to_list() == ["primary"]
    # a stock cell suppressed in measures.parquet hides the change and all its components (t and t+1)
    # (a stock cell missing from measures.parquet counts as hidden: B is listed, the groups are not)
    flags = pl.DataFrame({"level": ["afdeling"] * 6, "unit": ["A"] * 3 + ["B"] * 3, "year": [2004, 2005, 2006] * 2,
                          "population": ["stock"] * 6, "measure": ["employment"] * 6,
                          "suppressed": [False, True, False] + [False] * 3}).with_columns(pl.col("year").cast(pl.Int32))
    rel, _ = protect_decomposition(comp, flags, None, rules=load_rules("dst", min_cell=1))
    a = rel.filter(pl.col("unit") == "A").sort("year")
    assert a["suppressed"].to_list() == [True, True]
    assert a.select(pl.all_horizontal([pl.col(c).is_null() for c in ["change", *COMPONENTS]])).to_series().all()
    assert not rel.filter(pl.col("unit") == "B")["suppressed"].any()
    assert rel.filter(pl.col("level") == "group")["suppressed"].all()
