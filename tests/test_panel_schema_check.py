"""A damaged OUT fails with the file, the column and the problem, before any query runs, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from panel.errors import InputError
from panel.schema import MOVES_SCHEMA, PANEL_SCHEMA, check_columns, scan_moves, scan_panel
from socialmix.cli import main
from tests.small_build import small_build


def _moves(path: Path, **cast: pl.DataType) -> Path:
    df = pl.DataFrame({"person_id": [1], "year": [2005], "kind": ["between"], "from_afdeling": ["A"],
                       "to_afdeling": ["B"]}, schema=MOVES_SCHEMA)
    df.with_columns([pl.col(c).cast(t) for c, t in cast.items()]).write_parquet(path)
    return path


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    f = tmp_path / "moves.parquet"
    pl.DataFrame({"person_id": [1], "year": [2005]}).write_parquet(f)
    with pytest.raises(InputError) as err:
        check_columns(f, MOVES_SCHEMA)
    assert str(err.value) == f"{f}: column kind: column missing"


def test_wrong_type_family_is_refused_wider_integers_are_read(tmp_path: Path) -> None:
    check_columns(_moves(tmp_path / "wide.parquet", person_id=pl.Int64, year=pl.Int16), MOVES_SCHEMA)
    f = _moves(tmp_path / "text.parquet", year=pl.String)
    with pytest.raises(InputError, match="column year: has type String, expected Int32"):
        check_columns(f, MOVES_SCHEMA)
    _moves(tmp_path / "moves.parquet", person_id=pl.Int64)
    assert scan_moves(tmp_path).collect()["person_id"].to_list() == [1]  # read, and cast to the schema's Int32
    assert scan_moves(tmp_path).collect_schema()["person_id"] == pl.Int32


def test_damaged_file_is_named(tmp_path: Path) -> None:
    f = tmp_path / "moves.parquet"
    f.write_bytes(b"PAR1 truncated")
    with pytest.raises(InputError) as err:
        scan_moves(tmp_path)
    assert str(err.value).startswith(f"{f}: not a readable parquet file")


def test_every_panel_partition_is_checked_not_only_the_first(tmp_path: Path) -> None:
    schema = {c: t for c, t in PANEL_SCHEMA.items() if c != "year"}
    for year in (2004, 2005):
        d = tmp_path / "panel" / f"year={year}"
        d.mkdir(parents=True)
        df = pl.DataFrame({c: [None] for c in schema}, schema=schema)
        (df.drop("employed") if year == 2005 else df).write_parquet(d / "part-0.parquet")
    with pytest.raises(InputError, match=r"year=2005.part-0\.parquet: column employed: column missing"):
        scan_panel(tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_build(tmp_path_factory.mktemp("schema_check"), seed=11, persons=1500)


@pytest.mark.parametrize("damage", ["drop", "retype", "garbage"])
def test_measures_on_a_damaged_partition_exit_2_and_write_nothing(
        built: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(built, out)
    part = next((out / "panel" / "year=2005").glob("*.parquet"))
    df = pl.read_parquet(part)
    if damage == "drop":
        df.drop("in_labour_force").write_parquet(part)
        expected = f"{part}: column in_labour_force: column missing"
    elif damage == "retype":
        df.with_columns(pl.col("age").cast(pl.String)).write_parquet(part)
        expected = f"{part}: column age: has type String, expected Int16"
    else:
        part.write_bytes(b"not parquet")
        expected = f"{part}: not a readable parquet file"
    assert main(["--no-progress", "measures", str(out)]) == 2
    assert expected in capsys.readouterr().err
    assert not (out / "measures").exists()
