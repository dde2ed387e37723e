"""The whole-population fast paths of the measures give the same cells as the general group_by paths.

``year_cells(path="dense")`` (dense household arrays, gathered movers, skipped re-sums) is compared
cell by cell with ``year_cells(path="reference")`` (group_bys and joins) on random one-year fixtures:
one where every household lives in one municipality and one afdeling, and one where some
households span two municipalities and two afdelinger and some persons have no household or
municipality. The numpy dominance statistics are checked by hand and against
``queries.disclosure.magnitude_stats`` (polars top-k).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from queries.cells import choose_path, person_rows, year_cells
from queries.dense import few_group_top, household_stats, stats_by_group, stats_from_top, top_sums
from queries.disclosure import load_rules, magnitude_stats
from queries.household import household_columns_frame
from queries.registry import registry

RULES = load_rules("dst")
KEY = ["level", "unit", "year", "population", "measure"]


def _fixture(seed: int, *, split: bool) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(records of 2010 with household columns, moves of 2010-2011, afdelinger)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, 1500)
    n = int(sizes.sum())
    pid = rng.permutation(np.arange(10, 10 + 3 * n, 3))[:n]  # sparse-ish, unsorted ids
    hh_of = np.repeat(np.arange(len(sizes)), sizes)
    first = np.full(len(sizes), np.iinfo(np.int64).max)
    np.minimum.at(first, hh_of, pid)
    household = first[hh_of].astype(np.int64)
    kom_h = rng.choice([101, 147, 851], len(sizes))
    afd_h = rng.integers(-8, 20, len(sizes))  # negative: not in public housing
    kom, afd = kom_h[hh_of].astype(float), afd_h[hh_of]
    if split:  # one member of some households elsewhere: another municipality, another afdeling
        moved = np.flatnonzero((sizes[hh_of] > 1) & (rng.random(n) < 0.05))
        kom[moved] = np.where(kom[moved] == 101, 147, 101)
        afd[moved] = (afd[moved] + 1) % 20
        kom[rng.random(n) < 0.01] = np.nan
    hid = pl.Series(household, dtype=pl.Int32)
    if split:
        hid = hid.scatter(np.flatnonzero(rng.random(n) < 0.03), None)
    income = np.round(rng.normal(200_000, 150_000, len(sizes)), -4)[hh_of]  # ties, zeros and negatives
    socio = np.array(["employed", "education", "unemployed", "cash_benefit", "old_age_pension", "child", None],
                     dtype=object)[rng.integers(0, 7, n)]
    maybe = np.array([True, False, None], dtype=object)
    raw = pl.DataFrame({
        "person_id": pl.Series(pid, dtype=pl.Int32), "year": pl.Series([2010] * n, dtype=pl.Int32),
        "afdeling_id": pl.Series([f"A{a:02d}" if a >= 0 else None for a in afd], dtype=pl.String),
        "household_id": hid, "kom": pl.Series(kom, dtype=pl.Float64, nan_to_null=True).cast(pl.Int16),
        "age": pl.Series(rng.integers(0, 95, n), dtype=pl.Int16),
        "non_western": pl.Series(rng.random(n) < 0.2), "competence_education": pl.Series(
            maybe[rng.integers(0, 3, n)].tolist(), dtype=pl.Boolean),
        "socio_category": pl.Series(socio.tolist(), dtype=pl.String),
        "in_labour_force": pl.Series(maybe[rng.integers(0, 3, n)].tolist(), dtype=pl.Boolean),
        "employed": pl.Series(maybe[rng.integers(0, 3, n)].tolist(), dtype=pl.Boolean),
        "hh_income_2013": pl.Series(income, dtype=pl.Float64),
        "income_2013": pl.Series(np.round(rng.normal(150_000, 120_000, n), -3), dtype=pl.Float64),
        "ie_type": pl.Series(rng.integers(1, 4, n), dtype=pl.Int8),
    })
    rec = household_columns_frame(raw)
    mover = rng.choice(n, 600, replace=False)
    # households move together (one afdeling per household and year); with ``split`` some do not
    to_afd, from_afd = (household[mover] * 7 + 3) % 20, (household[mover] * 11 + 5) % 20
    if split:
        to_afd, from_afd = rng.integers(0, 20, 600), rng.integers(0, 20, 600)
    moves = pl.DataFrame({
        "person_id": pl.Series(pid[mover], dtype=pl.Int32),
        "year": pl.Series(np.where(np.arange(600) < 300, 2010, 2011), dtype=pl.Int32),
        "kind": ["between", "into_sector", "out_of_sector", "exit"] * 150,
        "from_afdeling": [f"A{a:02d}" for a in from_afd],
        "to_afdeling": [f"A{a:02d}" for a in to_afd],
    })
    afdelinger = pl.DataFrame({
        "afdeling_id": [f"A{a:02d}" for a in range(20)],
        "helhedsplan_id": [f"H{a % 7}" if a % 3 else None for a in range(20)],
        "kom": pl.Series([101, 147, 851, 101] * 5, dtype=pl.Int16),
        "anvisning": [a % 2 == 0 for a in range(20)], "fleksibel": [a % 4 < 2 for a in range(20)],
        # areas of four afdelinger; B9 holds only the non-study A18 (no cells), A19 lies in no area
        "boligomraade_id": [f"B{a // 4}" for a in range(18)] + ["B9", None],
    })
    return rec, moves, afdelinger


def _compare(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.height == b.height
    j = a.join(b, on=KEY, how="full", coalesce=True, suffix="_b", nulls_equal=True)
    assert j.height == a.height
    for c in ("n", "units"):
        assert (j[c].fill_null(-1) == j[f"{c}_b"].fill_null(-1)).all(), c
    for c in ("value", "top1", "top2", "top_n", "abs_total"):
        x, y = j[c], j[f"{c}_b"]
        assert (x.is_null() == y.is_null()).all(), c
        assert ((x - y).abs() <= 1e-9 * (1 + x.abs())).fill_null(True).all(), c


@pytest.mark.parametrize(("seed", "split"), [(0, False), (1, False), (2, True), (3, True)])
def test_dense_year_cells_equal_general_path(seed: int, split: bool) -> None:
    rec, moves, afd = _fixture(seed, split=split)
    # the fixture has (or lacks) what the fast paths must handle exactly
    per_hh = rec.filter(pl.col("household_id").is_not_null()).group_by("household_id").agg(
        koms=pl.col("kom").n_unique(), afds=pl.col("afdeling_id").drop_nulls().n_unique())
    assert (per_hh["koms"].max() > 1) == split
    assert (per_hh["afds"].max() > 1) == split
    kw = {"year": 2010, "years": [2010, 2011], "measures": registry(), "rules": RULES}
    # the integer-coded afdeling path is chosen (once, for the year) exactly when no household spans two afdelinger
    plan = choose_path(rec, moves, afd, year=2010, years=[2010, 2011])
    assert (plan.afdeling == "general") == split and plan.kom == "dense" and plan.topk == "numpy"
    assert choose_path(rec, moves, afd, year=2010, years=[2010, 2011], want="reference").topk == "polars"
    fast = year_cells(rec, moves, afd, path="dense", **kw)
    plain = year_cells(rec, moves, afd, path="reference", **kw)
    _compare(year_cells(rec, moves, afd, path="general", **kw), plain)
    assert set(fast["level"]) == {"afdeling", "group", "area", "area_rest", "comparison", "kom"}
    # independently: an area's stock counts the records of its afdelinger; the rest its non-study ones
    m_emp = registry()["employment"]
    for level, afds in (("area", ["A04", "A05", "A06", "A07"]), ("area_rest", ["A06"])):
        want_n = rec.filter(pl.col("afdeling_id").is_in(afds) & m_emp.counted()).height
        got = fast.filter(level=level, unit="B1", population="stock", measure="employment")
        assert got["n"].to_list() == [want_n]
    assert fast.filter(pl.col("unit") == "B9").height == 0
    assert set(fast.filter(level="area")["unit"]) == {f"B{i}" for i in range(5)}
    assert fast.filter(pl.col("units").is_not_null()).height > 100
    _compare(fast, plain)
    # independently: the pooled stock of all afdelinger (sector) and of all municipalities (population)
    # re-sum each household over the afdelinger / municipalities it spans before the dominance statistics
    m = registry()["income"]
    for unit, rows in (("sector", rec.filter(pl.col("afdeling_id").is_not_null())), ("population", rec)):
        hh = rows.filter(m.counted()).group_by("hh_key").agg(c=m.value.sum()).with_columns(cell=0)
        want = magnitude_stats(hh, ["cell"], value="c", rules=RULES).collect().row(0, named=True)
        got = fast.filter(level="comparison", unit=unit, population="stock", measure="income").row(0, named=True)
        assert got["n"] == rows.filter(m.counted()).height
        assert got["units"] == want["units"] == hh.height
        for col in ("top1", "top2", "top_n", "abs_total"):
            assert got[col] == pytest.approx(want[col], rel=1e-12)


def test_dominance_statistics_by_hand() -> None:
    # cell 0: households 900, 50, 50, -30 (absolute values count); cell 1: one household of 7; cell 2: empty
    group, c = np.array([0, 0, 0, 0, 1]), np.array([900.0, 50.0, 50.0, -30.0, 7.0])
    for stats in (stats_by_group(group, c, 3, rules=RULES), stats_from_top(*few_group_top(group, c, 3, rules=RULES), rules=RULES)):
        assert stats["units"].tolist() == [4, 1, 0]
        assert stats["top1"].tolist() == [900.0, 7.0, 0.0]
        assert stats["top2"].tolist() == [50.0, 0.0, 0.0]
        assert stats["top_n"].tolist() == [950.0, 7.0, 0.0]
        assert stats["abs_total"].tolist() == [1030.0, 7.0, 0.0]
    # ties: the two largest are equal, so top 2 holds both
    tops = top_sums(np.array([0, 0, 0]), np.array([3.0, 3.0, 1.0]), 1, [1, 2, 3])
    assert [tops[k].tolist() for k in (1, 2, 3)] == [[3.0], [6.0], [7.0]]


@pytest.mark.parametrize(("n_groups", "dominance_n"), [(1, 2), (3, 2), (40, 3), (2000, 2)])
def test_numpy_statistics_match_polars_top_k(n_groups: int, dominance_n: int) -> None:
    rng = np.random.default_rng(n_groups)
    n = 60_000  # large enough for the sampled thresholds of few_group_top
    group = rng.integers(0, n_groups, n)
    c = np.round(rng.normal(0, 1000, n), -1)  # many ties and zeros
    rules = RULES.__class__(**{**RULES.__dict__, "dominance_n": dominance_n})
    want = (magnitude_stats(pl.DataFrame({"g": group, "c": c}), ["g"], value="c", rules=rules).collect()
            .sort("g"))
    for got in (stats_by_group(group, c, n_groups, rules=rules), stats_from_top(*few_group_top(group, c, n_groups, rules=rules), rules=rules)):
        present = got["units"] > 0
        assert np.array_equal(np.flatnonzero(present), want["g"].to_numpy())
        for col in ("units", "top1", "top2", "top_n", "abs_total"):
            assert np.allclose(got[col][present], want[col].to_numpy(), rtol=1e-12, atol=1e-9), col


def test_household_stats_match_magnitude_stats() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    hh = pl.DataFrame({"u": rng.choice(["a", "b", "c", None], n).tolist(), "y": rng.integers(2010, 2013, n),
                       "k|x": rng.integers(0, 3, n), "c|x": np.round(rng.normal(0, 50, n))})
    got = household_stats(hh, ["u", "y"], {"x": ("k|x", "c|x")}, rules=RULES)["x"]
    want = magnitude_stats(hh.filter(pl.col("k|x") > 0), ["u", "y"], value="c|x", rules=RULES).collect()
    j = got.join(want, on=["u", "y"], how="full", coalesce=True, nulls_equal=True, suffix="_w")
    assert j.height == got.height == want.height == 12
    for col in ("units", "top1", "top2", "top_n", "abs_total"):
        assert ((j[col] - j[f"{col}_w"]).abs() < 1e-9).all(), col


def test_household_stats_of_no_households() -> None:
    hh = pl.DataFrame(schema={"u": pl.String, "k|x": pl.Int64, "c|x": pl.Float64})
    got = household_stats(hh, ["u"], {"x": ("k|x", "c|x")}, rules=RULES)["x"]
    assert got.height == 0 and got.columns == ["u", "units", "top1", "top2", "top_n", "abs_total"]


def test_person_rows_declines_repeated_ids() -> None:
    df = pl.DataFrame({"person_id": pl.Series([5, 3, 9], dtype=pl.Int32)})
    assert person_rows(df)[[5, 3, 9]].tolist() == [0, 1, 2]
    assert person_rows(pl.DataFrame({"person_id": pl.Series([5, 3, 5], dtype=pl.Int32)})) is None
