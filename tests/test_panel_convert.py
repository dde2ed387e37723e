"""``socialmix convert`` on real SAS7BDAT files made by Debian's ``readstat`` from Stata files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from panel_fixture import write_registers

from panel.build import build
from panel.convert import convert, find_sas_files
from panel.errors import InputError
from panel.schema import scan_moves, scan_panel
from socialmix.cli import main

pyreadstat = pytest.importorskip("pyreadstat")
pd = pytest.importorskip("pandas")
READSTAT = shutil.which("readstat")
needs_readstat = pytest.mark.skipif(
    READSTAT is None, reason="Debian's readstat CLI is missing (apt-get install readstat): cannot make SAS7BDAT files")

DTA_NAME = {"bef": "bef{year}12", "udda": "udda{year}09", "ind": "ind{year}", "akm": "akm{year}"}


def to_sas(df: pl.DataFrame, target: Path) -> None:
    """Write ``df`` as Stata (dates as %td) and turn it into SAS7BDAT with the readstat CLI."""
    dta = target.with_suffix(".dta")
    pdf = df.to_pandas(use_pyarrow_extension_array=False)
    fmt = {c: "%td" for c, t in df.schema.items() if t == pl.Date}
    for c in fmt:
        pdf[c] = pd.Series(df[c].to_list(), dtype=object)  # datetime.date -> Stata %td (days)
    pyreadstat.write_dta(pdf, dta, variable_format=fmt)
    subprocess.run([READSTAT, str(dta), str(target)], check=True, capture_output=True)
    dta.unlink()


@pytest.fixture(scope="module")
def sas_delivery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if READSTAT is None:
        pytest.skip("Debian's readstat CLI is missing (apt-get install readstat): cannot make SAS7BDAT files")
    root = tmp_path_factory.mktemp("sas")
    reg = write_registers(root / "reg")
    src = root / "src"
    src.mkdir()
    for register, name in DTA_NAME.items():
        for year in (2003, 2004, 2005):
            df = pl.read_parquet(reg / register / f"{register}_{year}.parquet")
            to_sas(df, src / (name.format(year=year) + ".sas7bdat"))
    shutil.copytree(reg / "lookup", src / "lookup")
    return reg, src


@needs_readstat
def test_converted_delivery_builds_the_same_panel(sas_delivery: tuple[Path, Path], tmp_path: Path) -> None:
    reg, src = sas_delivery
    reg2 = tmp_path / "reg2"
    rows = convert(src, reg2, chunksize=3)  # several chunks per file
    assert rows["bef"] == {2003: 7, 2004: 8, 2005: 8}
    bef = pl.read_parquet(reg2 / "bef" / "bef_2004.parquet")
    assert bef.schema["FOED_DAG"] == pl.Date and bef.schema["PNR"] == pl.String
    orig = pl.read_parquet(reg / "bef" / "bef_2004.parquet")
    assert bef["FOED_DAG"].to_list() == orig["FOED_DAG"].to_list()
    assert bef["FAMILIE_ID"].null_count() == orig["FAMILIE_ID"].null_count() == 1
    build(reg, tmp_path / "a", years=(2004, 2005))
    build(reg2, tmp_path / "b", years=(2004, 2005))
    key = ["year", "person_id"]
    assert scan_panel(tmp_path / "a", include_base=True).collect().sort(key).equals(
        scan_panel(tmp_path / "b", include_base=True).collect().sort(key))
    assert scan_moves(tmp_path / "a").collect().equals(scan_moves(tmp_path / "b").collect())


@needs_readstat
def test_cli_convert_and_missing_column(sas_delivery: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, src = sas_delivery
    assert main(["--no-progress", "convert", str(src), str(tmp_path / "reg")]) == 0
    assert (tmp_path / "reg" / "akm" / "akm_2005.parquet").is_file()
    cfg = tmp_path / "c.toml"
    cfg.write_text('[registers.ind.columns]\nDISPON_NY = "DISPON_13"\n')
    out = tmp_path / "reg3"
    assert main(["--no-progress", "convert", str(src), str(out), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "ind2003.sas7bdat" in err and "column DISPON_13" in err
    assert not out.exists()


def test_sas_file_names_from_the_pattern(tmp_path: Path) -> None:
    for name in ("bef200312.sas7bdat", "BEF200412.SAS7BDAT", "bef2005.csv", "udda2005.sas7bdat"):
        (tmp_path / name).write_text("")
    found = find_sas_files(tmp_path, "bef{year}*.sas7bdat")
    assert sorted(found) == [2003, 2004]
    (tmp_path / "bef200306.sas7bdat").write_text("")
    with pytest.raises(InputError, match="two files match"):
        find_sas_files(tmp_path, "bef{year}*.sas7bdat")
