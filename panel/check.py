"""Preflight of a register delivery: schemas and row counts only, never the data.

Inside a secure research environment a build over the whole population takes
a long time and a failure an hour in is expensive. ``socialmix check REG``
reads only parquet footers (schema and ``num_rows``) and CSV headers, and
tells, per register and year, what is present, missing or malformed, which
delivered column names the register config resolved to (``SOCIO02`` vs
``SOCIO13``), and which analyses the delivery supports. It resolves the
config through :mod:`panel.regconfig`, the same code the build uses, so the
names it reports are the names the build will read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from panel.config import deep_merge, load_config
from panel.errors import InputError
from panel.regconfig import (
    Config,
    LookupFile,
    RegisterFile,
    load_register_config,
    lookup_files,
    register_files,
)

Status = Literal["ok", "note", "missing", "error"]
BAD: frozenset[str] = frozenset({"missing", "error"})


@dataclass
class FileReport:
    """What the preflight found for one expected file (a register-year or a lookup)."""

    register: str  # register name, or "lookup:<name>"
    year: int | None
    path: Path
    status: Status = "ok"
    rows: int | None = None
    resolved: dict[str, str] = field(default_factory=dict)  # canonical -> delivered, where they differ
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dtypes: dict[str, pl.DataType] = field(default_factory=dict)  # canonical -> delivered type
    errors: list[tuple[str | None, str]] = field(default_factory=list)  # (column, one-line message) per problem

    def problem(self, text: str, *, column: str | None = None, message: str | None = None,
                status: Status = "error") -> None:
        """Record a problem: ``text`` for the check's table, ``message`` (default: text) for the build's error."""
        self.problems.append(text)
        self.errors.append((column, message or text))
        self.status = _worst(self.status, status)


@dataclass
class Preflight:
    """Everything ``check`` found: per-file reports and the analyses each panel year supports."""

    files: list[FileReport]
    support: pl.DataFrame  # year, analysis, supported (bool), reason
    years: tuple[int, int]

    @property
    def can_run(self) -> bool:
        """True when the default pipeline (``socialmix run``) can read every file it needs."""
        return not any(f.status in BAD for f in self.files)

    def raise_first(self) -> None:
        """Stop the build on the first problem ``check`` reports (the same verdict for both commands)."""
        bad = [(f, col, msg) for f in self.files if f.status in BAD for col, msg in f.errors]
        if not bad:
            return
        f, column, message = bad[0]
        more = f" ({len(bad)} problems in all: `socialmix check` lists them)" if len(bad) > 1 else ""
        raise InputError(message + more, file=f.path, column=column)

    def status(self, register: str, year: int | None = None) -> Status:
        """Status of one register-year (or lookup ``lookup:<name>``)."""
        for f in self.files:
            if f.register == register and f.year == year:
                return f.status
        raise KeyError((register, year))


# ---------------------------------------------------------------- types
def _type_verdict(dtype: pl.DataType, want: str) -> Status:
    """Whether the build's cast (``panel.read``) can read ``dtype`` as ``want``: ok, note (converted), error."""
    if want == "str":
        return "ok" if dtype == pl.String else ("note" if dtype.is_numeric() else "error")
    if want == "int":
        if dtype.is_integer():
            return "ok"
        return "note" if (dtype.is_float() or dtype in (pl.String, pl.Boolean)) else "error"
    if want == "float":
        if dtype.is_numeric():
            return "ok"
        return "note" if dtype == pl.String else "error"
    if want == "date":
        if dtype == pl.Date or isinstance(dtype, pl.Datetime):
            return "ok"
        return "note" if dtype == pl.String else "error"  # contract: FOED_DAG may be an ISO date string
    if want == "bool":
        if dtype == pl.Boolean:
            return "ok"
        return "note" if (dtype.is_integer() or dtype == pl.String) else "error"
    return "error"


def _worst(a: Status, b: Status) -> Status:
    order = ("ok", "note", "error", "missing")
    return a if order.index(a) >= order.index(b) else b


def _alternatives(cfg: Config, register: str, canon: str) -> set[str]:
    """Delivered names the config uses for ``canon`` in any year (SOCIO02, SOCIO13) — hints for a rename."""
    spec = cfg["registers"][register]
    names = {spec["columns"].get(canon, canon)}
    for renames in spec.get("column_years", {}).values():
        if canon in renames:
            names.add(renames[canon])
    return names


