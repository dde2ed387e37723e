"""``socialmix measures OUT``: compute, protect and write ``OUT/measures/`` atomically.

Writes ``measures``, ``comparison`` and ``municipal_gap`` (.parquet and .csv),
then the flow tables of :mod:`queries.flows` and the segregation indices, all with one ``disclosure_report.csv`` (its reasons in
``internal/disclosure_reasons.csv``) and the rules applied,
``disclosure_rules.toml`` and ``.txt``: this stage decides them for the whole
OUT (contract §7, :mod:`queries.disclosure_rules`). The whole ``measures/``
directory is staged and swapped in only when everything succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import polars as pl

from panel.atomic import staged_dir
from panel.progress import step
from panel.provenance import recorded
from panel.schema import scan_afdelinger
from queries.audit import AuditStats, write_audit
from queries.cells import compute_cells
from queries.disclosure import REPORT_FILE, SHARE_FLAG, append_report, empty_report, write_released
from queries.disclosure_rules import Rules, decide_rules, save_rules
from queries.flows import write_flow_tables
from queries.registry import measure_config, registry
from queries.release import gap_report, protect_release, split
from queries.segregation import NUMBER_COLUMNS as SEGREGATION_NUMBERS
from queries.segregation import protect_segregation, segregation_counts, segregation_table
from queries.segregation_change import segregation_summaries

MEASURES_DIR = "measures"


def share_measures() -> list[str]:
    """Names of the measures whose value is a share (class disclosure applies to them)."""
    return [name for name, m in registry().items() if m.kind == "share"]


@recorded("measures", inputs=["panel/**", "panel_base/**", "moves.parquet", "afdeling.parquet"],
          outputs=["measures/**"], files=("rules_file", "config"))
def run_measures(out: str | Path, *, min_cell: int | None = None, profile: Literal["dst", "safe"] = "dst",
                 rules_file: str | Path | None = None, rules: Rules | None = None,
                 config: str | Path | None = None) -> None:
    """Compute every measure for stock, in- and out-movers and write the protected tables.

    The rules are decided here (:func:`queries.disclosure_rules.decide_rules`
    from ``profile``, ``rules_file`` and ``min_cell``), or given whole as
    ``rules``, and saved as the OUT's rule set.

    Examples
    --------
    >>> run_measures("OUT", min_cell=5, profile="dst")
    >>> import polars as pl; pl.read_csv("OUT/measures/measures.csv")["suppressed"].dtype
    Boolean
    """
    out = Path(out)
    if rules is None:
        rules = decide_rules(profile, min_cell, rules_file)
    afd = scan_afdelinger(out).collect()
    cells = compute_cells(out, rules=rules, afdelinger="study",  # only study afdelinger are published
                          config=None if config is None else measure_config(config))
    cells = cells.with_columns(pl.col("measure").is_in(share_measures()).alias(SHARE_FLAG))
    stats = AuditStats()
    with step("measures: disclosure control"):
        released, report = protect_release(cells, afd, rules=rules, stats=stats)
        tables = split(released, afd)
    with staged_dir(out) as stage:
        dest = stage / MEASURES_DIR
        dest.mkdir()
        save_rules(rules, dest)
        append_report(empty_report(), dest / REPORT_FILE)
        write_released(tables["measures"], dest / "measures", report.filter(report["table"] == "measures"),
                       rules=rules)
        if tables["area_measures"].height:  # deliveries with BOLIGOMRAADE_ID only
            write_released(tables["area_measures"], dest / "area_measures",
                           report.filter(report["table"] == "area_measures"), rules=rules)
        write_released(tables["comparison"], dest / "comparison", report.filter(report["table"] == "comparison"),
                       rules=rules)
        gap_rep = report.filter(report["table"] == "municipal_gap")
        write_released(tables["municipal_gap"], dest / "municipal_gap", gap_rep.vstack(gap_report(
            tables["municipal_gap"], released)), rules=rules, null_columns=("n", "value", "kom_n", "kom_value"))
        if rules.audit:
            write_audit(stats, dest / REPORT_FILE)  # internal only: audit.csv and summary rows of the reasons
        with step("measures: segregation"):
            counts = segregation_counts(out)
            seg, seg_rep = protect_segregation(segregation_table(out, min_persons=rules.min_persons, counts=counts),
                                               rules=rules)
            write_released(seg, dest / "segregation", seg_rep, rules=rules, null_columns=SEGREGATION_NUMBERS)
            types, change = segregation_summaries(out, counts, seg)
            write_released(types, dest / "segregation_types", rules=rules, null_columns=("value",))
            write_released(change, dest / "segregation_change", rules=rules, null_columns=("value",))
            del counts
        with step("measures: flows"):
            write_flow_tables(out, dest, rules=rules)
