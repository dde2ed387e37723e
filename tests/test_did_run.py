"""``run_did`` end to end on a small OUT written in the panel schema (tests/did_fixture.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from did_fixture import write_out

from analyses.did.columns import COLUMNS, TEST_COLUMNS
from analyses.did.run import run_did
from panel.errors import InputError, SocialmixError

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
    assert "event_study_pretrend: F(" in summary and "att_gt_pretest: chi2(" in summary
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
    for name in ("estimates.csv", "tests.csv", "summary.txt", "disclosure_report.csv"):
        assert (again / "did" / name).read_bytes() == (out / "did" / name).read_bytes(), name


# ---------------------------------------------------------------- contract §6a columns
def test_new_columns_on_every_row(out):
    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    assert est.columns == list(COLUMNS)
    with_se = est.filter(pl.col("se").is_not_null())
    for c in ("n_clusters_treated", "n_clusters_control", "df_resid", "p_value", "ci_low", "ci_high"):
        assert with_se[c].null_count() == 0, c
    assert est["n_clusters_treated"].null_count() == est["n_clusters_control"].null_count() == 0
    # p_wild: the twfe effect and the event-study terms (wild cluster restricted bootstrap)
    assert set(est.filter(pl.col("p_wild").is_not_null())["estimator"]) == {"twfe", "event_study"}
    assert est.filter((pl.col("estimator") == "twfe") & pl.col("p_wild").is_null()).height == 0
    # p_adjusted: Holm across the headline family (att_gt simple), equal to statsmodels' on the same p-values
    from statsmodels.stats.multitest import multipletests

    fam = est.filter((pl.col("estimator") == "att_gt") & (pl.col("term") == "simple") & pl.col("p_value").is_not_null())
    assert est.filter(pl.col("p_adjusted").is_not_null()).height == fam.height > 0
    assert fam["p_adjusted"].to_list() == pytest.approx(list(multipletests(fam["p_value"].to_list(), method="holm")[1]))
    # p_ri only on the headline att_gt simple rows
    assert set(est.filter(pl.col("p_ri").is_not_null())["term"]) == {"simple"}


def test_clusters_df_and_p_of_twfe_against_pyfixest(out):
    """Hand-counted clusters (fixture: fleksibel_only = afdelinger 20-34 in HP5-HP8, neither 0-19 in HP0-HP4)
    and the p-value / df of pyfixest's feols on the same weighted cells."""
    pf = pytest.importorskip("pyfixest")
    from analyses.did.run import afdeling_frame, comparison_sample, measure_cells

    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    r = _get(est, estimator="twfe", term="treat_post", measure="employment", population="stock",
             comparison="fleksibel_only")
    assert (r["n_clusters_treated"], r["n_clusters_control"]) == (4, 5)
    cells = measure_cells(out, "stock", ["employment"])
    s, _ = comparison_sample(cells, afdeling_frame(out), "fleksibel_only", "neither")
    s = s.with_columns(((pl.col("cohort") > 0) & (pl.col("year") >= pl.col("cohort"))).cast(pl.Float64)
                       .alias("post"))
    fit = pf.feols("y ~ post | afdeling_id + year", data=s.to_pandas(), weights="n", vcov={"CRV1": "cluster"},
                   weights_type="fweights")
    assert r["estimate"] == pytest.approx(fit.coef()["post"], rel=1e-10)
    assert r["p_value"] == pytest.approx(fit.pvalue()["post"], rel=1e-8)
    # N - (slope + unit effects + year effects - 1), N = person-years
    n_units, n_years = s["afdeling_id"].n_unique(), s["year"].n_unique()
    assert r["df_resid"] == int(s["n"].sum()) - (1 + n_units + n_years - 1)


