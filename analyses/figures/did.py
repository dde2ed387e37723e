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
FEW_NOTE = {"en": f"Hollow markers: fewer than {FEW_CLUSTERS} treated clusters (CRV1 over-rejects; see p_ri).",
            "da": f"Åbne markører: færre end {FEW_CLUSTERS} behandlede klynger (CRV1 afviser for ofte; se p_ri)."}


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


def event_rows(est: pl.DataFrame, *, measure: str, population: str) -> pl.DataFrame:
    """Event-time rows of all event-study estimators for one measure and population."""
    keep = pl.lit(False)
    for e, t in EVENT_TERMS:
        keep = keep | ((pl.col("estimator") == e) & (pl.col("term") == t))
    rows = est.filter(keep & (pl.col("measure") == measure) & (pl.col("population") == population)
                      & pl.col("event_time").is_not_null())
    return intervals(rows.with_columns(pl.col("event_time").cast(pl.Float64)))


def event_figure(est: pl.DataFrame, *, measure: str, population: str, kind: str, style: dict[str, Any],
                 lang: str = "en") -> Figure:
    """Event-study estimates by event time, one panel per comparison (treated group vs neither).

    In each panel every estimator is a series of points (gid = estimator),
    dodged sideways so the intervals do not overlap.
    """
    lab = st.labels(style, lang)
    rows = event_rows(est, measure=measure, population=population)
    comps = [c for c in style["figure"]["comparisons"] if rows.filter(pl.col("comparison") == c).height]
    comps += sorted(set(rows["comparison"].to_list()) - set(comps))
    ests = [e for e in dict.fromkeys(e for e, _ in EVENT_TERMS) if rows.filter(pl.col("estimator") == e).height]
    fig, flat, lax = st.panel_grid(style, len(comps))
    k = st.scale(kind)
    width = 0.5 / max(len(ests), 1)
    any_uniform = False
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
        ax.axhline(0, color="#000000", linewidth=0.7)
        ax.axvline(-0.5, color="#888888", linewidth=0.8, linestyle="--")
        ax.set_title(lab["versus"].format(group=lab["groups"].get(comp, comp)), loc="left", fontsize="small")
        ax.set_xlabel(lab["event_time"], fontsize="small")
        ax.xaxis.set_major_formatter(st.NumberFormatter(lang, 0))
        st.value_axis(ax, kind, lang, lab, change=True)
    st.outer_ylabels(flat)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    fig.suptitle(lab["event_title"].format(measure=name, population=lab["populations"].get(population, population)),
                 x=0.01, ha="left", fontsize="medium")
    handles, names = flat[0].get_legend_handles_labels()
    st.grid_legend(lax, handles, names, ncols=len(names))
    bands = lab["pointwise"] + (f"; {lab['uniform']}" if any_uniform else "")
    st.add_note(fig, [bands, lab["source"]])
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


def headline_figure(est: pl.DataFrame, *, measure: str, kind: str, style: dict[str, Any], lang: str = "en"
                    ) -> Figure:
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
            if "n_clusters_treated" in r.columns:
                few = (r["n_clusters_treated"].cast(pl.Int64, strict=False) < FEW_CLUSTERS).fill_null(False).to_numpy()
                if few.any():
                    any_few = True
                    ax.plot(v[few], y[few], linestyle="none", marker=es["marker"], color=es["color"],
                            markerfacecolor="white", gid=f"{e}:few_clusters")
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
    st.add_note(fig, [lab["did_note"], lab["pointwise"]] + ([FEW_NOTE.get(lang, FEW_NOTE["en"])] if any_few else [])
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
                lang: str = "en") -> Figure:
    """Dose-response estimates by term (dose level or bin) for each comparison, with pointwise 95% bars."""
    lab = st.labels(style, lang)
    rows = intervals(est.filter((pl.col("estimator") == "dose") & (pl.col("measure") == measure)
                                & (pl.col("population") == population)))
    terms = list(dict.fromkeys(rows["term"].cast(pl.String).to_list()))
    comps = list(dict.fromkeys(rows["comparison"].to_list()))
    fig, ax = st.new_figure(style)
    k = st.scale(kind)
    x0 = np.arange(len(terms), dtype=float)
    width = 0.5 / max(len(comps), 1)
    for i, c in enumerate(comps):
        r = rows.filter(pl.col("comparison") == c)
        pos = {t: j for j, t in enumerate(terms)}
        xs = np.array([x0[pos[t]] for t in r["term"].cast(pl.String)]) + (i - (len(comps) - 1) / 2) * width
        v, lo, hi = (r[col].cast(pl.Float64).fill_null(np.nan).to_numpy() * k for col in ("estimate", "pw_low", "pw_high"))
        gs = style["groups"].get(c, {"color": "#666666", "marker": "o"})
        ax.vlines(xs, lo, hi, color=gs["color"], linewidth=2.0, gid=f"{c}:pointwise")
        ax.plot(xs, v, linestyle="none", marker=gs["marker"], color=gs["color"], label=lab["groups"].get(c, c), gid=c)
    ax.axhline(0, color="#000000", linewidth=0.7)
    ax.set_xticks(x0)
    ax.set_xticklabels([dose_label(t, lab, lang) for t in terms], fontsize="small")
    ax.set_xlabel(lab["dose_axis"])
    st.value_axis(ax, kind, lang, lab, change=True)
    name = lab["measures"].get(measure, measure.replace("_", " "))
    ax.set_title(lab["dose_title"].format(measure=name, population=lab["populations"].get(population, population)),
                 loc="left", fontsize="medium")
    st.legend_below(ax, ncols=min(2, max(len(comps), 1)))
    st.add_note(fig, [lab["pointwise"], lab["source"]])
    return fig
