"""Issue 18 household tables on hand-worked fixtures: the couple, resource-strong family variants,
in-mover cohorts and displacement; additive relations of the protected release on synthetic data."""

from __future__ import annotations

import polars as pl
import pytest

from panel.derive import couple_flags
from queries.disclosure import load_rules
from queries.flows.displacement import displacement, protect_displacement
from queries.flows.families import family_cohorts, family_households, load_family_config, unit_relations
from queries.flows.families_release import protect_family_households
from queries.registry import registry

COMP = {"adult_age": 18, "equivalence_adult_age": 14, "child_age": 18, "partner_age": 25, "partner_age_gap": 15}
TENURE = {"tenure": {"edges": [2, 5], "labels": ["le2", "2to5", "gt5"]}}
GROUPS = pl.DataFrame({"afdeling_id": ["A", "B"], "group": ["neither", "both"]})


def test_couple_is_the_two_oldest_when_plausible_partners() -> None:
    df = pl.DataFrame({"h": [1, 1, 1, 2, 2, 3, 3, 4, 4, 4],
                       "age": [45, 20, 19,   # lone parent and two adult children: all single
                               24, 22,       # young couple (2 years apart)
                               60, 40,       # couple 20 years apart (the younger is 25+)
                               35, 33, 10]})  # couple with a child
    got = df.select(**couple_flags(COMP, "h"))
    assert got["hh_couple"].to_list() == [False, False, False, True, True, True, True, True, True, False]
    assert got["hh_parent"].to_list() == [True, False, False, True, True, True, True, True, True, False]


# 31 Dec 2004 households of A: H1 couple 35 employed + 33 unemployed + child 10, arrived 2004, all moved
# out in 2005; H2 lone parent 40 unemployed + child 20 employed + child 12, since 1999, stayed;
# H3 single 50 employed, since 2002, stayed.
PAIRS = pl.LazyFrame({
    "year": [2005] * 7, "afd_prev": ["A"] * 7, "study_prev": [True] * 7,
    "hh_prev": [1, 1, 1, 2, 2, 2, 3], "age_prev": [35, 33, 10, 40, 20, 12, 50],
    "socio_prev": ["employed", "unemployed", "child", "unemployed", "employed", "child", "employed"],
    "spell_start_prev": [2004, 2004, 2004, 1999, 1999, 1999, 2002],
    "fate": ["out", "out", "out", "stay", "stay", "stay", "stay"]})


def _n(t: pl.DataFrame, **kw: object) -> int:
    row = t.filter(**kw)
    return int(row["n"].sum()) if row.height else 0


def test_family_households_by_variant() -> None:
    cfg = load_family_config()
    t = family_households(PAIRS, GROUPS, COMP, cfg, TENURE)
    assert set(t["level"]) == {"group", "comparison"}  # no afdeling rows
    g = dict(level="group", unit="neither", year=2005)
    # cfbu2017: child under 16, only a parent's work counts: H1 rs family, H2 family not rs (the child works)
    v = dict(g, variant="cfbu2017", band="all", outcome="households")
    assert (_n(t, **v, category="all"), _n(t, **v, category="family"), _n(t, **v, category="family_rs")) == (3, 2, 1)
    assert _n(t, **dict(v, outcome="moved_out"), category="family_rs") == 1
    # cfbu2018: any co-resident counts: H2 is resource-strong too
    assert _n(t, **dict(v, variant="cfbu2018"), category="family_rs") == 2
    # socialmix: a member 22-59 employed: in H2 only the 20-year-old works -> not rs
    assert _n(t, **dict(v, variant="socialmix"), category="family_rs") == 1
    # length of residence by 2005: H1 1 year (le2), H2 6 (gt5), H3 3 (2to5)
    b = dict(g, variant="cfbu2017", category="all", outcome="households")
    assert [_n(t, **b, band=x) for x in ("le2", "2to5", "gt5")] == [1, 1, 1]
    assert _n(t, level="comparison", unit="study", year=2005, variant="cfbu2017", category="all", band="all",
              outcome="households") == 3


def test_cohort_retention() -> None:
    # household 7 (couple 30/28, employed/student, baby born 2006) moves into A in 2006; the man is still
    # there in 2007 and 2009, gone in 2011; household 8 (single 40) arrives 2006 and leaves in 2007.
    rows = []
    for y in range(2005, 2012):
        if y >= 2006:
            if y <= 2010:
                rows.append((1, y, "A", 7, 30 + y - 2006, "employed", 2006))
            if y <= 2007:
                rows.append((2, y, "A", 7, 28 + y - 2006, "education", 2006))
                rows.append((3, y, "A", 7, y - 2006, "child", 2006))
            if y == 2006:
                rows.append((4, y, "A", 8, 40, "unemployed", 2006))
    sub = pl.DataFrame(rows, schema={"person_id": pl.Int64, "year": pl.Int32, "afd": pl.String, "hh": pl.Int64,
                                     "age": pl.Int16, "socio": pl.String, "spell_start": pl.Int32}, orient="row")
    sub = sub.with_columns(study=pl.lit(True))
    cfg = load_family_config()
    t = family_cohorts(sub, GROUPS, COMP, cfg, first_year=2005, last_year=2011)
    c = dict(level="group", unit="neither", year=2006, variant="cfbu2017")
    assert _n(t, **c, category="all", horizon=1, outcome="households") == 2
    assert _n(t, **c, category="family_rs", horizon=1, outcome="retained") == 1
    assert _n(t, **c, category="other", horizon=1, outcome="left") == 1
    assert _n(t, **c, category="family_rs", horizon=3, outcome="retained") == 1
    assert _n(t, **c, category="family_rs", horizon=5, outcome="left") == 1
    assert t.filter(year=2007).height == 0  # nobody moved in in 2007


