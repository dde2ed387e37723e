"""did.toml [split.area_status]: every comparison also within listed / not listed boligområder.

Fixture (tests/did_fixture.py): 60 afdelinger; neither 0-19 (HP0-HP4), fleksibel only 20-34 (2007,
HP5-HP8), anvisning only 35-49 (2008, HP8-HP12), both 50-59. Areas written here by hand: B1 = afdelinger
0-9 and 20-31, on the 2015 list in 2005 only; B2 = 10-15 and 32-49, never listed; B3 = 16-17, no status
(withheld); 18, 19 and 50-59 in no area.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from did_fixture import write_out

from analyses.did.run import run_did
from panel.errors import InputError

B1 = [*range(0, 10), *range(20, 32)]
B2 = [*range(10, 16), *range(32, 50)]
B3 = [16, 17]
CONFIG = """
[run]
measures = ["employment"]
populations = ["stock"]
estimators = ["twfe", "att_gt"]
[att_gt]
cells = false
pretest_permutations = 0
[split.area_status]
enabled = true
version = "2015"
year = {year}
"""


def _areas(out: Path) -> None:
    afd = pl.read_parquet(out / "afdeling.parquet")
    area = {f"A{i:02d}": b for b, ids in (("B1", B1), ("B2", B2), ("B3", B3)) for i in ids}
    afd.with_columns(pl.col("afdeling_id").replace_strict(area, default=None, return_dtype=pl.String)
                     .alias("boligomraade_id")).write_parquet(out / "afdeling.parquet")
    rows = [("B1", y, "listed" if y == 2005 else "none") for y in range(2004, 2011)]
    rows += [("B2", y, "none") for y in range(2004, 2011)] + [("B3", y, None) for y in range(2004, 2011)]
    rows += [("B1", y, "none") for y in range(2004, 2011)]  # another version, to be ignored
    rule = ["2015"] * 21 + ["2018"] * 7
    (out / "areas").mkdir()
    pl.DataFrame(rows, schema={"area": pl.String, "year": pl.Int32, "status": pl.String}, orient="row").with_columns(
        rule=pl.Series(rule)).write_parquet(out / "areas" / "areas.parquet")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = write_out(tmp_path_factory.mktemp("split") / "out", effect=0.1, seed=3, residents=12, movers=2)
    _areas(out)
    cfg = out.parent / "did.toml"
    cfg.write_text(CONFIG.format(year=0))
    run_did(out, bootstrap=0, config=cfg)
    return out


def _one(est: pl.DataFrame, **key) -> dict:
    rows = est.filter(*[(pl.col(k).is_null() if v is None else pl.col(k) == v) for k, v in key.items()])
    assert rows.height == 1, key
    return rows.row(0, named=True)


def test_subset_rows_rest_on_the_hand_worked_afdelinger(out):
    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    assert est.columns[-1] == "subset"
    assert set(est["subset"].drop_nulls()) == {"area_listed_2015", "area_not_listed_2015"}
    key = dict(estimator="twfe", measure="employment", population="stock")
    # listed: treated 20-31 (HP5, HP6, HP7) and controls 0-9 (HP0, HP1, HP2)
    r = _one(est, **key, comparison="fleksibel_only", subset="area_listed_2015")
    assert (r["n_units"], r["n_clusters_treated"], r["n_clusters_control"]) == (22, 3, 3)
    # not listed: anvisning only 35-49 (HP8-HP12) against 10-15, 18, 19 (HP2, HP3, HP4); B3 in neither
    r = _one(est, **key, comparison="anvisning_only", subset="area_not_listed_2015")
    assert (r["n_units"], r["n_clusters_treated"], r["n_clusters_control"]) == (23, 5, 3)
    # not-listed fleksibel only = 32-34, one helhedsplan: withheld by the dst rule (3 clusters)
    assert est.filter((pl.col("comparison") == "fleksibel_only") & (pl.col("subset") == "area_not_listed_2015")
                      ).height == 0
    report = pl.read_csv(out / "did" / "disclosure_report.csv")
    assert report.height >= 1
    # the full comparisons are still there, without a subset
    assert _one(est, **key, comparison="fleksibel_only", subset=None)["n_units"] == 35
    # the multiple-testing family is the full comparisons' att_gt simple rows only
    adj = est.filter(pl.col("p_adjusted").is_not_null())
    assert adj["subset"].null_count() == adj.height and set(adj["term"]) == {"simple"}
    summary = (out / "did" / "summary.txt").read_text()
    assert "on the 2015 list in any pre-period year (2004-2006, before the first TOOL_START 2007) (22 study " \
           "afdelinger) and not (36;" in summary and "2 without a status left out of both" in summary
    assert "[employment | stock | fleksibel_only vs neither | area_listed_2015]" in summary


def test_subset_twfe_against_pyfixest(out):
    pf = pytest.importorskip("pyfixest")
    from analyses.did.run import afdeling_frame, comparison_sample, measure_cells

    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    r = _one(est, estimator="twfe", measure="employment", population="stock", comparison="fleksibel_only",
             subset="area_listed_2015")
    cells = measure_cells(out, "stock", ["employment"])
    s, _ = comparison_sample(cells, afdeling_frame(out), "fleksibel_only", "neither")
    s = s.filter(pl.col("afdeling_id").is_in([f"A{i:02d}" for i in B1])).with_columns(
        ((pl.col("cohort") > 0) & (pl.col("year") >= pl.col("cohort"))).cast(pl.Float64).alias("post"))
    fit = pf.feols("y ~ post | afdeling_id + year", data=s.to_pandas(), weights="n", vcov={"CRV1": "cluster"},
                   weights_type="fweights")
    assert r["estimate"] == pytest.approx(fit.coef()["post"], rel=1e-10)
    assert r["se"] == pytest.approx(fit.se()["post"], rel=1e-8)


def test_status_year_and_errors(out, tmp_path):
    cfg = tmp_path / "did.toml"
    cfg.write_text(CONFIG.format(year=2008))  # B1 is not listed in 2008: the listed subset is empty
    run_did(out, bootstrap=0, config=cfg)
    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    assert set(est["subset"].drop_nulls()) == {"area_not_listed_2015"}
    assert "| area_listed_2015]\n  not estimable" in (out / "did" / "summary.txt").read_text()
    cfg.write_text(CONFIG.format(year=0).replace('version = "2015"', 'version = "2099"'))
    with pytest.raises(InputError, match=r"version '2099' is not in the area table \(versions: 2015, 2018\)"):
        run_did(out, bootstrap=0, config=cfg)
    bare = write_out(tmp_path / "bare", effect=0.0, seed=4, residents=5, movers=1)
    cfg.write_text(CONFIG.format(year=0))
    with pytest.raises(InputError, match="run 'socialmix areas OUT' first"):
        run_did(bare, bootstrap=0, config=cfg)
