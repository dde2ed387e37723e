"""Change of M (R segregation's mutual_difference, shapley) and the summaries per municipality type.

Expected values come from a second implementation written here: a 2x2 table with given margins and a
given odds ratio solved in closed form (the limit of IPF), and M by its definition.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from queries.municipalities import class_labels, municipality_classes, size_class
from queries.segregation_change import (
    change_pairs,
    ipf,
    municipality_change,
    mutual_difference,
    type_change,
    type_indices,
)


def m_by_hand(n) -> float:
    n = np.asarray(n, dtype=float)
    p = n / n.sum()
    total = 0.0
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            if p[i, j] > 0:
                total += p[i, j] * math.log(p[i, j] / (p[i].sum() * p[:, j].sum()))
    return total


def fit_2x2(odds: float, rows: tuple[float, float], cols: tuple[float, float]) -> np.ndarray:
    """The 2x2 table with these margins (proportions) and odds ratio: x(1-r-c+x) = odds (r-x)(c-x)."""
    r, c = rows[0], cols[0]
    # (1 - odds) x^2 + (1 - r - c + odds (r + c)) x - odds r c = 0
    qa, qb, qc = 1 - odds, 1 - r - c + odds * (r + c), -odds * r * c
    if abs(qa) < 1e-15:
        x = -qc / qb
    else:
        roots = np.roots([qa, qb, qc])
        x = next(float(z.real) for z in roots if abs(z.imag) < 1e-12 and 0 <= z.real <= min(r, c) + 1e-12)
    return np.array([[x, r - x], [c - x, 1 - r - c + x]])


def odds_ratio(n) -> float:
    n = np.asarray(n, dtype=float)
    return n[0, 0] * n[1, 1] / (n[0, 1] * n[1, 0])


def shapley_by_hand(n1, n2) -> dict[str, float]:
    """Deutsch et al.'s Shapley split with every counterfactual table solved in closed form."""
    n1, n2 = np.asarray(n1, float), np.asarray(n2, float)
    p1, p2 = n1 / n1.sum(), n2 / n2.sum()
    u1, u2 = tuple(p1.sum(1)), tuple(p2.sum(1))
    g1, g2 = tuple(p1.sum(0)), tuple(p2.sum(0))
    s1, s2 = odds_ratio(n1), odds_ratio(n2)

    def m(s, g, u):
        return m_by_hand(fit_2x2(s, u, g))

    aaa, bbb = m(s1, g1, u1), m(s2, g2, u2)
    bba, aba, baa = m(s1, g2, u2), m(s1, g1, u2), m(s1, g2, u1)
    aab, bab, abb = m(s2, g1, u1), m(s2, g2, u1), m(s2, g1, u2)
    return {"structural": 0.5 * (aab - aaa) + 0.5 * (bbb - bba),
            "group_marginal": 0.25 * (baa - aaa + bba - aba + bbb - abb + bab - aab),
            "unit_marginal": 0.25 * (aba - aaa + bba - baa + bbb - bab + abb - aab)}


def test_ipf_reaches_the_margins_and_keeps_the_odds_ratio():
    src = np.array([[30.0, 10.0], [20.0, 40.0]])
    tgt = np.array([[5.0, 15.0], [25.0, 55.0]])
    fit = ipf(src, tgt)
    assert fit.sum() == pytest.approx(src.sum())
    assert fit.sum(1) / fit.sum() == pytest.approx(tgt.sum(1) / tgt.sum(), abs=1e-10)
    assert fit.sum(0) / fit.sum() == pytest.approx(tgt.sum(0) / tgt.sum(), abs=1e-10)
    assert odds_ratio(fit) == pytest.approx(odds_ratio(src), rel=1e-9)
    want = fit_2x2(odds_ratio(src), tuple(tgt.sum(1) / tgt.sum()), tuple(tgt.sum(0) / tgt.sum()))
    assert fit / fit.sum() == pytest.approx(want, abs=1e-10)
    only_units = ipf(src, tgt, groups=False)  # group margin stays the source's
    assert only_units.sum(0) / only_units.sum() == pytest.approx(src.sum(0) / src.sum(), abs=1e-10)


