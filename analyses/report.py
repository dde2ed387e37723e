"""``socialmix report OUT``: one self-contained HTML file with every figure and the headline tables.

The report opens offline and can be mailed or carried out of a secure
environment as one file: CSS is inline, figures are embedded as base64 PNG or
SVG, and nothing refers to an external URL. Like the figures it reads only
the released (disclosure-controlled) tables; it shows group-level values
only, so no afdeling or person identifier can reach it.
"""

from __future__ import annotations

import base64
import csv
import html
import logging
from pathlib import Path
from typing import Any, Literal

import polars as pl

from analyses.etable import headline_grid, p_value, to_html
from analyses.figures import style as st
from analyses.figures import tables as tb
from analyses.figures.did import headline_rows
from analyses.figures.run import CONTRACT_MEASURES, POPULATIONS, Spec, figure_specs, render, with_data_source
from panel.atomic import staged_file
from panel.progress import step, track
from panel.provenance import recorded
from panel.schema import GROUPS

log = logging.getLogger("socialmix.report")
REPORT_FILE = "report.html"
MIME = {"png": "image/png", "svg": "image/svg+xml"}
FAMILIES = ("fig7_", "fig2_", "fig2x_", "figm_", "fig_decomposition_", "fig_retention", "fig_tenure", "fig_families",
            "fig_household_tenure", "fig_cohorts_", "fig_displacement_", "fig_segregation_", "fig_areas_", "fig_did_",
            "fig_event_", "fig_dose_", "fig_sensitivity_", "fig_bacon_")

CSS = """
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin-top:1.5em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.2em}
th,td{border:1px solid #d0d0d0;padding:.2em .5em}th{background:#f2f2f2;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1.5em 0;page-break-inside:avoid}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}.note{font-size:.85em;color:#444}
nav ul{columns:2;font-size:.9em}details{margin:.5em 0}
table.etable td,table.etable th{border:none;text-align:center;font-variant-numeric:tabular-nums}
table.etable td:first-child{text-align:left}table.etable thead{border-bottom:1px solid #333}
table.etable{border-top:2px solid #333;border-bottom:2px solid #333}table.etable tr.stat td{color:#444}
table.etable tfoot td{text-align:left;font-size:.85em;color:#444}
"""

def _text(style: dict[str, Any], lang: str) -> dict[str, Any]:
    """The report's wording in ``lang`` (``[report.<lang>]`` of style.toml, overridable like the labels)."""
    st.check_lang(lang)
    return style["report"][lang]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_e(c)}</td>' if i >= numeric_from else f"<td>{_e(c)}</td>"
                         for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: float | None, kind: str, lang: str, *, change: bool = False) -> str:
    if value is None or value != value:
        return "–"
    if kind == "share":
        return st.number(value * 100, 2 if change else 1, lang=lang)
    if kind == "kr":
        return st.number(value, 0, lang=lang)
    return st.number(value, 3, lang=lang)


# ---------------------------------------------------------------- sections
def measures_section(out: Path, style: dict[str, Any], lang: str) -> str:
    """One table per measure: rows population × group, columns years; suppressed cells as '–'."""
    t, lab = _text(style, lang), st.labels(style, lang)
    m = tb.read_measures(out)
    if m is None:
        return f"<p>{t['none']}</p>"
    g = m.filter(pl.col("level") == "group")
    years = sorted(int(y) for y in g["year"].unique())
    present = set(g["unit"].to_list())
    groups = [x for x in dict.fromkeys([*style["figure"]["groups"], *GROUPS]) if x in present]
    parts, extra = [], []
    for measure in list(dict.fromkeys(g["measure"].to_list())):
        sub = g.filter(pl.col("measure") == measure)
        kind = tb.measure_kind(style, measure, sub["value"])
        rows = []
        for pop in POPULATIONS:
            for grp in groups:
                vals = tb.series(sub.filter(pl.col("population") == pop), years, key={"unit": grp})
                if not sub.filter((pl.col("population") == pop) & (pl.col("unit") == grp)).height:
                    continue
                rows.append([lab["populations"].get(pop, pop).capitalize(), lab["groups"].get(grp, grp)]
                            + [_fmt(float(v), kind, lang) for v in vals])
        unit = {"share": t["unit_share"], "kr": t["unit_kr"]}.get(kind, "")
        name = lab["measures"].get(measure, measure)
        block = (f"<h3>{_e(name)}{' (' + _e(unit) + ')' if unit else ''}</h3>"
                 + _table([t["population"], t["group"]] + [str(y) for y in years], rows, numeric_from=2))
        (parts if measure in CONTRACT_MEASURES else extra).append(block)
    html_ = "".join(parts)
    if extra:
        html_ += f"<details><summary>{_e(t['more'])}</summary>{''.join(extra)}</details>"
    return html_ + f"<p class='note'>{_e(t['suppressed_note'])}</p>"


