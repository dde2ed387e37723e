"""Every bad input gives an InputError naming file and column, exit 2, no OUT, and no identifier value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from panel_fixture import SECRET, write_registers

from panel.build import build
from panel.errors import InputError
from panel.schema import scan_panel
from socialmix.cli import main


def _edit(path: Path, f: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    f(pl.read_parquet(path)).write_parquet(path)


def missing_year(reg: Path) -> None:
    (reg / "udda" / "udda_2005.parquet").unlink()


def missing_column(reg: Path) -> None:
    _edit(reg / "bef" / "bef_2004.parquet", lambda d: d.drop("KOEN"))


def bad_type(reg: Path) -> None:
    _edit(reg / "udda" / "udda_2004.parquet",
          lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("abc"))
                                   .otherwise(pl.col("HFAUDD").cast(pl.String)).alias("HFAUDD")))


def duplicate_pnr(reg: Path) -> None:
    _edit(reg / "ind" / "ind_2004.parquet", lambda d: pl.concat([d, d.head(1)]))


def unknown_socio(reg: Path) -> None:
    _edit(reg / "akm" / "akm_2004.parquet",
          lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) < 2).then(777).otherwise(pl.col("SOCIO02"))
                                   .cast(pl.Int16).alias("SOCIO02")))


def bad_birth_date(reg: Path) -> None:
    _edit(reg / "bef" / "bef_2003.parquet",
          lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("1975-13-45"))
                                   .otherwise(pl.col("FOED_DAG").dt.strftime("%Y-%m-%d")).alias("FOED_DAG")))


def unknown_country(reg: Path) -> None:
    _edit(reg / "bef" / "bef_2005.parquet",
          lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(9999).otherwise(pl.col("OPR_LAND"))
                                   .cast(pl.Int16).alias("OPR_LAND")))


def address_in_two_afdelinger(reg: Path) -> None:
    _edit(reg / "lookup" / "afdeling_address.parquet",
          lambda d: pl.concat([d, d.head(1).with_columns(pl.lit("A2").alias("AFDELING_ID"))]))


def unknown_hfaudd(reg: Path) -> None:
    _edit(reg / "udda" / "udda_2004.parquet",
          lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(99).otherwise(pl.col("HFAUDD"))
                                   .cast(pl.Int16).alias("HFAUDD")))


def null_pnr(reg: Path) -> None:
    _edit(reg / "akm" / "akm_2005.parquet",
          lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("PNR"))
                                   .alias("PNR")))


def missing_cpi_year(reg: Path) -> None:
    p = reg / "lookup" / "cpi.csv"
    p.write_text("\n".join(line for line in p.read_text().splitlines() if not line.startswith("2004")) + "\n")


# case, mutation, file fragment, column, words in the problem
CASES = [
    ("missing year", missing_year, "udda_2005.parquet", None, "missing"),
    ("missing column", missing_column, "bef_2004.parquet", "KOEN", "column missing"),
    ("bad type", bad_type, "udda_2004.parquet", "HFAUDD", "1 of 7 values cannot be read as int"),
    ("duplicate PNR", duplicate_pnr, "ind_2004.parquet", "PNR", "duplicate PNR"),
    ("unknown code", unknown_socio, "akm_2004.parquet", "SOCIO02", "777 (2 rows)"),
    ("bad birth date", bad_birth_date, "bef_2003.parquet", "FOED_DAG", "1 of 7 values cannot be read as date"),
    ("unknown country", unknown_country, "bef_2005.parquet", "OPR_LAND", "9999 (1 row)"),
    ("address in two afdelinger", address_in_two_afdelinger, "afdeling_address.parquet", "ADRESSE_ID",
     "1 addresses are mapped to two or more afdelinger"),
    ("unknown HFAUDD", unknown_hfaudd, "udda_2004.parquet", "HFAUDD", "99 (1 row)"),
    ("null PNR", null_pnr, "akm_2005.parquet", "PNR", "1 rows have no PNR"),
    ("missing CPI year", missing_cpi_year, "cpi.csv", "YEAR", "no CPI for year(s) 2004"),
]


@pytest.mark.parametrize(("case", "mutate", "file", "column", "problem"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, mutate: Callable[[Path], None],
                   file: str, column: str | None, problem: str) -> None:
    reg = write_registers(tmp_path / "reg")
    mutate(reg)
    out = tmp_path / "out"
    with pytest.raises(InputError) as exc:
        build(reg, out, years=(2004, 2005))
    err = exc.value
    assert err.file is not None and err.file.endswith(file)
    assert err.column == column
    assert problem in str(err)
    assert SECRET not in str(err)
    assert not out.exists()
    # CLI: one line, exit 2, no OUT, no staging directory left behind
    rc = main(["--no-progress", "build", str(reg), str(out), "--years", "2004-2005"])
    msg = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(msg.splitlines()) == 1 and file in msg and problem in msg
    assert column is None or f"column {column}" in msg
    assert SECRET not in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg"]


def test_failed_rebuild_keeps_existing_out_whole(tmp_path: Path) -> None:
    reg = write_registers(tmp_path / "reg")
    out = tmp_path / "out"
    build(reg, out, years=(2004, 2005))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    unknown_socio(reg)
    assert main(["--no-progress", "build", str(reg), str(out), "--years", "2004-2005"]) == 2
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "reg"]


def test_allow_unknown_codes_maps_and_counts(tmp_path: Path) -> None:
    reg = write_registers(tmp_path / "reg")
    unknown_socio(reg)
    unknown_hfaudd(reg)
    out = tmp_path / "out"
    rc = main(["--no-progress", "build", str(reg), str(out), "--years", "2004-2005", "--allow-unknown-codes"])
    assert rc == 0
    rec = build(reg, tmp_path / "out2", years=(2004, 2005), allow_unknown_codes=True)
    assert rec["years"]["2004"]["unknown_codes_mapped"] == {"akm.SOCIO02": 2, "udda.HFAUDD": 1}
    assert rec["totals"]["unknown_codes_mapped"] == 3
    # the first two AKM rows of 2004 are P1 (131) and P2 (330): both now unknown, like P3's 999
    lo = rec["years"]["2004"]["left_out"]
    assert (lo["socio_unknown_code"], lo["socio_unknown"]) == (3, 5)
    # the first UDDA row of 2004 is P1 (HFAUDD 30 -> 99 unknown): education unknown for one more person
    assert lo["education_unknown"] == 4
    p = scan_panel(out).filter(pl.col("year") == 2004).collect()
    assert p["socio_category"].null_count() == 5


def test_missing_lookup_file(tmp_path: Path) -> None:
    reg = write_registers(tmp_path / "reg")
    (reg / "lookup" / "country.csv").unlink()
    with pytest.raises(InputError, match="country.csv"):
        build(reg, tmp_path / "out", years=(2004, 2005))


def test_bad_config_names_the_config_file(tmp_path: Path) -> None:
    reg = write_registers(tmp_path / "reg")
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[registers.udda.types]\nHFAUDD = "integer"\n')
    rc = main(["--no-progress", "build", str(reg), str(tmp_path / "out"), "--config", str(cfg)])
    assert rc == 2
