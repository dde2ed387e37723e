"""The measures release against a reader who combines its tables (issue 16, part 3): lockstep and the LP audit.

Hand-worked fixtures: one group ``neither`` of afdelinger A, B, C, D in one year and population, with two
measures on everyone (``non_western``, ``under_18``: one denominator, so one n per afdeling). The group row
is published, so for every measure n_A + n_B + n_C + n_D = N and s_A + ... = S.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from queries.audit import AuditStats, audit, build, interval
from queries.disclosure import SHARE_FLAG, load_rules
from queries.registry import DENOMINATOR_IDENTITIES, PARTS, registry
from queries.release import KEY, protect_release, release_relations

YEAR = 2010


def afdelinger(names: str) -> pl.DataFrame:
    """Study afdelinger without tools: all in group ``neither``."""
    return pl.DataFrame({"afdeling_id": list(names), "helhedsplan_id": ["h"] * len(names),
                         "anvisning": [False] * len(names), "fleksibel": [False] * len(names)})


def cells(rows: dict[str, dict[str, tuple[int, int]]]) -> pl.DataFrame:
    """Cells from ``{afdeling: {measure: (n, numerator)}}``, plus the group row (their sums)."""
    recs = []
    for unit, ms in rows.items():
        for m, (n, s) in ms.items():
            recs.append(("afdeling", unit, m, n, s))
    for m in next(iter(rows.values())):
        n = sum(ms[m][0] for ms in rows.values())
        s = sum(ms[m][1] for ms in rows.values())
        recs.append(("group", "neither", m, n, s))
    return pl.DataFrame({
        "level": [r[0] for r in recs], "unit": [r[1] for r in recs], "year": pl.Series([YEAR] * len(recs),
                                                                                      dtype=pl.Int32),
        "population": ["stock"] * len(recs), "measure": [r[2] for r in recs],
        "n": pl.Series([r[3] for r in recs], dtype=pl.Int64), "value": [r[4] / r[3] for r in recs],
    }).with_columns(pl.lit(True).alias(SHARE_FLAG))


def withheld(released: pl.DataFrame) -> set[tuple[str, str]]:
    return set(released.filter(pl.col("suppressed")).select("unit", "measure").iter_rows())


def model_and_hidden(table: pl.DataFrame, afd: pl.DataFrame, hidden_units: set[str]) -> tuple:
    t = table.sort(KEY)
    rules = load_rules("dst")
    m = build(t, release_relations(afd, []), KEY, rules, registry())
    hidden = t["unit"].is_in(list(hidden_units)).to_numpy() & (t["level"] == "afdeling").to_numpy()
    return t, m, hidden


def row_of(t: pl.DataFrame, unit: str, measure: str) -> int:
    return int(t.with_row_index("i").filter((pl.col("unit") == unit) & (pl.col("measure") == measure))["i"][0])


# ------------------------------------------------------------ (a) shared denominators, by hand
CLASS = {  # A: no non-Western resident among 8 (share 0, class disclosure: primary); n fine for under_18
    "A": {"non_western": (8, 0), "under_18": (8, 2)},
    "B": {"non_western": (12, 4), "under_18": (12, 3)},
    "C": {"non_western": (20, 6), "under_18": (20, 5)},
}


def test_without_lockstep_the_shared_denominator_gives_the_withheld_count_away() -> None:
    """A's non_western is withheld (share 0 of 8 < class_min_n 10), B's as its complement; under_18 of A and
    B stays published. By hand: a reader reads n_A = 8 off A's published under_18 row (one denominator), and
    the audit's interval for it is [8, 8]. Old release (no lockstep, no audit)."""
    rules = replace(load_rules("dst"), lockstep=False, audit=False)
    released, _ = protect_release(cells(CLASS), afdelinger("ABC"), rules=rules)
    assert withheld(released) == {("A", "non_western"), ("B", "non_western")}
    a_u18 = released.filter((pl.col("unit") == "A") & (pl.col("measure") == "under_18"))["n"].item()
    assert a_u18 == 8  # the recovered n of the withheld cell, by hand
    t, m, _ = model_and_hidden(cells(CLASS), afdelinger("ABC"), set())
    hidden = released.sort(KEY)["suppressed"].to_numpy()
    assert interval(m, hidden, row_of(t, "A", "non_western"), "n") == (8.0, 8.0)


