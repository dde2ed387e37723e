"""The planted effect and truth.json, checked against the register files of two runs.

With common random numbers the run with ``--effect 0`` IS the counterfactual
of the run with ``--effect F`` (same seed), so the individual effects can be
computed a second way: join the two runs' registers by PNR and take the
difference. truth.json holds each estimator applied to afdeling-year cells of
those effects; here the cells are rebuilt from the register pair and the
estimands recomputed with att_gt and with pyfixest's feols.
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
    cols = ["PNR", "AFDELING_ID", "HELHEDSPLAN_ID", "ANVISNING", "FLEKSIBEL", "TOOL_START", "FLEX_SHARE", "lf",
            "employed", "competence", "FOED_DAG"]
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


NEITHER = pl.col("HELHEDSPLAN_ID").is_not_null() & ~pl.col("ANVISNING") & ~pl.col("FLEKSIBEL")


def _cells(rows: pl.DataFrame, diff: str, comparison: str) -> pl.DataFrame:
    """Afdeling-year cells (n, mean effect) of the treated group and the never-treated study afdelinger."""
    keep = rows.filter((GROUPS[comparison] | NEITHER) & pl.col("HELHEDSPLAN_ID").is_not_null())
    treated = GROUPS[comparison].fill_null(False)
    return (keep.with_columns(cohort=pl.when(treated).then(pl.col("TOOL_START")).otherwise(0).cast(pl.Int64),
                              dose=pl.when(treated & pl.col("FLEKSIBEL")).then(pl.col("FLEX_SHARE")).otherwise(0.0))
            .group_by("AFDELING_ID", "year", "cohort", "dose").agg(pl.col(diff).cast(pl.Float64).mean().alias("y"),
                                                                   pl.len().alias("n"))
            .with_columns(w=pl.col("n").mean().over("AFDELING_ID"),
                          post=((pl.col("cohort") > 0) & (pl.col("year") >= pl.col("cohort"))).cast(pl.Float64))
            .sort("AFDELING_ID", "year"))


def _att_gt(cells: pl.DataFrame):
    from analyses.did.att_gt import att_gt

    return att_gt(cells, outcome="y", unit="AFDELING_ID", time="year", cohort="cohort", weights="w",
                  allow_unbalanced=True)


def _feols(cells: pl.DataFrame, x: str) -> float:
    pf = pytest.importorskip("pyfixest")
    fit = pf.feols(f"y ~ {x} | AFDELING_ID + year", data=cells.to_pandas(), weights="n", weights_type="fweights")
    return float(fit.coef()[x])


def _movers(pairs: pl.DataFrame, population: str, pop: pl.Expr) -> pl.DataFrame:
    if population == "in":
        return pairs.filter(pop & pl.col("in_mover") & (pl.col("year") >= 2004))
    # out-movers of year t on their year t-1 record, dated t
    return pairs.filter(pop & pl.col("out_next") & (pl.col("year") <= 2012)).with_columns(pl.col("year") + 1)


@pytest.mark.parametrize("population", ["in", "out"])
@pytest.mark.parametrize("comparison", list(GROUPS))
@pytest.mark.parametrize(("measure", "diff", "pop"), [("employment", "d_emp", pl.col("lf")),
                                                      ("education", "d_edu", pl.col("lf") & pl.col("competence").is_not_null())])
def test_mover_truth_is_the_estimator_on_the_register_effects(treated, pairs, population, comparison, measure,
                                                              diff, pop):
    t = _truth(treated)
    cells = _cells(_movers(pairs, population, pop), diff, comparison)
    got = _value(t, measure=measure, population=population, comparison=comparison, estimator="att_gt",
                 term="simple")
    if comparison == "anvisning_only":
        assert got == 0.0
        assert _value(t, measure=measure, population=population, comparison=comparison, estimator="twfe",
                      term="treat_post") == 0.0
        return
    assert got == pytest.approx(_att_gt(cells).aggregate("simple")["att"][0], abs=1e-12)
    assert got > 0.0
    assert _value(t, measure=measure, population=population, comparison=comparison, estimator="twfe",
                  term="treat_post") == pytest.approx(_feols(cells, "post"), abs=1e-10)


@pytest.mark.parametrize("comparison", ["fleksibel_only", "any_tool"])
def test_stock_truth_by_event_time_is_the_estimator_on_the_register_effects(treated, pairs, comparison):
    t = _truth(treated)
    cells = _cells(pairs.filter(pl.col("lf") & (pl.col("year") >= 2004)), "d_emp", comparison)
    dyn = _att_gt(cells).aggregate("dynamic")
    for e, att in dyn.select("event_time", "att").iter_rows():
        got = _value(t, measure="employment", population="stock", comparison=comparison, estimator="att_gt",
                     term="dynamic", event_time=e)
        assert got == pytest.approx(att, abs=1e-12)
    assert _value(t, measure="employment", population="stock", comparison=comparison, estimator="twfe",
                  term="treat_post") == pytest.approx(_feols(cells, "post"), abs=1e-10)
    # the stock effect builds up as treated in-movers accumulate
    late = dyn.filter(pl.col("event_time") >= 3)["att"].mean()
    assert late > dyn.filter(pl.col("event_time").is_in([0, 1]))["att"].mean() >= 0


def test_dose_slope_and_in_mover_effect_match_the_planted_mechanism(treated, pairs):
    t = _truth(treated)
    for comp in ("fleksibel_only", "both", "any_tool"):
        slope = _value(t, measure="employment", population="in", comparison=comp, estimator="dose", term="dose")
        cells = _cells(_movers(pairs, "in", pl.col("lf")), "d_emp", comp).with_columns(
            dose_post=pl.col("post") * pl.col("dose"))
        assert slope == pytest.approx(_feols(cells, "dose_post"), abs=1e-10)
        # the slope of the realised effect on FLEX_SHARE is F up to which persons flip
        assert slope == pytest.approx(EFFECT, rel=0.4)
    # the mechanism itself: treated in-movers flip with mean F * FLEX_SHARE
    inn = pairs.filter(GROUPS["fleksibel_only"] & pl.col("lf") & pl.col("in_mover")
                       & (pl.col("year") >= pl.col("TOOL_START")))
    expected = EFFECT * inn["FLEX_SHARE"].mean()
    se = (expected * (1 - expected) / inn.height) ** 0.5
    assert abs(inn["d_emp"].mean() - expected) < 4 * se + 0.005
