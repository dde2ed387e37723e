"""The planted effect and truth.json, checked against the register files of two runs.

With common random numbers the run with ``--effect 0`` IS the counterfactual
of the run with ``--effect F`` (same seed), so the sample ATT can be computed a
second way: join the two runs' registers by PNR and average the difference.
"""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest
from synth_fixture import EFFECT, SMALL_PERSONS, person_year, registers

from socialmix.synth import generate

PAIR_PERSONS = 40_000
SEED = 3
GROUPS = {
    "fleksibel_only": ~pl.col("ANVISNING") & pl.col("FLEKSIBEL"),
    "both": pl.col("ANVISNING") & pl.col("FLEKSIBEL"),
    "any_tool": pl.col("ANVISNING") | pl.col("FLEKSIBEL"),
    "anvisning_only": pl.col("ANVISNING") & ~pl.col("FLEKSIBEL"),
}


def _digest(reg) -> dict[str, str]:
    return {str(p.relative_to(reg)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(reg.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def treated():
    return registers(PAIR_PERSONS, SEED, EFFECT)


@pytest.fixture(scope="module")
def control():
    return registers(PAIR_PERSONS, SEED, 0.0)


def _truth(reg) -> pl.DataFrame:
    return pl.DataFrame(json.loads((reg / "truth.json").read_text())["estimands"])


def _value(t: pl.DataFrame, **key) -> float:
    rows = t.filter(*[pl.col(k).eq_missing(v) for k, v in key.items()])
    assert rows.height == 1, key
    return rows["value"][0]


@pytest.fixture(scope="module")
def pairs(treated, control):
    """Person-years of both runs side by side, with in-mover and out-mover flags."""
    cols = ["PNR", "AFDELING_ID", "ANVISNING", "FLEKSIBEL", "TOOL_START", "FLEX_SHARE", "lf", "employed",
            "competence", "FOED_DAG"]
    frames = []
    for y in range(2003, 2014):
        a = person_year(treated, y).select(cols)
        b = person_year(control, y).select("PNR", employed0="employed", competence0="competence", lf0="lf")
        frames.append(a.join(b, on="PNR", how="left", validate="1:1").with_columns(year=pl.lit(y)))
    d = pl.concat(frames).sort("PNR", "year")
    prev = pl.col("AFDELING_ID").shift(1).over("PNR")
    present_before = (pl.col("year").shift(1).over("PNR") == pl.col("year") - 1)
    born = pl.col("FOED_DAG").dt.year() == pl.col("year")
    nxt = pl.col("AFDELING_ID").shift(-1).over("PNR")
    present_after = (pl.col("year").shift(-1).over("PNR") == pl.col("year") + 1)
    return d.with_columns(
        in_mover=pl.col("AFDELING_ID").is_not_null() & pl.when(present_before).then(prev.ne_missing(pl.col("AFDELING_ID")))
        .otherwise(~born),
        out_next=pl.col("AFDELING_ID").is_not_null() & present_after & nxt.ne_missing(pl.col("AFDELING_ID")),
        d_emp=pl.col("employed").cast(pl.Int8) - pl.col("employed0").cast(pl.Int8),
        d_edu=pl.col("competence").cast(pl.Int8) - pl.col("competence0").cast(pl.Int8),
    )


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    reg = registers(SMALL_PERSONS, 11, EFFECT)
    again = tmp_path / "again"
    generate(again, persons=SMALL_PERSONS, seed=11, effect=EFFECT)
    assert _digest(again) == _digest(reg)
    other = tmp_path / "other"
    generate(other, persons=SMALL_PERSONS, seed=12, effect=EFFECT)
    assert _digest(other)["bef/bef_2003.parquet"] != _digest(reg)["bef/bef_2003.parquet"]


def test_effect_changes_only_outcomes_after_the_first_tool_year(treated, control):
    a, b = _digest(treated), _digest(control)
    assert a.keys() == b.keys()
    differ = {k for k in a if a[k] != b[k]}
    assert all(k.startswith(("akm/", "udda/")) or k == "truth.json" for k in differ), differ
    assert len({f"akm/akm_{y}.parquet" for y in range(2006, 2014)} & differ) >= 6
    assert not {f"akm/akm_{y}.parquet" for y in range(2003, 2006)} & differ


def test_zero_effect_truth_is_all_zero(control):
    t = json.loads((control / "truth.json").read_text())
    assert t["effect"] == 0.0
    assert t["estimands"] and all(r["value"] == 0.0 for r in t["estimands"])


def test_effect_only_flips_upwards_and_only_treated_in_movers(pairs):
    assert (pairs["lf"] == pairs["lf0"]).all()
    assert pairs["d_emp"].min() == 0 and pairs["d_emp"].max() == 1
    assert pairs["d_edu"].drop_nulls().min() == 0
    flipped = pairs.filter((pl.col("d_emp") == 1) | (pl.col("d_edu") == 1))
    assert flipped["FLEKSIBEL"].all()
    assert (flipped["year"] >= flipped["TOOL_START"]).all()


@pytest.mark.parametrize("comparison", list(GROUPS))
@pytest.mark.parametrize(("measure", "diff", "pop"), [("employment", "d_emp", pl.col("lf")),
                                                      ("education", "d_edu", pl.col("lf") & pl.col("competence").is_not_null())])
def test_in_and_out_mover_truth_equals_the_register_difference(treated, pairs, comparison, measure, diff, pop):
    t = _truth(treated)
    grp = pairs.filter(GROUPS[comparison] & pl.col("AFDELING_ID").is_not_null() & pop)
    inn = grp.filter(pl.col("in_mover") & (pl.col("year") >= pl.col("TOOL_START")) & (pl.col("year") >= 2004))
    want = inn[diff].mean()
    got = _value(t, measure=measure, population="in", comparison=comparison, estimator="att_gt", term="simple")
    assert got == pytest.approx(want, abs=1e-12)
    assert _value(t, measure=measure, population="in", comparison=comparison, estimator="twfe",
                  term="treat_post") == got
    out = grp.filter(pl.col("out_next") & (pl.col("year") + 1 >= pl.col("TOOL_START")) & (pl.col("year") <= 2012))
    got_out = _value(t, measure=measure, population="out", comparison=comparison, estimator="att_gt", term="simple")
    assert got_out == pytest.approx(out[diff].mean(), abs=1e-12)
    if comparison == "anvisning_only":
        assert got == 0.0 and got_out == 0.0
    else:
        assert got > 0.0


@pytest.mark.parametrize("comparison", ["fleksibel_only", "any_tool"])
def test_stock_truth_by_event_time_equals_the_register_difference(treated, pairs, comparison):
    t = _truth(treated)
    cells = (pairs.filter(GROUPS[comparison] & pl.col("lf") & (pl.col("year") >= 2004))
             .group_by("AFDELING_ID", "year", "TOOL_START").agg(pl.col("d_emp").mean(), n=pl.len())
             .with_columns(e=pl.col("year") - pl.col("TOOL_START")))
    # afdeling-year share differences weighted by the afdeling-year's labour force
    wmean = (pl.col("d_emp") * pl.col("n")).sum() / pl.col("n").sum()
    by_e = cells.group_by("e").agg(wmean).sort("e")
    for e, want in by_e.iter_rows():
        for est, term in (("event_study", "event"), ("att_gt", "dynamic")):
            got = _value(t, measure="employment", population="stock", comparison=comparison, estimator=est,
                         term=term, event_time=e)
            assert got == pytest.approx(want, abs=1e-12)
    post = cells.filter(pl.col("e") >= 0).select(wmean).item()
    assert _value(t, measure="employment", population="stock", comparison=comparison, estimator="twfe",
                  term="treat_post") == pytest.approx(post, abs=1e-12)
    overall = by_e.filter(pl.col("e") >= 0)["d_emp"].mean()
    assert _value(t, measure="employment", population="stock", comparison=comparison, estimator="att_gt",
                  term="dynamic", event_time=None) == pytest.approx(overall, abs=1e-12)
    # the stock effect builds up as treated in-movers accumulate
    late = by_e.filter(pl.col("e") >= 3)["d_emp"].mean()
    assert late > by_e.filter(pl.col("e").is_in([0, 1]))["d_emp"].mean() >= 0


def test_dose_slope_and_in_mover_att_match_the_planted_mechanism(treated, pairs):
    t = _truth(treated)
    for comp in ("fleksibel_only", "both", "any_tool"):
        slope = _value(t, measure="employment", population="in", comparison=comp, estimator="dose", term="dose")
        assert slope == pytest.approx(EFFECT, abs=0.003)
    inn = pairs.filter(GROUPS["fleksibel_only"] & pl.col("lf") & pl.col("in_mover")
                       & (pl.col("year") >= pl.col("TOOL_START")))
    expected = EFFECT * inn["FLEX_SHARE"].mean()
    att = _value(t, measure="employment", population="in", comparison="fleksibel_only", estimator="att_gt",
                 term="simple")
    # sampling noise of a Bernoulli mean over these in-movers, about 4 standard errors
    se = (expected * (1 - expected) / inn.height) ** 0.5
    assert abs(att - expected) < 4 * se + 0.005