def test_att_gt_pointwise_intervals_and_bands(out):
    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    a = est.filter((pl.col("estimator") == "att_gt") & pl.col("se").is_not_null())
    z = 1.959963984540054
    assert ((a["ci_high"] - (a["estimate"] + z * a["se"])).abs() < 1e-12).all()
    dyn = a.filter((pl.col("term") == "dynamic") & pl.col("event_time").is_not_null())
    # the bootstrap uniform bands (estimate +- c * bootstrap SE) sit in cb_low/cb_high, centred on the estimate
    assert dyn["cb_low"].null_count() == 0
    assert (((dyn["cb_high"] + dyn["cb_low"]) / 2 - dyn["estimate"]).abs() < 1e-12 * (1 + dyn["se"])).all()
    assert ((dyn["cb_high"] - dyn["cb_low"]) - (dyn["ci_high"] - dyn["ci_low"])).abs().max() > 1e-6


def test_ri_p_against_relabelled_att_gt(out):
    """p_ri = the share of re-dealings (same rng stream) whose re-estimated simple ATT is as large,
    recomputed here by running att_gt on relabelled data, not by the randomization module's own loop."""
    import numpy as np

    from analyses.did.att_gt import att_gt
    from analyses.did.plan import load_plan
    from analyses.did.randomization import cohort_dealer
    from analyses.did.run import Options, Sample, afdeling_frame, comparison_sample, fit_att_gt, measure_cells

    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    r = _get(est, estimator="att_gt", term="simple", measure="employment", population="in",
             comparison="any_tool")
    cells = measure_cells(out, "in", ["employment"])
    s, _ = comparison_sample(cells, afdeling_frame(out), "any_tool", "neither")
    plan = load_plan()
    res = fit_att_gt(Sample(s), plan, Options(bootstrap=0))
    ids = res.units.ids
    deal = cohort_dealer(res.units.cohort, res.units.cluster)
    rng = np.random.default_rng(plan.randomization.seed)
    obs = abs(res.aggregate("simple")["att"][0])
    hits = 0
    for _ in range(plan.randomization.permutations):
        relabel = pl.DataFrame({"afdeling_id": ids, "g_perm": deal(rng)})
        d = s.join(relabel, on="afdeling_id")
        att = att_gt(d, outcome="y", unit="afdeling_id", time="year", cohort="g_perm", weights="w_unit",
                     cluster="cluster", allow_unbalanced=True).aggregate("simple")["att"][0]
        hits += abs(att) >= obs * (1 - 1e-12)
    assert r["p_ri"] == pytest.approx((1 + hits) / (1 + plan.randomization.permutations), abs=1e-12)


def test_tests_csv_keyed_by_name(out):
    t = pl.read_csv(out / "did" / "tests.csv", infer_schema_length=None)
    assert t.columns == list(TEST_COLUMNS)
    assert set(t["test"]) == {"event_study_pretrend", "sun_abraham_pretrend", "att_gt_pretest",
                              "att_gt_pretest_randomization"}
    assert t.select(pl.struct("test", "measure", "population", "comparison").is_duplicated().any()).item() is False
    assert ((t["p_value"] >= 0) & (t["p_value"] <= 1)).all()


def test_summary_marks_few_cluster_rows(out):
    summary = (out / "did" / "summary.txt").read_text()
    assert "* = the row rests on fewer than 10 treated clusters" in summary
    # fixture: any_tool has 10 treated helhedsplaner (HP5-HP13, HPX); anvisning_only 35-49 = HP8-HP12 (5),
    # fleksibel_only 20-34 = HP5-HP8 (4), both 50-57 with a start = HP12, HP13, HPX (3)
    import re

    heads = [ln for ln in summary.splitlines() if ("treat_post" in ln or " simple " in ln) and " treated / " in ln]
    marks = {(int(re.search(r"clusters (\d+) treated", ln).group(1)), ln.startswith(" *")) for ln in heads}
    assert marks == {(10, False), (5, True), (4, True), (3, True)}, marks