def test_with_lockstep_the_interval_is_the_hand_worked_one() -> None:
    """Lockstep withholds A's and B's blocks whole. By hand, n_A + n_B = N - n_C = 40 - 20 = 20 with
    n_B >= 1, and the numerators fit (s_A + s_B = 4 non-Western and 5 under 18, each 0 <= s <= n): n_A ranges
    over [1, 19]; A's non-Western numerator over [0, 4] (all of B's 4 could be A's)."""
    rules = load_rules("dst")
    released, report = protect_release(cells(CLASS), afdelinger("ABC"), rules=rules)
    assert withheld(released) == {(u, m) for u in "AB" for m in ("non_western", "under_18")}
    t, m, _ = model_and_hidden(cells(CLASS), afdelinger("ABC"), set())
    hidden = released.sort(KEY)["suppressed"].to_numpy()
    assert interval(m, hidden, row_of(t, "A", "non_western"), "n") == (1.0, 19.0)
    assert interval(m, hidden, row_of(t, "A", "non_western"), "s") == (0.0, 4.0)
    # the audit agrees that A's cell is protected: no extension
    stats = AuditStats()
    assert audit(m, hidden, stats) == []
    assert stats.audited == 1  # only A's non_western is primary


# ------------------------------------------------------------ extension, by hand
SMALL = {  # A: 2 persons (primary in both measures); B the smallest other afdeling (its complement)
    "A": {"non_western": (2, 1), "under_18": (2, 1)},
    "B": {"non_western": (5, 1), "under_18": (5, 2)},
    "C": {"non_western": (9, 3), "under_18": (9, 2)},
    "D": {"non_western": (30, 10), "under_18": (30, 6)},
}


def test_a_too_narrow_interval_is_widened_by_the_smallest_published_block() -> None:
    """A (n = 2) and its complement B (n = 5) withheld: n_A + n_B = 7, n_B >= 1, so n_A <= 6 < 2 + t = 7
    (t = min_persons = 5): too narrow. The audit adds the smallest published block of the group: C (9 < 30).
    Then n_A <= 2 + 5 + 9 - 2 = 14 >= 7, and min n_A = 1 = max(2 - 5, 1): protected."""
    lock_only = replace(load_rules("dst"), audit=False)
    released, _ = protect_release(cells(SMALL), afdelinger("ABCD"), rules=lock_only)
    assert {u for u, _ in withheld(released)} == {"A", "B"}
    t, m, _ = model_and_hidden(cells(SMALL), afdelinger("ABCD"), set())
    assert interval(m, released.sort(KEY)["suppressed"].to_numpy(), row_of(t, "A", "under_18"), "n") == (1.0, 6.0)

    stats = AuditStats()
    released, report = protect_release(cells(SMALL), afdelinger("ABCD"), rules=load_rules("dst"), stats=stats)
    assert {u for u, _ in withheld(released)} == {"A", "B", "C"}
    assert stats.extensions == 1 and stats.unresolved == 0
    assert stats.added == ["level=afdeling; unit=C; year=2010; population=stock"]
    hidden = released.sort(KEY)["suppressed"].to_numpy()
    assert interval(m, hidden, row_of(t, "A", "under_18"), "n") == (1.0, 14.0)
    c = report.filter(pl.col("cell").str.contains("unit=C;"))
    assert set(c["rule"]) == {"complementary"} and c["detail"].str.contains("interval audit").all()


# ------------------------------------------------------------ LP bounds = brute force
def test_lp_bounds_equal_an_enumeration_of_integer_solutions() -> None:
    """SMALL with A and B withheld, enumerated by hand from the constraints a reader sees:
    n_A + n_B = 7, n >= 1; non-Western s_A + s_B = 2, under 18 s_A + s_B = 3; 0 <= s <= n."""
    t, m, _ = model_and_hidden(cells(SMALL), afdelinger("ABCD"), {"A", "B"})
    hidden = t["unit"].is_in(["A", "B"]).to_numpy() & (t["level"] == "afdeling").to_numpy()
    sols = []
    for na in range(1, 7):
        nb = 7 - na
        for nwa, ua in itertools.product(range(3), range(4)):
            nwb, ub = 2 - nwa, 3 - ua
            if 0 <= nwa <= na and 0 <= nwb <= nb and 0 <= ua <= na and 0 <= ub <= nb:
                sols.append((na, nwa, ua))
    sols = np.array(sols)
    for col, (measure, q) in enumerate([("non_western", "n"), ("non_western", "s"), ("under_18", "s")]):
        lo, hi = interval(m, hidden, row_of(t, "A", measure), q)
        assert (lo, hi) == (sols[:, col].min(), sols[:, col].max())


