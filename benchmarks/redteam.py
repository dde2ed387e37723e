"""Red-team attack on a release: withheld cells and how many the attack recovers exactly (issue 16).

Reads only the published tables of OUT (tests/redteam_attack.py, a second
implementation of the release relations) and scores the bounds against the
unprotected cells (and, for four measures, against counts from the person rows).

Run: ``flock /tmp/socialmix-heavy.lock .venv/bin/python -m benchmarks.redteam --out OUT [--milp narrow]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import redteam_attack as ra  # noqa: E402

KEYS = ["level", "unit", "year", "population", "measure", "field"]


def truth(out: Path) -> pl.DataFrame:
    """True n and numerators of every released cell (unprotected cells; person rows where recomputed)."""
    from queries.cells import compute_cells
    from queries.disclosure_rules import load_rules

    c = compute_cells(out, rules=load_rules(out), afdelinger="study").filter(
        (pl.col("level") != "kom") & ((pl.col("level") != "comparison") | (pl.col("unit") == "study")))
    cells = pl.concat([c.select(*KEYS[:5], field=pl.lit("n"), y=pl.col("n").cast(pl.Float64)),
                       c.select(*KEYS[:5], field=pl.lit("s"), y=(pl.col("n") * pl.col("value")).round())])
    j = cells.join(ra.truth_from_persons(out), on=KEYS, how="left")
    both = j.filter(pl.col("x").is_not_null())
    mismatch = both.filter(pl.col("x") != pl.col("y")).height
    print(f"truth: {both.height} cells recomputed from person rows, {mismatch} differ from the unprotected cells")
    return j.select(*KEYS, x=pl.coalesce("x", "y"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--milp", default="off", choices=["off", "exact", "none", "narrow", "all"],
                    help="off: propagation only; exact: + MILP search for pinned cells; none: + LP bounds; "
                    "narrow/all: + integrality (default off)")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds for the solver stage")
    a = ap.parse_args(argv)
    rules = ra.read_rules(a.out)
    t = rules["min_persons"]
    t0 = time.monotonic()
    bounds, prob = ra.attack(a.out, milp=a.milp, budget=a.budget)
    secs = time.monotonic() - t0
    s = ra.score(bounds, truth(a.out)).with_columns(
        primary=(pl.col("field") == "n") & (pl.col("x") < t),
        table=pl.when(pl.col("level") == "comparison").then(pl.lit("comparison"))
        .otherwise(pl.concat_str(pl.lit("measures/"), pl.col("level"))))
    pl.Config.set_tbl_rows(100)
    pl.Config.set_tbl_width_chars(200)
    print(f"OUT {a.out}; rules: min_persons {t}, class_min_n {rules.get('class_min_n')}; "
          f"attack {secs:.0f} s (solver stage: {a.milp})")
    print(f"components left at propagated intervals (size or budget): {prob.unsolved}")
    print("relations rejected on the published rows:", "; ".join(prob.rejected) or "none")
    print("relation families used (relations with a withheld cell):", dict(prob.families))
    print(s.group_by("table", "field").agg(
        withheld=pl.len(), recovered_exactly=pl.col("exact").sum(), primary_n=pl.col("primary").sum(),
        primary_recovered=(pl.col("exact") & pl.col("primary")).sum(), truth_outside=(~pl.col("inside")).sum(),
    ).sort("table", "field"))
    print(s.filter("exact").group_by("relation").agg(recovered_exactly=pl.len()).sort("relation"))
    print(s.filter("exact").group_by("population", "measure").agg(recovered_exactly=pl.len())
          .sort("recovered_exactly", descending=True).head(12))
    tot = s.height
    print(f"total: {tot} withheld count cells, {s['exact'].sum()} recovered exactly, "
          f"{ra.protection_failures(s, t).height} of {s['primary'].sum()} primary n cells with an interval narrower than "
          f"[max(x-{t},1), x+{t}]; truth outside an interval: {(~s['inside']).sum()}")


if __name__ == "__main__":
    main()