@pytest.mark.parametrize(("n1", "n2"), [
    ([[30, 10], [20, 40]], [[25, 20], [15, 60]]),
    ([[8, 2], [2, 8]], [[8, 2], [4, 16]]),
    ([[100, 5], [50, 45]], [[60, 60], [10, 70]]),
])
def test_shapley_2x2_equals_closed_form(n1, n2):
    d = mutual_difference(["x", "y"], np.array(n1), ["x", "y"], np.array(n2))
    want = shapley_by_hand(n1, n2)
    assert d["M1"] == pytest.approx(m_by_hand(n1))
    assert d["M2"] == pytest.approx(m_by_hand(n2))
    for k, v in want.items():
        assert d[k] == pytest.approx(v, abs=1e-9), k
    assert d["additions"] == pytest.approx(0.0, abs=1e-12)
    assert d["removals"] == pytest.approx(0.0, abs=1e-12)
    parts = d["additions"] + d["removals"] + d["group_marginal"] + d["unit_marginal"] + d["structural"]
    assert parts == pytest.approx(d["diff"], abs=1e-9)


def test_pure_margin_change_has_no_structural_part():
    # year 2 = year 1 with the units' sizes changed only (each row scaled): the odds ratio is the same
    n1 = np.array([[30.0, 10.0], [20.0, 40.0]])
    n2 = n1 * np.array([[3.0], [1.0]])
    d = mutual_difference(["x", "y"], n1, ["x", "y"], n2)
    assert d["structural"] == pytest.approx(0.0, abs=1e-9)
    assert d["unit_marginal"] + d["group_marginal"] == pytest.approx(d["diff"], abs=1e-9)


def test_symmetric_in_the_two_years():
    n1, n2 = np.array([[30, 10], [20, 40], [5, 9]]), np.array([[25, 20], [15, 60], [7, 3]])
    a = mutual_difference(["x", "y", "z"], n1, ["x", "y", "z"], n2)
    b = mutual_difference(["x", "y", "z"], n2, ["x", "y", "z"], n1)
    for k in ("diff", "group_marginal", "unit_marginal", "structural"):
        assert a[k] == pytest.approx(-b[k], abs=1e-9), k


def test_units_in_one_year_only_are_additions_and_removals():
    # unit z exists only in year 1, unit w only in year 2; on the common units x, y nothing changes
    n1 = np.array([[30, 10], [20, 40], [50, 1]])
    n2 = np.array([[30, 10], [20, 40], [1, 50]])
    d = mutual_difference(["x", "y", "z"], n1, ["x", "y", "w"], n2)
    common = m_by_hand([[30, 10], [20, 40]])
    assert d["removals"] == pytest.approx(common - m_by_hand(n1))
    assert d["additions"] == pytest.approx(m_by_hand(n2) - common)
    for k in ("group_marginal", "unit_marginal", "structural"):
        assert d[k] == pytest.approx(0.0, abs=1e-9), k


def test_change_pairs_default_first_and_last():
    assert change_pairs([2005, 2004, 2013], []) == [(2004, 2013)]
    assert change_pairs([2004, 2008, 2013], [[2004, 2008], [2004, 2020]]) == [(2004, 2008)]


def _counts() -> pl.DataFrame:
    rows = []
    for kom, units in ((1, {"A": ((30, 40), (25, 45)), "rest": ((20, 60), (15, 75))}),
                       (2, {"B": ((8, 10), (9, 10)), "rest": ((2, 10), (1, 10))}),
                       (3, {"C": ((5, 9), (5, 9)), "rest": ((1, 9), (1, 9))})):
        for unit, ((a1, t1), (a2, t2)) in units.items():
            rows += [(kom, 2004, "non_western", unit, a1, t1), (kom, 2013, "non_western", unit, a2, t2)]
    return pl.DataFrame(rows, schema={"kom": pl.Int16, "year": pl.Int32, "trait": pl.String, "unit": pl.String,
                                      "a": pl.Int64, "t": pl.Int64}, orient="row")