def test_bad_config_fails_before_any_estimate(tmp_path):
    out = write_out(tmp_path / "out", effect=0.0, seed=5, residents=5, movers=1)
    cfg = tmp_path / "did.toml"
    cfg.write_text('[att_gt]\ncontrol = "notyet_"\n')
    with pytest.raises(InputError, match=r"did.toml: \[att_gt\] control = 'notyet_' is not one of 'never', "
                                         r"'notyet'; did you mean 'notyet'\?"):
        run_did(out, bootstrap=0, config=cfg)
    cfg.write_text('[event_study]\nwindw = [-4, 5]\n')
    with pytest.raises(SocialmixError, match=r"unknown key 'windw' in \[event_study\] \(did you mean 'window'"):
        run_did(out, bootstrap=0, config=cfg)
    assert not (out / "did").exists()


def test_cli_did_config(tmp_path):
    from socialmix.cli import main

    out = write_out(tmp_path / "out", effect=0.0, seed=6, residents=8, movers=2)
    cfg = tmp_path / "mine.toml"
    cfg.write_text('[run]\nmeasures = ["employment"]\npopulations = ["stock"]\nestimators = ["twfe"]\n')
    assert main(["did", str(out), "--config", str(cfg), "--bootstrap", "0"]) in (0, None)
    est = pl.read_csv(out / "did" / "estimates.csv")
    assert set(est["estimator"]) == {"twfe"} and set(est["measure"]) == {"employment"}


def test_headline_figure_hollow_markers_for_few_clusters():
    """Rows on fewer than 10 treated clusters get a hollow marker at exactly their estimate (x in pp)."""
    from analyses.figures import style as st
    from analyses.figures.did import headline_figure

    est = pl.DataFrame({"estimator": ["twfe", "twfe"], "measure": ["employment"] * 2, "population": ["in"] * 2,
                        "comparison": ["any_tool", "fleksibel_only"], "term": ["treat_post"] * 2,
                        "event_time": [None, None], "estimate": [0.01, 0.03], "se": [0.01, 0.02],
                        "ci_low": [-0.01, -0.01], "ci_high": [0.03, 0.07], "n_clusters_treated": [40, 6]},
                       schema_overrides={"event_time": pl.Int64})
    fig = headline_figure(est, measure="employment", kind="share", style=st.load_style())
    few = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == "twfe:few_clusters"]
    assert len(few) == 1 and list(few[0].get_xdata()) == pytest.approx([3.0])


def test_baseline_covariates_by_hand(out):
    """Fixture: panel years 2004-2010, first TOOL_START 2007, so the baseline is 2004-2006; every person in KOM 101
    and in the labour force, so employment = the mean yearly employed share."""
    from analyses.did.plan import load_plan
    from analyses.did.run import afdeling_frame, baseline_covariates

    cov = baseline_covariates(out, afdeling_frame(out), load_plan())
    panel = pl.concat([pl.read_parquet(p).with_columns(year=pl.lit(int(p.parent.name[5:])))
                       for p in sorted((out / "panel").glob("year=*/part-0.parquet"))])
    base = panel.filter(pl.col("afdeling_id").is_not_null() & (pl.col("year") < 2007))
    per_year = base.group_by("afdeling_id", "year").agg(pl.len().alias("n"), pl.col("employed").mean().alias("e"),
                                                         pl.col("non_western").mean().alias("nw"))
    want = per_year.group_by("afdeling_id").agg(pl.col("n").mean().alias("size"), pl.col("e").mean().alias("emp"),
                                                pl.col("nw").mean().alias("nwm"))
    got = cov.join(want.rename({"size": "size_hand"}), on="afdeling_id")
    assert got.height == cov.height == 60
    assert (got["size"] - got["size_hand"]).abs().max() < 1e-12
    assert (got["employment"] - got["emp"]).abs().max() < 1e-12
    assert (got["non_western"] - got["nwm"]).abs().max() < 1e-12
    # KOM 101 holds every panel person of 2004: below 20,000 residents -> class 0
    assert panel.filter(pl.col("year") == 2004).height < 20_000 and set(cov["kom_size_class"]) == {0}


