"""Regression tables of the headline DiD estimates, laid out like pyfixest's/fixest's ``etable``.

Evaluators paste tables of this shape into reports: one column per model
(here: a tool group compared with the afdelinger using neither tool), the
effect with significance stars and its standard error in parentheses beneath,
one panel per outcome with the number of clusters and observations, and the
notes saying how to read the cells. The same grid renders as Markdown, LaTeX
(booktabs) and HTML (the report).

Rows are those of :func:`analyses.figures.did.headline_rows` (TWFE and the
Callaway-Sant'Anna simple aggregate). p-values
are two-sided from the normal approximation ``2 (1 - Φ(|b / se|))``. Effects
on shares are shown in percentage points, on incomes in kr.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from analyses.figures import style as st
from analyses.figures.did import HEADLINE_TERMS, headline_rows
from analyses.figures.tables import measure_kind
from panel.config import load_config
from panel.errors import InputError
from queries.registry import CONTRACT_MEASURES

Fmt = Literal["md", "tex", "html"]
RowKind = Literal["section", "coef", "se", "p", "stat"]


@dataclass
class Grid:
    """A rendered-format-free table: header rows, body rows ``(kind, cells)``, and notes."""

    header: list[list[str]]
    body: list[tuple[RowKind, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ncols(self) -> int:
        return len(self.header[0])


def p_value(estimate: float, se: float) -> float:
    """Two-sided p-value of ``estimate / se`` under the normal approximation.

    Examples
    --------
    >>> round(p_value(1.96, 1.0), 4)
    0.05
    """
    return math.erfc(abs(estimate / se) / math.sqrt(2))


def stars(p: float, signif: list[float]) -> str:
    """'***', '**', '*' or '' for a p-value and the cut-offs ``[p1 < p2 < p3]``.

    Examples
    --------
    >>> stars(0.004, [0.001, 0.01, 0.05]), stars(0.2, [0.001, 0.01, 0.05])
    ('**', '')
    """
    for i, cut in enumerate(signif):
        if p < cut:
            return "*" * (len(signif) - i)
    return ""


def _order(values: list[str], preferred: list[str]) -> list[str]:
    present = list(dict.fromkeys(values))
    return [v for v in dict.fromkeys(preferred) if v in present] + [v for v in present if v not in preferred]


def headline_grid(est: pl.DataFrame, *, population: str = "stock", measures: list[str] | None = None,
                  lang: str = "en", pvalues: bool = False, style: dict[str, Any] | None = None) -> Grid:
    """The etable grid of one population: a column per comparison, a panel per measure.

    ``pvalues=True`` puts the p-value in brackets under the standard error instead of stars.
    """
    style = style or st.load_style()
    lab = st.labels(style, lang)
    conf = load_config("analyses", "etable.toml")
    tl, opts = conf["labels"][lang], conf["etable"]
    rows = headline_rows(est.with_columns(pl.col("term").cast(pl.String)))
    rows = rows.filter(pl.col("population") == population)
    if measures is not None:
        rows = rows.filter(pl.col("measure").is_in(measures))
    if rows.height == 0:
        raise InputError(f"no headline estimates for population {population!r}", file="did/estimates.csv")
    comps = _order(rows["comparison"].to_list(), list(style["figure"]["comparisons"]))
    meas = _order(rows["measure"].to_list(), measures or [*CONTRACT_MEASURES, *style["figure"]["comparison_measures"]])
    ests = _order(rows["estimator"].to_list(), [e for e, _ in HEADLINE_TERMS])
    groups = lab["groups"]
    grid = Grid(header=[[""] + [f"({i})" for i in range(1, len(comps) + 1)],
                        [""] + [lab["versus"].format(group=groups.get(c, c)) for c in comps]])
    kinds = set()
    for m in meas:
        mr = rows.filter(pl.col("measure") == m)
        kind = measure_kind(style, m)
        kinds.add(kind)
        scale, digits = {"share": (100.0, opts["digits_share"]), "kr": (1.0, opts["digits_kr"])}.get(
            kind, (1.0, opts["digits_number"]))
        grid.body.append(("section", [lab["measures"].get(m, m)] + [""] * len(comps)))
        for e in ests:
            cells: dict[RowKind, list[str]] = {"coef": [], "se": [], "p": []}
            for c in comps:
                hit = mr.filter((pl.col("estimator") == e) & (pl.col("comparison") == c))
                b = hit["estimate"][0] if hit.height else None
                se = hit["se"][0] if hit.height else None
                if b is None or se is None or not math.isfinite(se) or se <= 0:
                    cells["coef"].append(st.number(None if b is None else b * scale, digits, lang=lang))
                    cells["se"].append("")
                    cells["p"].append("")
                    continue
                p = p_value(b, se)
                cells["coef"].append(st.number(b * scale, digits, lang=lang) + ("" if pvalues else stars(p, opts["signif"])))
                cells["se"].append(f"({st.number(se * scale, digits, lang=lang)})")
                cells["p"].append(f"[{st.number(p, 3, lang=lang)}]")
            if not any(cells["coef"]):
                continue
            grid.body.append(("coef", [lab["estimators"].get(e, e)] + cells["coef"]))
            grid.body.append(("se", [""] + cells["se"]))
            if pvalues:
                grid.body.append(("p", [""] + cells["p"]))
        for stat, col in (("clusters", "n_units"), ("observations", "n_obs")):
            vals = []
            for c in comps:
                n = mr.filter(pl.col("comparison") == c)[col].drop_nulls()
                vals.append(st.number(float(n.max()), 0, lang=lang) if n.len() else "")
            grid.body.append(("stat", [tl[stat]] + vals))
    p1, p2, p3 = (st.number(x, 3, lang=lang).rstrip("0").rstrip(".,") for x in opts["signif"])
    grid.notes.append(tl["se_note"] + " " + (tl["p_note"] if pvalues else tl["stars_note"].format(p1=p1, p2=p2, p3=p3)))
    unit = [tl["unit_share"]] if "share" in kinds else []
    if "kr" in kinds:
        unit.append(tl["unit_kr"])
    if unit:
        text = "; ".join(unit)
        grid.notes.append(text[0].upper() + text[1:] + ".")
    grid.notes.append(tl["population"].format(population=lab["populations"].get(population, population)))
    return grid


def to_markdown(grid: Grid) -> str:
    """A pipe table (GitHub / pandoc Markdown), notes below it."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(grid.header[0]), "|:---|" + "---:|" * (grid.ncols - 1)]
    out += [line(h) for h in grid.header[1:]]
    for kind, cells in grid.body:
        out.append(line([f"**{cells[0]}**", *cells[1:]] if kind == "section" else cells))
    return "\n".join(out) + "\n\n" + "\n".join(grid.notes) + "\n"


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def _tex(text: str) -> str:
    body = "".join(_TEX.get(ch, ch) for ch in text)
    core = body.rstrip("*")
    n = len(body) - len(core)
    return core + (f"$^{{{'*' * n}}}$" if n else "")


