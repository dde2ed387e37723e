"""``socialmix measures OUT``: compute, protect and write ``OUT/measures/`` atomically.

Writes ``measures``, ``comparison`` and ``municipal_gap`` (.parquet and .csv),
then the flow tables of :mod:`queries.flows` when that module provides
``write_flow_tables``, all with one ``disclosure_report.csv`` (its reasons in
``internal/disclosure_reasons.csv``) and the rules applied,
``disclosure_rules.toml`` and ``.txt``: this stage decides them for the whole
OUT (contract §7, :mod:`queries.disclosure_rules`). The whole ``measures/``
directory is staged and swapped in only when everything succeeded.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Literal

import polars as pl

from panel.atomic import staged_dir
from panel.progress import step
from panel.provenance import recorded
from panel.schema import scan_afdelinger
from queries.cells import compute_cells
from queries.disclosure import REPORT_FILE, SHARE_FLAG, append_report, empty_report, write_released
from queries.disclosure_rules import Rules, decide_rules, save_rules
from queries.registry import registry
from queries.release import gap_report, protect_release, split

MEASURES_DIR = "measures"


def _flows_writer():
    """``queries.flows.write_flow_tables`` if that module exists (built by another stage), else None."""
    try:
        if importlib.util.find_spec("queries.flows") is None:
            return None
    except (ImportError, ValueError):
        return None
    module = importlib.import_module("queries.flows")
    return getattr(module, "write_flow_tables", None)


def share_measures() -> list[str]:
    """Names of the measures whose value is a share (class disclosure applies to them)."""
    return [name for name, m in registry().items() if m.kind == "share"]


@recorded("measures", inputs=["panel/**", "panel_base/**", "moves.parquet", "afdeling.parquet"],
          outputs=["measures/**"], files=("rules_file",))
def run_measures(out: str | Path, *, min_cell: int | None = None, profile: Literal["dst", "safe"] = "dst",
                 rules_file: str | Path | None = None, rules: Rules | None = None) -> None:
    """Compute every measure for stock, in- and out-movers and write the protected tables.

    The rules are decided here (:func:`queries.disclosure_rules.decide_rules`
    from ``profile``, ``rules_file`` and ``min_cell``), or given whole as
    ``rules``, and saved as the OUT's rule set.

    Examples
    --------
    >>> run_measures("OUT", min_cell=5, profile="dst")  # doctest: +SKIP
    """
    out = Path(out)
    if rules is None:
        rules = decide_rules(profile, min_cell, rules_file)
    afd = scan_afdelinger(out).collect()
    cells = compute_cells(out, rules=rules, afdelinger="study")  # only study afdelinger are published
    cells = cells.with_columns(pl.col("measure").is_in(share_measures()).alias(SHARE_FLAG))
    with step("measures: disclosure control"):
        released, report = protect_release(cells, afd, rules=rules)
        tables = split(released, afd)
    with staged_dir(out) as stage:
        dest = stage / MEASURES_DIR
        dest.mkdir()
        save_rules(rules, dest)
        append_report(empty_report(), dest / REPORT_FILE)
        write_released(tables["measures"], dest / "measures", report.filter(report["table"] == "measures"),
                       rules=rules)
        write_released(tables["comparison"], dest / "comparison", report.filter(report["table"] == "comparison"),
                       rules=rules)
        gap_rep = report.filter(report["table"] == "municipal_gap")
        write_released(tables["municipal_gap"], dest / "municipal_gap", gap_rep.vstack(gap_report(
            tables["municipal_gap"], released)), rules=rules, null_columns=("n", "value", "kom_n", "kom_value"))
        writer = _flows_writer()
        if writer is not None:
            with step("measures: flows"):
                writer(out, dest, rules=rules)
