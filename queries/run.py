"""``socialmix measures OUT``: compute, protect and write ``OUT/measures/`` atomically.

Writes ``measures``, ``comparison`` and ``municipal_gap`` (.parquet and .csv),
then the flow tables of :mod:`queries.flows`, all with one ``disclosure_report.csv`` and a
``disclosure_rules.txt`` naming the profile applied. The whole ``measures/``
directory is staged and swapped in only when everything succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from panel.atomic import staged_dir
from panel.errors import InputError
from panel.progress import step
from panel.schema import scan_afdelinger
from queries.cells import compute_cells
from queries.disclosure import REPORT_FILE, Profile, append_report, empty_report, load_rules, write_released
from queries.flows import write_flow_tables
from queries.registry import measure_config
from queries.release import gap_report, protect_release, split
from queries.segregation import NUMBER_COLUMNS as SEGREGATION_NUMBERS
from queries.segregation import protect_segregation, segregation_table

MEASURES_DIR = "measures"


def run_measures(out: str | Path, *, min_cell: int | None = None,
                 profile: Literal["dst", "safe"] = "dst", config: str | Path | None = None) -> None:
    """Compute every measure for stock, in- and out-movers and write the protected tables.

    Examples
    --------
    >>> run_measures("OUT", min_cell=5, profile="dst")
    >>> import polars as pl; pl.read_csv("OUT/measures/measures.csv")["suppressed"].dtype
    Boolean
    """
    if profile not in get_args(Profile):
        raise InputError(f"--profile must be one of {', '.join(get_args(Profile))}, got {profile!r}")
    out = Path(out)
    rules = load_rules(profile, min_cell)
    afd = scan_afdelinger(out).collect()
    cells = compute_cells(out, rules=rules, afdelinger="study",  # only study afdelinger are published
                          config=None if config is None else measure_config(config))
    with step("measures: disclosure control"):
        released, report = protect_release(cells, afd, rules=rules)
        tables = split(released, afd)
    with staged_dir(out) as stage:
        dest = stage / MEASURES_DIR
        dest.mkdir()
        (dest / "disclosure_rules.txt").write_text(rules.describe() + "\n", encoding="utf-8")
        append_report(empty_report(), dest / REPORT_FILE)
        write_released(tables["measures"], dest / "measures", report.filter(report["table"] == "measures"),
                       rules=rules)
        write_released(tables["comparison"], dest / "comparison", report.filter(report["table"] == "comparison"),
                       rules=rules)
        gap_rep = report.filter(report["table"] == "municipal_gap")
        write_released(tables["municipal_gap"], dest / "municipal_gap", gap_rep.vstack(gap_report(
            tables["municipal_gap"], released)), rules=rules, null_columns=("n", "value", "kom_n", "kom_value"))
        with step("measures: segregation"):
            seg, seg_rep = protect_segregation(segregation_table(out, min_persons=rules.min_persons), rules=rules)
            write_released(seg, dest / "segregation", seg_rep, rules=rules, null_columns=SEGREGATION_NUMBERS)
        with step("measures: flows"):
            write_flow_tables(out, dest, rules=rules)
