"""``socialmix build``: registers -> person-year panel, moves and reconciliation.

Design (why it is fast and bounded in memory at whole-population scale):

* Identifiers are hashed to 64 bits the moment they are read
  (:mod:`panel.read`); every join is an integer join.
* Years are processed one at a time, Y1-1 ... Y2. Each year's partition is
  written as soon as it is done, so memory holds one year's registers plus
  the PNR-hash -> ``person_id`` dictionary (:mod:`panel.derive`).
* Moves of year t join the public-housing residents of t-1 (t) against the
  whole of t (t-1) on the integer key (:mod:`panel.moves`); only the few
  columns a move needs of year t-1 are kept.
* All output goes to a staging directory (:func:`panel.atomic.staged_dir`):
  a failed run leaves no OUT (an existing OUT stays whole). File and column
  presence and types of every register-year and every lookup are checked
  before any data is read, by the same code as ``socialmix check``
  (:func:`panel.check.preflight`: whatever ``check`` reports stops the
  build); data checks (types, codes, duplicates) run year by year
  before that year's rows are written into the staging directory, and a
  join that loses more of a register's rows than ``[join_loss]`` of the
  register config allows stops the build (:func:`panel.validate.join_loss`).

Examples
--------
>>> rec = build("REG", "OUT", years=(2004, 2013))  # doctest: +SKIP
>>> rec["totals"]["panel_person_years"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from panel import check, progress, validate
from panel.atomic import staged_dir
from panel.derive import empty_id_dict, person_years, year_counts
from panel.errors import SocialmixError
from panel.lookups import afdeling_table, kommune_region_table, load_lookups
from panel.moves import MOVE_COLUMNS, classify_moves, name_moves
from panel.read import read_register
from panel.reconcile import reconciliation, write_reconciliation, year_entry
from panel.regconfig import (
    REGISTERS,
    Config,
    RegisterFile,
    load_register_config,
    optional_register_files,
    register_files,
)
from panel.schema import (
    AFDELING_FILE,
    AREA_SCHEMA,
    BASE_DIR,
    HOUSEHOLD_METADATA,
    KOMMUNE_REGION_FILE,
    MOVES_FILE,
    PANEL_DIR,
    PANEL_SCHEMA,
    RECONCILIATION_FILE,
)

PARQUET_OPTIONS: dict[str, Any] = {"compression": "lz4", "statistics": True, "row_group_size": 1 << 20}
#: read year t+1 while year t is processed (one more year of registers in memory)
PREFETCH = True


class _Later:
    """A read done when its result is asked for (PREFETCH off)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def result(self) -> Any:
        return self.func(*self.args)


def preflight(reg: Path, years: tuple[int, int], cfg: Config) -> list[RegisterFile]:
    """Stop on anything ``socialmix check`` would report (the same code: footers and headers, no data read).

    The optional registers a delivery holds (convictions, contract §8) are checked for their columns too.
    """
    check.preflight(reg, config=cfg, years=years).raise_first()
    optional = optional_register_files(reg, years, config=cfg)
    for f in optional:
        validate.need_columns(f.path, list(pl.read_parquet_schema(f.path)), f.columns, f.optional)
    return register_files(reg, years, config=cfg) + optional


def _check_years(years: tuple[int, int]) -> tuple[int, int]:
    try:
        y1, y2 = (int(y) for y in years)
    except (TypeError, ValueError):
        raise SocialmixError(f"years must be two integers (Y1, Y2), got {years!r}") from None
    if y1 > y2:
        raise SocialmixError(f"years: first year {y1} is after last year {y2}")
    return y1, y2


def _write(df: pl.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path, **PARQUET_OPTIONS, metadata=metadata)


