"""One look for every figure: palette, group styles, labels and number format.

Style and words live in ``style.toml`` beside this module so a user can
restyle or relabel the report without touching code. Figures are built on
``matplotlib.figure.Figure`` attached to the Agg canvas explicitly — no
pyplot, no global backend switch, so it works headless and does not disturb
a user's notebook — inside :func:`rc`, which also embeds TrueType fonts in
PDF output.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import matplotlib as mpl
import matplotlib.font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator
from matplotlib.transforms import ScaledTranslation

from panel.config import load_config
from panel.errors import SocialmixError

Lang = Literal["da", "en"]
LANGS = ("da", "en")


def check_lang(lang: str) -> None:
    """Raise a one-line error for a language other than da/en."""
    if lang not in LANGS:
        raise SocialmixError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")


def load_style(override: str | Path | None = None) -> dict[str, Any]:
    """The shipped style.toml merged with an optional user override."""
    return load_config("analyses.figures", "style.toml", override)


def labels(style: dict[str, Any], lang: str) -> dict[str, Any]:
    """Label strings of one language."""
    check_lang(lang)
    return style["labels"][lang]


def number(x: float | None, decimals: int = 0, *, lang: str = "en") -> str:
    """Format a number with the decimal mark and thousands separator of ``lang``.

    Danish uses a decimal comma and a full stop between thousands.

    Examples
    --------
    >>> number(1234.5, 1, lang="da")
    '1.234,5'
    >>> number(1234.5, 1, lang="en")
    '1,234.5'
    >>> number(-0.25, 2, lang="da")
    '-0,25'
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    text = f"{x:,.{decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]  # no "-0"
    if lang == "da":
        text = text.translate(str.maketrans({",": ".", ".": ","}))
    return text


def tick_decimals(locs: list[float]) -> int:
    """Fewest decimals (0-3) that write every tick location exactly (2.5 needs one)."""
    finite = [x for x in locs if math.isfinite(x)]
    for d in range(4):
        if all(abs(round(x, d) - x) <= 1e-9 * max(1.0, abs(x)) for x in finite):
            return d
    return 3


class NumberFormatter(Formatter):
    """Tick labels in the number conventions of ``lang`` ("1.234,5" in Danish).

    Decimals follow the tick spacing unless fixed.
    """

    def __init__(self, lang: str, decimals: int | None = None) -> None:
        self.lang = lang
        self.decimals = decimals
        self.locs: list[float] = []

    def set_locs(self, locs: Any) -> None:
        self.locs = list(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        d = self.decimals
        if d is None:
            d = tick_decimals(self.locs)
        return number(x, d, lang=self.lang)


def rc_params(style: dict[str, Any]) -> dict[str, Any]:
    """rcParams of every socialmix figure (embedded fonts, deterministic SVG ids)."""
    fig = style["figure"]
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [fig["font_family"], "DejaVu Sans"],
        "font.size": fig["font_size"],
        "axes.titlesize": fig["font_size"] + 1,
        "axes.labelsize": fig["font_size"],
        "legend.fontsize": fig["font_size"] - 1,
        "xtick.labelsize": fig["font_size"] - 1,
        "ytick.labelsize": fig["font_size"] - 1,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.grid.axis": "y",
        "grid.color": "#d9d9d9",
        "grid.linewidth": 0.6,
        "lines.linewidth": 1.6,
        "lines.markersize": 4.5,
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "path",
        "svg.hashsalt": "socialmix",
        "axes.formatter.use_locale": False,
        # a fixed title height: matplotlib otherwise lifts every title above the top tick labels of all
        # axes in its row, an expensive search for figures that have no top tick labels
        "axes.titley": 1.0,
    }


@contextlib.contextmanager
def rc(style: dict[str, Any]) -> Iterator[None]:
    """Apply the socialmix rcParams while building and saving figures."""
    with mpl.rc_context(rc_params(style)):
        yield


def new_figure(style: dict[str, Any], *, nrows: int = 1, ncols: int = 1, height: float | None = None,
               width: float | None = None, sharey: bool = False) -> tuple[Figure, Any]:
    """A Figure on the Agg canvas with an axes grid (squeezed like ``plt.subplots``)."""
    fig = Figure(figsize=(width or style["figure"]["width"], height or style["figure"]["height"]),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharey=sharey, squeeze=True)
    return fig, axes


