"""Segregation indices: hand-worked values, PySAL ``segregation`` parity, unit counts and disclosure."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from queries.segregation import REST_UNIT, index_values, indices, unit_counts


def test_hand_worked_two_units():
    # unit 1: 8 of 10 hold the trait, unit 2: 2 of 10. A = 10, B = 10, T = 20.
    v = index_values(np.array([8.0, 2.0]), np.array([10.0, 10.0]))
    assert v["dissimilarity"] == pytest.approx(0.5 * (abs(0.8 - 0.2) + abs(0.2 - 0.8)))
    assert v["isolation"] == pytest.approx(0.8 * 0.8 + 0.2 * 0.2)
    assert v["exposure"] == pytest.approx(0.8 * 0.2 + 0.2 * 0.8)
    e = np.log(2)  # entropy of 1/2
    ei = -(0.8 * np.log(0.8) + 0.2 * np.log(0.2))
    assert v["mutual_information"] == pytest.approx(e - ei)
    assert v["theil_h"] == pytest.approx((e - ei) / e)


def test_empty_unit_and_pure_unit():
    # a unit with no persons adds nothing; a pure unit has entropy 0 (0 ln 0 = 0)
    v = index_values(np.array([5.0, 0.0, 0.0]), np.array([5.0, 0.0, 5.0]))
    assert v["dissimilarity"] == pytest.approx(1.0)
    assert v["theil_h"] == pytest.approx(1.0)
    assert v["isolation"] == pytest.approx(1.0)
    assert v["exposure"] == pytest.approx(0.0)


def test_equals_pysal_segregation():
    seg = pytest.importorskip("segregation.singlegroup")
    rng = np.random.default_rng(3)
    for _ in range(5):
        t = rng.integers(5, 400, size=12)
        a = rng.binomial(t, rng.uniform(0.05, 0.9, size=12))
        df = __import__("pandas").DataFrame({"a": a, "t": t})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = {
                "dissimilarity": seg.Dissim(df, group_pop_var="a", total_pop_var="t").statistic,
                "theil_h": seg.Entropy(df, group_pop_var="a", total_pop_var="t").statistic,
                "isolation": seg.Isolation(df, group_pop_var="a", total_pop_var="t").statistic,
                "exposure": seg.Interaction(df, group_pop_var="a", total_pop_var="t").statistic,
            }
        ours = index_values(a, t)
        for name, value in ref.items():
            assert ours[name] == pytest.approx(value, rel=1e-10), name


def test_unit_counts_rest_of_municipality():
    panel = pl.LazyFrame({
        "kom": pl.Series([101, 101, 101, 101, 101, None], dtype=pl.Int16),
        "year": pl.Series([2010] * 6, dtype=pl.Int32),
        "afdeling_id": ["A", "A", None, None, "B", "A"],
        "non_western": [True, False, True, False, False, True],
        "age": pl.Series([30, 40, 50, 10, 20, 30], dtype=pl.Int16),
        "in_labour_force": [True, True, None, None, True, True],
        "employed": [True, False, None, None, True, True],
        "hh_income_2013": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    got = unit_counts(panel, ["non_western", "employed"]).collect().sort("trait", "unit")
    rows = {(r["trait"], r["unit"]): (r["a"], r["t"]) for r in got.iter_rows(named=True)}
    # the person without kom is in no municipality; non-public residents form one unit
    assert rows == {("employed", "A"): (1, 2), ("employed", "B"): (1, 1),
                    ("non_western", "A"): (1, 2), ("non_western", "B"): (0, 1),
                    ("non_western", REST_UNIT): (1, 2)}


def test_low_income_uses_national_median_of_adults():
    panel = pl.LazyFrame({
        "kom": pl.Series([1, 1, 2, 2, 2], dtype=pl.Int16),
        "year": pl.Series([2010] * 5, dtype=pl.Int32),
        "afdeling_id": ["A", None, "B", None, None],
        "non_western": [False] * 5,
        "age": pl.Series([30, 40, 50, 60, 5], dtype=pl.Int16),
        "in_labour_force": [True] * 5,
        "employed": [True] * 5,
        "hh_income_2013": [100.0, 300.0, 400.0, 500.0, 1.0],
    })
    # adults' median = 350; the line is 175: only the 100 kr adult is low-income; the child is not counted
    got = unit_counts(panel, ["low_income"]).collect()
    assert got["a"].sum() == 1 and got["t"].sum() == 4


def test_indices_bootstrap_is_repeatable_and_brackets():
    counts = pl.DataFrame({"kom": pl.Series([1] * 3, dtype=pl.Int16), "year": pl.Series([2010] * 3, dtype=pl.Int32),
                           "trait": ["non_western"] * 3, "unit": ["A", "B", REST_UNIT],
                           "a": [40, 5, 100], "t": [60, 50, 1000]})
    one = indices(counts, bootstrap=200, seed=1)
    two = indices(counts, bootstrap=200, seed=1)
    assert one.equals(two)
    d = one.filter(pl.col("index") == "dissimilarity").row(0, named=True)
    assert d["ci_low"] < d["value_bc"] < d["ci_high"] and d["se"] > 0
    # small units bias D upwards, so the correction lowers it
    assert d["value_bc"] < d["value"]
    assert d["n"] == 1110 and d["units"] == 3


def test_protect_withholds_small_trait_groups():
    from queries.disclosure import load_rules
    from queries.segregation import COLUMNS, protect_segregation

    counts = pl.DataFrame({"kom": pl.Series([1, 1, 2, 2], dtype=pl.Int16),
                           "year": pl.Series([2010] * 4, dtype=pl.Int32), "trait": ["non_western"] * 4,
                           "unit": ["A", REST_UNIT, "B", REST_UNIT], "a": [3, 1, 30, 20], "t": [50, 900, 60, 800]})
    table = indices(counts).with_columns(suppressed=pl.min_horizontal("A", "B") < 5).drop("A", "B")
    released, report = protect_segregation(table, rules=load_rules("dst"))
    assert released.columns == list(COLUMNS)
    kom1 = released.filter(pl.col("kom") == 1)
    # kom 1 has only 4 non-Western residents: every index withheld, no number left
    assert kom1["suppressed"].all() and kom1["value"].null_count() == kom1.height and kom1["n"].null_count() == 5
    kom2 = released.filter(pl.col("kom") == 2)
    assert not kom2["suppressed"].any() and kom2["units"].to_list() == [2] * 5
    assert report.height == 5
