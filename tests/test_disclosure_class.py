"""Class disclosure: a share of exactly 0 or 1 in a small cell is withheld, and protected like a small cell.

Hand-worked fixture, dst profile (min_persons 5, class_min_n 10), relation g = a + b + c:

    cell  n   value  share?  expected
    g     31  ~0.52  yes     published: two of its parts are hidden, so neither can be subtracted out
    a      6  1.0    yes     withheld (primary): "all 6 have the trait", 6 < 10
    b     12  0.25   yes     withheld (complementary): the smallest published part of g, else a = g - b - c
    c     13  0.5    yes     published
    e     10  0.0    yes     published: 10 persons reach class_min_n
    f      9  0.0    yes     withheld (primary): 9 < 10
    h      9  0.0    no      published: a mean of 0 kr is not a share (no class rule)
    k      4  0.5    yes     withheld (primary): fewer than 5 persons
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from queries.disclosure import SHARE_FLAG, Relation, check_released, load_rules, protect

N = {"a": 6, "b": 12, "c": 13}
V = {"a": 1.0, "b": 0.25, "c": 0.5}
G_VALUE = sum(N[u] * V[u] for u in N) / sum(N.values())  # (6 + 3 + 6.5) / 31


def table() -> pl.DataFrame:
    rows = [("g", 31, G_VALUE, True), ("a", 6, 1.0, True), ("b", 12, 0.25, True), ("c", 13, 0.5, True),
            ("e", 10, 0.0, True), ("f", 9, 0.0, True), ("h", 9, 0.0, False), ("k", 4, 0.5, True)]
    return pl.DataFrame(rows, schema={"unit": pl.String, "n": pl.Int64, "value": pl.Float64, SHARE_FLAG: pl.Boolean},
                        orient="row")


REL = [Relation(total={"unit": "g"}, parts=[{"unit": u} for u in "abc"], name="g")]


def test_hand_worked_class_suppression() -> None:
    released, report = protect(table(), rules=load_rules("dst"), key=["unit"], relations=REL, name="t")
    hidden = dict(released.select("unit", "suppressed").iter_rows())
    assert hidden == {"g": False, "a": True, "b": True, "c": False, "e": False, "f": True, "h": False, "k": True}
    assert SHARE_FLAG not in released.columns  # the marker never reaches a released table
    why = {c.removeprefix("unit="): (r, d) for c, r, d in report.select("cell", "rule", "detail").iter_rows()}
    assert why["a"] == ("primary", "share of 0 or 1 with fewer than 10 persons (class disclosure)")
    assert why["f"][1].endswith("(class disclosure)")
    assert why["b"][0] == "complementary"
    assert why["k"] == ("primary", "fewer than 5 persons")
    assert set(why) == {"a", "b", "f", "k"}
    # the published g, c cannot give a back: g*n - c*n = a + b, two unknowns
    assert released.filter(pl.col("unit") == "g")["value"].item() == G_VALUE


def test_class_rule_off_and_the_threshold_is_the_profile_key() -> None:
    off, rep = protect(table(), rules=replace(load_rules("dst"), class_min_n=0), key=["unit"], relations=REL)
    assert off.filter(pl.col("suppressed"))["unit"].to_list() == ["k"]  # only the small cell
    strict, _ = protect(table(), rules=load_rules("safe"), key=["unit"], relations=REL)  # class_min_n 20
    # safe: every cell below 10 persons is out anyway; e (10 persons, share 0) now falls to the class rule
    assert strict.filter(pl.col("unit") == "e")["suppressed"].item()


def test_without_the_marker_no_value_is_read_as_a_share() -> None:
    released, _ = protect(table().drop(SHARE_FLAG), rules=load_rules("dst"), key=["unit"], relations=REL)
    assert released.filter(pl.col("suppressed"))["unit"].to_list() == ["k"]


def test_check_released_refuses_a_published_small_extreme_share() -> None:
    df = pl.DataFrame({"measure": ["employment", "income"], "n": [6, 6], "value": [1.0, 0.0],
                       "suppressed": [False, False]})
    import pytest

    from panel.errors import DisclosureError

    with pytest.raises(DisclosureError, match="1 published shares of 0 or 1 below 10 persons"):
        check_released(df, load_rules("dst"), name="m", share_measures=["employment"])
    check_released(df, load_rules("dst"), name="m")  # without knowing the shares there is nothing to check