def year_axis(ax: Any, years: list[int] | range, lang: str, lab: dict[str, Any]) -> None:
    """Integer year ticks without thousands separators."""
    years = list(years)
    if years:
        ax.set_xlim(min(years) - 0.4, max(years) + 0.4)
        step = 1 if len(years) <= 12 else 2
        ax.set_xticks(years[::step])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: f"{int(round(x))}"))


def value_axis(ax: Any, kind: str, lang: str, lab: dict[str, Any], *, change: bool = False) -> None:
    """Y axis label and tick format for a measure kind (share in per cent, kr, number)."""
    if kind == "share":
        ax.set_ylabel(lab["pp_axis"] if change else lab["percent_axis"])
    elif kind == "kr":
        ax.set_ylabel(lab["kr_axis"])
    else:
        ax.set_ylabel(lab["number_axis"])
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.yaxis.set_major_formatter(NumberFormatter(lang))


def outer_ylabels(axes: list[Any]) -> None:
    """Keep the y label only on the left column of a panel grid."""
    for ax in axes:
        if ax.get_subplotspec() is not None and ax.get_subplotspec().colspan.start > 0:
            ax.set_ylabel("")


def legend_below(ax: Any, ncols: int = 2) -> None:
    """Legend under the axes, clear of the lines (as in the evaluation's figures)."""
    handles, names = ax.get_legend_handles_labels()
    if handles:
        # a fixed distance (points) below the axes, clear of the tick labels and the x label, so the space
        # under the axes does not depend on its height and :func:`fix_layout` can measure it once
        rc = mpl.rcParams
        tick = mpl.font_manager.FontProperties(size=rc["xtick.labelsize"]).get_size_in_points()
        below = rc["xtick.major.size"] + rc["xtick.major.pad"] + 1.25 * tick + 3.0
        if ax.get_xlabel():
            label = mpl.font_manager.FontProperties(size=rc["axes.labelsize"]).get_size_in_points()
            below += rc["axes.labelpad"] + 1.25 * label
        fig = ax.get_figure()
        anchor = ax.transAxes + ScaledTranslation(0, -below / 72, fig.dpi_scale_trans)
        ax.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=anchor,
                  ncols=ncols, frameon=False)


def scale(kind: str) -> float:
    """Factor from table values to plotted values (shares are drawn in per cent)."""
    return 100.0 if kind == "share" else 1.0


def add_note(fig: Figure, lines: list[str]) -> None:
    """Source/data note at the foot of the figure, like the 'Anm./Kilde' lines of the evaluation."""
    size = max(6.0, mpl.rcParams["font.size"] - 2.0)
    chars = int(fig.get_figwidth() * 72 / (size * 0.6))  # DejaVu Sans: ~0.6 em per character
    wrapped = [w for line in lines if line for w in textwrap.wrap(line, chars)]
    if wrapped:
        fig.supxlabel("\n".join(wrapped), x=0.01, ha="left", fontsize=size, color="#444444")


