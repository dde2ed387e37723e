"""``socialmix figures OUT``: every report figure from the released tables, plus an index.

The figure set is a list of :class:`Spec` (file stem, title, source table,
builder) worked out from which tables exist, so the report can render the
same set in memory. Files are named deterministically
(``fig7_01_education_stock.png``) and listed in ``figures/index.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from PIL import Image

from analyses.figures import areas as fa
from analyses.figures import bacon as fb
from analyses.figures import did as fd
from analyses.figures import flows as ff
from analyses.figures import households as fh
from analyses.figures import segregation as fseg
from analyses.figures import sensitivity as fsens
from analyses.figures import series as fs
from analyses.figures import style as st
from analyses.figures import tables as tb
from panel.atomic import staged_dir
from panel.errors import InputError, SocialmixError
from panel.progress import step, track
from panel.provenance import recorded

log = logging.getLogger("socialmix.figures")
CONTRACT_MEASURES = ("education", "employment", "income", "non_western")
POPULATIONS = ("stock", "in", "out")
FORMATS = ("png", "pdf", "svg")
INDEX_COLUMNS = ("file", "figure", "title", "source", "lang")


@dataclass(frozen=True)
class Spec:
    """One figure: deterministic file stem, title, the released table it is drawn from, and its builder."""

    name: str
    title: str
    source: str
    build: Callable[[], Figure]


def _ordered(measures: list[str]) -> list[str]:
    """Distinct measures, the four contract measures first (in contract order), then alphabetically."""
    order = {m: i for i, m in enumerate(CONTRACT_MEASURES)}
    return sorted(dict.fromkeys(measures), key=lambda m: (order.get(m, len(order)), m))


def _group_years(measures: pl.DataFrame, style: dict[str, Any]) -> list[int]:
    lo, hi = style["figure"]["first_year"], style["figure"]["last_year"]
    years = measures.filter(pl.col("level") == "group")["year"]
    if years.len():
        lo, hi = min(lo, int(years.min())), max(hi, int(years.max()))
    return list(range(lo, hi + 1))


def _measure_specs(out: Path, style: dict[str, Any], lang: str) -> tuple[list[Spec], list[Spec]]:
    """Figures 7.1-7.12 of the contract measures, and the same for every added measure."""
    measures = tb.read_measures(out)
    if measures is None:
        return [], []
    lab = st.labels(style, lang)
    groups = measures.filter(pl.col("level") == "group")
    present = list(dict.fromkeys(groups["measure"].to_list()))
    counts = tb.afdeling_counts(out, style["figure"]["groups"])
    years = _group_years(measures, style)
    specs: list[Spec] = []
    for i, (m, pop) in enumerate(((m, p) for m in CONTRACT_MEASURES for p in POPULATIONS), start=1):
        if m not in present:
            continue
        specs.append(_trend(measures, m, pop, f"fig7_{i:02d}_{m}_{pop}", style, lang, lab, counts, years))
    extra: list[Spec] = []
    for m in sorted(set(present) - set(CONTRACT_MEASURES)):
        for pop in POPULATIONS:
            if groups.filter((pl.col("measure") == m) & (pl.col("population") == pop)).height:
                extra.append(_trend(measures, m, pop, f"figm_{m}_{pop}", style, lang, lab, counts, years))
    return specs, extra


def _trend(measures: pl.DataFrame, m: str, pop: str, name: str, style: dict[str, Any], lang: str,
           lab: dict[str, Any], counts: dict[str, int], years: list[int]) -> Spec:
    kind = tb.measure_kind(style, m, measures.filter(pl.col("measure") == m)["value"])
    return Spec(name, fs.title_of(lab, m, pop), tb.MEASURES,
                lambda: fs.measure_figure(measures, measure=m, population=pop, kind=kind, style=style, lang=lang,
                                          counts=counts, years=years))


def _comparison_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    comp = tb.read_table(out, tb.COMPARISON)
    if comp is None:
        return []
    col = fs.series_column(comp, style)
    if col is None or not {"measure", "year", "value"} <= set(comp.columns):
        log.warning("%s: no series/measure/year/value columns recognised; chapter-2 figures skipped", tb.COMPARISON)
        return []
    if "population" in comp.columns:  # chapter 2 describes the resident stock
        comp = comp.filter(pl.col("population") == "stock")
    lab = st.labels(style, lang)
    comp = comp.with_columns(pl.col("year").cast(pl.Int32), pl.col("value").cast(pl.Float64))
    present = set(comp["measure"].to_list())
    order = list(style["figure"]["comparison_measures"])
    n_eval = int(style["figure"].get("evaluation_figures", 0))
    first = [m for m in order if m in present]
    specs = []
    for m in first + sorted(present - set(first)):
        kind = tb.measure_kind(style, m, comp.filter(pl.col("measure") == m)["value"])
        name = lab["measures"].get(m, m.replace("_", " "))
        # fig2_NN is the evaluation's figure 2.NN (by position in the style's list, present or not)
        stem = f"fig2_{order.index(m) + 1:02d}_{m}" if m in order[:n_eval] else f"fig2x_{m}"
        specs.append(Spec(stem, fs.comparison_title(lab, name, kind), tb.COMPARISON,
                          lambda m=m, kind=kind: fs.comparison_figure(comp, measure=m, kind=kind, style=style,
                                                                      lang=lang, series_col=col)))
    return specs


def _flow_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    lab = st.labels(style, lang)
    specs = []
    dec = tb.read_table(out, tb.DECOMPOSITION, required=tb.DECOMPOSITION_COLUMNS)
    if dec is not None:
        dec = dec.with_columns(pl.col("year").cast(pl.Int32))
        for m in _ordered(dec["measure"].to_list()):
            kind = tb.measure_kind(style, m)
            name = lab["measures"].get(m, m.replace("_", " "))
            specs.append(Spec(f"fig_decomposition_{m}", lab["decomposition_title"].format(measure=name),
                              tb.DECOMPOSITION,
                              lambda m=m, kind=kind: ff.decomposition_figure(dec, measure=m, kind=kind, style=style,
                                                                             lang=lang)))
    ret = tb.read_table(out, tb.RETENTION, required=("level", "unit", "year", "category"))
    if ret is not None and "exit_rate" not in ret.columns and not {"outcome", "rate"} <= set(ret.columns):
        raise InputError("retention table needs outcome and rate columns", file=out / tb.RETENTION, column="rate")
    if ret is not None:
        ret = ret.with_columns(pl.col("year").cast(pl.Int32))
        specs.append(Spec("fig_retention", lab["retention_title"], tb.RETENTION,
                          lambda: ff.retention_figure(ret, style=style, lang=lang)))
    ten = tb.read_table(out, tb.TENURE, required=("level", "unit", "year", "band", "share"))
    if ten is not None:
        ten = ten.with_columns(pl.col("year").cast(pl.Int32))
        specs.append(Spec("fig_tenure", lab["tenure_title"], tb.TENURE,
                          lambda: ff.tenure_figure(ten, style=style, lang=lang)))
    return specs


def _household_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    """Resource-strong families, their exits, lengths of residence, in-mover cohorts, displacement (group rows)."""
    lab = st.labels(style, lang)
    hl = lab["households"]
    variant = style["figure"]["families_variant"]
    specs: list[Spec] = []
    fam = tb.read_table(out, tb.FAMILY_HOUSEHOLDS, required=("level", "unit", "year", "variant", "category", "band",
                                                             "outcome", "share", "of_families", "rate",
                                                             "band_share"))
    if fam is not None:
        fam = fam.with_columns(pl.col("year").cast(pl.Int32)).filter(pl.col("level") == "group")
    if fam is not None and fam.filter(pl.col("variant") == variant).height:
        specs += [
            Spec("fig_families_shares", hl["families_title"], tb.FAMILY_HOUSEHOLDS,
                 lambda: fh.families_figure(fam, variant=variant, style=style, lang=lang)),
            Spec("fig_families_exits", hl["exits_title"], tb.FAMILY_HOUSEHOLDS,
                 lambda: fh.family_exits_figure(fam, variant=variant, style=style, lang=lang)),
            Spec("fig_household_tenure_stock",
                 hl["stock_tenure_title"].format(who=hl["categories"]["all"]), tb.FAMILY_HOUSEHOLDS,
                 lambda: fh.band_figure(fam, variant=variant, category="all", outcome="households", style=style,
                                        lang=lang)),
            Spec("fig_household_tenure_exits",
                 hl["exit_tenure_title"].format(who=hl["categories"]["family_rs"]), tb.FAMILY_HOUSEHOLDS,
                 lambda: fh.band_figure(fam, variant=variant, category="family_rs", outcome="moved_out",
                                        style=style, lang=lang)),
        ]
    coh = tb.read_table(out, tb.FAMILY_COHORTS, required=("level", "unit", "year", "variant", "category", "horizon",
                                                          "outcome", "rate"))
    if coh is not None:
        coh = coh.with_columns(pl.col("year").cast(pl.Int32)).filter(
            (pl.col("level") == "group") & (pl.col("variant") == variant))
        for cat in style["figure"]["cohort_categories"]:
            if coh.filter(pl.col("category") == cat).height:
                specs.append(Spec(f"fig_cohorts_{cat}", hl["cohorts_title"].format(who=hl["categories"].get(cat, cat)),
                                  tb.FAMILY_COHORTS,
                                  lambda cat=cat: fh.cohorts_figure(coh, variant=variant, category=cat, style=style,
                                                                    lang=lang)))
    dp = tb.read_table(out, tb.DISPLACEMENT, required=("level", "unit", "year", "direction", "measure", "place",
                                                       "value"))
    if dp is not None:
        dp = dp.with_columns(pl.col("year").cast(pl.Int32)).filter(pl.col("level") == "group")
        present = set(dp["measure"].to_list())
        for direction in ("out", "in"):
            for m in (m for m in style["displacement"]["measures"] if m in present):
                kind = tb.measure_kind(style, m)
                name = lab["measures"].get(m, m.replace("_", " "))
                title = hl[f"{direction}_title"].format(measure=name)
                specs.append(Spec(f"fig_displacement_{direction}_{m}", title, tb.DISPLACEMENT,
                                  lambda d=direction, m=m, kind=kind: fh.displacement_figure(
                                      dp, direction=d, measure=m, kind=kind, style=style, lang=lang)))
    return specs


def _segregation_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    """Segregation indices per municipality size class, and the decomposition of the change of M."""
    sl = st.labels(style, lang)["segregation"]
    specs: list[Spec] = []
    types = tb.read_table(out, tb.SEGREGATION_TYPES, required=("kom_type", "year", "trait", "index", "value"))
    if types is not None:
        types = types.with_columns(pl.col("year").cast(pl.Int32))
        for index in style["segregation"]["indices"]:
            if types.filter(pl.col("index") == index).height:
                specs.append(Spec(f"fig_segregation_{index}",
                                  sl["index_title"].format(index=sl["indices"].get(index, index)),
                                  tb.SEGREGATION_TYPES,
                                  lambda index=index: fseg.index_figure(types, index=index, style=style, lang=lang)))
    change = tb.read_table(out, tb.SEGREGATION_CHANGE, required=("level", "kom_type", "trait", "year1", "year2",
                                                                 "stat", "value"))
    if change is not None and change.filter(pl.col("level") == "kom_type").height:
        c = change.filter(pl.col("level") == "kom_type")
        title = sl["change_title"].format(y1=int(c["year1"].min()), y2=int(c["year2"].max()))
        specs.append(Spec("fig_segregation_change", title, tb.SEGREGATION_CHANGE,
                          lambda: fseg.change_figure(change, style=style, lang=lang)))
    return specs


def _did_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    """Overall effects of every measure, then the event studies, then dose-response (report order)."""
    est = tb.read_table(out, tb.ESTIMATES, required=tb.ESTIMATE_COLUMNS)
    if est is None:
        return []
    est = tb.full_comparisons(est)
    lab = st.labels(style, lang)
    est = est.with_columns(pl.col("term").cast(pl.String), pl.col("estimate").cast(pl.Float64))
    measures = _ordered(est["measure"].to_list())
    kinds = {m: tb.measure_kind(style, m) for m in measures}
    names = {m: lab["measures"].get(m, m.replace("_", " ")) for m in measures}
    pairs = [(m, p) for m in measures for p in POPULATIONS]
    conf = tb.did_config(out)
    window = tuple(conf["event_study"]["window"])
    few = int(conf.get("run", {}).get("few_clusters", fd.FEW_CLUSTERS))  # hollow markers below this
    specs = [Spec(f"fig_did_{m}", lab["did_title"].format(measure=names[m]), tb.ESTIMATES,
                  lambda m=m: fd.headline_figure(est, measure=m, kind=kinds[m], style=style, lang=lang,
                                                       few_clusters=few))
             for m in measures if fd.headline_rows(est.filter(pl.col("measure") == m)).height]
    specs += [Spec(f"fig_event_{m}_{p}", lab["event_title"].format(measure=names[m],
                                                                   population=lab["populations"].get(p, p)),
                   tb.ESTIMATES,
                   lambda m=m, p=p: fd.event_figure(est, measure=m, population=p, kind=kinds[m], style=style,
                                                    lang=lang, window=window, few_clusters=few))
              for m, p in pairs if fd.event_rows(est, measure=m, population=p, window=window).height]
    dose = est.filter(pl.col("estimator") == "dose")
    specs += [Spec(f"fig_dose_{m}_{p}", lab["dose_title"].format(measure=names[m],
                                                                 population=lab["populations"].get(p, p)),
                   tb.ESTIMATES,
                   lambda m=m, p=p: fd.dose_figure(est, measure=m, population=p, kind=kinds[m], style=style,
                                                   lang=lang, few_clusters=few))
              for m, p in pairs if dose.filter((pl.col("measure") == m) & (pl.col("population") == p)).height]
    return specs


def _area_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    """Listed areas by rule version, and the study areas' criteria against each list's thresholds."""
    path = out / "areas" / "areas.parquet"
    if not path.is_file():
        return []
    from queries.areas.rules import load_rule

    areas = pl.read_parquet(path)
    al = st.labels(style, lang)["areas"]
    afd = pl.read_parquet(out / "afdeling.parquet") if (out / "afdeling.parquet").is_file() else None
    study = ([] if afd is None or "boligomraade_id" not in afd.columns else sorted(
        afd.filter(pl.col("helhedsplan_id").is_not_null())["boligomraade_id"].drop_nulls().unique().to_list()))
    specs = [Spec("fig_areas_listed", al["listed_title"], "areas/areas",
                  lambda: fa.listed_figure(areas, style=style, lang=lang))]
    for rule in ("2015", "2018"):
        if not study or not areas.filter(pl.col("rule") == rule).height:
            continue
        version = load_rule(rule)
        thr = {c.name: (c.compare, None if c.relative_to_national else c.threshold)
               for c in version.criteria.values()}
        specs.append(Spec(f"fig_areas_criteria_{rule}",
                          al["criteria_title"].format(rule=al["rules"].get(rule, rule)), "areas/areas",
                          lambda rule=rule, thr=thr: fa.criteria_figure(areas, thr, rule=rule, study_areas=study,
                                                                        style=style, lang=lang)))
    return specs


def _sensitivity_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    """One HonestDiD figure per measure, population and method in did/sensitivity.csv."""
    path = out / "did" / "sensitivity.csv"
    if not path.is_file():
        return []
    sens = pl.read_csv(path, infer_schema_length=None)
    if not sens.height:
        return []
    lab = st.labels(style, lang)
    specs = []
    for m, pop, method in sens.select("measure", "population", "method").unique().sort(
            "measure", "population", "method").iter_rows():
        kind = tb.measure_kind(style, m, sens.filter(pl.col("measure") == m)["ci_low"])
        title = lab["sensitivity"]["title"].format(measure=lab["measures"].get(m, m),
                                                   method=lab["sensitivity"][method])
        specs.append(Spec(f"fig_sensitivity_{m}_{pop}_{method}", title, "did/sensitivity",
                          lambda m=m, pop=pop, method=method, kind=kind: fsens.sensitivity_figure(
                              sens, measure=m, population=pop, method=method, kind=kind, style=style, lang=lang)))
    return specs


def _bacon_specs(out: Path, style: dict[str, Any], lang: str) -> list[Spec]:
    """One Goodman-Bacon figure per headline measure (did.toml [run] measures) and population in did/bacon.csv."""
    path = out / "did" / "bacon.csv"
    if not path.is_file():
        return []
    bacon = pl.read_csv(path, infer_schema_length=None)
    if not bacon.height:
        return []
    lab = st.labels(style, lang)
    specs = []
    for m in _ordered(bacon["measure"].to_list()):
        for pop in [p for p in POPULATIONS if bacon.filter((pl.col("measure") == m)
                                                           & (pl.col("population") == p)).height]:
            kind = tb.measure_kind(style, m)
            title = lab["bacon"]["title"].format(measure=lab["measures"].get(m, m),
                                                 population=lab["populations"].get(pop, pop))
            specs.append(Spec(f"fig_bacon_{m}_{pop}", title, "did/bacon",
                              lambda m=m, pop=pop, kind=kind: fb.bacon_figure(bacon, measure=m, population=pop,
                                                                              kind=kind, style=style, lang=lang)))
    return specs


def with_data_source(style: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """The style with the note's source line saying "synthetic" when OUT was built from synthetic registers."""
    if not tb.synthetic_source(out):
        return style
    labels = {lang: {**lab, "source": lab.get("source_synthetic", lab["source"])}
              for lang, lab in style["labels"].items()}
    return {**style, "labels": labels}


