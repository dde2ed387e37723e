"""The disclosure rule set of an OUT folder: decided once by ``measures``, read by every later stage.

Contract §7: ``socialmix measures OUT [--profile dst|safe] [--min-cell N]
[--rules FILE]`` decides the rules (:func:`decide_rules`) and writes them to
``OUT/measures/disclosure_rules.toml`` (and a description,
``disclosure_rules.txt``); ``did``, ``report`` and ``export`` read exactly
that file (:func:`load_rules` with the OUT folder) and never a profile of
their own, so one OUT is never protected by two rule sets.

A profile of ``queries/disclosure.toml`` is the environment's *floor*:
``--min-cell`` may only raise it. Loosening any threshold (a smaller
``min_persons``, a larger ``dominance_k`` ...) needs a rules file that says
``allow_below_floor = true`` with a ``reason``; every released table is then
stamped (column :data:`STAMP_COLUMN`) and ``export`` refuses the OUT unless
the rules file also says ``export_below_floor = true``.

Examples
--------
>>> r = load_rules("dst")
>>> r.min_persons, r.class_min_n, r.below_floor
(5, 10, ())
>>> load_rules("dst", min_cell=3).below_floor
('min_persons',)
>>> decide_rules("safe", min_cell=12).min_persons
12
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from panel.atomic import staged_file
from panel.config import load_config, read_toml
from panel.errors import InputError

Profile = Literal["dst", "safe"]

RULES_TOML = "disclosure_rules.toml"
RULES_TXT = "disclosure_rules.txt"
RULES_DIR = "measures"  # OUT/measures/disclosure_rules.toml
# Column added to every released table when the rules are below the profile's floor.
STAMP_COLUMN = "below_disclosure_floor"

# Thresholds a larger value of which is stricter ("at least"), and the two where a larger value is looser.
AT_LEAST = ("min_persons", "min_units", "dominance_n", "p_ratio", "min_clusters", "min_obs", "min_dof",
            "class_min_n")
AT_MOST = ("dominance_k",)
THRESHOLDS = (*AT_LEAST, *AT_MOST)
# How the measures release is protected against a reader combining its tables (issue 16, part 3):
# key -> (strict value, allowed values or None for a number). Optional in a profile (default: strict).
# ``protection_count`` 0 means "the person threshold"; ``flow_level`` "afdeling" also publishes
# afdeling rows of the flow tables; ``lockstep`` false / ``audit`` false switch those steps off.
RELEASE_DEFAULTS: dict[str, Any] = {"flow_level": "group", "lockstep": True, "audit": True,
                                    "protection_count": 0, "protection_p": 0.10}
FLOW_LEVELS = ("group", "afdeling")  # strictest first
RELEASE_KEYS = tuple(RELEASE_DEFAULTS)
# Keys a rules file may hold besides the thresholds.
POLICY_KEYS = ("profile", "allow_below_floor", "reason", "export_below_floor")


@dataclass(frozen=True)
class Rules:
    """One disclosure rule set.

    ``min_persons`` applies to every cell (persons in the denominator);
    ``min_units`` to the households behind a magnitude cell (mean or sum);
    ``class_min_n``: a share of exactly 0 or 1 (all or none of a cell's
    persons have the trait) is published only with at least this many
    persons (0 = off). In the ``dst`` profile a mean-income cell thus needs at
    least 5 persons AND at least 3 households AND the two largest households
    at most 85 % of the total. ``below_floor`` names the thresholds loosened
    below the shipped profile (empty for a normal release).
    """

    profile: str
    min_persons: int
    min_units: int
    dominance_n: int
    dominance_k: float
    p_ratio: float
    min_clusters: int
    min_obs: int
    min_dof: int
    class_min_n: int = 0
    flow_level: str = "group"
    lockstep: bool = True
    audit: bool = True
    protection_count: int = 0
    protection_p: float = 0.10
    below_floor: tuple[str, ...] = ()
    reason: str = ""
    export_below_floor: bool = False
    source: str = ""

    def describe(self) -> str:
        """One line for logs and reports."""
        p = f", p-ratio {self.p_ratio:.0%}" if self.p_ratio > 0 else ""
        c = f", shares of 0 or 1 need n >= {self.class_min_n}" if self.class_min_n > 0 else ""
        low = f" [BELOW THE {self.profile} FLOOR: {', '.join(self.below_floor)}]" if self.below_floor else ""
        rel = (f"; flow tables at {self.flow_level} level" + (", population blocks withheld whole" if self.lockstep
                                                               else "")
               + (f", interval audit (+-{self.count_level} persons, +-{self.protection_p:.0%} of amounts)"
                  if self.audit else ", no interval audit"))
        return (f"profile {self.profile}: persons >= {self.min_persons}, households >= {self.min_units}, "
                f"N-K {self.dominance_n}/{self.dominance_k:.0%}{p}{c}; estimates: clusters >= {self.min_clusters}, "
                f"obs >= {self.min_obs}, dof >= {self.min_dof}{rel}{low}")

    @property
    def count_level(self) -> int:
        """Protection interval of a withheld count: ``protection_count``, or the person threshold when 0."""
        return self.protection_count or self.min_persons

    def thresholds(self) -> dict[str, int | float]:
        """The threshold keys and their values."""
        return {k: getattr(self, k) for k in THRESHOLDS}


# ------------------------------------------------------------------ profiles
def _profiles() -> dict[str, dict[str, Any]]:
    return load_config("queries", "disclosure.toml")["profiles"]


def _check_profile(profile: str) -> None:
    if profile not in get_args(Profile):
        raise InputError(f"unknown disclosure profile {profile!r}; choose one of {', '.join(get_args(Profile))}")


def _coerce(key: str, value: Any, file: str | Path) -> int | float:
    """A threshold value of the right type, or an error naming the file and the key."""
    want = float if key in ("dominance_k", "p_ratio", "protection_p") else int
    if isinstance(value, bool) or not isinstance(value, int | float) or (want is int and value != int(value)):
        raise InputError(f"key {key!r} must be {'a number' if want is float else 'an integer'}, got {value!r}",
                         file=file)
    v = want(value)
    if v < 0 or (key == "dominance_k" and not 0 < v <= 1) or (key == "dominance_n" and v < 1):
        raise InputError(f"key {key!r} out of range: {v!r}", file=file)
    return v


def _coerce_release(key: str, value: Any, file: str | Path) -> Any:
    """A release key's value (:data:`RELEASE_DEFAULTS`), or an error naming the file and the key."""
    if key == "flow_level":
        if value not in FLOW_LEVELS:
            raise InputError(f"key 'flow_level' must be one of {', '.join(map(repr, FLOW_LEVELS))}, got {value!r}",
                             file=file)
        return value
    if key in ("lockstep", "audit"):
        if not isinstance(value, bool):
            raise InputError(f"key {key!r} must be true or false", file=file)
        return value
    v = _coerce(key, value, file)
    if key == "protection_p" and v > 1:
        raise InputError(f"key 'protection_p' out of range: {v!r}", file=file)
    return v


