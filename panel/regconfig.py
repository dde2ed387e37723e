"""The register config: which file, which column names, which types and codes.

A statistician points socialmix at their own delivery by editing TOML, never
code. This module loads ``panel/registers.toml`` (deep-merged with a user
``--config`` file) and resolves it, per register and year, into the expected
file path and the delivered column name of every canonical column. The build,
``socialmix convert`` and the preflight ``socialmix check`` all read the
delivery through :func:`register_files` and :func:`lookup_files`, so the three
agree on what a delivery must look like.

Examples
--------
>>> cfg = load_register_config()
>>> resolve_columns(cfg, "akm", 2008)["SOCIO"], resolve_columns(cfg, "akm", 2009)["SOCIO"]
('SOCIO02', 'SOCIO13')
>>> [f.path.as_posix() for f in register_files("REG", (2004, 2004), config=cfg) if f.register == "bef"]
['REG/bef/bef_2003.parquet', 'REG/bef/bef_2004.parquet']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panel.config import check_keys, deep_merge, load_config, read_toml, shipped_config
from panel.errors import SocialmixError

REGISTERS = ("bef", "udda", "ind", "akm")
OPTIONAL_REGISTERS = ("kraf",)  # may be absent from a delivery as a whole (contract §8)
LOOKUPS = ("afdeling", "afdeling_address", "cpi", "hfaudd", "country")
OPTIONAL_LOOKUPS = ("kommune_region",)
TYPES = ("str", "int", "float", "date", "bool")
UNKNOWN = "unknown"  # code-list category that maps to null

Config = dict[str, Any]


@dataclass(frozen=True)
class RegisterFile:
    """One register-year of a delivery as the config expects it.

    ``columns`` maps canonical name -> delivered column name for that year;
    ``types`` and ``codes`` are keyed by canonical name; ``optional`` columns
    may be absent.
    """

    register: str
    year: int
    path: Path
    columns: dict[str, str]
    types: dict[str, str]
    codes: dict[str, str] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    multi_row: bool = False  # several rows per PNR (convictions), so no uniqueness check


@dataclass(frozen=True)
class LookupFile:
    """One lookup table (not per year): path, canonical column types and the columns that may be absent."""

    name: str
    path: Path
    types: dict[str, str]
    optional: frozenset[str] = frozenset()


def load_register_config(config: str | Path | Config | None = None) -> Config:
    """The shipped register config, merged with a user TOML file (or an already loaded dict).

    Examples
    --------
    >>> load_register_config()["registers"]["bef"]["pattern"]
    'bef/bef_{year}.parquet'
    """
    if isinstance(config, dict):
        cfg = config
        src: str | Path = "register config"
    elif config is None:
        cfg = load_config("panel", "registers.toml")
        src = "panel/registers.toml"
    else:
        cfg = _user_config(Path(config))
        src = config
    _check_config(cfg, src)
    return cfg


def _user_config(path: Path) -> Config:
    """Shipped config merged with the user file; its ``[check]`` table is checked against ``check.toml``."""
    base, open_paths = shipped_config("panel", "registers.toml")
    user = read_toml(path)
    check = user.pop("check", None)
    check_keys(user, base, source=path, open_paths=open_paths)
    cfg = deep_merge(base, user)
    if check is not None:
        rules, rules_open = shipped_config("panel", "check.toml")
        check_keys({"check": check}, {"check": rules}, source=path,
                   open_paths=[f"check.{p}" for p in rules_open])
        cfg["check"] = check
    return cfg


def _check_config(cfg: Config, src: str | Path) -> None:
    regs = cfg.get("registers", {})
    for name in REGISTERS:
        if name not in regs:
            raise SocialmixError(f"register [registers.{name}] missing from the config", file=src)
        spec = regs[name]
        for key in ("pattern", "columns", "types"):
            if key not in spec:
                raise SocialmixError(f"[registers.{name}] has no '{key}'", file=src)
        if "{year}" not in spec["pattern"]:
            raise SocialmixError(f"[registers.{name}] pattern must contain {{year}}", file=src)
        for col, typ in spec["types"].items():
            if typ not in TYPES:
                raise SocialmixError(f"[registers.{name}.types] {col} = {typ!r}: type must be one of {TYPES}", file=src)
        for col, codelist in spec.get("codes", {}).items():
            if codelist not in cfg.get("codes", {}):
                raise SocialmixError(f"[registers.{name}.codes] {col}: no code list [codes.{codelist}]", file=src)
        for rng in spec.get("column_years", {}):
            _parse_range(rng, src)
    for name, lim in cfg.get("join_loss", {}).items():
        if isinstance(lim, dict):
            for key, share in lim.items():
                if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                    raise SocialmixError(f"[join_loss.{name}] {key} = {share!r}: must be a share from 0 to 1",
                                         file=src)
    for name in LOOKUPS:
        spec = cfg.get("lookups", {}).get(name)
        if spec is None or "path" not in spec:
            raise SocialmixError(f"lookup [lookups.{name}] with a 'path' missing from the config", file=src)
    for name, lists in cfg.get("codes", {}).items():
        seen: dict[int, str] = {}
        for cat, codes in lists.items():
            for code in codes:
                if code in seen and seen[code] != cat:
                    raise SocialmixError(f"[codes.{name}] code {code} is in both {seen[code]} and {cat}", file=src)
                seen[code] = cat


def _parse_range(text: str, src: str | Path = "register config") -> tuple[int, int]:
    try:
        lo, hi = text.split("-")
        return (int(lo) if lo.strip() else -10**6, int(hi) if hi.strip() else 10**6)
    except ValueError:
        raise SocialmixError(f"year range {text!r} must look like '2003-2008', '2009-' or '-2008'", file=src) from None


def resolve_columns(cfg: Config, register: str, year: int) -> dict[str, str]:
    """Canonical -> delivered column names of ``register`` in ``year`` (narrowest year range wins)."""
    spec = cfg["registers"][register]
    cols = dict(spec["columns"])
    ranges = []
    for text, renames in spec.get("column_years", {}).items():
        lo, hi = _parse_range(text)
        if lo <= year <= hi:
            ranges.append((hi - lo, text, renames))
    for _, _, renames in sorted(ranges, key=lambda r: (-r[0], r[1])):  # widest first, narrowest applied last
        cols.update(renames)
    return cols


def register_file(reg: str | Path, register: str, year: int, config: Config) -> RegisterFile:
    """The expected file of one register-year."""
    spec = config["registers"][register]
    return RegisterFile(
        register=register,
        year=year,
        path=Path(reg) / spec["pattern"].format(year=year),
        columns=resolve_columns(config, register, year),
        types=dict(spec["types"]),
        codes=dict(spec.get("codes", {})),
        optional=frozenset(spec.get("optional", [])),
        multi_row=bool(spec.get("multi_row", False)),
    )


def register_files(reg: str | Path, years: tuple[int, int], *, config: Config | str | Path | None = None) -> list[RegisterFile]:
    """Every register-year a build of panel ``years`` reads: Y1-1 ... Y2 for each register.

    Examples
    --------
    >>> files = register_files("REG", (2004, 2013))
    >>> len(files), files[0].register, files[0].year
    (44, 'bef', 2003)
    """
    cfg = config if isinstance(config, dict) else load_register_config(config)
    y1, y2 = years
    return [register_file(reg, r, y, cfg) for r in REGISTERS for y in range(y1 - 1, y2 + 1)]


def optional_register_files(reg: str | Path, years: tuple[int, int], *,
                            config: Config | str | Path | None = None) -> list[RegisterFile]:
    """The register-years of the optional registers a delivery holds (all years of one, or none of it).

    A register present for some years but not others is an error naming the first missing file: a
    conviction share that silently drops to 0 in a missing year would move areas on or off the lists.
    """
    cfg = config if isinstance(config, dict) else load_register_config(config)
    y1, y2 = years
    out: list[RegisterFile] = []
    for r in OPTIONAL_REGISTERS:
        if r not in cfg.get("registers", {}):
            continue
        files = [register_file(reg, r, y, cfg) for y in range(y1 - 1, y2 + 1)]
        present = [f for f in files if f.path.is_file()]
        if present and len(present) < len(files):
            missing = next(f for f in files if not f.path.is_file())
            raise SocialmixError(f"{r.upper()} is delivered for some years but not {missing.year}; deliver every "
                                 "year or none", file=missing.path)
        out.extend(present)
    return out


def lookup_files(reg: str | Path, *, config: Config | str | Path | None = None,
                 include_optional: bool = False) -> list[LookupFile]:
    """The lookup tables of a delivery (afdeling, addresses, CPI, education levels, countries).

    ``include_optional`` adds the optional lookups that exist in the delivery (kommune_region).
    """
    cfg = config if isinstance(config, dict) else load_register_config(config)

    def one(name: str) -> LookupFile:
        spec = cfg["lookups"][name]
        return LookupFile(name, Path(reg) / spec["path"], dict(spec.get("types", {})),
                          frozenset(spec.get("optional", [])))

    files = [one(name) for name in LOOKUPS]
    if include_optional:
        files += [f for f in (one(n) for n in OPTIONAL_LOOKUPS if n in cfg.get("lookups", {})) if f.path.is_file()]
    return files


def code_map(cfg: Config, name: str) -> dict[int, str | None]:
    """Code -> category of code list ``name``; the category ``unknown`` maps to None.

    Examples
    --------
    >>> m = code_map(load_register_config(), "socio")
    >>> m[111], m[330], m[999]
    ('employed', 'cash_benefit', None)
    """
    out: dict[int, str | None] = {}
    for cat, codes in cfg["codes"][name].items():
        for code in codes:
            out[int(code)] = None if cat == UNKNOWN else cat
    return out