def figure_specs(out: str | Path, *, lang: str = "en", style: dict[str, Any] | None = None) -> list[Spec]:
    """Every figure the released tables of OUT support, in report order.

    Examples
    --------
    >>> [s.name for s in figure_specs("OUT")][:2]  # doctest: +SKIP
    ['fig7_01_education_stock', 'fig7_02_education_in']
    """
    st.check_lang(lang)
    out = Path(out)
    if not out.is_dir():
        raise InputError("output folder not found; run 'socialmix measures' first", file=out)
    style = with_data_source(style or st.load_style(), out)
    main, extra = _measure_specs(out, style, lang)
    return (main + _comparison_specs(out, style, lang) + extra + _flow_specs(out, style, lang)
            + _household_specs(out, style, lang) + _segregation_specs(out, style, lang) + _area_specs(out, style, lang)
            + _did_specs(out, style, lang) + _sensitivity_specs(out, style, lang) + _bacon_specs(out, style, lang))


def png_bytes(fig: Figure, dpi: float) -> bytes:
    """Encode a built figure as an 8-bit palette PNG, drawing it exactly once.

    ``savefig`` draws a constrained-layout figure twice (a dry run for the
    layout, then the real draw) and writes 32-bit RGBA; here the layout and
    the pixels come from one ``canvas.draw()`` and the pixels are reduced to
    an adaptive 256-colour palette (the figures use a handful of colours plus
    their anti-aliasing shades), which keeps the file, and the report that
    embeds it, about a third of the RGBA size. No metadata, so no timestamp.
    """
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]  # the figure background is opaque white
    img = Image.fromarray(np.ascontiguousarray(rgb)).quantize(256, method=Image.Quantize.FASTOCTREE,
                                                              dither=Image.Dither.NONE)
    buf = io.BytesIO()
    img.save(buf, format="png", optimize=False, compress_level=6, dpi=(dpi, dpi))
    return buf.getvalue()