def _floor(profile: str) -> Rules:
    """The shipped profile itself (no ``--min-cell``, no rules file): the environment's floor."""
    _check_profile(profile)
    src = "queries/disclosure.toml"
    p = _profiles().get(profile)
    if p is None:
        raise InputError(f"profile {profile!r} is missing", file=src)
    missing = [k for k in THRESHOLDS if k not in p]
    if missing:
        raise InputError(f"profile {profile!r} lacks keys {missing}", file=src)
    release = {k: _coerce_release(k, p.get(k, d), src) for k, d in RELEASE_DEFAULTS.items()}
    return Rules(profile=profile, **{k: _coerce(k, p[k], src) for k in THRESHOLDS}, **release,
                 source=f"profile {profile}")


def _looser(key: str, rules: Rules, floor: Rules) -> bool:
    """Whether ``rules`` is looser than ``floor`` in ``key``."""
    if key in AT_MOST:
        return getattr(rules, key) > getattr(floor, key)
    if key == "flow_level":
        return FLOW_LEVELS.index(rules.flow_level) > FLOW_LEVELS.index(floor.flow_level)
    if key in ("lockstep", "audit"):
        return getattr(floor, key) and not getattr(rules, key)
    if key == "protection_count":
        return rules.protection_count != 0 and rules.count_level < floor.count_level  # 0 follows min_persons
    return getattr(rules, key) < getattr(floor, key)


