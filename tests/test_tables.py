"""`socialmix tables OUT --format xlsx|dta` (contract §9) on a hand-written release.

The fixture is three released tables written by hand (values chosen here), so
every value read back from the workbook or the .dta files is checked against
the fixture, not against socialmix's own writer.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import polars as pl
import pyreadstat
import pytest

from panel.errors import InputError
from socialmix.cli import main
from socialmix.tables import WORKBOOK, write_tables

MEASURES = pl.DataFrame({
    "level": ["afdeling", "afdeling", "group", "group"],
    "unit": ["AF1", "AF1", "any_tool", "any_tool"],
    "year": [2010, 2010, 2010, 2010],
    "population": ["stock", "in", "stock", "stock"],
    "measure": ["education", "education", "education", "income"],
    "n": [40, None, 120, 118],
    "value": [0.625, None, 0.5, 231_500.0],
    "suppressed": [False, True, False, False],
})
COMPARISON = pl.DataFrame({
    "series": ["study", "population"], "year": [2010, 2010], "population": ["stock", "stock"],
    "measure": ["non_western", "non_western"], "n": [900, 50_000], "value": [0.25, 0.1], "suppressed": [False, False],
})
ESTIMATES = "estimator,measure,population,comparison,term,event_time,estimate,se,ci_low,ci_high,n_units,n_obs\n" \
            "twfe,education,stock,any_tool,treat_post,,0.02,0.01,0.0004,0.0396,182,14328\n"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    o = tmp_path / "OUT"
    (o / "measures").mkdir(parents=True)
    (o / "did").mkdir()
    MEASURES.write_parquet(o / "measures" / "measures.parquet")
    COMPARISON.write_parquet(o / "measures" / "comparison.parquet")
    (o / "measures" / "disclosure_rules.txt").write_text("profile dst: at least 5 persons per cell\n")
    (o / "did" / "estimates.csv").write_text(ESTIMATES)
    # the panel is microdata: it must never reach the tables
    (o / "panel").mkdir()
    pl.DataFrame({"PNR": ["0101011234"], "year": [2010]}).write_parquet(o / "panel" / "panel_2010.parquet")
    return o


def test_xlsx_holds_released_values_with_formats_and_empty_suppressed_cells(out: Path) -> None:
    assert main(["tables", str(out), "--format", "xlsx", "--lang", "da"]) == 0
    wb = openpyxl.load_workbook(out / "tables" / WORKBOOK)
    assert wb.sheetnames == ["note", "measures", "comparison", "did_estimates"]
    ws = wb["measures"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Niveau", "Enhed (afdeling eller gruppe)", "År", "Population", "Mål", "Personer", "Værdi",
                       "Diskretioneret")
    assert rows[1] == ("afdeling", "AF1", 2010, "stock", "education", 40, 0.625, "nej")
    assert rows[2] == ("afdeling", "AF1", 2010, "in", "education", None, None, "ja")  # suppressed: empty
    assert rows[4][6] == 231_500.0
    assert ws.cell(2, 7).number_format == "0.0%"        # a share in per cent
    assert ws.cell(5, 7).number_format == "#,##0"       # an income in kr
    assert ws.cell(2, 6).number_format == "#,##0"
    est = list(wb["did_estimates"].iter_rows(values_only=True))
    assert est[0][6:8] == ("Estimat", "Standardfejl")
    assert est[1][6:8] == (0.02, 0.01) and est[1][10:] == (182, 14328)
    note = [r[0] for r in wb["note"].iter_rows(values_only=True) if r[0]]
    assert "profile dst: at least 5 persons per cell" in note
    summary = {r[0]: r[1:3] for r in wb["note"].iter_rows(values_only=True) if r[0] in ("measures", "comparison")}
    assert summary == {"measures": (4, 1), "comparison": (2, 0)}
    # nothing of the panel
    texts = {str(c) for s in wb.worksheets for r in s.iter_rows(values_only=True) for c in r}
    assert "0101011234" not in texts and "PNR" not in texts


def test_dta_has_variable_and_value_labels_and_no_identifier(out: Path) -> None:
    files = write_tables(out, fmt="dta", lang="en")
    assert sorted(f.name for f in files) == ["comparison.dta", "did_estimates.dta", "did_etable.md", "did_etable.tex",
                                             "measures.dta"]
    assert "| TWFE | 2.00* |" in (out / "tables" / "did_etable.md").read_text()  # 0.02/0.01: z=2, p=0.0455
    df, meta = pyreadstat.read_dta(str(out / "tables" / "measures.dta"), apply_value_formats=True)
    assert list(df.columns) == ["level", "unit", "year", "population", "measure", "n", "value", "suppressed"]
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["n"] == "Persons" and labels["unit"] == "Unit (afdeling or group)"
    assert list(df["measure"]) == ["Competence-giving education"] * 3 + ["Household disposable income"]
    assert list(df["population"]) == ["residents", "in-movers", "residents", "residents"]
    assert list(df["suppressed"]) == ["no", "yes", "no", "no"]
    assert df["value"].tolist()[0] == 0.625 and df["value"].isna().tolist() == [False, True, False, False]
    raw, _ = pyreadstat.read_dta(str(out / "tables" / "measures.dta"))
    assert raw["measure"].tolist() == [1, 1, 1, 2]  # codes 1..k in sorted order of the names
    for f in files:
        if f.suffix != ".dta":
            continue
        _, m = pyreadstat.read_dta(str(f), metadataonly=True)
        assert not {c.lower() for c in m.column_names} & {"pnr", "familie_id", "adresse_id"}


def test_both_formats_coexist(out: Path) -> None:
    write_tables(out, fmt="xlsx")
    write_tables(out, fmt="dta")
    assert (out / "tables" / WORKBOOK).is_file() and (out / "tables" / "measures.dta").is_file()


def test_a_table_with_an_identifier_is_refused(out: Path) -> None:
    MEASURES.with_columns(PNR=pl.lit("x")).write_parquet(out / "measures" / "measures.parquet")
    with pytest.raises(InputError, match="identifier column"):
        write_tables(out, fmt="xlsx")
    assert not (out / "tables").exists()


def test_no_release_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", str(tmp_path), "--format", "dta"]) == 2
    assert "run `socialmix measures OUT` first" in capsys.readouterr().err


def test_a_table_beyond_excels_row_cap_continues_on_a_second_sheet(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socialmix.tables as tables

    monkeypatch.setattr(tables, "EXCEL_MAX_ROWS", 3)  # header + 2 rows per sheet
    write_tables(out, fmt="xlsx")
    wb = openpyxl.load_workbook(out / "tables" / WORKBOOK)
    assert wb.sheetnames[:3] == ["note", "measures", "measures_2"]
    units = [r[1] for s in ("measures", "measures_2") for r in wb[s].iter_rows(min_row=2, values_only=True)]
    assert units == ["AF1", "AF1", "any_tool", "any_tool"]
    assert wb["measures_2"].cell(1, 1).value == "Level"
