"""``did.toml`` as a typed, validated plan, read before any estimate is made.

The shipped ``analyses/did/did.toml`` is merged with an optional user file
(``socialmix did OUT --config FILE``) and every table and key is checked
against the dataclasses below: an unknown key (with the nearest known one
suggested), a value of the wrong type or outside its allowed set fails with
one line naming the file, the table, the key and the allowed values. Before,
a typo such as ``control = "notyet_"`` only surfaced as an empty att_gt block
in summary.txt after every other estimator had run.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from panel.config import load_config, read_toml
from panel.errors import InputError

SHIPPED = "analyses/did/did.toml"
ESTIMATORS = ("twfe", "event_study", "att_gt", "sun_abraham", "dose")
POPULATIONS = ("stock", "in", "out")
COMPARISONS = ("any_tool", "anvisning_only", "fleksibel_only", "both")
COVARIATES = ("size", "non_western", "employment", "kom_size_class")


def _choice(*allowed: Any) -> dict[str, Any]:
    return {"allowed": allowed}


@dataclass(frozen=True)
class Weighting:
    """How afdeling-year cells are weighted, per population."""

    stock: str = field(default="persons", metadata=_choice("persons", "equal"))
    in_: str = field(default="persons", metadata={**_choice("persons", "equal"), "key": "in"})
    out: str = field(default="persons", metadata=_choice("persons", "equal"))

    def of(self, population: str) -> str:
        return {"stock": self.stock, "in": self.in_, "out": self.out}[population]


@dataclass(frozen=True)
class RunPlan:
    measures: tuple[str, ...]
    populations: tuple[str, ...] = field(metadata={"subset": POPULATIONS})
    comparisons: tuple[str, ...] = field(metadata={"subset": COMPARISONS})
    control_group: str = field(metadata=_choice("neither"))
    cluster: str  # (the minimum-cluster rule is the OUT's disclosure rules, never a did.toml key)
    estimators: tuple[str, ...] = field(metadata={"subset": ESTIMATORS})
    dose_comparisons: tuple[str, ...] = field(metadata={"subset": COMPARISONS})
    alpha: float = field(metadata={"range": (0.0, 1.0)})
    few_clusters: int = field(default=10, metadata={"range": (0, None)})
    weighting: Weighting = field(default_factory=Weighting)


@dataclass(frozen=True)
class AttGtPlan:
    control: str = field(metadata=_choice("never", "notyet"))
    base_period: str = field(metadata=_choice("varying", "universal"))
    anticipation: int = field(metadata={"range": (0, None)})
    allow_unbalanced: bool
    multiplier: str = field(metadata=_choice("mammen", "rademacher", "webb"))
    cells: bool
    pretest_permutations: int = field(metadata={"range": (0, None)})
    covariates: tuple[str, ...] = field(default=(), metadata={"subset": COVARIATES})
    est_method: str = field(default="dr", metadata=_choice("dr", "ipw", "reg"))
    covariate_fallback: str = field(default="drop", metadata=_choice("drop", "none"))
    small_sample: str = field(default="cr2", metadata=_choice("cr2", "none"))


@dataclass(frozen=True)
class EventStudyPlan:
    window: tuple[int, ...] = field(metadata={"length": 2})
    ref: int


@dataclass(frozen=True)
class DosePlan:
    bins: tuple[float, ...]


@dataclass(frozen=True)
class RandomizationPlan:
    permutations: int = field(default=99, metadata={"range": (0, None)})
    seed: int = 1


@dataclass(frozen=True)
class WildPlan:
    enabled: bool = False
    B: int = field(default=9999, metadata={"range": (1, None)})
    weights: str = field(default="rademacher", metadata=_choice("rademacher", "webb"))
    seed: int = 1


@dataclass(frozen=True)
class MultipleTestingPlan:
    enabled: bool = False
    family: str = field(default="headline", metadata=_choice("headline"))
    method: str = field(default="holm", metadata=_choice("holm", "bh", "bonferroni"))


@dataclass(frozen=True)
class SensitivityPlan:
    """HonestDiD (Rambachan & Roth) robust intervals of the event-study effect at ``event_time``."""

    enabled: bool = False
    event_time: int = 0
    mbar: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    m: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02)
    populations: tuple[str, ...] = field(default=("stock",), metadata={"subset": POPULATIONS})
    methods: tuple[str, ...] = field(default=("smoothness",),
                                     metadata={"subset": ("smoothness", "relative_magnitude")})


@dataclass(frozen=True)
class CovariatesPlan:
    names: tuple[str, ...] = field(default=COVARIATES, metadata={"subset": COVARIATES})
    kom_size_bounds: tuple[int, ...] = (20_000, 50_000, 100_000)


@dataclass(frozen=True)
class AreaStatusSplit:
    """Estimate every comparison also within listed / not listed boligområder (analyses/did/subsets.py)."""

    enabled: bool = False
    version: str = "2015"  # rule version in OUT/areas/areas.parquet
    year: int = field(default=0, metadata={"range": (0, None)})  # 0 = any pre-period year


@dataclass(frozen=True)
class SplitPlan:
    area_status: AreaStatusSplit = field(default_factory=AreaStatusSplit)


@dataclass(frozen=True)
class DidPlan:
    run: RunPlan
    att_gt: AttGtPlan
    event_study: EventStudyPlan
    dose: DosePlan
    randomization: RandomizationPlan = field(default_factory=RandomizationPlan)
    wild: WildPlan = field(default_factory=WildPlan)
    multiple_testing: MultipleTestingPlan = field(default_factory=MultipleTestingPlan)
    covariates: CovariatesPlan = field(default_factory=CovariatesPlan)
    sensitivity: SensitivityPlan = field(default_factory=SensitivityPlan)
    split: SplitPlan = field(default_factory=SplitPlan)


def _key(f) -> str:
    return f.metadata.get("key", f.name)


def _nearest(word: str, known) -> str:
    near = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _build(cls: type, data: dict[str, Any], path: str, source: Callable[[str, str], str]) -> Any:
    """Instantiate dataclass ``cls`` from the TOML table ``data`` at ``path`` (dotted; "" = top level)."""
    known = {_key(f): f for f in fields(cls)}
    label = f"[{path}]" if path else "top level"
    for k in data:
        if k not in known:
            raise InputError(f"{label}: unknown key {k!r}{_nearest(k, known)} (known: {', '.join(known)})",
                             file=source(path, k))
    kwargs = {}
    for k, f in known.items():
        if k in data:
            kwargs[f.name] = _value(f, data[k], path, k, source)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise InputError(f"{label}: missing key {k!r}", file=source(path, k))
    return cls(**kwargs)


def _value(f, v: Any, table: str, key: str, source: Callable[[str, str], str]) -> Any:
    """Check one value against its field's type and metadata; sub-tables recurse."""
    where = source(table, key)
    label = f"[{table}] {key}" if table else key
    typ, meta = str(f.type), f.metadata

    def bad(problem: str) -> InputError:
        return InputError(f"{label} {problem}", file=where)

    if typ in _TABLES:
        if not isinstance(v, dict):
            raise bad(f"must be a table, got {v!r}")
        return _build(_TABLES[typ], v, f"{table}.{key}" if table else key, source)
    if typ == "bool":
        if not isinstance(v, bool):
            raise bad(f"must be true or false, got {v!r}")
        return v
    if typ in ("int", "float"):
        if isinstance(v, bool) or not isinstance(v, int | float) or (typ == "int" and isinstance(v, float)):
            raise bad(f"must be {'an integer' if typ == 'int' else 'a number'}, got {v!r}")
        lo, hi = meta.get("range", (None, None))
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise bad(f"must be in [{lo}, {'inf' if hi is None else hi}], got {v!r}")
        return float(v) if typ == "float" else int(v)
    if typ == "str":
        if not isinstance(v, str):
            raise bad(f"must be a string, got {v!r}")
        allowed = meta.get("allowed")
        if allowed and v not in allowed:
            raise bad(f"= {v!r} is not one of {', '.join(map(repr, allowed))}{_nearest(v, allowed)}")
        return v
    inner = typ.removeprefix("tuple[").split(",")[0].strip()
    if not isinstance(v, list):
        raise bad(f"must be a list, got {v!r}")
    for x in v:
        ok = isinstance(x, str) if inner == "str" else (
            isinstance(x, int | float) and not isinstance(x, bool) and not (inner == "int" and isinstance(x, float)))
        if not ok:
            raise bad(f"entries must be of type {inner}, got {x!r}")
    if "subset" in meta:
        unknown = [x for x in v if x not in meta["subset"]]
        if unknown:
            raise bad(f"has unknown entries {unknown}{_nearest(str(unknown[0]), meta['subset'])} "
                      f"(allowed: {', '.join(meta['subset'])})")
    if "length" in meta and len(v) != meta["length"]:
        raise bad(f"must have {meta['length']} entries, got {len(v)}")
    return tuple({"str": str, "int": int, "float": float}[inner](x) for x in v)


_TABLES = {c.__name__: c for c in (Weighting, RunPlan, AttGtPlan, EventStudyPlan, DosePlan, RandomizationPlan,
                                    SensitivityPlan,
                                    WildPlan, MultipleTestingPlan, CovariatesPlan, AreaStatusSplit, SplitPlan)}


def load_plan(override: str | Path | None = None) -> DidPlan:
    """The shipped did.toml merged with ``override``, validated into a :class:`DidPlan`.

    Errors name the user file when the offending key comes from it, else the shipped file.

    Examples
    --------
    >>> load_plan().att_gt.control
    'never'
    """
    # unknown keys: the one checked loader of every TOML (panel.config), with its nearest-key message
    merged = load_config("analyses.did", "did.toml", override)
    user = read_toml(override) if override is not None else {}

    def source(path: str, key: str) -> str:
        node: Any = user
        for part in [p for p in path.split(".") if p] + [key]:
            if not isinstance(node, dict) or part not in node:
                return SHIPPED
            node = node[part]
        return str(override)

    plan = _build(DidPlan, merged, "", source)
    from queries.registry import select

    try:
        select(list(plan.run.measures))
    except InputError as err:
        raise InputError(f"[run] measures: {err.problem}", file=source("run", "measures")) from None
    return plan