@pytest.mark.parametrize(("toml", "message"), [
    ('[att_gt]\nanticipation = -1\n', "[att_gt] anticipation must be in [0, inf], got -1"),
    ('[run]\nalpha = "five"\n', "[run] alpha must be a number, got 'five'"),
    ('[run]\nmeasures = ["employmnet"]\n', "[run] measures: unknown measures ['employmnet']"),
    ('[run.weighting]\nin = "people"\n', "[run.weighting] in = 'people' is not one of 'persons', 'equal'"),
    ('[wild]\nweights = "mammen"\n', "[wild] weights = 'mammen' is not one of 'rademacher', 'webb'"),
    ('[att_gt]\ncells = "yes"\n', "[att_gt] cells must be true or false, got 'yes'"),
    ('[runn]\nalpha = 0.1\n', "unknown key 'runn' in the top level (did you mean 'run'?)"),
])
def test_plan_rejects_bad_values_naming_file_table_and_key(tmp_path, toml, message):
    from analyses.did.plan import load_plan

    cfg = tmp_path / "mine.toml"
    cfg.write_text(toml)
    with pytest.raises(SocialmixError) as err:  # InputError (values) or the loader's unknown-key error
        load_plan(cfg)
    assert str(err.value).startswith(f"{cfg}: "), err.value
    assert message in str(err.value), err.value


def test_plan_defaults_match_the_shipped_toml():
    import tomllib
    from importlib import resources

    from analyses.did.plan import load_plan

    raw = tomllib.loads(resources.files("analyses.did").joinpath("did.toml").read_text())
    plan = load_plan()
    assert plan.att_gt.control == raw["att_gt"]["control"] and plan.run.weighting.of("in") == raw["run"]["weighting"]["in"]
    assert list(plan.event_study.window) == raw["event_study"]["window"]
    assert plan.att_gt.covariates == () and plan.wild.enabled is raw["wild"]["enabled"] and plan.multiple_testing.family == "headline"


def test_bacon_csv_by_hand(out):
    """did/bacon.csv: the 2x2s of the unweighted stock TWFE, from the panel by hand (fixture: any_tool = cohort
    2007 in HP5-HP8, HP12, HP13, HPX and cohort 2008 in HP8-HP12; never treated HP0-HP4)."""
    from analyses.did import twfe
    from analyses.did.diagnostics import BACON_COLUMNS

    b = pl.read_csv(out / "did" / "bacon.csv")
    assert b.columns == list(BACON_COLUMNS) and set(b["population"]) == {"stock"}
    panel = pl.concat([pl.read_parquet(p).with_columns(year=pl.lit(int(p.parent.name[5:])))
                       for p in sorted((out / "panel").glob("year=*/part-0.parquet"))])
    idx = pl.col("afdeling_id").str.slice(1).cast(pl.Int64)
    cells = (panel.filter(pl.col("afdeling_id").is_not_null()).group_by("afdeling_id", "year")
             .agg(pl.col("employed").mean().alias("y"))
             .filter((idx < 20) | ((idx >= 20) & (idx != 58)))
             .with_columns(pl.when(idx < 20).then(0).when((idx >= 35) & (idx < 50)).then(2008).otherwise(2007)
                           .alias("g")))
    cells = cells.with_columns(((pl.col("g") > 0) & (pl.col("year") >= pl.col("g"))).cast(pl.Float64).alias("d"))
    tw = twfe(cells, outcome="y", unit="afdeling_id", time="year", treat="d").coef
    r = b.filter((pl.col("measure") == "employment") & (pl.col("comparison") == "any_tool"))
    assert r["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (r["weight"] * r["estimate"]).sum() == pytest.approx(tw, abs=1e-10)
    assert r["twfe"].to_list() == pytest.approx([tw] * r.height, abs=1e-10)
    clusters = {(t, c): (nt, nc) for t, c, nt, nc in r.select("treated", "control", "n_clusters_treated",
                                                             "n_clusters_control").iter_rows()}
    assert clusters == {(2007, 0): (7, 5), (2008, 0): (5, 5), (2007, 2008): (7, 5), (2008, 2007): (5, 7)}
    summary = (out / "did" / "summary.txt").read_text()
    assert f"goodman-bacon (unweighted TWFE {tw: .4f})" in summary
