"""Levels, trends and move rates of the synthetic registers, computed directly from the files.

Targets (docs/synthetic.md): in the study afdelinger, competence-giving education
of the labour force 45-55 % in 2004 rising about 5 points to 2013; employment
60-68 %; household disposable income of adults 220-270k (2013 kr), of persons 18+ 140-165k; non-Western
20-35 % and rising, against 7-10 % nationally. About 15 % of public-housing
residents move each year, about 40 % of moves out of an afdeling go to another.
Tolerances are a little wider than the targets to allow for sampling noise at
this size (about 16 000 study-afdeling residents).
"""

from __future__ import annotations

import polars as pl
import pytest
from synth_fixture import EFFECT, MID_PERSONS, levels, person_year, registers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reg():
    return registers(MID_PERSONS, 5, EFFECT)


@pytest.fixture(scope="module")
def study_levels(reg):
    return {y: levels(person_year(reg, y).filter(pl.col("study"))) for y in range(2004, 2014)}


def test_education_level_and_trend(study_levels):
    assert 0.44 <= study_levels[2004]["education"] <= 0.56
    rise = study_levels[2013]["education"] - study_levels[2004]["education"]
    assert 0.02 <= rise <= 0.09


def test_employment_level(study_levels):
    for y, lv in study_levels.items():
        assert 0.58 <= lv["employment"] <= 0.70, y
    mean = sum(lv["employment"] for lv in study_levels.values()) / len(study_levels)
    assert 0.60 <= mean <= 0.68


def test_household_income_level(study_levels):
    # 1.55 x the first calibration, whose 150-170k was seed 002 figure 2.8 read as household income
    assert 220_000 <= study_levels[2013]["income"] <= 270_000


def test_personal_income_18plus_level(reg):
    """Seed 002 figure 2.8: mean disposable income of persons 18+ in the supported areas,
    146,800 kr (1994) and 157,500 kr (2013), 2013 prices."""
    for y in (2004, 2013):
        d = person_year(reg, y).filter(pl.col("study") & (pl.col("age") >= 18))
        assert 138_000 <= d["inc"].mean() <= 168_000, y


def test_non_western_share_study_vs_national(reg, study_levels):
    for lv in study_levels.values():
        assert 0.19 <= lv["non_western"] <= 0.36
    assert study_levels[2013]["non_western"] > study_levels[2004]["non_western"]
    for y in (2004, 2013):
        nat = person_year(reg, y)["non_western"].mean()
        assert 0.06 <= nat <= 0.11, y


def test_public_housing_share_and_study_levels_below_national(reg, study_levels):
    d = person_year(reg, 2008)
    assert 0.19 <= d["AFDELING_ID"].is_not_null().mean() <= 0.21
    nat = levels(d)
    assert nat["employment"] > study_levels[2008]["employment"] + 0.07
    assert nat["education"] > study_levels[2008]["education"] + 0.07
    assert nat["income"] > study_levels[2008]["income"] * 1.1


@pytest.fixture(scope="module")
def transitions(reg):
    """Consecutive-year pairs of every person present in both years."""
    cols = ["PNR", "AFDELING_ID", "ADRESSE_ID", "lf", "employed", "hh_income", "adult"]
    frames = []
    for y in range(2004, 2014):
        a = person_year(reg, y - 1).select(cols).rename({c: f"{c}_0" for c in cols if c != "PNR"})
        b = person_year(reg, y).select(cols).rename({c: f"{c}_1" for c in cols if c != "PNR"})
        frames.append(a.join(b, on="PNR", how="inner").with_columns(year=pl.lit(y)))
    return pl.concat(frames)


def test_move_rates(transitions):
    pub = transitions.filter(pl.col("AFDELING_ID_0").is_not_null())
    moved = (pub["ADRESSE_ID_0"] != pub["ADRESSE_ID_1"]).fill_null(True)
    assert 0.13 <= moved.mean() <= 0.17
    out = pub.filter(pl.col("AFDELING_ID_1").is_null() | (pl.col("AFDELING_ID_1") != pl.col("AFDELING_ID_0")))
    between = out["AFDELING_ID_1"].is_not_null().mean()
    assert 0.35 <= between <= 0.45
    internal = pub.filter((pl.col("AFDELING_ID_1") == pl.col("AFDELING_ID_0"))
                          & (pl.col("ADRESSE_ID_1") != pl.col("ADRESSE_ID_0")))
    assert 0.01 <= internal.height / pub.height <= 0.05


