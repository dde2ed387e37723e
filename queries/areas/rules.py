"""Rule versions of the official area lists, read from TOML (one file per version).

Every version is data so that a user adds one (a municipality's own variant, a
later agreement) without touching code: thresholds, ages, averaging years, how
many criteria an area must meet, and statuses built from criteria and earlier
statuses (the 2018 "hårdeste" = ghetto four years running). The shipped
versions cite the seed passages they rest on; docs/areas.md explains each.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from panel.config import load_config, read_toml
from panel.errors import InputError

CRITERIA = ("outside_work_education", "non_western_origin", "convicted", "basic_education", "income_ratio")
Compare = Literal[">", ">=", "<", "<="]
COMPARES: tuple[str, ...] = (">", ">=", "<", "<=")
# default populations of each criterion (seed 003 box; seed 004): overridable per version with `ages`
DEFAULT_AGES: dict[str, tuple[int, int]] = {
    "outside_work_education": (18, 64),
    "non_western_origin": (0, 200),
    "convicted": (18, 200),
    "basic_education": (30, 59),
    "income_ratio": (15, 64),
}
_CRITERION_KEYS = {"compare", "threshold", "average_years", "ages", "levels", "include_unknown",
                   "relative_to_national", "categories"}
_STATUS_KEYS = {"name", "needed", "of", "requires", "years_running", "any"}
_ANY_KEYS = {"min_residents", "criterion", "compare", "threshold", "afdeling_max_at_least"}
_TOP_KEYS = {"name", "source", "min_residents", "criteria", "status"}


@dataclass(frozen=True)
class Criterion:
    """One criterion of a rule version: its population, its value's definition and its threshold."""

    name: str
    compare: str
    threshold: float
    average_years: int = 1
    ages: tuple[int, int] = (0, 200)
    levels: tuple[str, ...] = ("H10", "H15")
    include_unknown: bool = False
    relative_to_national: bool = False
    # AKM categories that count as attached (outside_work_education: everyone else with a known category)
    categories: tuple[str, ...] = ("employed", "education")


@dataclass(frozen=True)
class Alternative:
    """One way to satisfy a status (kombineret udlejning: >= 1,000 and 40 %, or >= 5,000 and 30 %)."""

    min_residents: int
    criterion: str
    compare: str
    threshold: float
    afdeling_max_at_least: float | None = None


@dataclass(frozen=True)
class Status:
    """A status holds when its criteria count, its requirements and its alternatives all hold."""

    name: str
    needed: int = 0
    of: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    years_running: int = 1
    any: tuple[Alternative, ...] = ()


@dataclass(frozen=True)
class RuleVersion:
    """A named rule version: the criteria it evaluates and the statuses it assigns."""

    name: str
    source: str
    min_residents: int
    criteria: dict[str, Criterion]
    statuses: tuple[Status, ...] = field(default_factory=tuple)

    @property
    def status_names(self) -> tuple[str, ...]:
        return ("none", *(s.name for s in self.statuses))


def _unknown(keys: set[str], known: set[str], where: str, file: str) -> None:
    for key in sorted(keys - known):
        near = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise InputError(f"unknown key {key!r} in {where}{hint}", file=file)


def _compare(value: Any, where: str, file: str) -> str:
    if value not in COMPARES:
        raise InputError(f"{where}: compare must be one of {', '.join(COMPARES)}, got {value!r}", file=file)
    return str(value)


def parse_rule(data: dict[str, Any], *, file: str) -> RuleVersion:
    """Validate one rule version's TOML content into a :class:`RuleVersion`."""
    _unknown(set(data), _TOP_KEYS, "the rule version", file)
    try:
        criteria: dict[str, Criterion] = {}
        for name, c in data.get("criteria", {}).items():
            if name not in CRITERIA:
                near = difflib.get_close_matches(name, CRITERIA, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise InputError(f"unknown criterion {name!r}{hint}", file=file)
            _unknown(set(c), _CRITERION_KEYS, f"[criteria.{name}]", file)
            criteria[name] = Criterion(
                name=name, compare=_compare(c.get("compare", ">"), f"[criteria.{name}]", file),
                threshold=float(c["threshold"]), average_years=int(c.get("average_years", 1)),
                ages=tuple(c.get("ages", DEFAULT_AGES[name])), levels=tuple(c.get("levels", ("H10", "H15"))),
                include_unknown=bool(c.get("include_unknown", False)),
                relative_to_national=bool(c.get("relative_to_national", False)),
                categories=tuple(c.get("categories", ("employed", "education"))))
            if criteria[name].average_years < 1:
                raise InputError(f"[criteria.{name}]: average_years must be at least 1", file=file)
        statuses: list[Status] = []
        for s in data.get("status", []):
            _unknown(set(s), _STATUS_KEYS, f"status {s.get('name', '?')!r}", file)
            alts = []
            for a in s.get("any", []):
                _unknown(set(a), _ANY_KEYS, f"an alternative of status {s['name']!r}", file)
                alts.append(Alternative(min_residents=int(a["min_residents"]), criterion=str(a["criterion"]),
                                        compare=_compare(a.get("compare", ">="), f"status {s['name']!r}", file),
                                        threshold=float(a["threshold"]),
                                        afdeling_max_at_least=a.get("afdeling_max_at_least")))
            statuses.append(Status(name=str(s["name"]), needed=int(s.get("needed", 0)), of=tuple(s.get("of", ())),
                                   requires=tuple(s.get("requires", ())),
                                   years_running=int(s.get("years_running", 1)), any=tuple(alts)))
        version = RuleVersion(name=str(data["name"]), source=str(data.get("source", "")),
                              min_residents=int(data.get("min_residents", 0)), criteria=criteria,
                              statuses=tuple(statuses))
    except KeyError as err:
        raise InputError(f"rule version lacks the key {err.args[0]!r}", file=file) from None
    except (TypeError, ValueError) as err:
        raise InputError(f"rule version has a malformed value ({err})", file=file) from None
    seen = set(criteria)
    for s in version.statuses:
        for ref in (*s.of, *s.requires, *(a.criterion for a in s.any)):
            if ref not in seen:
                raise InputError(f"status {s.name!r} refers to {ref!r}, which is neither a criterion of this "
                                 "version nor an earlier status", file=file)
        seen.add(s.name)
    return version


def shipped_versions() -> list[str]:
    """Names of the rule versions shipped with socialmix."""
    files = resources.files("queries.areas").joinpath("rules").iterdir()
    return sorted(p.name.removesuffix(".toml") for p in files if p.name.endswith(".toml"))


def load_rule(name_or_path: str | Path) -> RuleVersion:
    """A shipped version by name (``"2015"``, ``"2018"``, ``"kombineret_2009"`` ...) or a user's TOML file.

    Examples
    --------
    >>> v = load_rule("2018")
    >>> v.status_names, v.criteria["convicted"].relative_to_national
    (('none', 'udsat', 'ghetto', 'haardeste'), True)
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():  # a user's version: a whole file, checked by parse_rule
        return parse_rule(read_toml(path), file=str(path))
    name = str(name_or_path)
    if name not in shipped_versions():
        raise InputError(f"unknown rule version {name!r}; shipped: {', '.join(shipped_versions())} "
                         "(or give the path of a .toml file)")
    return parse_rule(load_config("queries.areas", f"rules/{name}.toml"), file=f"queries/areas/rules/{name}.toml")