def panel_grid(style: dict[str, Any], n: int, *, sharey: bool = True, ncols: int | None = None,
               height: float | None = None) -> tuple[Figure, list[Any], Any]:
    """A figure with ``n`` panels (one row up to two, else two rows) and a legend row beneath them.

    The legend lives in its own axes row so constrained layout keeps it clear
    of the title, the panels and the note.
    """
    n = max(n, 1)
    if ncols is None:
        ncols = n if n <= 2 else (n + 1) // 2
    nrows = -(-n // ncols)
    height = height or style["figure"]["height"] * (1.45 if nrows > 1 else 1.0)
    fig = Figure(figsize=(style["figure"]["width"], height), layout="constrained")
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(nrows + 1, ncols, height_ratios=[1.0] * nrows + [0.06 * nrows + 0.02])
    axes: list[Any] = []
    for i in range(n):
        r, c = divmod(i, ncols)
        ax = fig.add_subplot(gs[r, c], sharey=axes[0] if (sharey and axes) else None)
        if sharey and c > 0:
            ax.tick_params(labelleft=False)
        axes.append(ax)
    lax = fig.add_subplot(gs[nrows, :])
    lax.axis("off")
    return fig, axes, lax


def grid_legend(lax: Any, handles: list[Any], names: list[str], ncols: int) -> None:
    """Legend centred in the legend row of :func:`panel_grid`."""
    if handles:
        lax.legend(handles, names, loc="center", ncols=max(1, ncols), frameon=False)


def fix_layout(fig: Figure, *, pad_points: float = 3.0, gap: float = 0.02) -> None:
    """Lay out a figure of one grid of axes in a single measuring pass, then switch layout off.

    Constrained layout measures every axes twice and ``savefig`` adds a dry
    draw to run it, roughly doubling the cost of a figure. Our figures are
    one GridSpec (panels, maybe a legend row) plus a figure title and a note,
    and none of their decorations changes size with the axes (fixed tick
    locators, legends at fixed offsets), so one measurement of each axes'
    decorations gives the margins: the outer ones, and one gap between
    columns and one between rows (the largest needed). Falls back to the
    figure's own layout engine when the figure is not of that shape.
    """
    axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    if not axes or len({id(ax.get_subplotspec().get_gridspec()) for ax in axes}) != 1:
        return
    gs = axes[0].get_subplotspec().get_gridspec()
    nrows, ncols = gs.get_geometry()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    pad = pad_points / 72 * fig.dpi
    # each axes' decorations beyond its own box, in pixels: (left, right, bottom, top)
    need = []
    for ax in axes:
        pos = ax.get_position().transformed(fig.transFigure)
        bb = ax.get_tightbbox(renderer, for_layout_only=True)
        if bb is None:
            bb = pos
        need.append((ax.get_subplotspec(), max(0.0, pos.x0 - bb.x0), max(0.0, bb.x1 - pos.x1),
                     max(0.0, pos.y0 - bb.y0), max(0.0, bb.y1 - pos.y1)))
    left = max(n[1] for n in need if n[0].colspan.start == 0)
    right = max(n[2] for n in need if n[0].colspan.stop == ncols)
    top = max(n[4] for n in need if n[0].rowspan.start == 0)
    bottom = max(n[3] for n in need if n[0].rowspan.stop == nrows)
    col_gap = max([a[2] + b[1] for a in need for b in need
                   if b[0].colspan.start == a[0].colspan.stop and set(a[0].rowspan) & set(b[0].rowspan)] or [0.0])
    row_gap = max([a[3] + b[4] for a in need for b in need
                   if b[0].rowspan.start == a[0].rowspan.stop and set(a[0].colspan) & set(b[0].colspan)] or [0.0])
    head = foot = pad
    sup, note = fig._suptitle, fig._supxlabel
    if sup is not None and sup.get_text():
        sup.set_y(1 - pad / height)
        sup.set_verticalalignment("top")
        head += sup.get_window_extent(renderer).height + pad
    if note is not None and note.get_text():
        note.set_y(pad / height)
        note.set_verticalalignment("bottom")
        foot += note.get_window_extent(renderer).height + pad
    lo, hi = (foot + bottom + pad) / height, 1 - (head + top + pad) / height
    x0, x1 = (left + pad) / width, 1 - (right + pad) / width
    span_w = (x1 - x0) * width - (ncols - 1) * (col_gap + 2 * pad)
    span_h = (hi - lo) * height - (nrows - 1) * (row_gap + 2 * pad)
    if span_w <= 0.2 * width or span_h <= 0.2 * height:
        return  # too crowded for one pass: leave it to the layout engine
    # GridSpec spaces are fractions of the mean cell size
    wspace = max(gap, (col_gap + 2 * pad) / (span_w / ncols)) if ncols > 1 else 0.0
    hspace = max(gap, (row_gap + 2 * pad) / (span_h / nrows)) if nrows > 1 else 0.0
    fig.set_layout_engine("none")
    gs.update(left=x0, right=x1, bottom=lo, top=hi, wspace=wspace, hspace=hspace)
    for ax in axes:  # GridSpec.update moves only pyplot-managed axes
        ax.set_position(ax.get_subplotspec().get_position(fig))
