"""Content checks of ``socialmix export``: what a released file must look like to leave.

Every message names the file and the problem with counts and column names,
never a value. The rules checked are the OUT's one rule set
(:func:`queries.disclosure_rules.load_rules`), never a profile of its own.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import polars as pl

from panel.errors import DisclosureError
from queries.disclosure import FORBIDDEN_COLUMNS, Rules, check_estimate, check_released

_MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


def match(rel: str, patterns: list[str]) -> bool:
    """True when the OUT-relative path ``rel`` matches one of the globs (``dir/**`` = everything under dir)."""
    return any(fnmatch.fnmatchcase(rel, p) or (p.endswith("/**") and rel.startswith(p[:-2])) for p in patterns)


def check_type(path: Path, rel: str, policy: dict[str, Any]) -> None:
    """Allowed file type, size cap, and content that is what the suffix says (a data file named .png is not)."""
    suffix = path.suffix.lower()
    caps = policy["max_bytes"]
    if suffix not in caps:
        raise DisclosureError(f"file type {suffix or '(none)'} is not on the export allow-list", file=rel)
    size = path.stat().st_size
    if size > int(caps[suffix]):
        raise DisclosureError(f"{size:,} bytes exceeds the {int(caps[suffix]):,}-byte cap for {suffix} files", file=rel)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        raise DisclosureError("is a parquet file (a data file, not a released table)", file=rel)
    if suffix in _MAGIC and not head.startswith(_MAGIC[suffix]):
        raise DisclosureError(f"content is not a {suffix[1:].upper()} file", file=rel)
    if suffix in (".csv", ".html", ".svg", ".txt"):
        if b"\x00" in head:
            raise DisclosureError("content is binary, not text", file=rel)
        if suffix == ".svg" and b"<svg" not in head:
            raise DisclosureError("content is not an SVG file", file=rel)


def read_csv(path: Path, rel: str) -> pl.DataFrame:
    """A released CSV as a table, or a refusal naming the file."""
    try:
        return pl.read_csv(path, infer_schema_length=None, null_values=["", "NA", "null"])
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as err:
        raise DisclosureError(f"cannot be read as a CSV table ({type(err).__name__})", file=rel) from None


def _cluster_check(df: pl.DataFrame, rel: str, spec: dict[str, Any], rules: Rules) -> None:
    """Rows that publish a result (a value column not null) must rest on ``min_clusters`` clusters per side."""
    values = [c for c in spec["value_columns"] if c in df.columns]
    clusters = [c for c in spec["cluster_columns"] if c in df.columns]
    if not values:
        return
    shown = df.filter(pl.any_horizontal([pl.col(c).is_not_null() for c in values]))
    if not shown.height:
        return
    if not clusters and not spec.get("require", True):
        return
    if not clusters:
        raise DisclosureError(f"has results but none of the cluster columns {', '.join(spec['cluster_columns'])} "
                              "to check them against the minimum-cluster rule", file=rel)
    fewest = shown.select(pl.min_horizontal([pl.col(c).cast(pl.Int64, strict=False) for c in clusters])).to_series()
    bad = int((fewest.is_null() | (fewest < rules.min_clusters)).sum())
    if bad:
        raise DisclosureError(f"{bad} rows publish a result on fewer than {rules.min_clusters} clusters "
                              f"(or an unknown count) in {', '.join(clusters)} (profile {rules.profile}); "
                              "they must be withheld", file=rel)


def check_table(path: Path, rel: str, policy: dict[str, Any], rules: Rules, share_measures: list[str]) -> None:
    """Content checks of a released CSV table; messages name columns and counts, never values."""
    t = policy["tables"]
    df = read_csv(path, rel)
    # a column with no value at all (every cell withheld) reads as text: it holds nothing, make it numeric
    df = df.with_columns([pl.col(c).cast(pl.Float64) for c in df.columns
                          if c != "suppressed" and df.height and df[c].null_count() == df.height])
    lower = {c.lower(): c for c in df.columns}
    ids = sorted(lower[c] for c in lower if c in FORBIDDEN_COLUMNS | {x.lower() for x in t["identifier_columns"]})
    if ids:
        raise DisclosureError(f"identifier column(s) {', '.join(ids)} in a released table", file=rel)
    person = sorted(lower[c] for c in lower if c in {x.lower() for x in t["person_level_columns"]})
    if len(person) >= int(t["person_level_min"]) and "n" not in lower:
        raise DisclosureError(f"looks like a person-level table (columns {', '.join(person)}, no n)", file=rel)
    if match(rel, t["require_suppressed"]) and not match(rel, t["exempt"]) and "suppressed" not in df.columns:
        raise DisclosureError("has no 'suppressed' column: it did not pass disclosure control", file=rel)
    if "suppressed" in df.columns and df.height:  # an empty table reads 'suppressed' as text: nothing to check
        if df["suppressed"].dtype != pl.Boolean:
            raise DisclosureError("'suppressed' is not a true/false column", file=rel, column="suppressed")
        try:
            check_released(df, rules, name=rel, share_measures=share_measures)
        except DisclosureError as err:
            raise DisclosureError(err.problem.replace(f"release {rel!r}", "released table").lstrip(": "),
                                  file=rel) from None
    ec = t["estimate_columns"]
    if {ec["units"], ec["obs"]} <= set(df.columns):
        est = df.filter(pl.col(ec["units"]).is_not_null() & pl.col(ec["obs"]).is_not_null())
        if ec["value"] in df.columns:
            est = est.filter(pl.col(ec["value"]).is_not_null())
        keys = [ec["units"], ec["obs"]]
        est = est.select(pl.col(k).cast(pl.Int64, strict=False) for k in keys).drop_nulls()
        reasons = {(u, o): check_estimate(u, o, rules) for u, o in est.unique().iter_rows()}
        bad = [k for k, why in reasons.items() if why]
        if bad:
            n_bad = est.join(pl.DataFrame(bad, schema={k: pl.Int64 for k in keys}, orient="row"), on=keys).height
            kinds = sorted({r.split(" ")[0] for k in bad for r in reasons[k]})
            raise DisclosureError(f"{n_bad} estimate rows fail the release rules for {', '.join(kinds)} "
                                  f"(profile {rules.profile})", file=rel)
    for spec in t.get("clustered", []):
        if match(rel, spec["paths"]):
            _cluster_check(df, rel, spec, rules)


def disclosure_summary(out: Path, reports: list[str], keep: set[str] | None) -> pl.DataFrame:
    """Counts of published and withheld cells by table, from the disclosure reports and the tables.

    ``keep``: table names to summarise (None = all). The full reports list
    every withheld cell (hundreds of thousands of lines at scale); the checker
    needs how many, per table.
    """
    rows = []
    for rel in reports:
        rep = read_csv(out / rel, rel)
        folder = Path(rel).parent
        counts = rep.group_by("table").len().sort("table") if rep.height else pl.DataFrame(
            schema={"table": pl.String, "len": pl.UInt32})
        names = set(counts["table"].to_list())
        for f in sorted((out / folder).glob("*.csv")):
            if f.name != Path(rel).name and "suppressed" in read_csv(f, f.name).columns:
                names.add(f.stem)
        for name in sorted(names):
            if keep is not None and name not in keep and name.removeprefix(f"{folder.name}_") not in keep:
                continue
            withheld = counts.filter(pl.col("table") == name)["len"].sum()
            table = next((out / folder / f"{s}.csv" for s in (name, name.removeprefix(f"{folder.name}_"))
                          if (out / folder / f"{s}.csv").is_file()), None)
            published = None
            if table is not None:
                df = read_csv(table, str(table))
                hidden = df["suppressed"] if "suppressed" in df.columns and df.height else pl.Series([], dtype=pl.Boolean)
                published = df.height - int(hidden.cast(pl.Boolean, strict=False).fill_null(False).sum())
            rows.append({"report": rel, "table": name, "published": published, "withheld": int(withheld)})
    return pl.DataFrame(rows, schema={"report": pl.String, "table": pl.String, "published": pl.Int64,
                                      "withheld": pl.Int64})
