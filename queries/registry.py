"""The measures, one named entry each: adding a measure is adding an entry.

A :class:`Measure` is a value expression, the population it is taken over (a
filter expression) and its kind. Both expressions read the panel columns
(``panel.schema.PANEL_SCHEMA``) plus the household columns of
:func:`queries.household.add_household_columns` (``hh_adults``, ``hh_n14``,
``hh_u14``, ``hh_children``, ``hh_resource_strong``, ``eq_scale``, ``hh_couple``).

For every cell (afdeling or group, year, population of stock / in / out):
``n`` = persons in the population with a non-null value; ``value`` = the share
(mean of a boolean), the mean or the sum of the value over those persons.
Groups pool persons, so n and n*value add up over afdelinger.

Examples
--------
>>> reg = registry()
>>> reg["employment"].kind, reg["income"].kind
('share', 'mean')
>>> sorted(CONTRACT_MEASURES) == sorted(m for m in reg if m in CONTRACT_MEASURES)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import polars as pl

from panel.config import load_config
from panel.errors import InputError
from panel.regconfig import load_register_config

Kind = Literal["share", "mean", "sum"]
CONTRACT_MEASURES = ("education", "employment", "income", "non_western")
# measures whose numerators add up to another measure's on the same persons (declared to disclosure control)
PARTS: dict[str, tuple[str, ...]] = {
    "outside_labour_force": ("disability_pension_18_64", "early_retirement_18_64", "education_18_64"),
}
# Identities among denominators a reader of the release can use (queries/audit.py): n of the measures
# with denominator ``name`` = n of those with ``base`` minus the numerators of ``minus`` (all shares of
# ``base``). Verified on the synthetic panel (tests/test_release_audit.py); the audit imposes one only
# in the cells where the true values satisfy it.
DENOMINATOR_IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "adults": ("all", ("under_18", "over_64")),  # 18-64 = everyone - under 18 - over 64
    "over18": ("all", ("under_18",)),  # 18+ = everyone - under 18
}


@dataclass(frozen=True)
class Measure:
    """One measure: ``value`` over the rows where ``population`` is true.

    ``value`` is boolean for a share and numeric for a mean or sum; a null
    value leaves the person out of n (unknown education, unknown status).
    Magnitude measures (mean, sum) also get household dominance checks.
    ``denominator`` names the persons counted in n when other measures count
    exactly the same ones (same population, value known for every one of
    them): measures with one denominator share n in every cell, which a
    reader of the release can use (disclosure control: queries/audit.py).
    """

    name: str
    kind: Kind
    value: pl.Expr
    population: pl.Expr
    description: str
    denominator: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(Kind):
            raise InputError(f"measure {self.name!r}: kind must be one of {get_args(Kind)}, got {self.kind!r}")

    @property
    def magnitude(self) -> bool:
        """Means and sums of amounts get the dominance rules."""
        return self.kind in ("mean", "sum")

    def counted(self) -> pl.Expr:
        """True for rows in the population with a known value (they make up n)."""
        return (self.population & self.value.is_not_null()).fill_null(False)

    def contribution(self) -> pl.Expr:
        """The row's contribution to the cell sum (null when not counted)."""
        return pl.when(self.counted()).then(self.value.cast(pl.Float64))


def measure_config(override: str | None = None) -> dict[str, Any]:
    """The shipped ``queries/measures.toml`` (child age cut-off, equivalence scale, ages)."""
    return load_config("queries", "measures.toml", override)


