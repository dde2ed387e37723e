"""Read the released (disclosure-controlled) tables the figures are drawn from.

Figures and the report never touch the panel: only tables under
``OUT/measures/`` and ``OUT/did/`` that have passed disclosure control, plus
the afdeling lookup for the number of afdelinger per group. A missing
optional table means its figures are skipped with a log line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panel.errors import InputError

log = logging.getLogger("socialmix.figures")

MEASURES = "measures/measures.parquet"
COMPARISON = "measures/comparison.parquet"
DECOMPOSITION = "measures/decomposition.parquet"
DISCLOSURE = "measures/disclosure_report.csv"
ESTIMATES = "did/estimates.csv"
RETENTION = "measures/retention.parquet"
TENURE = "measures/tenure.parquet"
FAMILY_HOUSEHOLDS = "measures/family_households.parquet"
FAMILY_COHORTS = "measures/family_cohorts.parquet"
DISPLACEMENT = "measures/displacement.parquet"
SEGREGATION_TYPES = "measures/segregation_types.parquet"
SEGREGATION_CHANGE = "measures/segregation_change.parquet"
MEASURE_COLUMNS = ("level", "unit", "year", "population", "measure", "n", "value", "suppressed")
DECOMPOSITION_COLUMNS = ("level", "unit", "year", "measure", "change", "stayers", "in_movers", "out_movers",
                         "entries", "exits", "suppressed")
ESTIMATE_COLUMNS = ("estimator", "measure", "population", "comparison", "term", "event_time", "estimate", "se",
                    "ci_low", "ci_high")


def full_comparisons(est: pl.DataFrame) -> pl.DataFrame:
    """The estimates of the full comparisons: rows of a did.toml ``[split]`` subset (``subset`` set) left out.

    The figures and the report's headline table show the full comparisons; the subsets are in estimates.csv.
    """
    if "subset" not in est.columns:
        return est
    return est.filter(pl.col("subset").is_null() | (pl.col("subset").cast(pl.String) == ""))


def read_table(out: str | Path, rel: str, *, required: tuple[str, ...] = (), optional: bool = True
               ) -> pl.DataFrame | None:
    """Read ``OUT/rel`` (parquet or csv); None with a log line if it is absent and optional."""
    path = Path(out) / rel
    if not path.exists():
        alt = path.with_suffix(".csv") if path.suffix == ".parquet" else None
        if alt is not None and alt.exists():
            path = alt
        elif optional:
            log.warning("%s not found; what is drawn from it is skipped", rel)
            return None
        else:
            raise InputError("table not found; run the earlier stages first", file=path)
    try:
        if path.suffix == ".parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, infer_schema_length=10_000, null_values=["", "NA", "null"])
    except Exception as err:  # noqa: BLE001 - one line naming the file
        raise InputError(f"cannot read table ({type(err).__name__})", file=path) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError("column missing from released table", file=path, column=", ".join(missing))
    return df


def read_measures(out: str | Path) -> pl.DataFrame | None:
    """measures.parquet with suppressed cells as null values (never zeros)."""
    df = read_table(out, MEASURES, required=MEASURE_COLUMNS)
    if df is None:
        return None
    return df.with_columns(
        pl.col("year").cast(pl.Int32),
        pl.col("suppressed").cast(pl.Boolean).fill_null(False),
        pl.col("value").cast(pl.Float64),
        pl.col("n").cast(pl.Float64),
    ).with_columns(
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col("value")).alias("value"),
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col("n")).alias("n"),
    )


def series(df: pl.DataFrame, years: list[int], *, key: dict[str, Any], x: str = "year", y: str = "value"
           ) -> np.ndarray:
    """Values of the rows matching ``key``, aligned by ``x`` onto ``years``; NaN where absent or suppressed.

    Alignment is by key (a join on the year), never by row position, so a
    missing or suppressed year is a gap in the line.
    """
    rows = df.filter(pl.all_horizontal([pl.col(k) == v for k, v in key.items()]))
    if "suppressed" in rows.columns:
        rows = rows.with_columns(
            pl.when(pl.col("suppressed").fill_null(False)).then(None).otherwise(pl.col(y)).alias(y))
    if rows.select(pl.col(x).is_duplicated().any()).item():
        raise InputError(f"more than one row per {x} for {key}", column=x)
    grid = pl.DataFrame({x: years}, schema={x: rows.schema[x] if x in rows.schema else pl.Int64})
    joined = grid.join(rows.select(x, pl.col(y).cast(pl.Float64)), on=x, how="left", maintain_order="left")
    return joined[y].fill_nan(None).to_numpy().astype(float)


def series_many(df: pl.DataFrame, years: list[int], *, key: dict[str, Any], columns: list[str],
                x: str = "year") -> dict[str, np.ndarray]:
    """:func:`series` of several value columns of the same rows, with one filter and one join.

    The decomposition figures draw six columns per group; one alignment instead
    of six keeps their data work a sixth.
    """
    rows = df.filter(pl.all_horizontal([pl.col(k) == v for k, v in key.items()]))
    if "suppressed" in rows.columns:
        sup = pl.col("suppressed").fill_null(False)
        rows = rows.with_columns(pl.when(sup).then(None).otherwise(pl.col(c)).alias(c) for c in columns)
    if rows.select(pl.col(x).is_duplicated().any()).item():
        raise InputError(f"more than one row per {x} for {key}", column=x)
    grid = pl.DataFrame({x: years}, schema={x: rows.schema[x] if x in rows.schema else pl.Int64})
    joined = grid.join(rows.select(x, *(pl.col(c).cast(pl.Float64) for c in columns)), on=x, how="left",
                       maintain_order="left")
    return {c: joined[c].fill_nan(None).to_numpy().astype(float) for c in columns}


def measure_kind(style: dict[str, Any], measure: str, values: pl.Series | None = None) -> str:
    """'share', 'kr' or 'number' for a measure: style.toml, then the queries registry, then the data."""
    conf = style.get("measures", {}).get(measure, {})
    if "kind" in conf:
        return conf["kind"]
    kind = _registry_kind(measure)
    if kind is not None:
        return kind
    if values is not None:
        v = values.drop_nulls()
        if v.len() and v.min() >= 0 and v.max() <= 1:
            return "share"
    return "number"


def _registry_kind(measure: str) -> str | None:
    """Ask the queries registry how a measure is aggregated (share, or a mean/sum of kr)."""
    try:
        from queries.registry import registry

        entry = registry().get(measure)
    except Exception:  # noqa: BLE001 - no registry: fall back to the data
        return None
    if entry is None:
        return None
    if entry.kind == "share":
        return "share"
    return "kr" if ("income" in measure or " kr" in entry.description) else "number"


def afdeling_counts(out: str | Path, groups: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Number of study afdelinger in each group, from the afdeling lookup (no person data).

    Group membership is the one of the measures stage
    (``queries.populations.group_membership``). Empty when OUT has no
    afdeling table.
    """
    if not (Path(out) / "afdeling.parquet").exists():
        log.warning("afdeling.parquet not found; notes give no afdeling counts")
        return {}
    from panel.schema import scan_afdelinger
    from queries.populations import group_membership

    counts = group_membership(scan_afdelinger(out)).group_by("group").agg(pl.col("afdeling_id").n_unique()).collect()
    found = dict(counts.iter_rows())
    return {g: int(found.get(g, 0)) for g in groups}


