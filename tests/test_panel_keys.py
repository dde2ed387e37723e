"""The integer PNR key: exact and order-preserving for digit PNRs, so a PNR-sorted delivery needs no sort."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from panel_fixture import write_registers

from panel.build import build
from panel.read import pnr_key
from panel.schema import scan_moves, scan_panel

TOP = 1 << 63


def keys(values: list[str | None]) -> list[int | None]:
    return pl.DataFrame({"PNR": values}, schema={"PNR": pl.String}).select(pnr_key("PNR"))["PNR"].to_list()


def test_digit_pnrs_get_exact_keys_worked_out_by_hand() -> None:
    # int(PNR) * 32 + len(PNR)
    assert keys(["0803730000", "123", "0123", "00123"]) == [803730000 * 32 + 10, 123 * 32 + 3, 123 * 32 + 4,
                                                            123 * 32 + 5]


def test_key_order_is_string_order_for_equally_long_pnrs() -> None:
    rng = random.Random(7)
    pnrs = sorted({"".join(rng.choice("0123456789") for _ in range(10)) for _ in range(2000)})
    k = keys(pnrs)
    assert k == sorted(k)
    assert len(set(k)) == len(pnrs)


def test_other_pnrs_are_hashed_apart_from_exact_keys() -> None:
    k = keys(["+123", "12a", "", " 123", "123456789012345678", None])
    assert all(v >= TOP for v in k[:5])  # top bit: never equal to an exact key (< 2^62)
    assert len(set(k[:5])) == 5
    assert k[5] is None


def _shuffle_rows(reg: Path, seed: int) -> None:
    """Rewrite every register file of ``reg`` with its rows in a random order."""
    for f in sorted(reg.glob("*/*_*.parquet")):
        if f.parent.name == "lookup":
            continue
        df = pl.read_parquet(f)
        df.sample(fraction=1.0, shuffle=True, seed=seed).write_parquet(f)


def _digit_pnrs(reg: Path) -> None:
    """Replace the fixture's made-up PNRs by 10-digit ones (the same in every register), rows sorted by PNR.

    The numbers are above 2^31, so none can equal a value of an Int32 panel column by chance.
    """
    files = [f for f in sorted(reg.glob("*/*_*.parquet")) if f.parent.name != "lookup"]
    names = sorted(set().union(*(pl.read_parquet(f)["PNR"].to_list() for f in files)))
    digits = {n: f"{7_000_000_000 + 7919 * i:010d}" for i, n in enumerate(names)}
    for f in files:
        pl.read_parquet(f).with_columns(pl.col("PNR").replace_strict(digits)).sort("PNR").write_parquet(f)


def test_sorted_and_shuffled_deliveries_give_the_same_panel(tmp_path: Path) -> None:
    outs = []
    for name, shuffle in (("sorted", False), ("shuffled", True)):
        reg = write_registers(tmp_path / name / "reg")
        _digit_pnrs(reg)
        if shuffle:
            _shuffle_rows(reg, seed=3)
        out = tmp_path / name / "out"
        build(reg, out, years=(2004, 2005))
        outs.append(out)
    panels = [scan_panel(o, include_base=True).collect().sort("year", "person_id") for o in outs]
    moves = [scan_moves(o).collect().sort("year", "person_id", "kind") for o in outs]
    assert panels[0].height > 0 and moves[0].height > 0
    assert panels[0].equals(panels[1])
    assert moves[0].equals(moves[1])


def test_pnr_sorted_register_is_read_without_losing_rows(tmp_path: Path) -> None:
    reg = write_registers(tmp_path / "reg")
    _digit_pnrs(reg)
    bef = pl.read_parquet(reg / "bef" / "bef_2004.parquet")
    assert bef["PNR"].is_sorted()
    rec = build(reg, tmp_path / "out", years=(2004, 2004))
    assert rec["years"]["2004"]["person_years"] == {"read": bef.height, "written": bef.height}


def test_no_pnr_or_pnr_number_in_the_outputs(tmp_path: Path) -> None:
    """The exact key is a function of the PNR: neither it nor the PNR's digits may reach an output."""
    reg = write_registers(tmp_path / "reg")
    _digit_pnrs(reg)
    build(reg, tmp_path / "out", years=(2004, 2004))
    pnrs = pl.read_parquet(reg / "bef" / "bef_2004.parquet")["PNR"]
    text = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert not any(v.encode() in text for v in pnrs)
    numbers = set(pnrs.cast(pl.Int64).to_list()) | set(keys(pnrs.to_list()))
    panel = scan_panel(tmp_path / "out").collect()
    for col in panel.columns:
        if panel[col].dtype.is_integer():
            assert not numbers & set(panel[col].drop_nulls().to_list()), col


def test_a_key_collision_is_an_error_never_a_merge(tmp_path: Path, monkeypatch) -> None:
    """A UDDA PNR given the key of another person's PNR (forced here; ~1e-6 at 6M hashed PNRs) stops the build."""
    import panel.read

    reg = write_registers(tmp_path / "reg")
    udda = pl.read_parquet(reg / "udda" / "udda_2004.parquet")
    bef = pl.read_parquet(reg / "bef" / "bef_2004.parquet")
    bef_pnr = bef.join(udda, on="PNR", how="anti")["PNR"][0]  # a BEF person without a UDDA row
    pl.concat([udda, pl.DataFrame({"PNR": ["SECRETZZ"], "HFAUDD": [udda["HFAUDD"][0]]},
                                  schema=udda.schema)]).write_parquet(reg / "udda" / "udda_2004.parquet")
    real = panel.read.pnr_key

    def key_of_bef_person(col: str) -> pl.Expr:
        target = pl.select(pl.lit(bef_pnr).alias("p")).select(real("p")).item()
        return pl.when(pl.col(col) == "SECRETZZ").then(pl.lit(target, dtype=pl.UInt64)).otherwise(real(col))

    monkeypatch.setattr(panel.read, "pnr_key", key_of_bef_person)
    with pytest.raises(RuntimeError, match="PNR hash collision"):
        build(reg, tmp_path / "out", years=(2004, 2004))
    assert not (tmp_path / "out").exists()
