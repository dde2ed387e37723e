"""Difference-in-differences figures: event studies, headline estimates, dose-response.

Drawn from ``OUT/did/estimates.csv``. Pointwise 95% intervals are the thick
bars, uniform (simultaneous) bands the thin capped whiskers. Which is which
follows ``analyses.did.run``: ``ci_low``/``ci_high`` are pointwise (CRV1, t
with G-1 df) for TWFE, event study, Sun-Abraham and dose; for ``att_gt`` they
are the multiplier-bootstrap uniform band whenever they are wider than
``estimate ± z·se`` (R ``did``'s convention), and the pointwise interval is
then ``estimate ± z·se``. Explicit band columns (``cb_low``/``cb_high``) win.
Shares are drawn in percentage points.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analyses.figures import style as st

Z = 1.959963984540054
UNIFORM_PAIRS = (("cb_low", "cb_high"), ("ucb_low", "ucb_high"), ("uniform_low", "uniform_high"))
# (estimator, term) pairs drawn in event-study figures, in legend order
EVENT_TERMS = (("event_study", "event"), ("att_gt", "dynamic"), ("sun_abraham", "event"))
# (estimator, term) pairs of the headline table and figure: one overall effect per estimator that writes one
# (analyses.did.run: Sun-Abraham writes event-time effects only)
HEADLINE_TERMS = (("twfe", None), ("att_gt", "simple"))
FEW_CLUSTERS = 10  # analyses/did/did.toml [run] few_clusters: hollow markers below this many treated clusters
FEW_NOTE = {"en": "Hollow markers: fewer than {n} treated clusters (clustered SEs over-reject; see p_ri / p_wild).",
            "da": "Åbne markører: færre end {n} behandlede klynger (klyngekorrigerede standardfejl afviser for ofte; "
                  "se p_ri / p_wild)."}


def few_note(lang: str, n: int) -> str:
    """The figure note explaining hollow markers."""
    return FEW_NOTE.get(lang, FEW_NOTE["en"]).format(n=n)


def few_mask(rows: pl.DataFrame, few_clusters: int) -> np.ndarray:
    """True for rows resting on fewer than ``few_clusters`` treated clusters (unknown count: not marked)."""
    if "n_clusters_treated" not in rows.columns:
        return np.zeros(rows.height, dtype=bool)
    n = rows["n_clusters_treated"].cast(pl.Int64, strict=False)
    return (n < few_clusters).fill_null(False).to_numpy()


def mark_few(ax: Any, x: np.ndarray, y: np.ndarray, few: np.ndarray, *, marker: str, color: str, gid: str,
             markersize: float | None = None) -> bool:
    """Redraw the few-cluster points hollow (gid ``<gid>:few_clusters``); True when any was drawn."""
    if not few.any():
        return False
    ax.plot(x[few], y[few], linestyle="none", marker=marker, color=color, markerfacecolor="white",
            gid=f"{gid}:few_clusters", **({} if markersize is None else {"markersize": markersize}))
    return True


def uniform_columns(est: pl.DataFrame) -> tuple[str, str] | None:
    """Names of the uniform-band columns of estimates.csv, if it has them."""
    for lo, hi in UNIFORM_PAIRS:
        if lo in est.columns and hi in est.columns:
            return lo, hi
    return None


def intervals(rows: pl.DataFrame) -> pl.DataFrame:
    """Add pointwise (``pw_low``, ``pw_high``) and uniform (``u_low``, ``u_high``) interval columns."""
    se = pl.col("se").cast(pl.Float64)
    est = pl.col("estimate").cast(pl.Float64)
    lo, hi = pl.col("ci_low").cast(pl.Float64), pl.col("ci_high").cast(pl.Float64)
    uni = uniform_columns(rows)
    # att_gt's ci is the bootstrap uniform band when it is wider than the normal pointwise interval
    ci_uniform = ((pl.col("estimator") == "att_gt") & se.is_not_null()
                  & ((hi - lo) > 2 * Z * se * (1 + 1e-6))).fill_null(False)
    if uni is not None:
        u_low, u_high = pl.col(uni[0]).cast(pl.Float64), pl.col(uni[1]).cast(pl.Float64)
    else:
        u_low = pl.when(ci_uniform).then(lo).otherwise(None)
        u_high = pl.when(ci_uniform).then(hi).otherwise(None)
    pw_low = pl.when(ci_uniform).then(est - Z * se).otherwise(lo)
    pw_high = pl.when(ci_uniform).then(est + Z * se).otherwise(hi)
    return rows.with_columns(pw_low.alias("pw_low"), pw_high.alias("pw_high"), u_low.alias("u_low"),
                             u_high.alias("u_high"))


def event_rows(est: pl.DataFrame, *, measure: str, population: str,
               window: tuple[int, int] | None = None) -> pl.DataFrame:
    """Event-time rows of all event-study estimators for one measure and population, inside ``window``."""
    keep = pl.lit(False)
    for e, t in EVENT_TERMS:
        keep = keep | ((pl.col("estimator") == e) & (pl.col("term") == t))
    rows = est.filter(keep & (pl.col("measure") == measure) & (pl.col("population") == population)
                      & pl.col("event_time").is_not_null()).with_columns(pl.col("event_time").cast(pl.Float64))
    if window is not None:
        rows = rows.filter(pl.col("event_time").is_between(float(window[0]), float(window[1])))
    return intervals(rows)


def event_limits(rows: pl.DataFrame, window: tuple[int, int] | None, k: float = 1.0) -> tuple[float, float]:
    """Y limits of an event-study figure from the estimates and intervals inside the window, robustly.

    Every estimate is inside. Intervals count except the event study's two
    binned end points (they pool all earlier / later years, and with few
    clusters their bars span tens of points) and any bar more than four times
    as wide as the median bar; those are cut at the axis edge instead. Zero is
    always shown; 8 % of the span is added on each side.
    """
    est = rows["estimate"].cast(pl.Float64).fill_null(np.nan).to_numpy() * k
    binned = np.zeros(rows.height, dtype=bool)
    if window is not None:
        binned = ((rows["estimator"] == "event_study") & rows["event_time"].cast(pl.Float64).is_in([float(w) for w in window])).to_numpy()
    bounds = []
    for lo_col, hi_col in (("pw_low", "pw_high"), ("u_low", "u_high")):
        lo = rows[lo_col].cast(pl.Float64).fill_null(np.nan).to_numpy() * k
        hi = rows[hi_col].cast(pl.Float64).fill_null(np.nan).to_numpy() * k
        bounds.append((lo, hi))
    widths = bounds[0][1] - bounds[0][0]
    ok = np.isfinite(widths) & ~binned
    cap = 4 * float(np.median(widths[ok])) if ok.any() else np.inf
    values = [est, np.zeros(1)]
    for lo, hi in bounds:
        use = ~binned & np.isfinite(lo) & np.isfinite(hi) & (hi - lo <= cap)
        values += [lo[use], hi[use]]
    v = np.concatenate(values)
    v = v[np.isfinite(v)]
    lo, hi = float(v.min()), float(v.max())
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def event_figure(est: pl.DataFrame, *, measure: str, population: str, kind: str, style: dict[str, Any],
                 lang: str = "en", window: tuple[int, int] | None = None, few_clusters: int = FEW_CLUSTERS
                 ) -> Figure:
    """Event-study estimates by event time, one panel per comparison (treated group vs neither).

    One window for every estimator: the event study's binned window
    (``did.toml [event_study] window``; without one, the event-time range of
    the event-study rows), C-S ``dynamic`` and Sun-Abraham restricted to it.
    In each panel every estimator is a series of points (gid = estimator),
    dodged sideways so the intervals do not overlap; the y axis is scaled by
    :func:`event_limits`, and bars cut at its edge get an open triangle there
    (gid ``<estimator>:clipped``). Points resting on fewer than ``few_clusters``
    treated clusters are hollow (gid ``<estimator>:few_clusters``).
    """
    lab = st.labels(style, lang)
    if window is None:
        es_t = est.filter((pl.col("estimator") == "event_study") & (pl.col("measure") == measure)
                          & (pl.col("population") == population))["event_time"].drop_nulls()
        window = (int(es_t.min()), int(es_t.max())) if es_t.len() else None
    rows = event_rows(est, measure=measure, population=population, window=window)
    comps = [c for c in style["figure"]["comparisons"] if rows.filter(pl.col("comparison") == c).height]
    comps += sorted(set(rows["comparison"].to_list()) - set(comps))
    ests = [e for e in dict.fromkeys(e for e, _ in EVENT_TERMS) if rows.filter(pl.col("estimator") == e).height]
    fig, flat, lax = st.panel_grid(style, len(comps))
    k = st.scale(kind)
    y0, y1 = event_limits(rows, window, k) if rows.height else (-1.0, 1.0)
    width = 0.5 / max(len(ests), 1)
    any_uniform = any_clipped = any_few = False
    for ax, comp in zip(flat, comps, strict=False):
        for i, e in enumerate(ests):
            r = rows.filter((pl.col("comparison") == comp) & (pl.col("estimator") == e)).sort("event_time")
            if not r.height:
                continue
            x = r["event_time"].to_numpy() + (i - (len(ests) - 1) / 2) * width
            y = r["estimate"].cast(pl.Float64).fill_null(np.nan).to_numpy() * k
            es = style["estimators"].get(e, {"color": "#666666", "marker": "o"})
            u_lo, u_hi = (r[c].fill_null(np.nan).to_numpy() * k for c in ("u_low", "u_high"))
            if np.isfinite(u_lo).any():
                any_uniform = True
                ax.vlines(x, u_lo, u_hi, color=es["color"], linewidth=0.8, alpha=0.85, gid=f"{e}:uniform")
                for end in (u_lo, u_hi):
                    ax.plot(x, end, linestyle="none", marker="_", markersize=5, color=es["color"], alpha=0.85,
                            gid=f"{e}:uniform_cap")
            p_lo, p_hi = (r[c].fill_null(np.nan).to_numpy() * k for c in ("pw_low", "pw_high"))
            ax.vlines(x, p_lo, p_hi, color=es["color"], linewidth=2.2, gid=f"{e}:pointwise")
            ax.plot(x, y, linestyle="none", marker=es["marker"], color=es["color"], markersize=4.5,
                    label=lab["estimators"].get(e, e), gid=e)
            any_few |= mark_few(ax, x, y, few_mask(r, few_clusters), marker=es["marker"], color=es["color"], gid=e,
                                markersize=4.5)
            low = np.fmin(p_lo, u_lo) < y0
            high = np.fmax(p_hi, u_hi) > y1
            if low.any() or high.any():
                any_clipped = True
                inset = 0.015 * (y1 - y0)
                for sel, marker, at in ((high, "^", y1 - inset), (low, "v", y0 + inset)):
                    if sel.any():
                        ax.plot(x[sel], np.full(sel.sum(), at), linestyle="none", marker=marker, markersize=4,
                                markerfacecolor="white", color=es["color"], gid=f"{e}:clipped")
        ax.axhline(0, color="#000000", linewidth=0.7)
        ax.axvline(-0.5, color="#888888", linewidth=0.8, linestyle="--")
        ax.set_title(lab["versus"].format(group=lab["groups"].get(comp, comp)), loc="left", fontsize="small")
        ax.set_xlabel(lab["event_time"], fontsize="small")
        if window is not None:
            ax.set_xlim(window[0] - 0.6, window[1] + 0.6)
            ax.set_xticks(range(window[0], window[1] + 1))
        ax.xaxis.set_major_formatter(st.NumberFormatter(lang, 0))
        st.value_axis(ax, kind, lang, lab, change=True)
        ax.set_ylim(y0, y1)
    st.outer_ylabels(flat)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    fig.suptitle(lab["event_title"].format(measure=name, population=lab["populations"].get(population, population)),
                 x=0.01, ha="left", fontsize="medium")
    handles, names = flat[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=len(names))
    bands = lab["pointwise"] + (f"; {lab['uniform']}" if any_uniform else "")
    bins = (lab["event_bins"].format(lo=st.number(window[0], 0, lang=lang), hi=st.number(window[1], 0, lang=lang))
            if window is not None and "event_study" in ests else "")
    st.add_note(fig, [bands, bins, lab["event_clipped"] if any_clipped else "",
                      few_note(lang, few_clusters) if any_few else "", lab["source"]])
    return fig


def headline_rows(est: pl.DataFrame) -> pl.DataFrame:
    """One overall effect per estimator, measure, population and comparison (TWFE, C-S simple)."""
    keep = pl.lit(False)
    for e, t in HEADLINE_TERMS:
        cond = pl.col("estimator") == e
        if t is not None:
            cond = cond & (pl.col("term") == t)
        else:  # TWFE: its treatment coefficient (the one term without event time)
            cond = cond & pl.col("event_time").is_null()
        keep = keep | cond
    return intervals(est.filter(keep))


def headline_figure(est: pl.DataFrame, *, measure: str, kind: str, style: dict[str, Any], lang: str = "en",
                    few_clusters: int = FEW_CLUSTERS) -> Figure:
    """Forest plot of the overall effects of one measure: a panel per population, a row per comparison.

    One marker per estimator (gid = estimator) with its pointwise 95% bar.
    """
    lab = st.labels(style, lang)
    rows = headline_rows(est).filter(pl.col("measure") == measure)
    pops = [p for p in ("stock", "in", "out") if rows.filter(pl.col("population") == p).height]
    comps = [c for c in style["figure"]["comparisons"] if rows.filter(pl.col("comparison") == c).height]
    comps += sorted(set(rows["comparison"].to_list()) - set(comps))
    ests = list(dict.fromkeys(rows["estimator"].to_list()))
    fig, axes, lax = st.panel_grid(style, len(pops), ncols=max(len(pops), 1),
                                   height=max(3.2, 1.9 + 0.45 * len(comps)))
    k = st.scale(kind)
    ypos = {c: len(comps) - 1 - i for i, c in enumerate(comps)}
    width = 0.5 / max(len(ests), 1)
    any_few = False
    for ax, p in zip(axes, pops, strict=False):
        for i, e in enumerate(ests):
            r = rows.filter((pl.col("estimator") == e) & (pl.col("population") == p))
            r = r.unique(subset=["comparison"], keep="first", maintain_order=True)
            r = r.filter(pl.col("comparison").is_in(comps))
            if not r.height:
                continue
            y = np.array([ypos[c] for c in r["comparison"]], dtype=float) + ((len(ests) - 1) / 2 - i) * width
            v, lo, hi = (r[c].cast(pl.Float64).fill_null(np.nan).to_numpy() * k for c in ("estimate", "pw_low", "pw_high"))
            es = style["estimators"].get(e, {"color": "#666666", "marker": "o"})
            ax.hlines(y, lo, hi, color=es["color"], linewidth=2.0, gid=f"{e}:pointwise")
            ax.plot(v, y, linestyle="none", marker=es["marker"], color=es["color"],
                    label=lab["estimators"].get(e, e), gid=e)
            any_few |= mark_few(ax, v, y, few_mask(r, few_clusters), marker=es["marker"], color=es["color"], gid=e)
        ax.axvline(0, color="#000000", linewidth=0.7)
        ax.set_yticks([ypos[c] for c in comps])
        ax.set_yticklabels([lab["groups"].get(c, c) for c in comps], fontsize="small")
        ax.set_ylim(-0.6, len(comps) - 0.4)
        ax.grid(axis="y", visible=False)
        ax.grid(axis="x", visible=True)
        ax.xaxis.set_major_formatter(st.NumberFormatter(lang))
        ax.set_xlabel(lab["pp_axis"] if kind == "share" else (lab["kr_axis"] if kind == "kr" else lab["estimate"]),
                      fontsize="small")
        ax.set_title(lab["populations"].get(p, p).capitalize(), loc="left", fontsize="small")
    name = lab["measures"].get(measure, measure.replace("_", " "))
    fig.suptitle(lab["did_title"].format(measure=name), x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=len(names))
    st.add_note(fig, [lab["did_note"], lab["pointwise"]] + ([few_note(lang, few_clusters)] if any_few else [])
                + [lab["source"]])
    return fig


def dose_label(term: str, lab: dict[str, Any], lang: str) -> str:
    """'dose' -> the linear slope label; 'dose_bin_[0.25,0.5)' -> '25-50 pct.' (flexible-letting share)."""
    if term == "dose":
        return lab["dose_linear"]
    m = re.fullmatch(r"dose_bin_([\[(])([-0-9.eE]+),\s*([-0-9.eE]+)([\])])", term)
    if not m:
        return term
    lo, hi = (st.number(float(v) * 100, 0, lang=lang) for v in (m.group(2), m.group(3)))
    return f"{lo}-{hi} {lab['pct']}"


def dose_figure(est: pl.DataFrame, *, measure: str, population: str, kind: str, style: dict[str, Any],
                lang: str = "en", few_clusters: int = FEW_CLUSTERS) -> Figure:
    """Dose-response: the linear slope and the bin effects in two panels, each on its own y axis.

    The slope (effect of going from 0 to 100 % flexible letting) and the bin
    effects (each bin vs no flexible letting) are different quantities, so
    they never share an axis: left panel the slope, one point per comparison;
    right panel the bins, dodged by comparison (gid = comparison in both),
    with pointwise 95 % bars. A panel is left out when its terms are absent. Points resting on fewer than
    ``few_clusters`` treated clusters are hollow (gid ``<comparison>:few_clusters``).
    """
    lab = st.labels(style, lang)
    rows = intervals(est.filter((pl.col("estimator") == "dose") & (pl.col("measure") == measure)
                                & (pl.col("population") == population)).with_columns(pl.col("term").cast(pl.String)))
    comps = list(dict.fromkeys(rows["comparison"].to_list()))
    slope, bins = rows.filter(pl.col("term") == "dose"), rows.filter(pl.col("term") != "dose")
    parts = [(r, is_slope) for r, is_slope in ((slope, True), (bins, False)) if r.height]
    fig = Figure(figsize=(style["figure"]["width"], style["figure"]["height"]), layout="constrained")
    FigureCanvasAgg(fig)
    ratios = [1.0 if s else 2.4 for _, s in parts] or [1.0]
    gs = fig.add_gridspec(2, len(ratios), height_ratios=[1.0, 0.08], width_ratios=ratios)
    axes = [fig.add_subplot(gs[0, j]) for j in range(len(ratios))]
    lax = fig.add_subplot(gs[1, :])
    lax.axis("off")
    k = st.scale(kind)
    width = 0.5 / max(len(comps), 1)
    any_few = False
    for ax, (part, is_slope) in zip(axes, parts, strict=False):
        terms = list(dict.fromkeys(part["term"].to_list()))
        pos = {c: j for j, c in enumerate(comps)} if is_slope else {t: j for j, t in enumerate(terms)}
        for i, c in enumerate(comps):
            r = part.filter(pl.col("comparison") == c)
            if not r.height:
                continue
            if is_slope:
                xs = np.full(r.height, float(pos[c]))
            else:
                xs = np.array([pos[t] for t in r["term"]], dtype=float) + (i - (len(comps) - 1) / 2) * width
            v, lo, hi = (r[col].cast(pl.Float64).fill_null(np.nan).to_numpy() * k
                         for col in ("estimate", "pw_low", "pw_high"))
            gs_ = style["groups"].get(c, {"color": "#666666", "marker": "o"})
            ax.vlines(xs, lo, hi, color=gs_["color"], linewidth=2.0, gid=f"{c}:pointwise")
            ax.plot(xs, v, linestyle="none", marker=gs_["marker"], color=gs_["color"],
                    label=lab["groups"].get(c, c), gid=c)
            any_few |= mark_few(ax, xs, v, few_mask(r, few_clusters), marker=gs_["marker"], color=gs_["color"], gid=c)
        ax.axhline(0, color="#000000", linewidth=0.7)
        st.value_axis(ax, kind, lang, lab, change=True)
        if is_slope:
            ax.set_xticks(range(len(comps)))
            ax.set_xticklabels([""] * len(comps))
            ax.set_xlim(-0.6, len(comps) - 0.4)
            ax.set_title(lab["dose_linear"], loc="left", fontsize="small")
            ax.set_xlabel(lab["dose_slope_axis"], fontsize="small")
        else:
            ax.set_xticks(range(len(terms)))
            ax.set_xticklabels([dose_label(t, lab, lang) for t in terms], fontsize="small")
            ax.set_xlim(-0.6, len(terms) - 0.4)
            ax.set_title(lab["dose_bins"], loc="left", fontsize="small")
            ax.set_xlabel(lab["dose_axis"], fontsize="small")
    name = lab["measures"].get(measure, measure.replace("_", " "))
    fig.suptitle(lab["dose_title"].format(measure=name, population=lab["populations"].get(population, population)),
                 x=0.01, ha="left", fontsize="medium")
    handles, names = axes[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=min(2, max(len(names), 1)))  # group names are long
    st.add_note(fig, [lab["pointwise"], few_note(lang, few_clusters) if any_few else "", lab["source"]])
    return fig
