"""Area list statuses on a hand-made fixture: every status worked out by hand (tests/areas_fixture.py)."""

from __future__ import annotations

import polars as pl
import pytest

from panel.errors import InputError
from queries.areas.evaluate import AREA_COLUMNS, evaluate
from queries.areas.rules import load_rule, parse_rule, shipped_versions
from tests.areas_fixture import persons


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return persons()


def statuses(table: pl.DataFrame) -> dict[tuple[str, int], str]:
    return {(r["area"], r["year"]): r["status"] for r in table.iter_rows(named=True)}


def test_shipped_versions():
    assert {"2015", "2018", "kombineret_2009", "kombineret_pre2009"} <= set(shipped_versions())


def test_2015_rules(people):
    # A: 2010 nw .55, basic incl. unknown .55, income .5 (owe and convictions lack 2009: not met) -> 3 of 5;
    # 2011 owe mean(.42,.39)=.405 -> 4; 2012 owe .415, basic .62 only -> 2; 2013 owe .44, conv .03 > .027,
    # basic .62, income .5 -> 4. B: 999 residents < 1,000. C: nw .6, basic .7, income .4 (+ owe .422 from 2011).
    table, _ = evaluate(people, load_rule("2015"), min_persons=5)
    assert table.columns == list(AREA_COLUMNS)
    assert statuses(table) == {
        ("A", 2010): "listed", ("A", 2011): "listed", ("A", 2012): "none", ("A", 2013): "listed",
        ("B", 2010): "none", ("B", 2011): "none", ("B", 2012): "none", ("B", 2013): "none",
        ("C", 2010): "listed", ("C", 2011): "listed", ("C", 2012): "listed", ("C", 2013): "listed",
    }
    a = {r["year"]: r for r in table.filter(pl.col("area") == "A").iter_rows(named=True)}
    assert a[2010]["outside_work_education"] is None  # 2-year mean needs 2009
    assert a[2011]["outside_work_education"] == pytest.approx(0.405)
    assert a[2012]["convicted"] == pytest.approx(0.025) and a[2012]["convicted_met"] is False
    assert a[2013]["convicted"] == pytest.approx(0.030) and a[2013]["convicted_met"] is True
    assert a[2010]["basic_education"] == pytest.approx(0.55)  # 450 grundskole + 100 unknown of 1,000
    assert a[2012]["income_ratio"] == pytest.approx(0.6)
    assert a[2010]["residents"] == 1000


def test_2018_rules(people):
    # national conviction share 1.0 / 0.9 / 1.0 / 1.0 %, so 3x the 2-year mean is 2.85 % in 2011-2012 and
    # exactly 3.0 % in 2013 (A's 3.0 % meets ">= 3x"). Basic education excludes unknowns: A 2010 450/900 = .5.
    # A: 2010 income only -> none; 2011 owe + income -> udsat + nw -> ghetto; 2012 owe + basic -> udsat (nw .45);
    # 2013 owe, basic, income, conv -> udsat. C: basic .7 + income .4 -> udsat, nw .6 -> ghetto every year,
    # the fourth year running in 2013 -> haardeste.
    table, _ = evaluate(people, load_rule("2018"), min_persons=5)
    assert statuses(table) == {
        ("A", 2010): "none", ("A", 2011): "ghetto", ("A", 2012): "udsat", ("A", 2013): "udsat",
        ("B", 2010): "none", ("B", 2011): "none", ("B", 2012): "none", ("B", 2013): "none",
        ("C", 2010): "ghetto", ("C", 2011): "ghetto", ("C", 2012): "ghetto", ("C", 2013): "haardeste",
    }
    a13 = table.filter((pl.col("area") == "A") & (pl.col("year") == 2013)).row(0, named=True)
    assert a13["convicted_met"] is True and a13["basic_education"] == pytest.approx(0.62)


def test_haardeste_needs_four_observed_years(people):
    # without 2010 in the data C has only three ghetto years by 2013
    table, _ = evaluate(people.filter(pl.col("year") > 2010), load_rule("2018"), min_persons=5)
    assert statuses(table)[("C", 2013)] == "ghetto"