def test_in_movers_weaker_than_out_movers(transitions):
    changed = pl.col("AFDELING_ID_1").ne_missing(pl.col("AFDELING_ID_0"))
    out = transitions.filter(pl.col("AFDELING_ID_0").is_not_null() & changed)
    inn = transitions.filter(pl.col("AFDELING_ID_1").is_not_null() & changed)
    out_emp = out.filter(pl.col("lf_0"))["employed_0"].mean()
    in_emp = inn.filter(pl.col("lf_1"))["employed_1"].mean()
    assert 0.0 < out_emp - in_emp < 0.08
    out_inc = out.filter(pl.col("adult_0"))["hh_income_0"].mean()
    in_inc = inn.filter(pl.col("adult_1"))["hh_income_1"].mean()
    assert 0.0 < out_inc - in_inc < 0.15 * out_inc


def test_population_ages_dies_is_born_and_migrates(reg):
    first, last = person_year(reg, 2003), person_year(reg, 2013)
    assert 0.95 < last.height / first.height < 1.08
    born = last.filter(pl.col("FOED_DAG").dt.year() > 2003)
    assert 0.08 < born.height / last.height < 0.14
    gone = first.join(last, on="PNR", how="anti")
    assert 0.12 < gone.height / first.height < 0.20
    arrived = last.join(first, on="PNR", how="anti").filter(pl.col("FOED_DAG").dt.year() <= 2003)
    assert 0.02 < arrived.height / last.height < 0.09
    assert (arrived["IE_TYPE"] == 2).mean() > 0.9
    ages = last["age"]
    assert 0.19 < (ages < 18).mean() < 0.25 and 0.14 < (ages >= 65).mean() < 0.20


def test_families_form_and_split(reg):
    a = person_year(reg, 2007).select("PNR", "FAMILIE_ID")
    b = person_year(reg, 2008).select("PNR", "FAMILIE_ID")
    pairs = a.join(b, on="PNR", suffix="_1")
    changed = (pairs["FAMILIE_ID"] != pairs["FAMILIE_ID_1"]).mean()
    assert 0.01 < changed < 0.08
    sizes = person_year(reg, 2008).group_by("FAMILIE_ID").len()["len"]
    assert 1.7 < sizes.mean() < 2.4 and sizes.max() >= 5


def test_akm_codes_plausible_by_age(reg):
    d = person_year(reg, 2010).filter(pl.col("SOCIO").is_not_null() & ~pl.col("SOCIO").is_in([0, 999]))
    assert (d.filter(pl.col("age") < 15)["SOCIO"] == 420).all()
    old = d.filter(pl.col("age") >= 65)["SOCIO"]
    assert (old == 322).mean() > 0.9
    adults = d.filter(pl.col("adult"))["SOCIO"]
    for code in (210, 220, 310, 321, 323, 330, 410):
        assert (adults == code).mean() > 0.003, code
    unknown = person_year(reg, 2010)["SOCIO"].is_in([0, 999]).mean()
    assert 0.001 < unknown < 0.01


def test_study_levels_hold_when_study_afdelinger_are_a_small_share_of_public_housing(tmp_path):
    """At 5.9M persons the 365 study afdelinger hold about 8 % of public housing, at demo
    sizes most of it; the levels must not depend on that share. Emulated at 200k persons
    by making afdelinger smaller and the study set smaller (study share ~12 %)."""
    from socialmix.synth import generate

    override = tmp_path / "scale.toml"
    override.write_text("[housing]\nstudy_scale_floor = 0.2\nafdelinger_full_scale = 29500\n")
    reg = tmp_path / "reg"
    generate(reg, persons=200_000, seed=9, effect=0.0, config=override)
    afd = pl.read_parquet(reg / "lookup" / "afdeling.parquet")
    assert afd["HELHEDSPLAN_ID"].is_not_null().sum() == 73 and afd.height == 1000
    first, last = (levels(person_year(reg, y).filter(pl.col("study"))) for y in (2004, 2013))
    assert 0.43 <= first["education"] <= 0.56 and 0.02 <= last["education"] - first["education"] <= 0.09
    for lv in (first, last):
        # 0.56 (was 0.58): the stronger sorting that brings the study tier's Danish-origin share towards
        # seed 002's 52 % (2013) also lowers its employment at the full-scale share (measured 0.577 in 2013)
        assert 0.56 <= lv["employment"] <= 0.70
        assert 215_000 <= lv["income"] <= 275_000
        assert 0.19 <= lv["non_western"] <= 0.36
    assert last["non_western"] > first["non_western"]
