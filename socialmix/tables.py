"""``socialmix tables OUT``: the released tables as one Excel workbook or Stata ``.dta`` files (contract §9).

Municipal users work in Excel and evaluation teams in Stata, so the released
tables (never the panel) are rewritten in those forms: ``OUT/tables/socialmix_tables.xlsx``
(a note sheet, then one sheet per table, headers in Danish or English, shares
in per cent and incomes in kr) or ``OUT/tables/<table>.dta`` with variable
labels and value labels. Only files carrying the ``suppressed`` column of
:func:`queries.disclosure.write_released` are taken, their suppressed cells
stay empty, and a table with an identifier column is refused.
Column formats and headers: ``tables.toml`` beside this module; measure and
group names: the figure labels (``analyses/figures/style.toml``). With DiD estimates, the
headline regression tables (:mod:`analyses.etable`) come along as ``did_etable.md``/``.tex``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import polars as pl

from analyses.etable import etable
from analyses.figures.style import check_lang, load_style
from analyses.figures.tables import measure_kind
from panel.atomic import staged_dir
from panel.config import load_config
from panel.errors import InputError
from queries.disclosure import FORBIDDEN_COLUMNS

TABLES_DIR = "tables"
WORKBOOK = "socialmix_tables.xlsx"
EXCEL_MAX_ROWS = 1_048_576  # rows per sheet, header included
Format = Literal["xlsx", "dta"]
# style.toml label tables that name the values of categorical columns
_STYLE_VALUE_LABELS = ("measures", "groups", "series", "populations", "estimators", "components",
                       "categories", "bands")


def load_tables_config(override: str | Path | None = None) -> dict[str, Any]:
    """The shipped tables.toml merged with an optional user file."""
    return load_config("socialmix", "tables.toml", override)


def released_tables(out: str | Path, conf: dict[str, Any]) -> dict[str, tuple[str, pl.DataFrame]]:
    """``{table: (relative path, frame)}`` of every released table in OUT, in sheet order.

    A table without a ``suppressed`` column did not pass disclosure control and
    is refused, as is one holding an identifier column.
    """
    out = Path(out)
    chosen = dict(conf["tables"])
    listed = set(chosen.values())
    for extra in sorted((out / "measures").glob("*.parquet")):
        rel = extra.relative_to(out).as_posix()
        if rel not in listed and "suppressed" in pl.read_parquet_schema(extra):
            chosen[extra.stem] = rel
    found: dict[str, tuple[str, pl.DataFrame]] = {}
    for name, rel in chosen.items():
        path = out / rel
        if not path.is_file():
            continue
        df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema_length=None)
        forbidden = sorted(c for c in df.columns if c.lower() in FORBIDDEN_COLUMNS)
        if forbidden:
            raise InputError(f"holds identifier column(s) {', '.join(forbidden)}; it is not a released table",
                             file=path)
        if "suppressed" not in df.columns and rel.startswith("measures/"):
            raise InputError("has no 'suppressed' column: it did not pass disclosure control", file=path)
        found[name] = (rel, blank_suppressed(df, conf))
    if not found:
        raise InputError("no released tables: run `socialmix measures OUT` first", file=out / "measures")
    return found


def value_columns(df: pl.DataFrame, conf: dict[str, Any]) -> dict[str, str]:
    """``{column: 'count' | 'share' | 'measure'}`` for the value columns of ``df``."""
    cols = conf["columns"]
    return {c: cls for cls in ("count", "share", "measure") for c in cols[cls] if c in df.columns}


def blank_suppressed(df: pl.DataFrame, conf: dict[str, Any]) -> pl.DataFrame:
    """Null every value column of a suppressed row (the released files already do; this makes sure)."""
    if "suppressed" not in df.columns:
        return df
    hide = pl.col("suppressed").cast(pl.Boolean).fill_null(True)
    return df.with_columns([pl.when(hide).then(None).otherwise(pl.col(c)).alias(c) for c in value_columns(df, conf)])


def column_label(conf: dict[str, Any], lang: str, column: str) -> str:
    """Header of a column in one language (the column name if none is given)."""
    return conf["labels"][lang]["columns"].get(column, column)


def value_label_maps(style: dict[str, Any], lang: str) -> dict[str, str]:
    """Code -> label over the figure label tables (measures, groups, series, populations, ...)."""
    lab = style["labels"][lang]
    merged: dict[str, str] = {}
    for key in _STYLE_VALUE_LABELS:
        merged.update({str(k): str(v) for k, v in lab.get(key, {}).items()})
    return merged


def _kinds(df: pl.DataFrame, style: dict[str, Any]) -> list[str]:
    """Per row: 'share', 'kr' or 'number', the unit of the row's measure."""
    if "measure" not in df.columns:
        return ["number"] * df.height
    value = df["value"] if "value" in df.columns else None
    kinds = {}
    for m in df["measure"].unique().to_list():
        vals = value.filter(df["measure"] == m) if value is not None else None
        kinds[m] = measure_kind(style, m, vals) if m is not None else "number"
    return [kinds[m] for m in df["measure"].to_list()]


