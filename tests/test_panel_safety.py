"""The build refuses what `check` refuses, and a join that silently loses a register's rows (issue 16)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from secure_fixture import write_delivery

from panel.build import build
from panel.check import preflight
from panel.errors import InputError
from socialmix.cli import main
from socialmix.synth import generate

YEARS = (2005, 2007)


@pytest.fixture(scope="module")
def synth_reg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reg = tmp_path_factory.mktemp("synth") / "reg"
    generate(reg, persons=3000, seed=3, effect=0)
    return reg


@pytest.fixture
def reg(synth_reg: Path, tmp_path: Path) -> Path:
    r = tmp_path / "reg"
    shutil.copytree(synth_reg, r)
    return r


def test_pnr_stored_as_a_number_stops_check_build_and_run(reg: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Today `check` exits 1 but `build` exits 0 and a third of 2006's persons get 0 kr."""
    p = reg / "ind" / "ind_2006.parquet"
    ind = pl.read_parquet(p)
    assert ind["PNR"].str.starts_with("0").sum() > 500  # the synthetic PNRs have leading zeros, as DST's do
    ind.with_columns(pl.col("PNR").cast(pl.Int64)).write_parquet(p)
    assert main(["--no-progress", "check", str(reg), "--years", "2005-2007"]) == 1
    capsys.readouterr()
    out = tmp_path / "out"
    for argv in (["build", str(reg), str(out), "--years", "2005-2007"],
                 ["run", str(reg), str(out), "--years", "2005-2007"]):
        assert main(["--no-progress", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert "ind_2006.parquet: column PNR: is a number here" in err and "leading zeros" in err
        assert not out.exists()
    assert "0101" not in err  # no identifier value


def _strip_leading_zeros(reg: Path, year: int) -> tuple[int, int, int, int]:
    """PNRs of IND ``year`` delivered as text without their leading zero (a number written back as text).

    Returns (IND rows, IND rows that lose their BEF person, BEF persons, BEF persons without an IND row after),
    counted here on the files, independently of the build.
    """
    p = reg / "ind" / f"ind_{year}.parquet"
    ind = pl.read_parquet(p)
    bef = pl.read_parquet(reg / "bef" / f"bef_{year}.parquet", columns=["PNR"])
    fixed = ind.with_columns(pl.col("PNR").str.strip_chars_start("0"))
    fixed.write_parquet(p)
    orphans = fixed.join(bef, on="PNR", how="anti").height
    without = bef.join(fixed, on="PNR", how="anti").height
    return ind.height, orphans, bef.height, without


def test_join_losing_a_third_of_a_register_stops_the_build_with_counts(reg: Path, tmp_path: Path) -> None:
    rows, orphans, persons, without = _strip_leading_zeros(reg, 2006)
    assert preflight(reg, years=YEARS).can_run  # text PNRs: the footers look fine
    assert orphans / rows > 0.2
    with pytest.raises(InputError) as exc:
        build(reg, tmp_path / "out", years=YEARS)
    err = exc.value
    assert err.file is not None and err.file.endswith("ind_2006.parquet") and err.column == "PNR"
    assert f"{orphans:,} of {rows:,} rows have no person in BEF 2006" in str(err)
    assert "[join_loss.ind] max_orphans" in str(err)
    assert not (tmp_path / "out").exists()
    # a user who knows the delivery raises the limit in the register config, and the losses are reconciled
    cfg = tmp_path / "loose.toml"
    cfg.write_text("[join_loss.ind]\nmax_orphans = 0.5\nmax_without_row = 0.5\n")
    rec = build(reg, tmp_path / "out", years=YEARS, config=cfg)
    assert rec["years"]["2006"]["registers"]["ind"]["orphans"] == orphans
    assert rec["years"]["2006"]["left_out"]["no_ind_row"] == without


def test_persons_without_a_row_beyond_the_limit_stop_the_build(reg: Path, tmp_path: Path) -> None:
    p = reg / "akm" / "akm_2005.parquet"
    akm = pl.read_parquet(p)
    keep = akm.filter(pl.int_range(pl.len()) % 10 != 0)  # every tenth person of AKM 2005 lost
    keep.write_parquet(p)
    persons = pl.read_parquet(reg / "bef" / "bef_2005.parquet", columns=["PNR"])
    without = persons.join(keep, on="PNR", how="anti").height
    with pytest.raises(InputError, match=rf"akm_2005.parquet: column PNR: {without:,} of {persons.height:,} "
                                         r"persons of BEF 2005 have no row here \(\d+\.\d%; the register config "
                                         r"allows 5%, \[join_loss.akm\] max_without_row\)"):
        build(reg, tmp_path / "out", years=YEARS)


def test_join_loss_limits_are_checked_as_shares(reg: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[join_loss.ind]\nmax_orphans = 5\n")
    with pytest.raises(Exception, match=r"bad.toml: \[join_loss.ind\] max_orphans = 5: must be a share"):
        build(reg, tmp_path / "out", years=YEARS, config=cfg)


# ---------------------------------------------------------------- one verdict for check and build
def _edit(p: Path, f: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    f(pl.read_parquet(p)).write_parquet(p)


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "clean": lambda r: None,
    "missing year": lambda r: (r / "akm" / "akm_2005.parquet").unlink(),
    "renamed column": lambda r: _edit(r / "akm" / "akm_2007.parquet", lambda d: d.rename({"SOCIO02": "SOCIO13"})),
    "wrong type": lambda r: _edit(r / "ind" / "ind_2007.parquet",
                                  lambda d: d.with_columns(pl.lit(dt.date(2000, 1, 1)).alias("DISPON_NY"))),
    "convertible type": lambda r: _edit(r / "udda" / "udda_2005.parquet",
                                        lambda d: d.with_columns(pl.col("HFAUDD").cast(pl.String))),
    "PNR a number": lambda r: pl.DataFrame({"PNR": [101, 102, 103], "HFAUDD": [10, 20, 20]})
    .write_parquet(r / "udda" / "udda_2006.parquet"),
    "CPI gap": lambda r: (r / "lookup" / "cpi.csv").write_text("YEAR,CPI\n2004,1\n2005,1\n2007,1\n2013,1\n"),
    "empty register": lambda r: _edit(r / "ind" / "ind_2005.parquet", lambda d: d.clear()),
    "lookup missing": lambda r: (r / "lookup" / "hfaudd.csv").unlink(),
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_build_fails_exactly_where_check_fails(tmp_path: Path, case: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "reg"
    write_delivery(reg)
    MUTATIONS[case](reg)
    check_rc = main(["check", str(reg), "--years", "2005-2007"])
    build_rc = main(["--no-progress", "build", str(reg), str(tmp_path / "out"), "--years", "2005-2007"])
    capsys.readouterr()
    assert (check_rc, build_rc) == ((0, 0) if case in ("clean", "convertible type") else (1, 2))
    if build_rc == 0:
        rec = json.loads((tmp_path / "out" / "reconciliation.json").read_text())
        assert rec["totals"]["panel_person_years"] == 9  # 3 persons x 3 years


# ---------------------------------------------------------------- kill -9 (issue 19)
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX kill -9")
def test_build_after_a_killed_build_removes_its_staging(synth_reg: Path, tmp_path: Path) -> None:
    """Today the staging directories of a `socialmix build` killed with SIGKILL stay beside OUT for good."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "socialmix.cli", "--no-progress", "build", str(synth_reg), str(out),
           "--years", "2004-2013"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.staging-build-") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the build ended before it could be killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert left and all(f"-{proc.pid}-" in n for n in left if n != "out")
    assert main(["--no-progress", "build", str(synth_reg), str(out), "--years", "2004-2013"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
