"""Planted effects end to end: synth -> build -> run_did against REG/truth.json (slow).

``socialmix.synth`` plants an effect F on in-movers to FLEKSIBEL afdelinger from
TOOL_START on and writes the true estimands. Two views:

- one realisation (F = 0.1): the headline in-mover estimates lie within 3 SE of
  the truth. Without the effect the registers ignore the tool labels
  (tests/test_synth_exchangeable.py), so estimate − truth is mean-zero sampling
  error; its spread over seeds is about 1.1–1.4 SE for fleksibel_only (CRV1 with
  ~18 treated afdelinger in six cohorts), so among the 18 rows some |z| ≥ 3 in
  about 3 of 16 seeds (measured at 100k persons). SEED is one of the others;
- the pair F = 0.1 vs F = 0 on the SAME seed (common random numbers: same
  persons, moves and counterfactual outcomes). Every estimator is linear in the
  outcome given F-free weights, so est(F) − est(0) is the estimator applied to
  Y1 − Y0 alone: it must be positive, within a fraction of an SE of the truth
  (at most 0.86 SE over 16 seeds × 18 rows), and exactly 0 where nobody is treated.
With F = 0 the 95 % intervals must cover 0 at close to the nominal rate.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

generate = pytest.importorskip("socialmix.synth").generate
build = pytest.importorskip("panel.build").build

from analyses.did.run import run_did  # noqa: E402

KEYS = ["measure", "population", "comparison", "estimator", "term", "event_time"]
CONFIG = """
[run]
measures = ["employment", "education"]
populations = ["stock", "in"]
estimators = ["twfe", "att_gt", "dose"]
[att_gt]
cells = false
"""
PERSONS = 100_000
SEED = 3
EFFECT = 0.1
HEADLINE = (pl.col("population") == "in") & pl.col("comparison").is_in(["fleksibel_only", "any_tool", "both"]) \
    & pl.col("term").is_in(["simple", "treat_post", "dose"])


def pipeline(tmp: Path, *, persons: int, seed: int, effect: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    reg, out = tmp / f"reg{seed}_{effect}", tmp / f"out{seed}_{effect}"
    generate(reg, persons=persons, seed=seed, effect=effect)
    build(reg, out, years=(2004, 2013))
    cfg = tmp / "did.toml"
    cfg.write_text(CONFIG)
    run_did(out, bootstrap=0, config=cfg)
    truth = pl.DataFrame(json.loads((reg / "truth.json").read_text())["estimands"], infer_schema_length=None)
    est = pl.read_csv(out / "did" / "estimates.csv").filter(pl.col("cohort").is_null() & pl.col("time").is_null())
    return truth, est


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    truth, est = pipeline(tmp, persons=PERSONS, seed=SEED, effect=EFFECT)
    _, est0 = pipeline(tmp, persons=PERSONS, seed=SEED, effect=0.0)
    return truth, est, est0


@pytest.mark.slow
def test_planted_effect_within_3_se(pair):
    truth, est, _ = pair
    j = truth.filter(HEADLINE).join(est, on=KEYS, how="inner", nulls_equal=True)
    assert j.height == 18  # twfe, att_gt simple, dose x employment, education x three comparisons
    z = ((j["estimate"] - j["value"]) / j["se"]).abs()
    assert (z < 3).all(), j.select(KEYS + ["value", "estimate", "se"])
    # Not asserted here: that every fleksibel_only estimate of one realisation is positive. At 100k persons
    # (~18 treated afdelinger) the truth is 0.5-1.5 SE from zero (measured), so a realisation may land below zero by
    # sampling error alone (this seed's employment estimates did once the registers were written in PNR
    # order, which re-dealt the random draws). That the effect is found is the paired test below: with common
    # random numbers est(F) - est(0) is the estimator applied to Y1 - Y0 alone, positive in every row.


@pytest.mark.slow
def test_estimates_move_with_the_planted_effect_by_the_truth(pair):
    truth, est, est0 = pair
    d = est.join(est0.select(KEYS + [pl.col("estimate").alias("estimate0")]), on=KEYS, how="inner",
                 nulls_equal=True).with_columns(diff=pl.col("estimate") - pl.col("estimate0"))
    assert d.height == est.height == est0.height
    head = truth.filter(HEADLINE).join(d, on=KEYS, how="inner", nulls_equal=True)
    assert head.height == 18
    assert head["diff"].min() > 0
    off = ((head["diff"] - head["value"]).abs() / head["se"])
    assert (off < 1).all(), head.select(KEYS + ["value", "diff", "se"])
    # dose: the slope of the effect on FLEX_SHARE is F (documented truth) up to which persons flip
    # (0.63 F .. 1.37 F over 16 seeds)
    dose = head.filter(pl.col("estimator") == "dose")
    assert ((dose["diff"] - EFFECT).abs() < 0.4 * EFFECT).all(), dose.select(KEYS + ["diff"])
    # nobody is treated in anvisning_only or neither afdelinger: their contrasts do not move at all
    anv = d.filter(pl.col("comparison") == "anvisning_only")
    assert anv.height >= 8 and anv["diff"].abs().max() < 1e-12


@pytest.mark.slow
def test_no_effect_coverage(tmp_path):
    covered, total = 0, 0
    for seed in range(1, 5):
        _, est = pipeline(tmp_path, persons=6_000, seed=seed, effect=0.0)
        head = est.filter(pl.col("term").is_in(["simple", "treat_post"]))
        covered += int(((head["ci_low"] <= 0) & (head["ci_high"] >= 0)).sum())
        total += head.height
    assert total >= 40
    assert 0.85 <= covered / total <= 1.0, (covered, total)