def _is_blank(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def write_xlsx(tables: dict[str, tuple[str, pl.DataFrame]], path: Path, *, lang: str, conf: dict[str, Any],
               style: dict[str, Any], rules_text: str) -> None:
    """One workbook: a note sheet, then one sheet per table (continued on ``<name>_2``... past Excel's row cap)."""
    import xlsxwriter

    lab = conf["labels"][lang]
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    bold = wb.add_format({"bold": True})
    fmt = {k: wb.add_format({"num_format": v}) for k, v in conf["formats"].items()}
    note = wb.add_worksheet(lab["note_sheet"])
    note.set_column(0, 0, 28)
    note.write(0, 0, lab["note_title"], bold)
    r = 2
    for line in lab["note_lines"]:
        note.write(r, 0, line)
        r += 1
    r += 1
    note.write(r, 0, lab["rules"], bold)
    for line in rules_text.splitlines():
        r += 1
        note.write(r, 0, line)
    r += 2
    for c, head in enumerate((lab["table"], lab["rows"], lab["suppressed_rows"], lab["source"])):
        note.write(r, c, head, bold)
    for name, (rel, df) in tables.items():
        r += 1
        hidden = int(df["suppressed"].cast(pl.Boolean).fill_null(True).sum()) if "suppressed" in df.columns else 0
        note.write_row(r, 0, [name, df.height, hidden, rel])
    per_sheet = EXCEL_MAX_ROWS - 1
    yes_no = {True: lab["yes"], False: lab["no"]}
    for name, (_, df) in tables.items():
        classes = value_columns(df, conf)
        kinds = _kinds(df, style)
        heads = [column_label(conf, lang, c) for c in df.columns]
        for part, start in enumerate(range(0, max(df.height, 1), per_sheet)):
            ws = wb.add_worksheet(name[:31] if part == 0 else f"{name[:28]}_{part + 1}")
            ws.write_row(0, 0, heads, bold)
            ws.freeze_panes(1, 0)
            for c, head in enumerate(heads):
                ws.set_column(c, c, max(10, min(40, len(head) + 2)))
            for i, row in enumerate(df.slice(start, per_sheet).iter_rows(), start=1):
                kind = kinds[start + i - 1]
                for c, (col, x) in enumerate(zip(df.columns, row, strict=True)):
                    if _is_blank(x):
                        continue
                    cls = classes.get(col)
                    if isinstance(x, bool):
                        ws.write_string(i, c, yes_no[x])
                    elif cls == "count":
                        ws.write_number(i, c, x, fmt["count"])
                    elif cls == "share":
                        ws.write_number(i, c, x, fmt["share"])
                    elif cls == "measure":
                        ws.write_number(i, c, x, fmt.get(kind, fmt["number"]))
                    elif isinstance(x, int | float):
                        ws.write_number(i, c, x)
                    else:
                        ws.write_string(i, c, str(x))
    wb.close()


def to_stata(df: pl.DataFrame, *, lang: str, conf: dict[str, Any], style: dict[str, Any]
             ) -> tuple[Any, list[str], dict[str, dict[int, str]]]:
    """(pandas frame, variable labels, value labels) of one table for pyreadstat.write_dta.

    Categorical string columns become integer codes 1..k (sorted) with value
    labels; booleans become 0/1 labelled no/yes; numbers stay numbers with
    suppressed cells missing (Stata's ``.``).
    """
    lab = conf["labels"][lang]
    names = value_label_maps(style, lang)
    value_labels: dict[str, dict[int, str]] = {}
    exprs = []
    for col, dtype in df.schema.items():
        if dtype == pl.Boolean:
            exprs.append(pl.col(col).cast(pl.Int8))
            value_labels[col] = {0: lab["no"], 1: lab["yes"]}
        elif dtype == pl.String and col in conf["columns"]["value_labels"]:
            codes = sorted(df[col].drop_nulls().unique().to_list())
            code_of = {v: i for i, v in enumerate(codes, start=1)}
            exprs.append(pl.col(col).replace_strict(code_of, default=None, return_dtype=pl.Int32))
            value_labels[col] = {i: names.get(v, v) for v, i in code_of.items()}
        elif dtype == pl.String:
            exprs.append(pl.col(col).fill_null(""))
        elif dtype.is_integer():
            exprs.append(pl.col(col).cast(pl.Float64) if df[col].null_count() else pl.col(col).cast(pl.Int64))
        elif dtype.is_float():
            exprs.append(pl.col(col).fill_nan(None))
        else:
            exprs.append(pl.col(col).cast(pl.String).fill_null(""))
    frame = df.select(exprs).to_pandas()
    variable_labels = [column_label(conf, lang, c)[:80] for c in df.columns]
    return frame, variable_labels, value_labels


def write_etables(out: Path, dest: Path, *, lang: str) -> list[str]:
    """``did_etable.md`` and ``.tex``: the headline DiD estimates as regression tables, one per population."""
    path = out / "did" / "estimates.csv"
    if not path.is_file():
        return []
    est = pl.read_csv(path, infer_schema_length=None)
    pops = [p for p in ("stock", "in", "out") if p in set(est["population"].to_list())]
    names = []
    for fmt, sep in (("md", "\n"), ("tex", "\n\\bigskip\n\n")):
        text = sep.join(etable(est, fmt=fmt, population=p, lang=lang) for p in pops)
        (dest / f"did_etable.{fmt}").write_text(text, encoding="utf-8")
        names.append(f"did_etable.{fmt}")
    return names


def write_tables(out: str | Path, *, fmt: Format = "xlsx", lang: str = "en",
                 config: str | Path | None = None) -> list[Path]:
    """Write the tables into ``OUT/tables/`` (each file replaced atomically) and return their paths.

    Examples
    --------
    >>> [p.name for p in write_tables("OUT", fmt="xlsx", lang="da")]
    ['socialmix_tables.xlsx', 'did_etable.md', 'did_etable.tex']
    """
    check_lang(lang)
    if fmt not in ("xlsx", "dta"):
        raise InputError(f"--format must be xlsx or dta, got {fmt!r}")
    out = Path(out)
    conf = load_tables_config(config)
    style = load_style()
    tables = released_tables(out, conf)
    rules_file = out / "measures" / "disclosure_rules.txt"
    rules_text = rules_file.read_text(encoding="utf-8").strip() if rules_file.is_file() else ""
    written: list[str] = []
    # staged inside OUT/tables/: the files written replace their namesakes, so .xlsx and .dta coexist
    with staged_dir(out / TABLES_DIR) as dest:
        if fmt == "xlsx":
            write_xlsx(tables, dest / WORKBOOK, lang=lang, conf=conf, style=style, rules_text=rules_text)
            written.append(WORKBOOK)
        else:
            try:
                import pyreadstat
            except ImportError:
                raise InputError("--format dta needs pyreadstat: pip install 'socialmix[stata]'") from None
            for name, (_, df) in tables.items():
                frame, var_labels, val_labels = to_stata(df, lang=lang, conf=conf, style=style)
                pyreadstat.write_dta(frame, str(dest / f"{name}.dta"), column_labels=var_labels,
                                     variable_value_labels=val_labels, file_label=f"socialmix: {name}")
                written.append(f"{name}.dta")
        written += write_etables(out, dest, lang=lang)
    return [out / TABLES_DIR / w for w in written]
