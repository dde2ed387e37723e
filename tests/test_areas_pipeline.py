"""The areas stage on a real synthetic build: layout, an independent recomputation, errors and disclosure."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from panel.build import build
from panel.errors import InputError
from queries.areas.evaluate import AREA_COLUMNS
from queries.areas.run import run_areas
from queries.disclosure import load_rules
from socialmix.synth import generate


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("areas")
    generate(root / "reg", persons=20000, seed=3, effect=0)
    build(root / "reg", root / "out", years=(2004, 2006))
    run_areas(root / "out", rules=load_rules("dst"))
    return root / "reg", root / "out"


def test_layout_and_rule_versions(built):
    _, out = built
    areas = pl.read_parquet(out / "areas" / "areas.parquet")
    assert areas.columns == list(AREA_COLUMNS)
    assert set(areas["rule"]) == {"2015", "2018", "kombineret_pre2009", "kombineret_2009"}
    assert set(areas["year"]) == {2004, 2005, 2006}
    assert set(areas.filter(pl.col("rule") == "2018")["status"]) <= {"none", "udsat", "ghetto", "haardeste"}
    assert set(areas.filter(pl.col("rule") == "2015")["status"]) <= {"none", "listed"}
    assert (out / "areas" / "areas.csv").is_file() and (out / "areas" / "afdelinger.parquet").is_file()


def test_non_western_share_recomputed_from_the_registers(built):
    reg, out = built
    # independent of panel/: BEF 2005 -> address -> afdeling -> boligomraade, non-Western by IE_TYPE/OPR_LAND
    bef = pl.read_parquet(reg / "bef" / "bef_2005.parquet")
    addr = pl.read_parquet(reg / "lookup" / "afdeling_address.parquet")
    afd = pl.read_parquet(reg / "lookup" / "afdeling.parquet")
    country = pl.read_csv(reg / "lookup" / "country.csv")
    rows = (bef.join(addr, on="ADRESSE_ID").join(afd.select("AFDELING_ID", "BOLIGOMRAADE_ID"), on="AFDELING_ID")
            .join(country, on="OPR_LAND", how="left")
            .with_columns(nw=pl.col("IE_TYPE").is_in([2, 3]) & ~pl.col("WESTERN").cast(pl.Boolean)))
    expected = rows.group_by("BOLIGOMRAADE_ID").agg(pl.len().alias("n"), pl.col("nw").mean().alias("share"))
    got = (pl.read_parquet(out / "areas" / "areas.parquet")
           .filter((pl.col("rule") == "2015") & (pl.col("year") == 2005) & pl.col("non_western_origin").is_not_null())
           .join(expected, left_on="area", right_on="BOLIGOMRAADE_ID"))
    assert got.height > 10
    assert (got["residents"] == got["n"]).all()
    assert ((got["non_western_origin"] - got["share"]).abs() < 1e-12).all()


def test_no_published_criterion_rests_on_few_persons(built):
    _, out = built
    areas = pl.read_parquet(out / "areas" / "areas.parquet")
    assert areas.filter(~pl.col("suppressed") & (pl.col("residents") < 5)).height == 0
    # a non-Western share is k / residents: a published one never reveals 1-4 persons on either side
    k = (areas["non_western_origin"] * areas["residents"]).round(6)
    small = areas.filter(((k > 0) & (k < 5)) | ((areas["residents"] - k > 0) & (areas["residents"] - k < 5)))
    assert small["non_western_origin"].is_not_null().sum() == 0


def test_delivery_without_area_column_is_a_clear_error(built, tmp_path):
    reg, _ = built
    reg2 = tmp_path / "reg"
    shutil.copytree(reg, reg2)
    afd = pl.read_parquet(reg2 / "lookup" / "afdeling.parquet").drop("BOLIGOMRAADE_ID")
    afd.write_parquet(reg2 / "lookup" / "afdeling.parquet")
    build(reg2, tmp_path / "out", years=(2004, 2004))  # an older delivery still builds
    with pytest.raises(InputError, match="BOLIGOMRAADE_ID") as err:
        run_areas(tmp_path / "out", rules=load_rules("dst"))
    assert "boligomraade_id" in str(err.value)
    assert not (tmp_path / "out" / "areas").exists()


def test_conviction_register_counts_only_listed_codes(built):
    reg, out = built
    kraf = pl.read_parquet(reg / "kraf" / "kraf_2005.parquet")
    counted = kraf.filter(pl.col("AFG_GER7").is_between(1000000, 1999999) | pl.col("AFG_GER7").is_between(3200000, 3399999))
    bef = pl.read_parquet(reg / "bef" / "bef_2005.parquet", columns=["PNR"])
    expected = bef.join(counted.select("PNR").unique(), on="PNR").height
    from panel.schema import scan_panel

    got = scan_panel(out).filter(pl.col("year") == 2005).select(pl.col("convicted").sum()).collect().item()
    assert got == expected and 0 < got < bef.height


def test_check_reports_which_criteria_a_delivery_supports(built, tmp_path):
    from panel.check import preflight

    reg, _ = built
    full = preflight(reg, years=(2004, 2006)).support.filter(pl.col("analysis").str.starts_with("area_"))
    assert full.height == 3 * 5 and full["supported"].all()
    reg2 = tmp_path / "reg"
    shutil.copytree(reg, reg2)
    shutil.rmtree(reg2 / "kraf")
    (reg2 / "lookup" / "kommune_region.csv").unlink()
    got = preflight(reg2, years=(2004, 2006)).support.filter(pl.col("analysis").str.starts_with("area_"))
    why = {(r["analysis"], r["year"]): r["reason"] for r in got.iter_rows(named=True)}
    assert why[("area_convicted", 2005)] == "no KRAF 2004"
    assert why[("area_income_ratio", 2005)] == "no lookup kommune_region"
    assert why[("area_non_western_origin", 2005)] is None
    # an older delivery without the area column supports none of them, and still builds (tested above)
    afd = pl.read_parquet(reg2 / "lookup" / "afdeling.parquet").drop("BOLIGOMRAADE_ID")
    afd.write_parquet(reg2 / "lookup" / "afdeling.parquet")
    got = preflight(reg2, years=(2004, 2006)).support.filter(pl.col("analysis").str.starts_with("area_"))
    assert not got["supported"].any()
    assert set(got["reason"]) == {"no BOLIGOMRAADE_ID in the afdeling lookup"}
