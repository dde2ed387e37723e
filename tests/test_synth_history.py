"""`socialmix synth --years`: any span of 1985-2023, the AKM code column named by the register config.

The expected names come from the contract's DST history (SOCIO02 to 2008, SOCIO13 from 2009) and from a
user config written here, not from the code under test; the build must then read the long delivery.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from panel.build import build
from panel.errors import SocialmixError
from socialmix.synth import generate


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """1985-2023, with a user config naming the AKM column SOCIO before 1991 (an older delivery)."""
    root = tmp_path_factory.mktemp("history")
    cfg = root / "registers.toml"
    cfg.write_text('[registers.akm.column_years]\n"-1990" = { SOCIO = "SOCIO" }\n')
    reg = root / "reg"
    generate(reg, persons=3000, seed=3, effect=0.05, years=(1985, 2023), register_config=cfg)
    return reg, cfg


def test_every_register_year_written(history):
    reg, _ = history
    for name in ("bef", "udda", "ind", "akm"):
        years = sorted(int(p.stem.split("_")[1]) for p in (reg / name).glob("*.parquet"))
        assert years == list(range(1985, 2024)), name
    cpi = pl.read_csv(reg / "lookup" / "cpi.csv")
    assert cpi["YEAR"].to_list() == list(range(1985, 2024))
    assert cpi["CPI"].is_sorted()  # prices only rose over 1985-2023
    assert json.loads((reg / "truth.json").read_text())["estimands"]


def test_akm_column_follows_the_config(history):
    reg, _ = history
    want = {1985: "SOCIO", 1990: "SOCIO", 1991: "SOCIO02", 2001: "SOCIO02", 2008: "SOCIO02", 2009: "SOCIO13",
            2023: "SOCIO13"}
    for year, col in want.items():
        assert pl.read_parquet_schema(reg / "akm" / f"akm_{year}.parquet").names() == ["PNR", col], year


def test_persons_keep_their_pnr_across_the_span(history):
    reg, _ = history
    first = pl.read_parquet(reg / "bef" / "bef_1985.parquet", columns=["PNR", "FOED_DAG"])
    last = pl.read_parquet(reg / "bef" / "bef_2023.parquet", columns=["PNR", "FOED_DAG"])
    both = first.join(last, on="PNR")
    assert both.height > 0 and (both["FOED_DAG"] == both["FOED_DAG_right"]).all()
    assert last["FOED_DAG"].dt.year().max() == 2023  # births of the last year are written


def test_build_reads_the_long_history(history, tmp_path):
    reg, cfg = history
    rec = build(reg, tmp_path / "out", years=(1986, 2023), config=cfg)
    assert rec["panel_years"] == [1986, 2023] and rec["base_year"] == 1985
    for y in (1986, 1990, 1991, 2009, 2023):  # socio categories known in each column's years
        assert rec["years"][str(y)]["left_out"]["socio_unknown"] < rec["years"][str(y)]["person_years"]["written"]
    panel = pl.scan_parquet(tmp_path / "out" / "panel" / "*" / "*.parquet", hive_partitioning=True)
    years = panel.select(pl.col("year").unique().sort()).collect()["year"].to_list()
    assert years == list(range(1986, 2024))


def test_years_outside_the_span_fail(tmp_path):
    with pytest.raises(SocialmixError, match="1985-2023"):
        generate(tmp_path / "r", persons=1000, seed=1, effect=0.0, years=(1984, 2000))