def test_municipality_change_skips_withheld_and_type_parts_add_up():
    counts = _counts()
    # municipality 3 is withheld in 2013: not decomposed
    released = pl.DataFrame({"kom": [1, 1, 2, 2, 3, 3], "year": [2004, 2013] * 3, "trait": ["non_western"] * 6,
                             "suppressed": [False, False, False, False, False, True]},
                            schema_overrides={"kom": pl.Int16, "year": pl.Int32})
    ch = municipality_change(counts, released, [])
    assert sorted(ch["kom"].unique().to_list()) == [1, 2]
    k1 = {r["stat"]: r["value"] for r in ch.filter(kom=1).iter_rows(named=True)}
    assert k1["M1"] == pytest.approx(m_by_hand([[30, 10], [20, 40]]))
    assert k1["M2"] == pytest.approx(m_by_hand([[25, 20], [15, 60]]))
    classes = pl.DataFrame({"kom": [1, 2, 3], "kom_type": ["big", "big", "small"]},
                           schema_overrides={"kom": pl.Int16})
    typ = {r["stat"]: r["value"] for r in type_change(ch, classes).iter_rows(named=True)}
    k2 = {r["stat"]: r["value"] for r in ch.filter(kom=2).iter_rows(named=True)}
    # weights: persons 2004 = 100 and 20, 2013 = 120 and 20
    w1, w2 = (100 / 120, 20 / 120), (120 / 140, 20 / 140)
    assert typ["M1"] == pytest.approx(w1[0] * k1["M1"] + w1[1] * k2["M1"])
    assert typ["M2"] == pytest.approx(w2[0] * k1["M2"] + w2[1] * k2["M2"])
    parts = sum(typ[s] for s in ("additions", "removals", "group_marginal", "unit_marginal", "structural",
                                 "weights"))
    assert parts == pytest.approx(typ["M2"] - typ["M1"], abs=1e-12)
    wbar = ((w1[0] + w2[0]) / 2, (w1[1] + w2[1]) / 2)
    assert typ["structural"] == pytest.approx(wbar[0] * k1["structural"] + wbar[1] * k2["structural"])


def test_type_indices_balanced_person_weighted():
    released = pl.DataFrame({
        "kom": [1, 1, 2, 2, 3], "year": [2004, 2013, 2004, 2013, 2004], "trait": ["t"] * 5,
        "index": ["dissimilarity"] * 5, "value": [0.2, 0.3, 0.6, None, 0.9], "n": [300, 300, 100, None, 100],
        "suppressed": [False, False, False, True, False]}, schema_overrides={"kom": pl.Int16, "year": pl.Int32})
    classes = pl.DataFrame({"kom": [1, 2, 3], "kom_type": ["a", "a", "a"]}, schema_overrides={"kom": pl.Int16})
    got = type_indices(released, classes)
    # municipality 2 is withheld in 2013 and 3 has no 2013 row: only municipality 1 counts in both years
    assert got["value"].to_list() == pytest.approx([0.2, 0.3])
    assert got["municipalities"].to_list() == [1, 1]


def test_size_classes():
    assert class_labels([20000, 50000, 100000]) == ["lt20000", "20000_49999", "50000_99999", "ge100000"]
    df = pl.DataFrame({"n": [None, 19999, 20000, 100000]})
    assert df.select(size_class(pl.col("n"), [20000, 50000, 100000]))["n"].to_list() == [0, 0, 1, 3]
    panel = pl.LazyFrame({"year": [2004, 2004, 2004, 2005], "kom": pl.Series([1, 1, 2, 2], dtype=pl.Int16)})
    got = municipality_classes(panel, [2])
    assert got.select("kom", "residents", "kom_type").rows() == [(1, 2, "ge2"), (2, 1, "lt2")]