def render(spec: Spec, style: dict[str, Any], *, fmt: str = "png", dpi: int | None = None) -> bytes:
    """Build one figure and return the encoded file (fonts embedded in PDF, no timestamps)."""
    if fmt not in FORMATS:
        raise SocialmixError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    dpi = dpi or style["figure"]["dpi"]
    with st.rc(style):
        fig = spec.build()
        fig.set_dpi(dpi)
        st.fix_layout(fig)
        if fmt == "png":
            return png_bytes(fig, dpi)
        metadata = {"pdf": {"CreationDate": None, "Creator": None, "Producer": None},
                    "svg": {"Date": None, "Creator": None}}[fmt]
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
    return buf.getvalue()


def render_into(folder: Path, specs: list[Spec], style: dict[str, Any], *, out: str | Path, lang: str,
                config: str | Path | None, fmt: str = "png", description: str = "figures") -> None:
    """Write ``folder/<name>.<fmt>`` for every spec, with ``[figure] workers = 2`` in two processes.

    Figures are independent: a helper process (:mod:`analyses.figures.helper`)
    draws chunks from the front of the list while this process draws chunks
    from the back, each claiming a chunk before drawing it; anything the helper
    did not finish (it failed, or could not start) is drawn here afterwards.
    Every file is the same bytes whichever process draws it, so the output
    equals a serial run. Below ``[figure] parallel_from`` figures the helper's
    start-up (about a second) is not worth it. On Windows (not tested there)
    every figure is drawn in this process: the same files, only slower.
    """
    processes = int(style["figure"].get("workers", 1))
    if processes <= 1 or sys.platform == "win32" or len(specs) < int(style["figure"].get("parallel_from", 16)):
        for spec in track(specs, description):
            (folder / f"{spec.name}.{fmt}").write_bytes(render(spec, style, fmt=fmt))
        return
    from analyses.figures.helper import claim

    size = max(1, -(-len(specs) // 16))
    chunks = [specs[i:i + size] for i in range(0, len(specs), size)]
    with tempfile.TemporaryDirectory(prefix="socialmix-figures-") as work:
        claims = Path(work) / "claims"
        claims.mkdir()
        job = Path(work) / "job.json"
        job.write_text(json.dumps({"out": str(out), "lang": lang, "fmt": fmt, "folder": str(folder),
                                   "config": None if config is None else str(config), "claims": str(claims),
                                   "chunks": [[s.name for s in c] for c in chunks]}), encoding="utf-8")
        with open(Path(work) / "helper.log", "wb") as logfile:
            helper = subprocess.Popen([sys.executable, "-m", "analyses.figures.helper", str(job)],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logfile)
        mine: set[int] = set()
        try:
            for i in track(range(len(chunks) - 1, -1, -1), description, total=len(chunks)):
                if claim(claims, i):
                    mine.add(i)
                    for spec in chunks[i]:
                        (folder / f"{spec.name}.{fmt}").write_bytes(render(spec, style, fmt=fmt))
        except BaseException:
            helper.kill()
            helper.wait()
            raise
        code = helper.wait()
        left = [i for i in range(len(chunks)) if i not in mine and not (claims / f"{i}.done").exists()]
        if left:
            log.warning("figures: the helper process stopped (exit %s); drawing its %d figures here", code,
                        sum(len(chunks[i]) for i in left))
        for i in left:
            for spec in chunks[i]:
                (folder / f"{spec.name}.{fmt}").write_bytes(render(spec, style, fmt=fmt))


@recorded("figures", inputs=["measures/**", "did/**", "afdeling.parquet", "reconciliation.json"],
          outputs=["figures/**"])
def run_figures(out: str | Path, *, lang: Literal["da", "en"] = "en", fmt: Literal["png", "pdf", "svg"] = "png",
                config: str | Path | None = None) -> None:
    """Write ``OUT/figures/`` (one file per figure and ``index.csv``) atomically.

    Examples
    --------
    >>> run_figures("OUT", lang="da", fmt="pdf")  # doctest: +SKIP
    """
    st.check_lang(lang)
    if fmt not in FORMATS:
        raise SocialmixError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    style = st.load_style(config)
    with step("figures: reading released tables"):
        specs = figure_specs(out, lang=lang, style=style)
    if not specs:
        raise InputError("no released tables to draw (measures/, did/); run the earlier stages first", file=out)
    index = []
    with staged_dir(out) as tmp:
        folder = tmp / "figures"
        folder.mkdir()
        render_into(folder, specs, style, out=out, lang=lang, config=config, fmt=fmt)
        for spec in specs:
            index.append({"file": f"{spec.name}.{fmt}", "figure": spec.name, "title": spec.title,
                          "source": spec.source, "lang": lang})
        with open(folder / "index.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS)
            writer.writeheader()
            writer.writerows(index)
    log.info("figures: %d files in %s", len(index), Path(out) / "figures")