def registry(config: Mapping[str, Any] | None = None, *,
             composition: Mapping[str, Any] | None = None) -> dict[str, Measure]:
    """All measures by name, in publication order; the four contract measures first.

    ``composition``: the household composition parameters the panel was built
    with (``[derive.household]``, :func:`queries.household.composition_config`;
    default the shipped ones): the child age and resource-strong ages come from there.
    """
    cfg = dict(config or measure_config())
    ages = cfg["ages"]
    hh = dict(composition or load_register_config()["derive"]["household"])
    rs_lo, rs_hi = hh["resource_strong_ages"]
    age = pl.col("age")
    socio = pl.col("socio_category")
    adult = age.is_between(ages["adult_min"], ages["adult_max"])
    over18 = age >= ages["adult_min"]
    everyone = pl.lit(True)
    known_socio = socio.is_not_null()

    def share_if_known(cond: pl.Expr) -> pl.Expr:
        return pl.when(known_socio).then(cond)

    entries = [
        # --- contract §3: these four keep their names
        Measure("education", "share", pl.col("competence_education"), pl.col("in_labour_force"),
                "labour force (18-64, not on disability or old-age pension or early retirement): "
                "share with competence-giving education (H20+); unknown education left out"),
        Measure("employment", "share", pl.col("employed"), pl.col("in_labour_force"),
                "labour force: share employed (AKM 111-139)"),
        Measure("income", "mean", pl.col("hh_income_2013"), adult,
                "adults 18-64: mean household disposable income, 2013 kr", denominator="adults"),
        Measure("non_western", "share", pl.col("non_western"), everyone,
                "everyone: share of non-Western origin (immigrants and descendants)", denominator="all"),
        # --- evaluation ch. 2 and annex B1.1; CFBU reports on resource-strong residents
        Measure("under_18", "share", age < ages["adult_min"], everyone, "everyone: share under 18", denominator="all"),
        Measure("over_64", "share", age > ages["adult_max"], everyone, "everyone: share over 64", denominator="all"),
        Measure("single_adults", "share", ~pl.col("hh_couple"), over18,
                "persons 18+: share not living in a couple (DST's enlige; a lone parent with an adult child is "
                "single; couple: panel.derive.couple_flags on the FAMILIE_ID household)", denominator="over18"),
        Measure("outside_labour_force", "share",
                share_if_known(socio.is_in(["disability_pension", "early_retirement", "education"])), adult,
                "adults 18-64 with known status: share on disability pension, early retirement or in education", denominator="adults_known_status"),
        Measure("unemployed", "share", share_if_known(socio == "unemployed"), over18,
                "persons 18+ with known status: share unemployed at least half the year (AKM 210)", denominator="over18_known_status"),
        Measure("cash_benefit", "share", share_if_known(socio == "cash_benefit"), over18,
                "persons 18+ with known status: share on cash benefit (AKM 330)", denominator="over18_known_status"),
        Measure("grundskole_18_29", "share", ~pl.col("competence_education"),
                age.is_between(ages["adult_min"], ages["young_max"]),
                "persons 18-29 with known education: share with grundskole (H10/H15) as highest"),
        Measure("equivalised_income", "mean", pl.col("hh_income_2013") / pl.col("eq_scale"), everyone,
                "everyone: mean equivalised household disposable income (OECD-modified scale), 2013 kr", denominator="all"),
        Measure("families_with_children", "share", pl.col("hh_children") > 0, everyone,
                f"everyone: share living in a family with a child under {hh['child_age']}", denominator="all"),
        # --- evaluation ch. 2 as published (figure 2.N of seed 002, lines ~459-1060): the population as worded there
        Measure("danish_origin", "share", pl.col("ie_type") == 1, everyone,
                "everyone with a known origin: share of Danish origin (figure 2.1)", denominator="all"),
        Measure("personal_income_18plus", "mean", pl.col("income_2013"), over18,
                "persons 18+: mean personal disposable income, 2013 kr (figure 2.8; 0 kr without an IND row)", denominator="over18"),
        Measure("employment_all_residents", "share", share_if_known(socio == "employed"), everyone,
                "everyone with a known AKM status, children included: share employed (ch. 7, 25-30 % in 2004)"),
        # the three parts of outside_labour_force (figure 2.5): they add up to it, on the same persons
        Measure("disability_pension_18_64", "share", share_if_known(socio == "disability_pension"), adult,
                "adults 18-64 with known status: share on disability pension (foertidspension; figure 2.5)", denominator="adults_known_status"),
        Measure("early_retirement_18_64", "share", share_if_known(socio == "early_retirement"), adult,
                "adults 18-64 with known status: share on early retirement (efterloen; figure 2.5)", denominator="adults_known_status"),
        Measure("education_18_64", "share", share_if_known(socio == "education"), adult,
                "adults 18-64 with known status: share in education (figure 2.5)", denominator="adults_known_status"),
        Measure("resource_strong", "share", pl.col("hh_resource_strong"),
                age.is_between(rs_lo, rs_hi),
                f"persons {rs_lo}-{rs_hi}: share employed or "
                "a student, or living with such a person of that age"),
    ]
    out = {m.name: m for m in entries}
    if len(out) != len(entries):
        raise InputError("two measures share a name in queries/registry.py")
    return out


def select(names: list[str] | None = None, config: Mapping[str, Any] | None = None) -> dict[str, Measure]:
    """The measures named (all when None), with an error naming an unknown one."""
    reg = registry(config)
    if names is None:
        return reg
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise InputError(f"unknown measures {unknown}; known: {', '.join(reg)}")
    return {n: reg[n] for n in names}