def few_clusters(out: Path) -> int:
    """Rows resting on fewer treated clusters than this are marked (did.toml ``[run] few_clusters``, else 10).

    10 follows MacKinnon & Webb (2017): CRV1 with t(G-1) over-rejects with fewer treated clusters.
    """
    return int(tb.did_config(out).get("run", {}).get("few_clusters", 10))


def _num(r: dict[str, Any], col: str) -> float | None:
    v = r.get(col)
    return None if v is None or v != v else float(v)


def did_section(out: Path, style: dict[str, Any], lang: str) -> str:
    """TWFE and Callaway–Sant'Anna overall effects with SE, 95 % CI, p-value and cluster counts.

    The p-value is estimates.csv's ``p_value`` where the did stage wrote one,
    otherwise the normal approximation of :func:`analyses.etable.p_value` (the
    note says which). Cluster counts (``n_clusters_treated`` /
    ``n_clusters_control``) are shown when present, and a row with fewer
    treated clusters than :func:`few_clusters` is marked with a dagger.
    """
    t, lab = _text(style, lang), st.labels(style, lang)
    est = tb.read_table(out, tb.ESTIMATES, required=tb.ESTIMATE_COLUMNS)
    if est is None:
        return f"<p>{t['none']}</p>"
    rows_df = headline_rows(tb.full_comparisons(est).with_columns(pl.col("term").cast(pl.String)))
    order = {m: i for i, m in enumerate(CONTRACT_MEASURES)}
    comps = {c: i for i, c in enumerate(style["figure"]["comparisons"])}
    ests = {e: i for i, e in enumerate(("twfe", "att_gt", "sun_abraham"))}
    rows_df = rows_df.with_columns(
        pl.col("measure").replace_strict(order, default=99).alias("_m"),
        pl.col("population").replace_strict({p: i for i, p in enumerate(POPULATIONS)}, default=9).alias("_p"),
        pl.col("comparison").replace_strict(comps, default=99).alias("_c"),
        pl.col("estimator").replace_strict(ests, default=99).alias("_e"),
    ).sort("_m", "measure", "_p", "_c", "comparison", "_e", "estimator")
    has_p = "p_value" in rows_df.columns
    clusters = [c for c in ("n_clusters_treated", "n_clusters_control") if c in rows_df.columns]
    minimum, few_seen, normal_p = few_clusters(out), False, False
    rows = []
    for r in rows_df.iter_rows(named=True):
        kind = tb.measure_kind(style, r["measure"])
        b, se = _num(r, "estimate"), _num(r, "se")
        p = _num(r, "p_value") if has_p else None
        if p is None and b is not None and se is not None and se > 0:
            p, normal_p = p_value(b, se), True
        treated = _num(r, "n_clusters_treated")
        few = treated is not None and treated < minimum
        few_seen |= few
        ci = f"[{_fmt(r['pw_low'], kind, lang, change=True)}; {_fmt(r['pw_high'], kind, lang, change=True)}]"
        rows.append([lab["measures"].get(r["measure"], r["measure"]),
                     lab["populations"].get(r["population"], "").capitalize(),
                     lab["groups"].get(r["comparison"], r["comparison"]) + (" †" if few else ""),
                     lab["estimators"].get(r["estimator"], r["estimator"]),
                     _fmt(b, kind, lang, change=True), _fmt(se, kind, lang, change=True), ci,
                     "–" if p is None else st.number(p, 3, lang=lang)]
                    + [st.number(_num(r, c), 0, lang=lang) for c in clusters]
                    + [st.number(r.get("n_units"), 0, lang=lang), st.number(r.get("n_obs"), 0, lang=lang)])
    notes = [f"{t['unit_pp']} / {t['unit_kr']}"]
    if normal_p:
        notes.append(t["p_normal_note"])
    if few_seen:
        notes.append(t["few_note"].format(n=minimum))
    header = [t["measure"], t["population"], t["comparison"], t["estimator"], t["estimate"], t["se"], t["ci"],
              t["p"]] + [t[c.replace("n_", "")] for c in clusters] + [t["units"], t["obs"]]
    # the same estimates as regression tables (SE, stars, clusters, N), one per population
    pops = [p for p in POPULATIONS if p in set(rows_df["population"].to_list())]
    regression = "".join(to_html(headline_grid(est, population=p, lang=lang, style=style)) for p in pops)
    return (_table(header, rows, numeric_from=4) + "".join(f"<p class='note'>{_e(n)}</p>" for n in notes)
            + regression)