def build(reg: str | Path, out: str | Path, *, years: tuple[int, int] = (2004, 2013),
          config: str | Path | Config | None = None, allow_unknown_codes: bool = False) -> dict[str, Any]:
    """Build OUT/panel, OUT/panel_base, OUT/moves.parquet, OUT/afdeling.parquet and OUT/reconciliation.json.

    Returns the reconciliation (the content of ``reconciliation.json``).

    Examples
    --------
    >>> rec = build("REG", "OUT", years=(2004, 2005))  # doctest: +SKIP
    >>> rec["years"]["2004"]["person_years"]  # doctest: +SKIP
    {'read': 5900000, 'written': 5900000}
    """
    y1, y2 = _check_years(years)
    reg, out = Path(reg), Path(out)
    cfg = load_register_config(config)
    with progress.step("check files and columns"):
        files = preflight(reg, (y1, y2), cfg)
    by_key = {(f.register, f.year): f for f in files}
    registers = [*REGISTERS, *sorted({f.register for f in files} - set(REGISTERS))]  # + optional ones delivered
    with progress.step("read lookups"):
        lk = load_lookups(reg, cfg, years_needed=range(y1 - 1, y2 + 1))

    def read_year(year: int) -> dict[str, tuple[pl.DataFrame, dict]]:
        return {r: read_register(by_key[(r, year)], cfg=cfg, allow_unknown_codes=allow_unknown_codes)
                for r in registers}

    entries: dict[int, dict[str, Any]] = {}
    moves: list[pl.DataFrame] = []
    years_read = list(range(y1 - 1, y2 + 1))
    # Year t+1 is read (parquet decode, hashing, sorting) in a second thread while year t is joined, and year t
    # is written in a third while year t+1 is joined (at most one write outstanding: memory stays bounded).
    with staged_dir(out) as tmp, ThreadPoolExecutor(max_workers=1) as pool, \
            ThreadPoolExecutor(max_workers=1) as writer:
        writing: Any = None
        ids = empty_id_dict()
        prev: pl.DataFrame | None = None
        def fetch(year: int) -> Any:
            return pool.submit(read_year, year) if PREFETCH else _Later(read_year, year)

        pending = fetch(years_read[0])
        for year in progress.track(years_read, "build: years"):  # done of total, with the time left
            with progress.step(f"build {year}"):
                fy = {r: by_key[(r, year)] for r in registers}
                regs = pending.result()
                pending = fetch(year + 1) if year < y2 else None  # (the old future held this year's frames)
                counts_reg = {r: regs[r][1] for r in registers}
                frames = {r: regs[r][0] for r in registers}
                del regs  # person_years frees the registers once joined: it must hold the only references
                py, ids, counts = person_years(year, frames, fy, ids, lk, cfg,
                                               allow_unknown_codes=allow_unknown_codes)
                for r in registers:
                    for col, n in counts_reg[r]["unknown_codes_mapped"].items():
                        counts["unknown_codes_mapped"][f"{r}.{col}"] = n
                role = "base" if year < y1 else "panel"
                sub = BASE_DIR if year < y1 else PANEL_DIR
                left_out = year_counts(py)
                validate.join_loss(year, fy, counts, left_out, cfg.get("join_loss", {}))
                panel, cur = py.select([*PANEL_SCHEMA, *AREA_SCHEMA]), py.select(MOVE_COLUMNS)
                del py  # the hidden join columns are no longer needed while writing
                if writing is not None:
                    writing.result()
                writing = writer.submit(_write, panel, tmp / sub / f"year={year}" / "part-0.parquet",
                                        {HOUSEHOLD_METADATA: json.dumps(cfg["derive"]["household"], sort_keys=True)})
                move_counts = None
                if prev is not None:
                    m = classify_moves(prev.lazy(), cur.lazy(), year).collect()
                    moves.append(m)
                    move_counts = dict(m.group_by("kind").len().iter_rows())
                entries[year] = year_entry(year, role, counts, left_out, panel.height, move_counts)
                prev = cur
                del panel
        with progress.step("write moves, afdelinger, reconciliation"):
            if writing is not None:
                writing.result()
            all_moves = pl.concat(moves) if moves else pl.DataFrame(schema={
                "person_id": pl.Int32, "kind": pl.String, "from_afd": pl.Int32, "to_afd": pl.Int32, "year": pl.Int32})
            named = name_moves(all_moves.lazy(), lk.afdeling).sort("year", "person_id", "kind").collect()
            _write(named, tmp / MOVES_FILE)
            _write(afdeling_table(lk), tmp / AFDELING_FILE)
            regions = kommune_region_table(lk)
            if regions is not None:
                _write(regions, tmp / KOMMUNE_REGION_FILE)
            rec = reconciliation((y1, y2), entries)
            write_reconciliation(tmp / RECONCILIATION_FILE, rec)
    return rec