def test_kombineret_udlejning(people):
    # from 2009: >= 1,000 residents and >= 40 % outside (yearly): A .42 / .39 / .44 / .44, C .422; B too small.
    new, _ = evaluate(people, load_rule("kombineret_2009"), min_persons=5)
    assert statuses(new) == {
        ("A", 2010): "eligible", ("A", 2011): "none", ("A", 2012): "eligible", ("A", 2013): "eligible",
        ("B", 2010): "none", ("B", 2011): "none", ("B", 2012): "none", ("B", 2013): "none",
        ("C", 2010): "eligible", ("C", 2011): "eligible", ("C", 2012): "eligible", ("C", 2013): "eligible",
    }
    # before 2009: >= 1,200 residents (only C) and one afdeling >= 50 %: C1 is 360/800 = .45 until 2013,
    # 416/800 = .52 in 2013
    old, afd = evaluate(people, load_rule("kombineret_pre2009"), min_persons=5)
    got = statuses(old)
    assert [got[("C", y)] for y in (2010, 2011, 2012, 2013)] == ["none", "none", "none", "eligible"]
    assert all(got[(a, y)] == "none" for a in "AB" for y in (2010, 2011, 2012, 2013))
    # the afdeling table: flags only, C1 meets >= 40 % every year, C2 (.39) only... never; in 2013 .31
    flags = {(r["afdeling"], r["year"]): r["outside_work_education_met"] for r in afd.iter_rows(named=True)}
    assert flags[("C1", 2010)] is True and flags[("C2", 2010)] is False and flags[("C2", 2013)] is False
    assert "outside_work_education" not in afd.columns


def test_small_counts_are_withheld(people):
    # raise the threshold above A's 20 convicted of 2011: its 2-year conviction value is withheld in 2011
    # and 2012 (the windows that include 2011), and B's income etc. stay
    table, _ = evaluate(people, load_rule("2015"), min_persons=25)
    a = {r["year"]: r for r in table.filter(pl.col("area") == "A").iter_rows(named=True)}
    assert a[2011]["convicted"] is None and a[2012]["convicted"] is None and a[2011]["suppressed"]
    assert a[2013]["convicted"] == pytest.approx(0.030)
    # C has 0 convicted: a share of 0 with n >= threshold is published
    c = table.filter((pl.col("area") == "C") & (pl.col("year") == 2013)).row(0, named=True)
    assert c["convicted"] == pytest.approx(0.0)


def test_rule_files_are_validated(tmp_path):
    with pytest.raises(InputError, match="did you mean 'threshold'"):
        parse_rule({"name": "x", "criteria": {"convicted": {"treshold": 0.1}}}, file="x.toml")
    with pytest.raises(InputError, match="unknown criterion 'convictd'"):
        parse_rule({"name": "x", "criteria": {"convictd": {"threshold": 0.1}}}, file="x.toml")
    with pytest.raises(InputError, match="refers to 'ghetto'"):
        parse_rule({"name": "x", "criteria": {}, "status": [{"name": "a", "requires": ["ghetto"]}]}, file="x.toml")
    with pytest.raises(InputError, match="unknown rule version"):
        load_rule("2099")


def test_user_version_from_file(tmp_path, people):
    f = tmp_path / "strict.toml"
    f.write_text('name = "strict"\nmin_residents = 500\n[criteria.non_western_origin]\ncompare = ">"\n'
                 'threshold = 0.58\n[[status]]\nname = "listed"\nneeded = 1\nof = ["non_western_origin"]\n')
    table, _ = evaluate(people, load_rule(f), min_persons=5)
    got = statuses(table)
    # B (999 >= 500, nw .6006) and C (.6) listed; A (.55) not
    assert got[("B", 2010)] == "listed" and got[("C", 2010)] == "listed" and got[("A", 2010)] == "none"
    assert table["rule"].unique().to_list() == ["strict"]


def test_class_rule_withholds_zero_shares_of_few_persons(people):
    # C has no convicted resident: with a class threshold above its 1,500 residents the 0 % is withheld
    table, _ = evaluate(people, load_rule("2015"), min_persons=5, class_min_n=2000)
    c = table.filter((pl.col("area") == "C") & (pl.col("year") == 2013)).row(0, named=True)
    assert c["convicted"] is None and c["suppressed"]
    table, _ = evaluate(people, load_rule("2015"), min_persons=5, class_min_n=1000)
    c = table.filter((pl.col("area") == "C") & (pl.col("year") == 2013)).row(0, named=True)
    assert c["convicted"] == pytest.approx(0.0)