def disclosure_section(out: Path, style: dict[str, Any], lang: str) -> str:
    """Counts of suppressed or withheld cells by table and rule (never the cells themselves)."""
    t = _text(style, lang)
    frames = []
    for rel in (tb.DISCLOSURE, "did/disclosure_report.csv"):
        df = tb.read_table(out, rel)
        if df is not None and {"table", "rule"} <= set(df.columns):
            frames.append(df.select(pl.col("table").cast(pl.String), pl.col("rule").cast(pl.String)))
    if not frames:
        return f"<p>{t['none']}</p>"
    counts = pl.concat(frames).group_by("table", "rule").len().sort("table", "rule")
    rows = [[a, b, st.number(n, 0, lang=lang)] for a, b, n in counts.iter_rows()]
    from queries.disclosure_rules import RULES_DIR, RULES_TOML, load_rules, rules_text

    has_rules = (Path(out) / RULES_DIR / RULES_TOML).is_file()  # the OUT's one rule set (contract §7)
    text = f"<p class='note'>{_e(rules_text(load_rules(Path(out))).strip())}</p>" if has_rules else ""
    return _table([t["table"], t["rule"], t["cells"]], rows, numeric_from=2) + text


def areas_section(out: Path, style: dict[str, Any], lang: str, figs: list[tuple[str, str, str, str, str]]) -> str:
    """Areas per rule version and status (rows) and year (columns), counts only, and the ``fig_areas_*`` figures.

    Reads the released ``areas/areas.parquet`` (status is published for every area, so every area
    counts); a second count gives how many of them hold a study afdeling (OUT/afdeling.parquet).
    """
    t, al = _text(style, lang), st.labels(style, lang)["areas"]
    df = tb.read_table(out, "areas/areas.parquet")
    if df is None or not {"area", "rule", "year", "status"} <= set(df.columns):
        return f"<p>{_e(t['areas_none'])}</p>"
    afd = tb.read_table(out, "afdeling.parquet")
    study: list[str] = []
    if afd is not None and {"boligomraade_id", "helhedsplan_id"} <= set(afd.columns):
        study = afd.filter(pl.col("helhedsplan_id").is_not_null())["boligomraade_id"].drop_nulls().unique().to_list()
    listed = df.filter(pl.col("status").is_not_null() & (pl.col("status") != "none")).with_columns(
        study=pl.col("area").is_in(study))
    years = sorted(int(y) for y in df["year"].unique())
    rules = [r for r in al["rules"] if r in set(df["rule"])] + sorted(set(df["rule"]) - set(al["rules"]))
    counts = listed.group_by("rule", "status", "year").agg(n=pl.len(), s=pl.col("study").sum())
    rows = []
    for rule in rules:
        for status in [s for s in al["status"] if counts.filter(rule=rule, status=s).height]:
            c = counts.filter(rule=rule, status=status)
            cell = {int(y): (n, k) for y, n, k in c.select("year", "n", "s").iter_rows()}
            rows.append([al["rules"].get(rule, rule), al["status"].get(status, status)]
                        + [f"{st.number(cell[y][0], 0, lang=lang)} ({st.number(cell[y][1], 0, lang=lang)})"
                           if y in cell else "0" for y in years])
    body = (_table([t["areas_rule"], t["areas_status"], *map(str, years)], rows, numeric_from=2) if rows
            else f"<p>{_e(t['areas_nothing_listed'])}</p>")
    body += f"<p class='note'>{_e(t['areas_note'])}</p>"
    for name, title, source, mime, data in figs:
        if name.startswith("fig_areas_"):
            body += (f"<figure id='{_e(name)}'><img alt='{_e(title)}' src='data:{mime};base64,{data}'>"
                     f"<figcaption>{_e(title)} ({_e(t['source'])}: {_e(source)})</figcaption></figure>")
    return body