def to_latex(grid: Grid) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), notes in the last rows."""
    n = grid.ncols
    out = [rf"\begin{{tabular}}{{l{'c' * (n - 1)}}}", r"\toprule"]
    out += [" & ".join(_tex(c) for c in h) + r" \\" for h in grid.header]
    for kind, cells in grid.body:
        if kind == "section":
            out += [r"\midrule", rf"\multicolumn{{{n}}}{{l}}{{\textit{{{_tex(cells[0])}}}}} \\"]
        else:
            out.append(" & ".join(_tex(c) for c in cells) + r" \\")
    out.append(r"\bottomrule")
    out += [rf"\multicolumn{{{n}}}{{l}}{{\footnotesize {_tex(note)}}} \\" for note in grid.notes]
    out.append(r"\end{tabular}")
    return "\n".join(out) + "\n"


def to_html(grid: Grid) -> str:
    """A ``<table class="etable">`` for the report (no styles of its own)."""
    e = html.escape
    n = grid.ncols
    out = ['<table class="etable">', "<thead>"]
    out += ["<tr>" + "".join(f"<th>{e(c)}</th>" for c in h) + "</tr>" for h in grid.header]
    out += ["</thead>", "<tbody>"]
    for kind, cells in grid.body:
        if kind == "section":
            out.append(f'<tr class="section"><td colspan="{n}"><em>{e(cells[0])}</em></td></tr>')
        else:
            out.append(f'<tr class="{kind}">' + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    out += ["</tbody>", "<tfoot>"]
    out += [f'<tr><td colspan="{n}">{e(note)}</td></tr>' for note in grid.notes]
    out += ["</tfoot>", "</table>"]
    return "\n".join(out) + "\n"


def etable(est: pl.DataFrame, *, fmt: Fmt = "md", population: str = "stock", measures: list[str] | None = None,
           lang: str = "en", pvalues: bool = False) -> str:
    """The headline estimates of ``did/estimates.csv`` rows as an etable-style regression table.

    Examples
    --------
    >>> est = pl.DataFrame({"estimator": ["twfe"], "measure": ["employment"], "population": ["stock"],
    ...     "comparison": ["any_tool"], "term": ["treat_post"], "event_time": [None], "estimate": [0.021],
    ...     "se": [0.01], "ci_low": [0.001], "ci_high": [0.041], "n_units": [182], "n_obs": [14328]})
    >>> print(etable(est).splitlines()[4])
    | TWFE | 2.10* |
    """
    renderer = {"md": to_markdown, "tex": to_latex, "html": to_html}.get(fmt)
    if renderer is None:
        raise InputError(f"etable format must be md, tex or html, got {fmt!r}")
    return renderer(headline_grid(est, population=population, measures=measures, lang=lang, pvalues=pvalues))