def _check_columns(rep: FileReport, schema: dict[str, pl.DataType], columns: dict[str, str],
                   types: dict[str, str], optional: frozenset[str], hints: dict[str, set[str]]) -> None:
    present = set(schema)
    for canon, actual in columns.items():
        if actual not in present:
            if canon in optional:
                rep.notes.append(f"optional {actual} absent")
                continue
            others = sorted((hints.get(canon, set()) | {c for c in present if c.upper() == actual.upper()})
                            & present - {actual})
            hint = f" (the file has {', '.join(others)}: rename it in --config)" if others else ""
            rep.problem(f"column {actual} missing{hint}", column=actual,
                        message=f"column missing (the register config names it for {canon}; the file has "
                                f"{len(present)} columns){hint}")
            continue
        rep.dtypes[canon] = schema[actual]
        want = types.get(canon)
        if want is None:
            continue
        verdict = _type_verdict(schema[actual], want)
        if verdict == "error":
            rep.problem(f"column {actual} is {schema[actual]}, config wants {want}", column=actual,
                        message=f"is {schema[actual]}, the register config wants {want}")
        elif verdict == "note":
            rep.notes.append(f"{actual} {schema[actual]} read as {want}")
            rep.status = _worst(rep.status, verdict)


# ---------------------------------------------------------------- files
def _parquet_meta(path: Path) -> tuple[dict[str, pl.DataType], int]:
    """Schema and row count from the parquet footer (no data pages are read)."""
    import pyarrow.parquet as pq

    schema = dict(pl.read_parquet_schema(path))
    return schema, int(pq.read_metadata(path).num_rows)


def _csv_meta(path: Path) -> tuple[dict[str, pl.DataType], int]:
    """Header (every column as text, as the build reads lookups) and data-row count of a small CSV."""
    header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    newlines, last = 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = newlines + (1 if last not in (b"", b"\n") else 0)
    return {c: pl.String() for c in header}, max(lines - 1, 0)


def _meta(rep: FileReport, what: str) -> dict[str, pl.DataType] | None:
    if not rep.path.is_file():
        rep.problem("file missing", message=f"{what} file is missing", status="missing")
        return None
    try:
        schema, rows = _csv_meta(rep.path) if rep.path.suffix.lower() == ".csv" else _parquet_meta(rep.path)
    except Exception as err:  # noqa: BLE001 - any unreadable footer is one problem of this file
        rep.problem(f"cannot read the schema ({type(err).__name__})")
        return None
    rep.rows = rows
    if rows == 0:
        rep.problem("no rows", message=f"{what} file has no rows")
    return schema


def check_register_file(f: RegisterFile, cfg: Config) -> FileReport:
    """Report on one register-year from its parquet footer."""
    rep = FileReport(f.register, f.year, f.path,
                     resolved={c: a for c, a in f.columns.items() if a != c})
    schema = _meta(rep, f"{f.register.upper()} {f.year}")
    if schema is not None:
        hints = {c: _alternatives(cfg, f.register, c) for c in f.columns}
        _check_columns(rep, schema, f.columns, f.types, f.optional, hints)
    return rep


def check_lookup_file(lk: LookupFile) -> FileReport:
    """Report on one lookup table (CSV columns are text; the build parses them, so only names are checked)."""
    rep = FileReport(f"lookup:{lk.name}", None, lk.path)
    schema = _meta(rep, f"lookup {lk.name}")
    if schema is not None:
        types = {} if lk.path.suffix.lower() == ".csv" else lk.types
        _check_columns(rep, schema, {c: c for c in lk.types}, types, lk.optional, {})
    return rep


def _cpi_years(lk: LookupFile) -> set[int] | None:
    """Years with a CPI (a tiny public table, so its YEAR column is read), or None if unreadable."""
    try:
        df = pl.read_csv(lk.path, columns=["YEAR"], infer_schema=False)
        return {int(y) for y in df["YEAR"].drop_nulls().str.strip_chars().to_list() if y.isdigit()}
    except Exception:  # noqa: BLE001 - the lookup report already names an unreadable file
        return None


def _same_key_type(files: list[FileReport], key: str) -> None:
    """A join key delivered as text in one register and as a number in another loses leading zeros.

    DST person numbers of people born on days 01-09 start with 0: read as an
    integer in one register and as text in another, they silently fail to
    join (the build would count them as missing register rows).
    """
    kinds = {f.path: ("text" if f.dtypes[key] == pl.String else "number") for f in files if key in f.dtypes}
    if len(set(kinds.values())) < 2:
        return
    minority = min(("text", "number"), key=lambda k: sum(v == k for v in kinds.values()))
    for f in files:
        if kinds.get(f.path) == minority:
            f.problem(f"{key} is a {minority} here but not in the other registers: leading zeros would not join",
                      column=key, message=f"is a {minority} here but not in the other registers: "
                      "leading zeros would not join (deliver it as in the other registers)")