def test_displacement_by_destination() -> None:
    pr = pl.LazyFrame({
        "year": [2005] * 5, "afd_prev": ["A", "A", "A", "A", None], "afd": ["B", "X", None, None, "A"],
        "study_prev": [True, True, True, True, None], "study": [True, False, None, None, True],
        "fate": ["out", "out", "out", "exit", None], "origin": ["in", "in", None, None, "immigration"],
        "present": [True, True, True, False, True], "present_prev": [True, True, True, True, False],
        "kom_prev": [101, 101, 101, 101, None], "kom": [101, 101, 147, None, 101], "hh_prev": [1, 2, 3, 4, None],
        "hh": [1, 2, 3, None, 9], "y_income_prev": [100.0, 200.0, 300.0, 50.0, None],
        "y_income": [110.0, 210.0, None, None, 80.0]})
    d = displacement(pr, GROUPS, registry()).filter(level="group", unit="neither")
    got = {(r["direction"], r["place"]): (r["n"], r["value"]) for r in d.iter_rows(named=True)}
    assert got == {("out", "all"): (3, 200.0), ("out", "study_afdeling"): (1, 100.0),
                   ("out", "other_public_housing"): (1, 200.0), ("out", "other_municipality"): (1, 300.0),
                   ("exit", "exit"): (1, 50.0), ("in", "all"): (1, 80.0), ("in", "abroad"): (1, 80.0)}
    # the B in-mover (from A) counts for group both
    both = displacement(pr, GROUPS, registry()).filter(level="group", unit="both")
    assert both.select("direction", "place", "n").rows() == [("in", "all", 1), ("in", "study_afdeling", 1)]


def test_released_relations_hold_and_small_cells_hidden() -> None:
    rules = load_rules("dst")
    cfg = load_family_config()
    big = pl.concat([PAIRS.with_columns(hh_prev=pl.col("hh_prev") + 10 * k) for k in range(8)])
    t = family_households(big, GROUPS, COMP, cfg, TENURE)
    rel, rep = protect_family_households(t, cfg, ["le2", "2to5", "gt5"], rules=rules, relations=unit_relations())
    shown = rel.filter(~pl.col("suppressed"))
    assert (shown["n"] >= rules.min_persons).all()
    assert rep.height == rel["suppressed"].sum()
    # published family_rs + family_not_rs = family wherever all three are published
    w = shown.filter(band="all", outcome="households").pivot("category", index=["level", "unit", "year", "variant"],
                                                             values="n")
    w = w.drop_nulls(["family", "family_rs", "family_not_rs"])
    assert w.height and (w["family"] == w["family_rs"] + w["family_not_rs"]).all()
    # a single suppressed cell of a relation whose others are all shown would be recoverable: none is
    hid = rel.filter(pl.col("suppressed") & pl.col("category").is_in(["family_rs", "family_not_rs"]))
    for r in hid.iter_rows(named=True):
        others = rel.filter(level=r["level"], unit=r["unit"], year=r["year"], variant=r["variant"], band=r["band"],
                            outcome=r["outcome"]).filter(pl.col("category").is_in(["family", "family_rs",
                                                                                    "family_not_rs"]))
        assert others["suppressed"].sum() >= 2


def test_displacement_protection_hides_small_cells() -> None:
    pr = pl.LazyFrame({"year": [2005], "afd_prev": ["A"], "afd": [None], "study_prev": [True], "study": [None],
                       "fate": ["out"], "origin": [None], "present": [True], "present_prev": [True],
                       "kom_prev": [101], "kom": [101], "hh_prev": [1], "hh": [1], "y_income_prev": [1.0],
                       "y_income": [None]})
    rel, rep = protect_displacement(displacement(pr, GROUPS, registry(), rules=load_rules("dst")), None,
                                    rules=load_rules("dst"))
    assert rel["suppressed"].all() and rel["n"].is_null().all() and rep.height == rel.height


def test_bad_variant_config_names_the_file(tmp_path: pytest.TempPathFactory) -> None:
    from panel.errors import InputError
    p = tmp_path / "f.toml"
    p.write_text('default = "nope"\n', encoding="utf-8")
    with pytest.raises(InputError, match="families.toml"):
        load_family_config(p)