def _manifest(out: str | Path) -> dict[str, Any]:
    from panel.provenance import read_manifest

    return read_manifest(out)


def synthetic_source(out: str | Path) -> bool:
    """Whether OUT was built from synthetic registers (``socialmix synth``/``demo``), so notes must say so.

    Decided from OUT's provenance, never from the data: the registers the
    build read are synthetic when (a) the build's recorded REG files are the
    files a ``synth`` stage of the same manifest wrote (the demo; by content
    hash, so it holds after OUT is moved), or (b) the REG folder still holds
    ``truth.json`` (written only by ``synth``) or a ``manifest.json`` with a
    ``synth`` stage. An OUT without a build record counts as register data.
    """
    stages = _manifest(out).get("stages", {})
    reg = stages.get("build", {}).get("inputs", {}).get("REG", {})
    files = reg.get("files", {})
    if any(Path(f).name == "truth.json" for f in files):
        return True
    made = {v.get("sha256") for v in stages.get("synth", {}).get("outputs", {}).values() if isinstance(v, dict)}
    read = {v.get("sha256") for v in files.values() if isinstance(v, dict)}
    if read and None not in read and read <= made:
        return True
    path = reg.get("path")
    if not path:
        return False
    folder = Path(path) if Path(path).is_absolute() else Path(out) / path
    return (folder / "truth.json").is_file() or "synth" in _manifest(folder).get("stages", {})


def did_config(out: str | Path) -> dict[str, Any]:
    """The did.toml the did stage of OUT ran with (recorded in OUT/manifest.json), else the shipped one.

    The figures need its ``[event_study] window`` (the binned window the event
    study estimated) and ``[run] few_clusters`` if it is set.
    """
    import tempfile

    from panel.config import deep_merge, load_config, read_toml
    from panel.errors import SocialmixError

    conf = _manifest(out).get("stages", {}).get("did", {}).get("config", {})
    base = conf.get("shipped", {}).get("analyses/did/did.toml") or load_config("analyses.did", "did.toml")
    user = conf.get("options", {}).get("config")
    if isinstance(user, str):  # the override's text as the did stage recorded it
        with tempfile.TemporaryDirectory(prefix="socialmix-did-config-") as tmp:
            path = Path(tmp) / "did.toml"
            path.write_text(user, encoding="utf-8")
            try:
                base = deep_merge(base, read_toml(path))
            except SocialmixError:  # a path that no longer exists, not TOML text: keep the shipped values
                log.warning("did config recorded in manifest.json is not TOML text; using the shipped did.toml")
    return base