# ---------------------------------------------------------------- support
def _support(files: list[FileReport], lookups: dict[str, FileReport], cpi: set[int] | None,
             years: tuple[int, int], rules: dict[str, Any]) -> pl.DataFrame:
    """Which analyses each panel year supports, with the first reason why not (key: year, analysis)."""
    usable = {(f.register, f.year): f.status not in BAD for f in files}
    lk_ok = {name: rep.status not in BAD for name, rep in lookups.items()}

    def reg(r: str, y: int) -> bool:
        return usable.get((r, y), False)

    rows: list[dict[str, Any]] = []

    def add(year: int, analysis: str, reason: str | None) -> None:
        rows.append({"year": year, "analysis": analysis, "supported": reason is None, "reason": reason})

    base = next((f"no lookup {n}" for n in rules["always_lookups"] if not lk_ok.get(n, False)), None)
    y1, y2 = years
    for t in range(y1, y2 + 1):
        panel = base or (None if reg("bef", t) else f"no BEF {t}")
        moves = panel or (None if reg("bef", t - 1) else f"no BEF {t - 1}")
        add(t, "panel", panel)
        add(t, "moves", moves)
        for measure, need in rules["measures"].items():
            def why(y: int, need: dict[str, Any] = need) -> str | None:
                for r in need.get("registers", []):
                    if not reg(r, y):
                        return f"no {r.upper()} {y}"
                for name in need.get("lookups", []):
                    if not lk_ok.get(name, False):
                        return f"no lookup {name}"
                if "cpi" in need.get("lookups", []) and cpi is not None and y not in cpi:
                    return f"no CPI for {y}"
                return base

            stock = why(t)
            add(t, f"{measure}:stock", stock)
            add(t, f"{measure}:in", moves or stock)
            add(t, f"{measure}:out", moves or why(t - 1))
    return pl.DataFrame(rows, schema={"year": pl.Int32, "analysis": pl.String, "supported": pl.Boolean,
                                      "reason": pl.String})


def preflight(reg: str | Path, *, config: str | Path | Config | None = None,
              years: tuple[int, int] = (2004, 2013)) -> Preflight:
    """Inspect a delivery's schemas and row counts; see :func:`check` for the printed form.

    Examples
    --------
    >>> pf = preflight("REG", years=(2004, 2013))  # doctest: +SKIP
    >>> pf.can_run, pf.status("akm", 2005)  # doctest: +SKIP
    (False, 'missing')
    """
    reg = Path(reg)
    if not reg.is_dir():
        raise InputError("register folder not found", file=reg)
    cfg = load_register_config(config)
    rules = deep_merge(load_config("panel", "check.toml"), cfg.get("check", {}))
    files = [check_register_file(f, cfg) for f in register_files(reg, years, config=cfg)]
    _same_key_type(files, "PNR")
    lks = {lk.name: lk for lk in lookup_files(reg, config=cfg)}
    lookups = {name: check_lookup_file(lk) for name, lk in lks.items()}
    cpi = _cpi_years(lks["cpi"]) if lookups["cpi"].status not in BAD else None
    support = _support(files, lookups, cpi, years, rules)  # before a CPI gap marks the whole lookup
    support = pl.concat([support, area_support(reg, cfg, files, years)])
    if cpi is not None:
        gaps = [y for y in range(years[0] - 1, years[1] + 1) if y not in cpi]
        if gaps:
            lookups["cpi"].problem(f"no CPI for year(s) {', '.join(map(str, gaps))}", column="YEAR")
    return Preflight(files + list(lookups.values()), support, years)