def _embedded_from_files(out: Path, lang: str) -> list[tuple[str, str, str, str, str]] | None:
    """(name, title, source, mime, base64) of figures/ when its files can be embedded and match ``lang``."""
    index = out / "figures" / "index.csv"
    if not index.exists():
        return None
    with open(index, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    items = []
    for r in rows:
        path = out / "figures" / r["file"]
        ext = path.suffix.lstrip(".")
        if ext not in MIME or r.get("lang") != lang or not path.exists():
            return None
        items.append((r["figure"], r["title"], r["source"], MIME[ext],
                      base64.b64encode(path.read_bytes()).decode("ascii")))
    return items


def _embedded_rendered(specs: list[Spec], style: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    dpi = style["figure"]["report_dpi"]
    return [(s.name, s.title, s.source, MIME["png"], base64.b64encode(render(s, style, fmt="png", dpi=dpi)).decode("ascii"))
            for s in track(specs, "report: figures")]


def build_report(out: str | Path, *, lang: str = "en", config: str | Path | None = None) -> str:
    """The report as one HTML string (figures embedded)."""
    st.check_lang(lang)
    out = Path(out)
    style = st.load_style(config)
    style = with_data_source(style, out)
    lab, t = st.labels(style, lang), _text(style, lang)
    intro = t["intro"] + (" " + t["intro_synthetic"] if tb.synthetic_source(out) else "")
    with step("report: figures"):
        figs = _embedded_from_files(out, lang)
        if figs is None:
            figs = _embedded_rendered(figure_specs(out, lang=lang, style=style), style)
    with step("report: tables"):
        sections = [
            ("methods", t["methods"], "".join(f"<p>{_e(p)}</p>" for p in lab["method"].values())),
            ("measures", t["measures"], measures_section(out, style, lang)),
            ("did", t["did"], did_section(out, style, lang)),
            ("areas", t["areas"], areas_section(out, style, lang, figs)),
            ("disclosure", t["disclosure"], disclosure_section(out, style, lang)),
        ]
    fig_html, family = [], None
    figs = [f for f in figs if not f[0].startswith("fig_areas_")]  # shown in the areas section
    for i, (name, title, source, mime, data) in enumerate(figs, start=1):
        fam = next((f for f in FAMILIES if name.startswith(f)), "")
        if fam != family:
            family = fam
            fig_html.append(f"<h3>{_e(t['families'].get(fam, ''))}</h3>")
        fig_html.append(f"<figure id='{_e(name)}'><img alt='{_e(title)}' src='data:{mime};base64,{data}'>"
                        f"<figcaption>{i}. {_e(title)} ({_e(t['source'])}: {_e(source)})</figcaption></figure>")
    fig_html = "".join(fig_html)
    sections.append(("figures", t["figures"], fig_html or f"<p>{t['none']}</p>"))
    nav = "".join(f"<li><a href='#{key}'>{_e(title)}</a></li>" for key, title, _ in sections)
    body = "".join(f"<h2 id='{key}'>{_e(title)}</h2>{content}" for key, title, content in sections)
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(lab['report_title'])}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(lab['report_title'])}</h1><p class='note'>{_e(intro)}</p>"
            f"<nav><h2>{_e(t['contents'])}</h2><ul>{nav}</ul></nav>{body}</body></html>\n")


@recorded("report", inputs=["measures/**", "did/**", "figures/**", "areas/**", "reconciliation.json",
                            "afdeling.parquet"],
          outputs=["report.html"])
def write_report(out: str | Path, *, lang: Literal["da", "en"] = "en", config: str | Path | None = None) -> None:
    """Write ``OUT/report.html`` atomically (a failure leaves any earlier report whole).

    Examples
    --------
    >>> write_report("OUT", lang="da")  # doctest: +SKIP
    """
    text = build_report(out, lang=lang, config=config)
    with staged_file(Path(out) / REPORT_FILE) as tmp:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)  # a report is for reading; mkstemp makes it owner-only
    log.info("report: %s (%d kB)", Path(out) / REPORT_FILE, len(text) // 1024)