def _loosened(rules: Rules, floor: Rules) -> tuple[str, ...]:
    """Keys of ``rules`` looser than ``floor``, in :data:`THRESHOLDS` then :data:`RELEASE_KEYS` order."""
    return tuple(k for k in (*THRESHOLDS, *RELEASE_KEYS) if _looser(k, rules, floor))


def load_rules(source: str | Path = "dst", min_cell: int | None = None) -> Rules:
    """The rules of a profile (``source`` a name: ``"dst"``, ``"safe"``) or of an OUT folder (a :class:`Path`).

    With a profile name, ``min_cell`` replaces the person threshold (and
    raises the observation threshold of estimates); a value below the
    profile's floor is allowed here, for library use and tests, but marked in
    ``below_floor`` (the command line refuses it: :func:`decide_rules`).
    With a ``Path``, the rules ``measures`` decided for that OUT are read from
    ``OUT/measures/disclosure_rules.toml``; there is no fallback.
    """
    if isinstance(source, Path):
        if min_cell is not None:
            raise InputError("min_cell applies to a profile, not to the rules of an OUT folder")
        return read_rules_file(Path(source) / RULES_DIR / RULES_TOML)
    _check_profile(source)
    rules = _floor(source)
    if min_cell is not None:
        if isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 1:
            raise InputError(f"--min-cell must be a positive integer, got {min_cell!r}")
        rules = replace(rules, min_persons=min_cell, min_obs=max(rules.min_obs, min_cell),
                        source=f"profile {source}, --min-cell {min_cell}")
    return replace(rules, below_floor=_loosened(rules, _floor(source)))


def _unknown_key(key: str, known: tuple[str, ...], file: str | Path) -> InputError:
    near = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return InputError(f"unknown key {key!r}{hint}; known keys: {', '.join(known)}", file=file)


def decide_rules(profile: str = "dst", min_cell: int | None = None, rules_file: str | Path | None = None) -> Rules:
    """The rules ``measures`` applies: profile, then the rules file's keys, then ``--min-cell``.

    ``--min-cell`` may only raise the person threshold. A rules file may
    loosen thresholds below the profile only with ``allow_below_floor = true``
    and a non-empty ``reason``.
    """
    _check_profile(profile)
    floor = _floor(profile)
    rules = floor
    if rules_file is not None:
        path = Path(rules_file)
        if not path.is_file():
            raise InputError("rules file not found", file=path)
        text = path.read_text(encoding="utf-8", errors="replace")
        user = read_toml(path)  # a file that is not TOML: one line naming it
        for key in user:
            if key not in THRESHOLDS + RELEASE_KEYS + POLICY_KEYS:
                raise _unknown_key(key, THRESHOLDS + RELEASE_KEYS + POLICY_KEYS, path)
        if "profile" in user and user["profile"] != profile:
            raise InputError(f"rules file is for profile {user['profile']!r} but --profile is {profile!r}", file=path)
        allow = user.get("allow_below_floor", False)
        export_ok = user.get("export_below_floor", False)
        reason = user.get("reason", "")
        for key, val in (("allow_below_floor", allow), ("export_below_floor", export_ok)):
            if not isinstance(val, bool):
                raise InputError(f"key {key!r} must be true or false", file=path)
        if not isinstance(reason, str):
            raise InputError("key 'reason' must be a string", file=path)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        rules = replace(floor, **{k: _coerce(k, v, path) for k, v in user.items() if k in THRESHOLDS},
                        **{k: _coerce_release(k, v, path) for k, v in user.items() if k in RELEASE_KEYS},
                        reason=reason.strip(), export_below_floor=export_ok,
                        source=f"profile {profile} + rules file {path.name} (sha256 {digest})")
        low = _loosened(rules, floor)
        if low and not allow:
            raise InputError(f"loosens {', '.join(low)} below the {profile} profile; set allow_below_floor = true "
                             "and give a reason if the environment permits it", file=path)
        if low and not rules.reason:
            raise InputError("allow_below_floor needs a non-empty reason", file=path)
        if export_ok and not low:
            rules = replace(rules, export_below_floor=False)
        rules = replace(rules, below_floor=low)
    if min_cell is not None:
        if isinstance(min_cell, bool) or not isinstance(min_cell, int) or min_cell < 1:
            raise InputError(f"--min-cell must be a positive integer, got {min_cell!r}")
        if min_cell < rules.min_persons:
            raise InputError(f"--min-cell {min_cell} would lower the person threshold {rules.min_persons} "
                             f"({rules.source}); --min-cell may only raise it. Going below the {profile} floor "
                             "needs a rules file (--rules FILE) with min_persons, allow_below_floor = true "
                             "and a reason")
        rules = replace(rules, min_persons=min_cell, min_obs=max(rules.min_obs, min_cell),
                        source=f"{rules.source}, --min-cell {min_cell}")
    return rules


