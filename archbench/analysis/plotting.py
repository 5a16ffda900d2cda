"""Figure plumbing shared by the figure families: the style, an Agg figure of its own, the caption, family
colours, point labels (placed by adjustText, with leader lines), stacked legends, plain log ticks and the
Pareto frontier.

pyplot's global state is never touched and no backend is set at import: each figure is drawn on its own
Agg canvas inside ``matplotlib.rc_context(STYLE)``.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

STYLE = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "archbench",
}


DPI = 130
"""Resolution figures are laid out and saved at: labels are placed on the final layout at this resolution
(text extents change slightly with it), so the PNG shows exactly what was placed."""


def _styled(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


CAPTION_PT = 7.5
CAPTION_LINES = 6
"""The caption's font size, and how many of its lines a figure's own height allows for: each line beyond
makes the figure taller by its measured height, so a long caption (notes naming many rows) never squeezes
the axes."""


def _finish(fig: Any, caption: str, notes: Iterable[str] = ()) -> Any:
    """Attach the caption (drawn under the axes, the figure grown by its lines beyond
    :data:`CAPTION_LINES`), lay the figure out, then place the point labels on the final layout (which is
    frozen, so saving at another resolution keeps them where they are)."""
    notes = [n.rstrip(".") for n in notes if n]
    text = caption + (" Notes: " + "; ".join(notes) + "." if notes else "")
    fig.caption = text
    wrapped = textwrap.fill(text, int(fig.get_figwidth() * 16))
    label = fig.supxlabel(wrapped, fontsize=CAPTION_PT, x=0.01, ha="left", multialignment="left", color="0.25")
    lines = wrapped.count("\n") + 1
    if lines > CAPTION_LINES:
        height = label.get_window_extent(fig.canvas.get_renderer()).height / fig.dpi
        fig.set_figheight(fig.get_figheight() + height * (lines - CAPTION_LINES) / lines)
    _place_point_labels(fig)
    return fig


def caption_of(fig: Any) -> str:
    """The caption a figure function attached (sources, what is plotted, what is missing)."""
    return getattr(fig, "caption", "")


def _family_colours(families: Iterable[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    names = sorted({str(f) for f in families}, key=str.lower)
    # tab10 without its grey (grey marks the shallow entries), then Dark2 for more families
    palette = [colormaps["tab10"](i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
    palette += [colormaps["Dark2"](i) for i in range(8)]
    return {f: palette[i % len(palette)] for i, f in enumerate(names)}


LEADER = {"arrowstyle": "-|>", "mutation_scale": 7, "color": "0.25", "lw": 0.7, "shrinkA": 1, "shrinkB": 0}
"""The leader line drawn from a label to its point when the label sits away from it."""

LEADER_GAP_PT = 4.0
MARKER_REACH_PT = 6.0
"""A label whose box is farther than ``LEADER_GAP_PT`` from its own marker's edge (a big bubble counting
as ``MARKER_REACH_PT`` around its centre, which is the point) gets a leader line."""


def _label_points(
    ax: Any, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str], fontsize: float = 8
) -> list[Any]:
    """Label points of ``ax`` (in data coordinates); :func:`_finish` places the labels.

    Each label is an :class:`~matplotlib.text.Annotation` whose ``xy`` is its point: adjustText moves
    the text off the markers and the other labels, and a leader line (:data:`LEADER`) is shown when
    the text ends up away from its marker or nearer another marker than its own.
    """
    labels = [
        ax.annotate(text, (x, y), xytext=(x, y), textcoords="data", fontsize=fontsize, zorder=6,
                    ha="center", va="center", arrowprops=dict(LEADER))
        for x, y, text in zip(xs, ys, texts, strict=True)
    ]  # fmt: skip
    for label in labels:
        label.set_in_layout(False)
    ax.figure.__dict__.setdefault("_point_labels", []).append((ax, labels))
    return labels


def marker_discs(ax: Any) -> np.ndarray:
    """``(x, y, radius)`` in display pixels of every scatter marker drawn in ``ax``."""
    from matplotlib.collections import PathCollection

    discs = []
    px = ax.figure.dpi / 72.0
    for coll in ax.collections:
        if not isinstance(coll, PathCollection) or not coll.get_visible():
            continue
        offsets = np.asarray(coll.get_offsets(), dtype=float)
        if offsets.size == 0:
            continue
        centres = coll.get_offset_transform().transform(offsets)
        sizes = np.asarray(coll.get_sizes(), dtype=float)
        sizes = np.resize(sizes if sizes.size else np.array([36.0]), len(centres))
        for (cx, cy), s in zip(centres, sizes, strict=True):
            if np.isfinite(cx) and np.isfinite(cy):
                discs.append((cx, cy, math.sqrt(max(s, 0.0)) / 2 * px))
    return np.array(discs, dtype=float).reshape(-1, 3)


def box_distance(box: Any, x: float, y: float) -> float:
    """Distance in pixels from the point ``(x, y)`` to the box (0 inside it)."""
    dx = max(box.x0 - x, 0.0, x - box.x1)
    dy = max(box.y0 - y, 0.0, y - box.y1)
    return math.hypot(dx, dy)


def _text_box(label: Any, renderer: Any) -> Any:
    from matplotlib.text import Text

    return Text.get_window_extent(label, renderer)


def _needs_leader(label: Any, discs: np.ndarray, renderer: Any) -> bool:
    box = _text_box(label, renderer)
    ox, oy = label.axes.transData.transform(label.xy)
    own = np.hypot(discs[:, 0] - ox, discs[:, 1] - oy) < 0.5 if len(discs) else np.array([], bool)
    px = label.figure.dpi / 72.0
    own_radius = min(float(discs[own, 2].max()) if own.any() else 0.0, MARKER_REACH_PT * px)
    d_own = box_distance(box, ox, oy)
    if d_own - own_radius > LEADER_GAP_PT * px:
        return True
    return any(box_distance(box, cx, cy) <= d_own for cx, cy, _r in discs[~own])


PLACEMENT_ROUNDS = 3
"""adjustText runs again (pushing labels apart harder) while labels still overlap, at most this often."""


def _overlapping(labels: Sequence[Any], legend: Any, renderer: Any) -> bool:
    """Whether any two labels' text boxes (or a label and the legend) overlap."""
    boxes = [_text_box(label, renderer) for label in labels]
    if legend is not None:
        boxes.append(legend.get_window_extent(renderer))
    return any(_boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _boxes_overlap(a: Any, b: Any) -> bool:
    """Whether two display boxes share some area."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0


def _place_point_labels(fig: Any) -> None:
    """Place every label of :func:`_label_points` with adjustText (again, pushing harder, while labels
    still overlap), then show the leader lines needed."""
    from adjustText import adjust_text
    from matplotlib.transforms import Bbox

    jobs = fig.__dict__.pop("_point_labels", [])
    if not jobs:
        return
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax, labels in jobs:
        discs = marker_discs(ax)
        inverse = ax.transData.inverted()
        pad = 2.0 * fig.dpi / 72.0
        boxes = [Bbox(inverse.transform([(x - r - pad, y - r - pad), (x + r + pad, y + r + pad)]))
                 for x, y, r in discs]  # fmt: skip
        legend = ax.get_legend()
        if legend is not None:
            boxes.append(Bbox(inverse.transform(legend.get_window_extent(renderer).get_points())))
        xs = [label.xy[0] for label in labels]
        ys = [label.xy[1] for label in labels]
        for round_ in range(PLACEMENT_ROUNDS):
            push = 1.0 + round_
            adjust_text(labels, x=xs, y=ys, target_x=xs, target_y=ys, objects=boxes or None, ax=ax,
                        avoid_self=round_ == 0, iter_lim=400, min_arrow_len=np.inf, expand=(1.1, 1.3),
                        force_text=(0.2 * push, 0.4 * push), force_static=(0.15, 0.3))  # fmt: skip
            fig.draw_without_rendering()
            if not _overlapping(labels, legend, renderer):
                break
        else:
            _free_slots(ax, labels, legend, discs, renderer)
    fig.draw_without_rendering()
    for ax, labels in jobs:
        discs = marker_discs(ax)
        for label in labels:
            label.arrow_patch.set_visible(_needs_leader(label, discs, renderer))
    fig.set_layout_engine("none")


SLOT_RADII_PT = (10, 16, 24, 34, 46, 60, 76, 94, 115)
"""How far (points) from its marker :func:`_free_slots` tries a label that still overlaps, nearest first."""


def _free_slots(ax: Any, labels: Sequence[Any], legend: Any, discs: np.ndarray, renderer: Any) -> None:
    """Where adjustText leaves labels overlapping (a dense cluster), move each overlapping label, in turn, to
    the nearest free slot around its own marker (16 directions at growing distances, :data:`SLOT_RADII_PT`):
    one that overlaps no other label, the legend or a marker and stays inside the axes. A label with no free
    slot stays where it is (and the overlap is still there to be seen)."""
    from matplotlib.transforms import Bbox

    px = ax.figure.dpi / 72.0
    frame = ax.get_window_extent(renderer)
    fixed = [legend.get_window_extent(renderer)] if legend is not None else []
    boxes = [_text_box(label, renderer) for label in labels]

    def clashes(box: Any, i: int) -> bool:
        if any(_boxes_overlap(box, b) for j, b in enumerate([*boxes, *fixed]) if j != i):
            return True
        if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
            return True
        return any(box_distance(box, cx, cy) < r + 1.0 * px for cx, cy, r in discs)

    angles = np.deg2rad(np.arange(0, 360, 22.5))
    inverse = ax.transData.inverted()
    for i, label in enumerate(labels):
        if not clashes(boxes[i], i):
            continue
        ox, oy = ax.transData.transform(label.xy)
        w, h = boxes[i].width, boxes[i].height
        slots = (Bbox.from_bounds(ox + (r * px + w / 2) * np.cos(a) - w / 2, oy + (r * px + h / 2) * np.sin(a) - h / 2, w, h)
                 for r in SLOT_RADII_PT for a in angles)  # fmt: skip
        slot = next((box for box in slots if not clashes(box, i)), None)
        if slot is not None:
            label.xyann = tuple(inverse.transform(((slot.x0 + slot.x1) / 2, (slot.y0 + slot.y1) / 2)))
            boxes[i] = slot


def _model_styles(models: Iterable[str]) -> dict[str, tuple[Any, str]]:
    """A distinct (colour, marker) per model: tab20's colours, then the same colours with other markers."""
    from matplotlib import colormaps

    names = sorted({str(m) for m in models})
    marks = ("o", "s", "^", "D", "v", "P")
    return {m: (colormaps["tab20"](i % 20), marks[(i // 20) % len(marks)]) for i, m in enumerate(names)}


def _batch_panels(
    fig: Any,
    df: pd.DataFrame,
    y: str,
    ylabel: str,
    *,
    log_y: bool = False,
    yerr: Callable[[pd.DataFrame], Any] | None = None,
    ring_noisy: bool = False,
) -> list[Any]:
    """One panel per setting with a batch sweep: ``y`` against batch size (log 2), one line per model
    (distinct colour and marker, legend at the right); with ``ring_noisy`` (timings), noisy rows ringed
    in red."""
    from .hover import tag_points

    styles = _model_styles(df["model"])
    settings = sorted(df["setting"].unique())
    cols = min(len(settings), 2)
    rows = math.ceil(len(settings) / cols)
    axes = []
    for i, setting in enumerate(settings):
        ax = fig.add_subplot(rows, cols, i + 1)
        d = df[df["setting"] == setting]
        for m, g in d.groupby("model", sort=True):
            g = g.sort_values("batch_size")
            colour, marker = styles[m]
            tag_points(ax, g["batch_size"], g[y], [m] * len(g),
                       [f"{ylabel.replace(', log scale', '')} {v:.4g} at batch {b}" for b, v in zip(g["batch_size"], g[y], strict=True)],
                       f"measured: {setting} (results.csv)")  # fmt: skip
            ax.errorbar(g["batch_size"], g[y], yerr=yerr(g) if yerr else None, fmt=f"{marker}-", color=colour,
                        label=m, ms=4, lw=1.1, capsize=2, elinewidth=0.8)  # fmt: skip
            if ring_noisy and "noisy" in g.columns:
                noisy = g[g["noisy"]]
                ax.plot(noisy["batch_size"], noisy[y], "o", mfc="none", mec="red", ms=10, mew=1.2)
        ax.set_xscale("log", base=2)
        batches = sorted(d["batch_size"].unique())
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_title(textwrap.fill(setting, 56), fontsize=9)
        ax.set_xlabel("batch size (log scale)")
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
            _plain_log_labels(ax.yaxis)
        else:
            ax.set_ylim(bottom=0)
        axes.append(ax)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="model",
               ncols=1 + len(labels) // 30)  # fmt: skip
    return axes


def sweeps(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the settings where at least one model was measured at two batch sizes or more."""
    if df.empty:
        return df
    swept = df.groupby("setting")["model"].transform(
        lambda ms: df.loc[ms.index].groupby("model")["batch_size"].nunique().max() >= 2
    )
    return df[swept.astype(bool)]


def _legend_column(
    lax: Any, legends: Sequence[tuple[list[Any], str, dict[str, Any]]], gap_pt: float = 10
) -> None:
    """Stack legends top-down in an axes of their own (placed in points, so layout changes keep them apart)."""
    from matplotlib.transforms import offset_copy

    lax.set_axis_off()
    fig = lax.figure
    renderer = fig.canvas.get_renderer()
    offset = 0.0
    for handles, title, kwargs in legends:
        if not handles:
            continue
        transform = offset_copy(lax.transAxes, fig=fig, x=0, y=-offset, units="points")
        leg = lax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(0, 1),
                         bbox_transform=transform, alignment="left", **kwargs)  # fmt: skip
        lax.add_artist(leg)
        offset += leg.get_window_extent(renderer).height * 72 / fig.dpi + gap_pt


def _plain_log_ticks(axis: Any, lo: float, hi: float) -> None:
    """Major ticks 1-2-5 per decade labelled as plain numbers (0.5, 1, 2, 5, 10 ...)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]  # fmt: skip
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _plain_log_labels(*axes: Any) -> None:
    """Tick log axes with plain numbers at their current limits: 1-2-5 per decade (0.5, 1, 2, 5, 10 ...)
    where that gives three ticks or more, else 1-1.5-2-3-5-7, else a few evenly spaced values; never
    powers of ten."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

    for axis in axes:
        lo, hi = sorted(axis.get_view_interval())
        if lo <= 0 or not np.isfinite([lo, hi]).all():
            continue
        for ladder in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
            ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                     for m in ladder if lo <= m * 10.0**e <= hi]  # fmt: skip
            if len(ticks) >= 3:
                break
        if len(ticks) < 2:
            ticks = [t for t in MaxNLocator(3).tick_values(lo, hi) if lo <= t <= hi and t > 0]
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        axis.set_minor_locator(NullLocator())


def _nice_sizes(values: Sequence[float], count: int = 3) -> list[float]:
    """Round parameter counts spanning ``values`` for a bubble-size legend."""
    lo, hi = min(values), max(values)
    ladder = [m * 10**e for e in range(3, 10) for m in (1, 2, 5)]
    inside = [v for v in ladder if lo * 0.8 <= v <= hi * 1.05] or [hi]
    if len(inside) <= count:
        return inside
    idx = np.linspace(0, len(inside) - 1, count).round().astype(int)
    return [inside[i] for i in dict.fromkeys(idx)]


def pareto_frontier(points: pd.DataFrame, x: str = "macs", y: str = "top1") -> pd.DataFrame:
    """Points no other point beats with fewer-or-equal ``x`` and higher ``y`` (sorted by ``x``)."""
    best = -math.inf
    keep = []
    for idx, row in points.sort_values([x, y], ascending=[True, False], kind="stable").iterrows():
        if row[y] > best:
            keep.append(idx)
            best = row[y]
    return points.loc[keep]
