"""Disclosure control: thresholds, dominance, profiles, and an attacker who tries to undo the suppression.

The attacker is written here independently of queries/disclosure.py: it
enumerates every instance of every additive relation by plain Python lookups,
then (1) subtracts wherever exactly one cell is unknown and (2) solves the
whole linear system (a cell is determined iff removing its column lowers the
rank of the system matrix).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel.errors import DisclosureError, InputError
from queries.disclosure import (
    Relation,
    check_estimate,
    check_released,
    load_rules,
    magnitude_stats,
    protect,
)


# ------------------------------------------------------------------ the attacker
def _instances(table: pl.DataFrame, key: list[str], relations: list[Relation]) -> list[tuple[tuple, list]]:
    """Every relation instance as (block, [(cell key, +1 total / -1 part), ...]) over cells in the table."""
    cells = {tuple(r[c] for c in key) for r in table.select(key).iter_rows(named=True)}
    out = []
    for rel in relations:
        match = list(rel.total)
        by = [c for c in key if c not in match]
        for block in {tuple(c[key.index(b)] for b in by) for c in cells}:
            def cell(spec, block=block, by=by):
                d = {**dict(zip(by, block, strict=True)), **spec}
                return tuple(d[c] for c in key)
            members = [(cell(rel.total), 1)] + [(cell(p), -1) for p in rel.parts]
            members = [(c, s) for c, s in members if c in cells]
            if len(members) > 1:
                out.append((block, members))
    return out


def recovered_cells(released: pl.DataFrame, truth: pl.DataFrame, key: list[str],
                    relations: list[Relation]) -> set[tuple]:
    """Suppressed cells whose n the attacker pins down from the published release."""
    pub = {tuple(r[:-1]): r[-1] for r in released.filter(~pl.col("suppressed")).select(*key, "n").iter_rows()}
    hidden = [tuple(r) for r in released.filter(pl.col("suppressed")).select(key).iter_rows()]
    true_n = {tuple(r[:-1]): r[-1] for r in truth.select(*key, "n").iter_rows()}
    inst = _instances(released, key, relations)
    found = set()
    for _, members in inst:  # (1) plain subtraction
        unknown = [(c, s) for c, s in members if c not in pub]
        if len(unknown) == 1:
            c, s = unknown[0]
            guess = -s * sum(s2 * pub[c2] for c2, s2 in members if c2 in pub)
            assert guess == true_n[c], "the attacker's subtraction should be right when it applies"
            found.add(c)
    blocks: dict[tuple, list] = {}
    for block, members in inst:  # (2) the whole linear system (block-diagonal: one block at a time)
        blocks.setdefault(block, []).append(members)
    hidden_set = set(hidden)
    for eqs in blocks.values():
        cols = sorted({c for members in eqs for c, _ in members if c in hidden_set})
        if not cols:
            continue
        col = {c: i for i, c in enumerate(cols)}
        a = np.zeros((len(eqs), len(cols)))
        for r, members in enumerate(eqs):
            for c, s in members:
                if c in col:
                    a[r, col[c]] += s
        rank = np.linalg.matrix_rank(a)
        for c, i in col.items():
            if rank > 0 and np.linalg.matrix_rank(np.delete(a, i, axis=1)) < rank:
                found.add(c)
    return found


# ------------------------------------------------------------------ fixtures
def hierarchy(ns: list[int], years: int = 2) -> tuple[pl.DataFrame, list[Relation]]:
    """Afdelinger a0.. with counts ns (per year shifted), groups g0 (even), g1 (odd), all = g0 + g1."""
    rows = []
    for y in range(years):
        parts = {f"a{i}": n + y for i, n in enumerate(ns)}
        g0 = sum(v for i, v in enumerate(parts.values()) if i % 2 == 0)
        g1 = sum(v for i, v in enumerate(parts.values()) if i % 2 == 1)
        rows += [(u, y, n) for u, n in parts.items()] + [("g0", y, g0), ("g1", y, g1), ("all", y, g0 + g1)]
    t = pl.DataFrame(rows, schema=["unit", "year", "n"], orient="row").with_columns(value=pl.lit(0.5))
    t = t.filter(pl.col("n") > 0)
    rels = [Relation({"unit": "g0"}, [{"unit": f"a{i}"} for i in range(0, len(ns), 2)]),
            Relation({"unit": "g1"}, [{"unit": f"a{i}"} for i in range(1, len(ns), 2)]),
            Relation({"unit": "all"}, [{"unit": "g0"}, {"unit": "g1"}]),
            Relation({"unit": "all"}, [{"unit": f"a{i}"} for i in range(len(ns))])]
    return t, rels


DST = load_rules("dst")


# ------------------------------------------------------------------ tests
def test_primary_and_complementary_on_a_small_hierarchy() -> None:
    t, rels = hierarchy([3, 12, 20, 9], years=1)
    released, report = protect(t, rules=DST, key=["unit", "year"], relations=rels)
    hidden = set(released.filter("suppressed")["unit"])
    # a0 (3) is primary; g0 = a0 + a2 then needs a2 (20) hidden too (the only other part)
    assert {"a0", "a2"} <= hidden
    assert dict(report.select("cell", "rule").iter_rows())["unit=a0; year=0"] == "primary"
    assert recovered_cells(released, t, ["unit", "year"], rels) == set()
    assert released.filter("suppressed")["n"].null_count() == len(hidden)


def test_the_attacker_breaks_primary_suppression_alone() -> None:
    """Negative control: without complementary suppression the attacker recovers the small cell."""
    t, rels = hierarchy([3, 12, 20, 9], years=1)
    released, _ = protect(t, rules=DST, key=["unit", "year"], relations=())
    assert ("a0", 0) in recovered_cells(released, t, ["unit", "year"], rels)


def test_odd_cycle_of_pairwise_sums_is_caught_by_the_linear_audit() -> None:
    # x, y, z each small; published totals x+y, y+z, x+z: every relation has two unknowns,
    # yet x = ((x+y) + (x+z) - (y+z)) / 2.
    t = pl.DataFrame({"unit": ["x", "y", "z", "xy", "yz", "xz"], "n": [2, 3, 4, 5, 7, 6]}).with_columns(
        value=pl.lit(1.0))
    rels = [Relation({"unit": "xy"}, [{"unit": "x"}, {"unit": "y"}]),
            Relation({"unit": "yz"}, [{"unit": "y"}, {"unit": "z"}]),
            Relation({"unit": "xz"}, [{"unit": "x"}, {"unit": "z"}])]
    rules = load_rules("dst", min_cell=5)
    released, report = protect(t, rules=rules, key=["unit"], relations=rels)
    assert recovered_cells(released, t, ["unit"], rels) == set()
    assert "complementary" in report["rule"].to_list()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ns=st.lists(st.integers(min_value=0, max_value=25), min_size=2, max_size=9),
       min_cell=st.integers(min_value=2, max_value=12))
def test_no_suppressed_cell_is_recoverable(ns: list[int], min_cell: int) -> None:
    t, rels = hierarchy(ns)
    rules = load_rules("dst", min_cell=min_cell)
    released, report = protect(t, rules=rules, key=["unit", "year"], relations=rels)
    assert released.filter(~pl.col("suppressed") & (pl.col("n") < min_cell)).height == 0
    assert recovered_cells(released, t, ["unit", "year"], rels) == set()
    assert report.height == released["suppressed"].sum()
    check_released(released, rules)


def test_dominance_one_household_holds_most_of_the_income() -> None:
    # cell A: households 1 000 000 (dominant), 50 000, 40 000, 30 000, 20 000 -> top 2 = 91.9 %
    # cell B: five households of 100 000 each -> top 2 = 40 %
    contrib = pl.DataFrame({"unit": ["A"] * 5 + ["B"] * 5,
                            "c": [1e6, 5e4, 4e4, 3e4, 2e4] + [1e5] * 5})
    stats = magnitude_stats(contrib, ["unit"], value="c", rules=DST).collect()
    t = pl.DataFrame({"unit": ["A", "B"], "n": [9, 9], "value": [1.14e6 / 9, 5e5 / 9]}).join(stats, on="unit")
    released, report = protect(t, rules=DST, key=["unit"])
    assert released.filter("suppressed")["unit"].to_list() == ["A"]
    assert report["rule"].to_list() == ["dominance"]
    assert "units" not in released.columns and "top1" not in released.columns


def test_profiles_differ() -> None:
    # small: n = 7 -> published under dst (5), suppressed under safe (10).
    # dom87: the two largest households hold 87 % -> dominance under dst (85 %), not under safe (90 %);
    #        p-ratio under safe: rest 100 - 80 - 7 = 13 >= 10 % of 80 -> passes.
    rows = [("small", 7, 3, 1.0, 1.0, 2.0, 10.0),
            ("dom87", 50, 20, 80.0, 7.0, 87.0, 100.0),
            ("even", 50, 20, 10.0, 10.0, 20.0, 100.0)]
    t = pl.DataFrame(rows, schema=["unit", "n", "units", "top1", "top2", "top_n", "abs_total"], orient="row")
    t = t.with_columns(value=pl.col("abs_total") / pl.col("n"))
    dst, _ = protect(t, rules=load_rules("dst"), key=["unit"])
    safe, _ = protect(t, rules=load_rules("safe"), key=["unit"])
    assert dst.filter("suppressed")["unit"].to_list() == ["dom87"]
    assert safe.filter("suppressed")["unit"].to_list() == ["small"]
    # units: 3 households pass dst (3) but fail safe (10) on a magnitude cell with enough persons
    few = t.with_columns(n=pl.lit(50), units=pl.lit(3)).filter(pl.col("unit") == "even")
    assert not protect(few, rules=load_rules("dst"), key=["unit"])[0]["suppressed"].item()
    assert protect(few, rules=load_rules("safe"), key=["unit"])[1]["detail"].item() == "fewer than 10 households"


def test_p_ratio() -> None:
    # With N-K 2/90 % a 10 % p-ratio failure is always also an N-K failure (rest < 0.1 x1 <= 0.1 T),
    # so switch N-K off to see the p-ratio rule alone: rest 100 - 60 - 35 = 5 < 10 % of 60 = 6.
    rules = replace(load_rules("safe"), dominance_k=1.0)
    t = pl.DataFrame({"unit": ["p", "q"], "n": [50, 50], "units": [20, 20], "top1": [60.0, 60.0],
                      "top2": [35.0, 30.0], "top_n": [95.0, 90.0], "abs_total": [100.0, 100.0],
                      "value": [2.0, 2.0]})
    released, report = protect(t, rules=rules, key=["unit"])
    assert released.filter("suppressed")["unit"].to_list() == ["p"]
    assert report["rule"].to_list() == ["p_ratio"]
    assert protect(t, rules=replace(rules, p_ratio=0.0), key=["unit"])[1].height == 0


def test_min_cell_overrides_the_profile_threshold() -> None:
    assert load_rules("dst").min_persons == 5
    assert load_rules("dst", min_cell=3).min_persons == 3
    assert load_rules("safe", min_cell=20).min_persons == 20
    with pytest.raises(InputError):
        load_rules("strict")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        load_rules("dst", min_cell=0)


def test_check_estimate() -> None:
    assert check_estimate(3, 100, load_rules("dst")) == []
    assert check_estimate(2, 100, load_rules("dst")) == ["clusters 2 < 3"]
    assert len(check_estimate(12, 15, load_rules("safe"), n_params=8)) == 1  # dof 7 < 10


def test_inherited_suppression_is_kept_and_protected() -> None:
    t, rels = hierarchy([30, 40, 50, 60], years=1)
    t = t.with_columns(suppressed=pl.col("unit") == "a1")  # derived from a hidden cell elsewhere
    released, report = protect(t, rules=DST, key=["unit", "year"], relations=rels)
    rules_of = dict(report.select("cell", "rule").iter_rows())
    assert rules_of["unit=a1; year=0"] == "inherited"
    assert recovered_cells(released, t, ["unit", "year"], rels) == set()


def test_identifier_columns_are_refused() -> None:
    t = pl.DataFrame({"unit": ["a"], "n": [10], "value": [1.0], "person_id": [7]})
    with pytest.raises(DisclosureError):
        protect(t, rules=DST, key=["unit"])
    with pytest.raises(DisclosureError):
        check_released(t.with_columns(suppressed=False), DST)


def test_released_check_catches_a_leak() -> None:
    leak = pl.DataFrame({"unit": ["a"], "n": [2], "value": [1.0], "suppressed": [False]})
    with pytest.raises(DisclosureError):
        check_released(leak, DST)
    hidden_but_valued = leak.with_columns(suppressed=True)
    with pytest.raises(DisclosureError):
        check_released(hidden_but_valued, DST)


def test_duplicate_keys_are_an_input_error() -> None:
    t = pl.DataFrame({"unit": ["a", "a"], "n": [10, 11], "value": [1.0, 2.0]})
    with pytest.raises(InputError):
        protect(t, rules=DST, key=["unit"])


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_result_does_not_depend_on_row_order(order: tuple[int, ...]) -> None:
    t = pl.DataFrame({"unit": ["g", "a", "b", "c"], "n": [30, 3, 12, 15], "value": [0.5] * 4})
    rel = [Relation({"unit": "g"}, [{"unit": u} for u in "abc"])]
    parts = t.filter(pl.col("unit") != "g")
    shuffled = pl.concat([t.filter(pl.col("unit") == "g"), parts[list(order)]])
    released, _ = protect(shuffled, rules=DST, key=["unit"], relations=rel)
    assert set(released.filter("suppressed")["unit"]) == {"a", "b"}
