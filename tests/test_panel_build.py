"""The build on a hand-written delivery (tests/panel_fixture.py): every value worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from panel_fixture import PERSON, SECRET, write_registers

from panel.build import build
from panel.schema import AREA_SCHEMA, MOVES_SCHEMA, PANEL_SCHEMA, scan_afdelinger, scan_moves, scan_panel
from socialmix.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("build")
    reg = write_registers(root / "reg")
    rec = build(reg, root / "out", years=(2004, 2005))
    return root / "out", rec


def row(out: Path, person: str, year: int) -> dict:
    """The panel row of a fixture person: found by its hand-known age and sex (unique per year here)."""
    born, sex, _, _ = PERSON[person]
    df = scan_panel(out, include_base=True).filter(
        (pl.col("year") == year) & (pl.col("age") == year - born.year) & (pl.col("sex") == sex)).collect()
    assert df.height == 1, (person, year, df.height)
    return df.row(0, named=True)


def pid(out: Path, person: str) -> int:
    for year in (2003, 2004, 2005):
        try:
            return row(out, person, year)["person_id"]
        except AssertionError:
            continue
    raise KeyError(person)


def test_layout_and_schemas(built: tuple[Path, dict]) -> None:
    out, _ = built
    assert (out / "panel" / "year=2004" / "part-0.parquet").is_file()
    assert (out / "panel" / "year=2005" / "part-0.parquet").is_file()
    assert not (out / "panel" / "year=2003").exists()
    assert (out / "panel_base" / "year=2003" / "part-0.parquet").is_file()
    assert pl.read_parquet(out / "panel" / "year=2004" / "part-0.parquet").schema == pl.Schema({**PANEL_SCHEMA, **AREA_SCHEMA})
    assert pl.read_parquet(out / "moves.parquet").schema == pl.Schema(MOVES_SCHEMA)
    assert scan_panel(out).collect().height == 8 + 8
    assert scan_panel(out, include_base=True).collect().height == 7 + 8 + 8


def test_person_years_2004_by_hand(built: tuple[Path, dict]) -> None:
    out, _ = built
    f = 120.0 / 90.0  # CPI 2013 / CPI 2004
    p1 = row(out, "P1", 2004)
    assert (p1["age"], p1["sex"], p1["ie_type"], p1["non_western"]) == (24, 1, 1, False)
    assert (p1["afdeling_id"], p1["helhedsplan_id"], p1["kom"]) == ("A1", "HP1", 101)
    assert (p1["education_level"], p1["competence_education"]) == ("H30", True)
    assert (p1["socio_category"], p1["in_labour_force"], p1["employed"]) == ("employed", True, True)
    assert p1["income_2013"] == pytest.approx(100_000 * f)
    assert (p1["hh_income_2013"], p1["hh_size"]) == (pytest.approx(100_000 * f), 1)

    p2 = row(out, "P2", 2004)  # immigrant from a non-Western country, H15 = grundskole
    assert (p2["non_western"], p2["education_level"], p2["competence_education"]) == (True, "H15", False)
    assert (p2["socio_category"], p2["in_labour_force"], p2["employed"]) == ("cash_benefit", True, False)

    p3, p4 = row(out, "P3", 2004), row(out, "P4", 2004)  # one family: 50 000 + no IND row (0 kr)
    assert p3["household_id"] == p4["household_id"]
    assert p3["hh_income_2013"] == p4["hh_income_2013"] == pytest.approx(50_000 * f)
    assert p3["hh_size"] == p4["hh_size"] == 2
    assert p4["income_2013"] == 0.0 and p4["age"] == 0
    assert (p3["education_level"], p3["competence_education"]) == (None, None)  # HFAUDD null
    assert (p3["socio_category"], p3["in_labour_force"], p3["employed"]) == (None, False, None)  # 999, age 14
    assert p4["non_western"] is True  # descendant, OPR_LAND 5453 non-Western

    p7 = row(out, "P7", 2004)  # born 31 Dec 1987: 17 on 31 Dec 2004, not adult
    assert (p7["age"], p7["socio_category"], p7["in_labour_force"], p7["employed"]) == (17, "education", False, False)
    assert p7["afdeling_id"] is None and p7["helhedsplan_id"] is None
    p8 = row(out, "P8", 2004)  # 64: adult, unemployed, in the labour force
    assert (p8["age"], p8["in_labour_force"], p8["employed"]) == (64, True, False)
    p9 = row(out, "P9", 2004)  # no FAMILIE_ID, no UDDA/IND/AKM rows
    assert (p9["afdeling_id"], p9["hh_size"], p9["hh_income_2013"], p9["income_2013"]) == ("A1", 1, 0.0, 0.0)
    assert (p9["education_level"], p9["in_labour_force"], p9["employed"]) == (None, None, None)
    p10 = row(out, "P10", 2004)
    assert (p10["socio_category"], p10["in_labour_force"], p10["employed"]) == ("disability_pension", False, False)
    assert (p10["education_level"], p10["competence_education"]) == ("H20", True)


def test_person_years_2005_and_base_by_hand(built: tuple[Path, dict]) -> None:
    out, _ = built
    p1, p6 = row(out, "P1", 2005), row(out, "P6", 2005)  # family F1: 120 000 + 80 000 in 2005 kr, x 120/100
    assert p1["household_id"] == p6["household_id"]
    assert p1["hh_income_2013"] == p6["hh_income_2013"] == pytest.approx(240_000.0)
    assert (p1["income_2013"], p6["income_2013"]) == (pytest.approx(144_000.0), pytest.approx(96_000.0))
    assert p1["afdeling_id"] == "A2"
    p7, p8 = row(out, "P7", 2005), row(out, "P8", 2005)
    assert (p7["age"], p7["in_labour_force"]) == (18, True)  # adult now, in education
    assert (p8["age"], p8["socio_category"], p8["in_labour_force"]) == (65, "old_age_pension", False)
    assert row(out, "P2", 2005)["competence_education"] is True  # H20 from 2005
    p5 = row(out, "P5", 2003)  # base year, CPI 120/80
    assert (p5["afdeling_id"], p5["helhedsplan_id"], p5["kom"]) == ("A3", None, 202)
    assert p5["hh_income_2013"] == pytest.approx(150_000.0)
    assert (p5["socio_category"], p5["in_labour_force"]) == ("old_age_pension", False)
    p9 = row(out, "P9", 2003)  # no address and no KOM
    assert (p9["afdeling_id"], p9["kom"]) == (None, None)
    # one person keeps one person_id across years
    assert row(out, "P1", 2003)["person_id"] == p1["person_id"]


def test_every_move_kind_by_hand(built: tuple[Path, dict]) -> None:
    out, _ = built
    got = {(r["person_id"], r["year"], r["kind"], r["from_afdeling"], r["to_afdeling"])
           for r in scan_moves(out).collect().iter_rows(named=True)}
    p = {k: pid(out, k) for k in PERSON}
    want = {
        (p["P1"], 2004, "internal", "A1", "A1"),
        (p["P2"], 2004, "into_sector", None, "A1"),
        (p["P3"], 2004, "immigration", None, "A2"),
        (p["P4"], 2004, "birth", None, "A2"),
        (p["P5"], 2004, "exit", "A3", None),
        (p["P9"], 2004, "into_sector", None, "A1"),  # from no address
        (p["P1"], 2005, "between", "A1", "A2"),
        (p["P2"], 2005, "out_of_sector", "A1", None),
        (p["P6"], 2005, "immigration", None, "A2"),
        (p["P3"], 2005, "exit", "A2", None),
    }
    assert got == want  # P10's private move and P4/P9 staying put are no events


def test_reconciliation_by_hand(built: tuple[Path, dict]) -> None:
    out, rec = built
    assert json.loads((out / "reconciliation.json").read_text()) == rec
    assert rec["panel_years"] == [2004, 2005] and rec["base_year"] == 2003
    y = rec["years"]["2004"]
    assert y["role"] == "panel" and rec["years"]["2003"]["role"] == "base"
    assert y["person_years"] == {"read": 8, "written": 8}
    assert y["registers"]["udda"] == {"read": 7, "matched": 6, "orphans": 1}
    assert y["registers"]["ind"] == {"read": 6, "matched": 6, "orphans": 0}
    lo = y["left_out"]
    assert (lo["no_udda_row"], lo["hfaudd_missing"], lo["education_unknown"]) == (2, 1, 3)
    assert (lo["no_akm_row"], lo["socio_unknown_code"], lo["socio_unknown"]) == (2, 1, 3)
    assert lo["no_ind_row"] == 2
    assert (lo["no_address"], lo["address_outside_lookup"], lo["in_public_housing"]) == (0, 3, 5)
    assert lo["adult_labour_status_unknown"] == 1
    assert y["moves"] == {"internal": 1, "between": 0, "into_sector": 2, "out_of_sector": 0, "immigration": 1,
                          "birth": 1, "exit": 1}
    y5 = rec["years"]["2005"]
    assert (y5["registers"]["ind"]["orphans"], y5["registers"]["akm"]["orphans"]) == (1, 1)
    assert rec["years"]["2003"]["left_out"]["no_address"] == 1
    assert rec["totals"]["person_years_read"] == rec["totals"]["person_years_written"] == 23
    assert rec["totals"]["unknown_codes_mapped"] == 0


def test_afdeling_table(built: tuple[Path, dict]) -> None:
    out, _ = built
    afd = scan_afdelinger(out).collect().sort("afdeling_id")
    assert afd["afdeling_id"].to_list() == ["A1", "A2", "A3"]
    assert afd["helhedsplan_id"].to_list() == ["HP1", "HP1", None]
    assert afd["fleksibel"].to_list() == [False, True, False]


def test_no_identifier_value_in_any_output(built: tuple[Path, dict]) -> None:
    out, _ = built
    for f in out.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_socio13_column_renamed_for_a_year_by_config(tmp_path: Path) -> None:
    """A statistician's config renames the AKM column for one year only; results are unchanged."""
    reg = write_registers(tmp_path / "reg", socio13_from=2005)
    cfg = tmp_path / "my.toml"
    cfg.write_text('[registers.akm.column_years]\n"2005-2005" = { SOCIO = "SOCIO13" }\n')
    build(reg, tmp_path / "out", years=(2004, 2005), config=cfg)
    df = scan_panel(tmp_path / "out").filter(pl.col("year") == 2005).collect()
    assert df["socio_category"].null_count() == 2  # P4, P9 have no AKM row in 2005
    assert sorted(df["socio_category"].drop_nulls().to_list()) == sorted(
        ["employed", "unemployed", "employed", "education", "old_age_pension", "disability_pension"])


def test_iso_date_strings_give_the_same_panel(tmp_path: Path, built: tuple[Path, dict]) -> None:
    reg = write_registers(tmp_path / "reg")
    for y in (2003, 2004, 2005):
        p = reg / "bef" / f"bef_{y}.parquet"
        pl.read_parquet(p).with_columns(pl.col("FOED_DAG").dt.strftime("%Y-%m-%d")).write_parquet(p)
    build(reg, tmp_path / "out", years=(2004, 2005))
    a = scan_panel(tmp_path / "out").collect()
    b = scan_panel(built[0]).collect()
    assert a.sort("year", "person_id").equals(b.sort("year", "person_id"))


def test_cli_build_and_rebuild_over_existing_out(tmp_path: Path) -> None:
    reg = write_registers(tmp_path / "reg")
    out = tmp_path / "out"
    assert main(["--no-progress", "build", str(reg), str(out), "--years", "2004-2005"]) == 0
    (out / "measures").mkdir()  # a later stage's output is left alone by a rebuild
    assert main(["--no-progress", "build", str(reg), str(out), "--years", "2004-2005"]) == 0
    assert (out / "measures").is_dir() and (out / "reconciliation.json").is_file()
