"""Retention, tenure, destinations and trajectories on a fixture with known histories.

Afdelinger: A (study, anvisning only, kom 101), B (study, fleksibel only, kom 101),
Z (public, not in the study, kom 202). Base year 2003, panel 2004-2008.

| person | hh | born | 2003 | 2004 | 2005 | 2006 | 2007 | 2008 | notes |
|---|---|---|---|---|---|---|---|---|---|
| p1 | 1 | 1968 | A | A | A | B | B | B | employed; H1 moves A -> B in 2006 |
| p2 | 1 | 1970 | A | A | A | B | B | B | 'other' until 2005, employed from 2006 |
| p3 | 1 | 1998 | A | A | A | B | B | B | child |
| p4 | 2 | 1934 | A | A | A | A | A | A | old-age pensioner alone |
| p5 | 3 | 1964 | priv | priv | A | A | Z | Z | unemployed; H3 into A 2005, to Z 2007 |
| p6 | 3 | 1994 | priv | priv | A | A | Z | Z | child |
| p7 | 4 | 1978 | A | A | priv (kom 303) | ... | | | student, employed from 2007; out of sector 2005 |
| p8 | 5 | 1953 | A | A | A | A | A | A | employed |
| p9 | 5 -> 9 | 1987 | A | A | A | priv (no kom) | ... | | leaves home 2006; employed from 2007 |
| p10 | 6 | 1959 | - | A | A | A | - | - | immigrant 2004, employed; dies 2007 |
| p11 | 7 | 1960 | B | B | B | B | B | B | employed |
"""

from __future__ import annotations

import polars as pl
import pytest
from test_flows_fixtures import write_out

from queries.flows import flow_tables
from queries.registry import registry

AFD = [
    {"afdeling_id": "A", "helhedsplan_id": "h1", "anvisning": True, "fleksibel": False, "kom": 101},
    {"afdeling_id": "B", "helhedsplan_id": "h2", "anvisning": False, "fleksibel": True, "kom": 101},
    {"afdeling_id": "Z", "helhedsplan_id": None, "anvisning": False, "fleksibel": False, "kom": 202},
]
KOM = {"A": 101, "B": 101, "Z": 202}
YEARS = range(2003, 2009)
PENSION = {"old_age_pension", "disability_pension", "early_retirement"}


def _life(born: int, hh, afd, socio, kom_priv=101) -> dict:
    """Per-year residence: ``afd`` maps year -> afdeling or 'priv' (None = not in the BEF)."""
    return {"born": born, "hh": hh, "afd": afd, "socio": socio, "kom_priv": kom_priv}


def _span(spec: dict[range, object]) -> dict[int, object]:
    return {y: v for r, v in spec.items() for y in r}


PEOPLE = {
    1: _life(1968, 1, _span({range(2003, 2006): "A", range(2006, 2009): "B"}), "employed"),
    2: _life(1970, 1, _span({range(2003, 2006): "A", range(2006, 2009): "B"}),
             _span({range(2003, 2006): "other", range(2006, 2009): "employed"})),
    3: _life(1998, 1, _span({range(2003, 2006): "A", range(2006, 2009): "B"}), "child"),
    4: _life(1934, 2, _span({range(2003, 2009): "A"}), "old_age_pension"),
    5: _life(1964, 3, _span({range(2003, 2005): "priv", range(2005, 2007): "A", range(2007, 2009): "Z"}),
             "unemployed"),
    6: _life(1994, 3, _span({range(2003, 2005): "priv", range(2005, 2007): "A", range(2007, 2009): "Z"}), "child"),
    7: _life(1978, 4, _span({range(2003, 2005): "A", range(2005, 2009): "priv"}),
             _span({range(2003, 2007): "education", range(2007, 2009): "employed"}), kom_priv=303),
    8: _life(1953, 5, _span({range(2003, 2009): "A"}), "employed"),
    9: _life(1987, _span({range(2003, 2006): 5, range(2006, 2009): 9}),
             _span({range(2003, 2006): "A", range(2006, 2009): "priv"}),
             _span({range(2003, 2007): "education", range(2007, 2009): "employed"}), kom_priv=None),
    10: _life(1959, 6, _span({range(2004, 2007): "A"}), "employed"),
    11: _life(1960, 7, _span({range(2003, 2009): "B"}), "employed"),
}


def rows() -> list[dict]:
    out = []
    for pid, p in PEOPLE.items():
        for y in YEARS:
            where = p["afd"].get(y)
            if where is None:
                continue
            age = y - p["born"]
            socio = p["socio"] if isinstance(p["socio"], str) else p["socio"][y]
            if age < 15:
                socio = "child"
            hh = p["hh"] if isinstance(p["hh"], int) else p["hh"][y]
            afd = None if where == "priv" else where
            lf = 18 <= age <= 64 and socio not in PENSION
            out.append({"person_id": pid, "year": y, "afdeling_id": afd, "age": age, "socio_category": socio,
                        "household_id": hh, "kom": KOM[afd] if afd else p["kom_priv"], "in_labour_force": lf,
                        "employed": socio == "employed", "non_western": False})
    return out


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    out = write_out(tmp_path_factory.mktemp("hist") / "out", rows(), AFD, base_year=2003)
    return flow_tables(out, measures={"employment": registry()["employment"]})


def _get(df: pl.DataFrame, **where) -> pl.DataFrame:
    return df.filter([pl.col(k) == v for k, v in where.items()])