def area_support(reg: Path, cfg: Config, files: list[FileReport], years: tuple[int, int]) -> pl.DataFrame:
    """Which criteria of the area lists (contract §8) each panel year supports, with the first reason why not.

    Rows ``area_<criterion>``: every criterion needs BOLIGOMRAADE_ID in the afdeling lookup; the income
    ratio gross income (PERINDKIALT) and the municipality -> region lookup; convictions the kraf register of
    the year and the year before (2-year means); labour-market attachment AKM of both years.
    """
    from panel.regconfig import OPTIONAL_REGISTERS, lookup_files, register_file

    usable = {(f.register, f.year): f.status not in BAD for f in files}
    cols = {(f.register, f.year): set(f.dtypes) for f in files}
    afd = next(lk for lk in lookup_files(reg, config=cfg) if lk.name == "afdeling")
    try:
        area_col = afd.path.is_file() and "BOLIGOMRAADE_ID" in pl.read_parquet_schema(afd.path)
    except Exception:  # noqa: BLE001 - the lookup's own report names an unreadable file
        area_col = False
    regions = (reg / cfg["lookups"]["kommune_region"]["path"]).is_file() if "kommune_region" in cfg["lookups"] else False
    kraf = {y for y in range(years[0] - 1, years[1] + 1) if "kraf" in OPTIONAL_REGISTERS
            and "kraf" in cfg["registers"] and register_file(reg, "kraf", y, cfg).path.is_file()}
    gross = cfg["registers"]["ind"]["columns"].get("PERINDKIALT", "PERINDKIALT")
    rows: list[dict[str, Any]] = []
    for t in range(years[0], years[1] + 1):
        base = None if area_col else "no BOLIGOMRAADE_ID in the afdeling lookup"
        base = base or (None if usable.get(("bef", t)) else f"no BEF {t}")

        def need(*regs: tuple[str, int], base: str | None = base) -> str | None:
            return base or next((f"no {r.upper()} {y}" for r, y in regs if not usable.get((r, y))), None)

        reasons = {
            "outside_work_education": need(("akm", t), ("akm", t - 1)),
            "non_western_origin": base,
            "convicted": base or next((f"no KRAF {y}" for y in (t - 1, t) if y not in kraf), None),
            "basic_education": need(("udda", t)),
            "income_ratio": need(("ind", t)) or (None if gross in cols.get(("ind", t), set())
                                                 else f"no {gross} in IND {t}")
            or (None if regions else "no lookup kommune_region"),
        }
        rows += [{"year": t, "analysis": f"area_{c}", "supported": r is None, "reason": r} for c, r in reasons.items()]
    return pl.DataFrame(rows, schema={"year": pl.Int32, "analysis": pl.String, "supported": pl.Boolean,
                                      "reason": pl.String})


# ---------------------------------------------------------------- printing
_STYLE = {"ok": "green", "note": "yellow", "missing": "red", "error": "red"}


def _print(pf: Preflight, reg: Path, console: Any) -> None:
    from rich.table import Table

    t = Table(title=f"Delivery {reg} — files (schemas and row counts only)")
    for col in ("register", "year", "rows", "status", "columns resolved", "problems / notes"):
        t.add_column(col, justify="right" if col in ("year", "rows") else "left")
    for f in pf.files:
        resolved = ", ".join(f"{c}={a}" for c, a in f.resolved.items())
        text = "; ".join(f.problems + f.notes)
        t.add_row(f.register, "" if f.year is None else str(f.year),
                  "" if f.rows is None else f"{f.rows:,}", f"[{_STYLE[f.status]}]{f.status}[/]", resolved, text)
    console.print(t)

    s = Table(title="Analyses the delivery supports (S stock, I in-movers, O out-movers)")
    s.add_column("year", justify="right")
    wide = pf.support.with_columns(pl.col("analysis").str.split(":").list.first().alias("what"),
                                   pl.col("analysis").str.split(":").list.get(1, null_on_oob=True).alias("pop"))
    whats = list(dict.fromkeys(wide["what"].to_list()))
    for w in whats:
        s.add_column(w)
    for (year,), g in wide.group_by("year", maintain_order=True):
        cells = []
        for w in whats:
            part = g.filter(pl.col("what") == w)
            if part["pop"].is_null().all():
                cells.append("[green]yes[/]" if part["supported"].all() else "[red]no[/]")
            else:
                letters = "".join(p[0].upper() if ok else "-" for p, ok in part.select("pop", "supported").iter_rows())
                colour = "green" if part["supported"].all() else ("red" if not part["supported"].any() else "yellow")
                cells.append(f"[{colour}]{letters}[/]")
        s.add_row(str(year), *cells)
    console.print(s)

    lost = (pf.support.filter(~pl.col("supported"))
            .group_by("reason", "year", maintain_order=True).agg(pl.col("analysis")))
    for (reason,), g in lost.group_by("reason", maintain_order=True):
        parts = [f"{', '.join(a)} in {y}" for y, a in g.select("year", "analysis").iter_rows()]
        console.print(f"  {reason} → no {'; '.join(parts)}")
    if pf.can_run:
        console.print("[green]The default pipeline can run on this delivery.[/]")
    else:
        n = sum(f.status in BAD for f in pf.files)
        console.print(f"[red]The default pipeline cannot run: {n} file(s) missing or malformed.[/]")


def check(reg: str | Path, *, config: str | Path | None = None, years: tuple[int, int] = (2004, 2013)) -> int:
    """Print the preflight of ``reg`` and return the exit code (0 = the default pipeline can run, 1 = not).

    Examples
    --------
    >>> check("REG", years=(2004, 2013))  # doctest: +SKIP
    0
    """
    from rich.console import Console

    pf = preflight(reg, config=config, years=years)
    import sys

    _print(pf, Path(reg), Console() if sys.stdout.isatty() else Console(width=160))  # a log file gets it whole
    return 0 if pf.can_run else 1
