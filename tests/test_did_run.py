"""``run_did`` end to end on a small OUT written in the panel schema (tests/did_fixture.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from did_fixture import write_out

from analyses.did.run import run_did
from panel.errors import InputError

CONTRACT = ["estimator", "measure", "population", "comparison", "term", "event_time", "estimate", "se",
            "ci_low", "ci_high", "n_units", "n_obs"]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = write_out(tmp_path_factory.mktemp("did") / "out", effect=0.1, seed=2)
    run_did(out, bootstrap=49, seed=1)
    return out


def test_layout_and_keys(out):
    est = pl.read_csv(out / "did" / "estimates.csv")
    assert est.columns[:12] == CONTRACT
    assert set(est["estimator"]) == {"twfe", "event_study", "att_gt", "sun_abraham", "dose"}
    assert set(est.filter(pl.col("estimator") == "att_gt")["term"]) == {"simple", "dynamic", "group", "calendar",
                                                                          "cell"}
    assert set(est["population"]) == {"stock", "in", "out"}
    assert set(est["comparison"]) == {"any_tool", "anvisning_only", "fleksibel_only", "both"}
    assert est.filter(pl.col("estimator") == "event_study")["event_time"].null_count() == 0
    # dose only where the treated group uses flexible letting
    assert "anvisning_only" not in set(est.filter(pl.col("estimator") == "dose")["comparison"])
    summary = (out / "did" / "summary.txt").read_text()
    assert "pre-trend test event_study" in summary and "pre-trend test att_gt" in summary
    assert (out / "did" / "disclosure_report.csv").exists()


def _get(est: pl.DataFrame, **key) -> dict:
    rows = est.filter(*[pl.col(k) == v for k, v in key.items()], pl.col("event_time").is_null())
    assert rows.height == 1, key
    return rows.row(0, named=True)


@pytest.mark.parametrize("population", ["stock", "in"])
@pytest.mark.parametrize(("comparison", "truth"), [("fleksibel_only", 0.1), ("anvisning_only", 0.0)])
@pytest.mark.parametrize(("estimator", "term"), [("twfe", "treat_post"), ("att_gt", "simple")])
def test_planted_employment_effect_within_3_se(out, population, comparison, truth, estimator, term):
    est = pl.read_csv(out / "did" / "estimates.csv")
    r = _get(est, estimator=estimator, term=term, measure="employment", population=population,
             comparison=comparison)
    assert abs(r["estimate"] - truth) < 3 * r["se"], r
    assert r["ci_low"] < r["estimate"] < r["ci_high"]


def test_strict_profile_leaves_out_and_reports(tmp_path):
    # the OUT's rules are the safe profile (as `measures --profile safe` writes them): did applies them
    out = write_out(tmp_path / "out", effect=0.0, seed=3, residents=10, movers=2, profile="safe")
    cfg = tmp_path / "did.toml"
    cfg.write_text('[run]\nmeasures = ["employment"]\npopulations = ["stock"]\n'
                   'estimators = ["twfe", "att_gt"]\n')
    run_did(out, bootstrap=0, config=cfg)
    est = pl.read_csv(out / "did" / "estimates.csv")
    rep = pl.read_csv(out / "did" / "disclosure_report.csv")
    reasons = pl.read_csv(out / "did" / "internal" / "disclosure_reasons.csv")
    assert est.height == 0  # at most 5 control clusters < 10
    assert rep.height == reasons.height > 0 and set(rep["rule"]) == {"withheld"}  # the public file hides why
    assert set(reasons["rule"]) == {"min_clusters"}


def test_failure_leaves_no_partial_output(tmp_path):
    out = write_out(tmp_path / "out", effect=0.0, seed=4, residents=5, movers=1)
    (out / "afdeling.parquet").unlink()
    with pytest.raises(InputError):
        run_did(out, bootstrap=0)
    assert not (out / "did").exists()


def test_a_second_run_writes_the_same_files(out, tmp_path):
    """Float sums by fsum and sorted inputs: the estimates repeat to the bit (they differed at ~1e-14 before)."""
    import shutil

    again = tmp_path / "again"
    shutil.copytree(out, again)
    shutil.rmtree(again / "did")
    run_did(again, bootstrap=49, seed=1)
    for name in ("estimates.csv", "summary.txt", "disclosure_report.csv"):
        assert (again / "did" / name).read_bytes() == (out / "did" / name).read_bytes(), name