def test_retention_counts_households(tables: dict[str, pl.DataFrame]) -> None:
    ret = _get(tables["retention"], level="afdeling", unit="A")
    got = {(r["year"], r["category"]): (r["households"], r["moved_out"]) for r in ret.iter_rows(named=True)}
    # 2004 (households of 31 Dec 2003: H1 H2 H4 H5): nobody moves. rs = H1 (p1), H4 (p7 student), H5 (p8)
    assert got[(2004, "all")] == (4, 0)
    assert got[(2004, "resource_strong")] == (3, 0)
    assert got[(2004, "families_with_children")] == (2, 0)  # H1 (p3 aged 5), H5 (p9 aged 16)
    # 2005 (H1 H2 H4 H5 H6): H4 (p7) leaves public housing
    assert got[(2005, "all")] == (5, 1)
    assert got[(2005, "resource_strong")] == (4, 1)
    assert got[(2005, "not_resource_strong")] == (1, 0)
    # 2006 (H1 H2 H3 H5 H6): H1 moves to B; p9 leaving H5 is a split, not a household move
    assert got[(2006, "all")] == (5, 1)
    assert got[(2006, "resource_strong")] == (3, 1)
    assert got[(2006, "families_with_children")] == (2, 1)  # H1 (p3 aged 7), H3 (p6 aged 11)
    # 2007 (H2 H3 H5 H6): H3 moves to Z; H6 (p10) dies: not a move
    assert got[(2007, "all")] == (4, 1)
    assert got[(2007, "not_resource_strong")] == (2, 1)
    assert got[(2007, "resource_strong")] == (2, 0)
    assert got[(2008, "all")] == (2, 0)
    assert _get(tables["retention"], level="afdeling", unit="A", year=2006, category="all")["exit_rate"].item() == 0.2
    # any_tool = A + B: in 2006 B adds H7 (p11) which stays
    assert _get(tables["retention"], level="group", unit="any_tool", year=2006, category="all").select(
        "households", "moved_out").row(0) == (6, 1)


def test_tenure_bands_and_left_censoring(tables: dict[str, pl.DataFrame]) -> None:
    ten = _get(tables["tenure"], level="afdeling", unit="A")
    got = {(r["year"], r["band"], r["left_censored"]): r["n"] for r in ten.iter_rows(named=True)}
    assert got == {
        (2005, "le2", True): 1,  # p7: first seen 2003 (first observed year), gone 2005: 2 years, at least
        (2006, "2to5", True): 4,  # p1 p2 p3 p9: 2003 -> 2006: 3 years, at least
        (2007, "le2", False): 2,  # p5 p6: moved in 2005, out 2007: 2 years
    }
    # p1-p3 move A -> B: out-movers of the group any_tool too
    assert _get(tables["tenure"], level="group", unit="any_tool", year=2006)["n"].sum() == 4
    assert _get(tables["tenure"], level="group", unit="fleksibel_only").height == 0


def test_destinations_and_origins(tables: dict[str, pl.DataFrame]) -> None:
    d = _get(tables["destinations"], level="afdeling", unit="A")
    got = {(r["year"], r["direction"], r["dimension"], r["category"]): r["n"] for r in d.iter_rows(named=True)}
    assert got == {
        (2004, "in", "housing", "abroad"): 1,  # p10 immigrates
        (2004, "in", "municipality", "abroad"): 1,
        (2005, "in", "housing", "outside_public_housing"): 2,  # p5 p6 from private housing in kom 101
        (2005, "in", "municipality", "same_municipality"): 2,
        (2005, "out", "housing", "outside_public_housing"): 1,  # p7 to kom 303
        (2005, "out", "municipality", "other_municipality"): 1,
        (2006, "out", "housing", "study_afdeling"): 3,  # p1-p3 to B
        (2006, "out", "housing", "outside_public_housing"): 1,  # p9, municipality unknown
        (2006, "out", "municipality", "same_municipality"): 3,
        (2006, "out", "municipality", "unknown"): 1,
        (2007, "out", "housing", "other_afdeling"): 2,  # p5 p6 to Z (kom 202)
        (2007, "out", "municipality", "other_municipality"): 2,
    }
    assert _get(d, year=2006, direction="out", category="study_afdeling")["share"].item() == 0.75
    b = _get(tables["destinations"], level="afdeling", unit="B", direction="in", dimension="housing")
    assert b.select("year", "category", "n").rows() == [(2006, "study_afdeling", 3)]


def test_trajectories_follow_residents(tables: dict[str, pl.DataFrame]) -> None:
    t = _get(tables["trajectories"], level="afdeling", unit="A", baseline_year=2004, horizon=3,
             measure="employment")
    got = {(r["status"], r["transition"]): (r["n"], r["value_base"], r["value_follow"]) for r in t.iter_rows(named=True)}
    # labour force in 2004 and 2007 (p10 died, p9 was 17 in 2004, p4 is a pensioner):
    # stayer p8 (1 -> 1); leavers p1 (1 -> 1), p2 (0 -> 1), p7 (0 -> 1)
    assert got[("stayer", "all")] == (1, 1.0, 1.0)
    n, base, follow = got[("leaver", "all")]
    assert (n, follow) == (3, 1.0) and base == pytest.approx(1 / 3)
    assert got[("leaver", "gained")][0] == 2
    assert ("stayer", "gained") not in got and ("leaver", "lost") not in got
    # horizon 5 needs 2009: no rows; horizon 1 from 2007 still fits
    assert t.filter(pl.col("horizon") == 5).height == 0
    assert _get(tables["trajectories"], baseline_year=2007, horizon=1).height > 0
    assert _get(tables["trajectories"], baseline_year=2008).height == 0