# ------------------------------------------------------------ rules keys
def test_release_keys_reproduce_the_old_release_only_below_the_floor(tmp_path: Path) -> None:
    from queries.disclosure_rules import decide_rules

    p = tmp_path / "old.toml"
    p.write_text('flow_level = "afdeling"\nlockstep = false\naudit = false\nallow_below_floor = true\n'
                 'reason = "red team"\n')
    r = decide_rules("dst", None, p)
    assert (r.flow_level, r.lockstep, r.audit, r.below_floor) == ("afdeling", False, False,
                                                                  ("flow_level", "lockstep", "audit"))
    d = load_rules("dst")
    assert (d.flow_level, d.lockstep, d.audit, d.count_level, d.protection_p) == ("group", True, True, 5, 0.10)


# ------------------------------------------------------------ the declared identities hold on a panel
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from small_build import small_build

    return small_build(tmp_path_factory.mktemp("ident"), seed=7)


@pytest.fixture(scope="module")
def person_rows(built: Path) -> pl.DataFrame:
    from queries.populations import population_rows

    out = built
    return pl.concat([population_rows(out, p).with_columns(population=pl.lit(p)).collect()
                      for p in ("stock", "in", "out")], how="diagonal_relaxed")


def test_declared_denominators_and_identities_hold_on_a_synthetic_panel(person_rows: pl.DataFrame) -> None:
    """Per afdeling-year-population, from the person rows: every measure of a denominator counts the same
    persons; n(18-64) = n(all) - #under 18 - #over 64; n(18+) = n(all) - #under 18 (ages read directly);
    the numerator of outside_labour_force = the sum of its parts' numerators."""
    reg = registry()
    cfg = {"all": pl.lit(True), "adults": pl.col("age").is_between(18, 64), "over18": pl.col("age") >= 18}
    by = ["afdeling_id", "year", "population"]
    aggs = [pl.len().alias("n_all"), (pl.col("age") < 18).sum().alias("u18"), (pl.col("age") > 64).sum().alias("o64")]
    aggs += [reg[m].counted().sum().alias(f"n_{m}") for m in reg]
    aggs += [reg[m].contribution().fill_null(0).sum().alias(f"s_{m}") for m in reg if reg[m].kind == "share"]
    aggs += [cfg[k].sum().alias(f"pop_{k}") for k in cfg]
    c = person_rows.group_by(by).agg(aggs)
    assert c.height > 100
    dens: dict[str, list[str]] = {}
    for name, m in reg.items():
        if m.denominator:
            dens.setdefault(m.denominator, []).append(name)
    for den, names in dens.items():
        for name in names[1:]:
            assert (c[f"n_{name}"] == c[f"n_{names[0]}"]).all(), (den, name)
    assert (c[f"n_{dens['all'][0]}"] == c["n_all"]).all()
    minus = {"under_18": c["u18"], "over_64": c["o64"]}
    for den, (base, subtract) in DENOMINATOR_IDENTITIES.items():
        assert base == "all"
        expected = c["n_all"] - sum(minus[m] for m in subtract)
        assert (c[f"n_{dens[den][0]}"] == expected).all(), den
        assert (c[f"pop_{den}"] == expected).all(), den
        assert (c[f"s_{subtract[0]}"] == minus[subtract[0]]).all()
    for total, parts in PARTS.items():
        assert (c[f"s_{total}"] == sum(c[f"s_{p}"] for p in parts)).all()
        assert all((c[f"n_{p}"] == c[f"n_{total}"]).all() for p in parts)


def test_the_release_has_no_afdeling_flow_rows_and_an_internal_audit_file(built: Path) -> None:
    from queries.run import run_measures

    run_measures(built)
    dest = built / "measures"
    for t in ("decomposition", "retention", "tenure", "destinations", "trajectories", "family_households",
              "family_cohorts", "displacement"):
        df = pl.read_parquet(dest / f"{t}.parquet")
        assert df.height > 0 and "afdeling" not in set(df["level"]), t
    audit_csv = pl.read_csv(dest / "internal" / "audit.csv")
    fig = dict(zip(audit_csv["figure"], audit_csv["value"], strict=True))
    m = pl.read_parquet(dest / "measures.parquet")
    assert int(fig["withheld_cells"]) >= int(m["suppressed"].sum()) and "unresolved" in fig  # (see the report)
    assert set(pl.read_csv(dest / "disclosure_report.csv")["rule"]) == {"withheld"}
    # lockstep: a (level, unit, year, population) block is withheld whole or not at all
    mixed = m.group_by("level", "unit", "year", "population").agg(pl.col("suppressed").n_unique() > 1)
    assert not mixed["suppressed"].any()
