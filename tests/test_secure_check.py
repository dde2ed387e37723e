"""`socialmix check`: the preflight on hand-written register fixtures (missing year, renamed column, wrong type)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from secure_fixture import write_delivery

from panel.check import preflight
from socialmix.cli import main

YEARS = (2005, 2007)  # reads 2004..2007


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    r = tmp_path / "reg"
    write_delivery(r)
    return r


def supported(pf, year: int, analysis: str) -> bool:
    row = pf.support.filter((pl.col("year") == year) & (pl.col("analysis") == analysis))
    assert row.height == 1
    return bool(row["supported"][0])


def test_clean_delivery_can_run(reg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pf = preflight(reg, years=YEARS)
    assert pf.can_run
    assert {f.status for f in pf.files} == {"ok"}
    # every contract analysis; the area criteria need optional inputs this fixture lacks
    assert pf.support.filter(~pl.col("analysis").str.starts_with("area_"))["supported"].all()
    assert not pf.support.filter(pl.col("analysis").str.starts_with("area_"))["supported"].any()
    # 4 registers x 4 years + 5 lookups; row counts from the footer = 3 per register file
    assert len(pf.files) == 21
    assert {f.rows for f in pf.files if f.year is not None} == {3}
    assert [f.rows for f in pf.files if f.register == "lookup:cpi"] == [14]
    assert main(["check", str(reg), "--years", "2005-2007"]) == 0
    out = capsys.readouterr().out
    assert "SOCIO=SOCIO02" in out  # the column the config resolved for AKM 2004-2008
    assert "can run" in out


def test_missing_akm_year_loses_employment_for_that_year_and_next_out_movers(reg: Path) -> None:
    (reg / "akm" / "akm_2005.parquet").unlink()
    pf = preflight(reg, years=YEARS)
    assert not pf.can_run
    assert pf.status("akm", 2005) == "missing"
    assert pf.status("akm", 2006) == "ok"
    for pop in ("stock", "in"):
        assert not supported(pf, 2005, f"employment:{pop}")
        assert not supported(pf, 2005, f"education:{pop}")  # labour force needs AKM
        assert supported(pf, 2006, f"employment:{pop}")
    assert not supported(pf, 2006, "employment:out")  # out-movers of 2006 are measured on 2005
    assert supported(pf, 2005, "employment:out")  # ... and those of 2005 on 2004
    assert supported(pf, 2005, "income:stock") and supported(pf, 2005, "non_western:stock")


def test_missing_bef_year_loses_panel_year_and_moves_of_that_year_and_the_next(reg: Path) -> None:
    (reg / "bef" / "bef_2006.parquet").unlink()
    pf = preflight(reg, years=YEARS)
    got = {(y, a): supported(pf, y, a) for y in range(2005, 2008) for a in ("panel", "moves")}
    assert got == {(2005, "panel"): True, (2005, "moves"): True, (2006, "panel"): False,
                   (2006, "moves"): False, (2007, "panel"): True, (2007, "moves"): False}
    assert not supported(pf, 2007, "income:in") and not supported(pf, 2007, "income:out")
    assert supported(pf, 2007, "income:stock")


def test_renamed_column_is_reported_with_a_hint_and_fixed_by_config(reg: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # DST delivered 2007 with the new name although the shipped config expects SOCIO02 until 2008
    p = reg / "akm" / "akm_2007.parquet"
    pl.read_parquet(p).rename({"SOCIO02": "SOCIO13"}).write_parquet(p)
    pf = preflight(reg, years=YEARS)
    bad = [f for f in pf.files if f.register == "akm" and f.year == 2007][0]
    assert bad.status == "error"
    assert any("SOCIO02 missing" in p and "SOCIO13" in p for p in bad.problems)
    assert main(["check", str(reg), "--years", "2005-2007"]) == 1
    assert "SOCIO02 missing" in capsys.readouterr().out
    cfg = tmp_path / "fix.toml"
    cfg.write_text('[registers.akm.column_years]\n"2007-2007" = { SOCIO = "SOCIO13" }\n')
    pf = preflight(reg, years=YEARS, config=cfg)
    assert pf.can_run
    assert [f.resolved for f in pf.files if f.register == "akm" and f.year == 2007] == [{"SOCIO": "SOCIO13"}]


def test_wrong_type_is_an_error_and_a_convertible_type_a_note(reg: Path) -> None:
    p = reg / "bef" / "bef_2006.parquet"
    pl.read_parquet(p).with_columns(pl.col("KOEN").cast(pl.Boolean)).write_parquet(p)  # bool is read as int
    p = reg / "ind" / "ind_2007.parquet"
    pl.read_parquet(p).with_columns(pl.lit(dt.date(2000, 1, 1)).alias("DISPON_NY")).write_parquet(p)
    p = reg / "udda" / "udda_2005.parquet"
    pl.read_parquet(p).with_columns(pl.col("HFAUDD").cast(pl.String)).write_parquet(p)
    pf = preflight(reg, years=YEARS)
    assert pf.status("bef", 2006) == "note"
    assert pf.status("udda", 2005) == "note"
    assert pf.status("ind", 2007) == "error"
    ind = [f for f in pf.files if f.register == "ind" and f.year == 2007][0]
    assert ind.problems == ["column DISPON_NY is Date, config wants float"]
    assert not pf.can_run
    assert not supported(pf, 2007, "income:stock") and supported(pf, 2007, "employment:stock")


def test_missing_cpi_year_and_lookup(reg: Path) -> None:
    (reg / "lookup" / "cpi.csv").write_text("YEAR,CPI\n2004,1\n2005,1\n2007,1\n")
    pf = preflight(reg, years=YEARS)
    assert not pf.can_run
    assert not supported(pf, 2006, "income:stock") and not supported(pf, 2007, "income:out")
    assert supported(pf, 2007, "income:stock")
    (reg / "lookup" / "afdeling_address.parquet").unlink()
    pf = preflight(reg, years=YEARS)
    assert not pf.support["supported"].any()


def test_check_reads_no_data_pages(reg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a, **k):
        raise AssertionError("the preflight must not read register data")

    monkeypatch.setattr(pl, "read_parquet", boom)
    monkeypatch.setattr(pl, "scan_parquet", boom)
    assert preflight(reg, years=YEARS).can_run


def test_missing_register_folder_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_pnr_as_a_number_in_one_register_is_an_error(reg: Path) -> None:
    p = reg / "udda" / "udda_2006.parquet"
    pl.DataFrame({"PNR": [101, 102, 103], "HFAUDD": [10, 20, 20]}).write_parquet(p)
    pf = preflight(reg, years=YEARS)
    assert pf.status("udda", 2006) == "error"
    assert sum(f.status == "error" for f in pf.files) == 1  # the 15 text-PNR files are fine
    assert not pf.can_run