# ------------------------------------------------------------------ the OUT's file
def rules_text(rules: Rules) -> str:
    """The human description written beside the TOML (``disclosure_rules.txt``)."""
    lines = [rules.describe(), f"decided by: {rules.source}"]
    if rules.below_floor:
        floor = _floor(rules.profile)
        lines += ["WARNING: these rules are below the environment's floor (the shipped "
                  f"{rules.profile} profile): " + ", ".join(f"{k} {_toml_value(getattr(rules, k))} "
                                                         f"(floor {_toml_value(getattr(floor, k))})"
                                                         for k in rules.below_floor),
                  f"reason given: {rules.reason}",
                  f"every released table carries the column {STAMP_COLUMN} = true",
                  "export: " + ("allowed by the rules file (export_below_floor = true)" if rules.export_below_floor
                                else "refused (the rules file does not set export_below_floor = true)")]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def save_rules(rules: Rules, folder: str | Path) -> None:
    """Write ``folder/disclosure_rules.toml`` and ``disclosure_rules.txt`` (each atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = ["# Disclosure rules applied to this OUT (written by `socialmix measures`; read by did, report, export).",
            "# Editing this file does not change the release: rerun `socialmix measures` with --rules."]
    body += [f"{k} = {_toml_value(v)}" for k, v in asdict(rules).items()]
    with staged_file(folder / RULES_TOML) as tmp:
        tmp.write_text("\n".join(body) + "\n", encoding="utf-8")
    with staged_file(folder / RULES_TXT) as tmp:
        tmp.write_text(rules_text(rules), encoding="utf-8")


def read_rules_file(path: str | Path) -> Rules:
    """The rules saved by :func:`save_rules`, re-checked against the shipped profile.

    The file's own claims are not trusted: loosened thresholds are recomputed
    against the profile, and a file that loosens one without
    ``allow_below_floor`` history (a reason) is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no disclosure rules for this OUT; run `socialmix measures` first", file=path)
    data = read_toml(path)
    names = tuple(f.name for f in fields(Rules))
    for key in data:
        if key not in names:
            raise _unknown_key(key, names, path)
    missing = [k for k in ("profile", *THRESHOLDS) if k not in data]
    if missing:
        raise InputError(f"lacks keys {missing}", file=path)
    _check_profile(data["profile"])
    rules = Rules(profile=data["profile"], **{k: _coerce(k, data[k], path) for k in THRESHOLDS},
                  **{k: _coerce_release(k, data.get(k, d), path) for k, d in RELEASE_DEFAULTS.items()},
                  reason=str(data.get("reason", "")), export_below_floor=bool(data.get("export_below_floor", False)),
                  source=str(data.get("source", "")))
    low = _loosened(rules, _floor(rules.profile))
    if low and not rules.reason:
        raise InputError(f"loosens {', '.join(low)} below the {rules.profile} profile without a reason "
                         "(not written by `socialmix measures`?)", file=path)
    return replace(rules, below_floor=low, export_below_floor=rules.export_below_floor and bool(low))
