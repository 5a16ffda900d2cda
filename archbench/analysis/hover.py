"""Hover text for the points of a figure: each point tagged with its model, value and source, shown by
the browser as an SVG ``<title>`` when the figure is inlined in an HTML page.

A figure function calls :func:`tag_points` for every set of points it draws (scatter markers, line
markers, bars). The tags change nothing in the figure: the PNG and SVG files are drawn as before.
:func:`inline_svg` renders the figure once more as SVG for a page, with an invisible hover target on
every tagged point (or the bar itself) wrapped in ``<g><title>model: value (source)</title>...</g>``,
its element ids prefixed so that several figures share one page. No script, nothing fetched.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["inline_svg", "ms_values", "point_tip", "tag_points", "tagged_count"]

HOVER_AREA = 64.0
"""Area (points²) of a point's invisible hover target, unless the marker drawn is larger."""

_URL = "#archbench-tip-"


@dataclass
class _Tags:
    ax: Any
    xs: list[float]
    ys: list[float]
    tips: list[str]
    sizes: list[float] | None
    bars: list[Any] | None


def point_tip(model: Any, value: str, source: str) -> str:
    """The hover text of one point: ``model: value (source)``."""
    return f"{model}: {value} ({source})" if source else f"{model}: {value}"


def ms_values(rows: Any) -> list[str]:
    """Each latency row's median as hover text: ``12.3 ms [12.1–12.6]`` (its 95 % interval where recorded)."""
    out = []
    for r in rows.itertuples(index=False):
        low, high = getattr(r, "ci_low_ms", math.nan), getattr(r, "ci_high_ms", math.nan)
        ci = f" [{low:.4g}–{high:.4g}]" if math.isfinite(float(low)) and math.isfinite(float(high)) else ""
        out.append(f"{float(r.median_ms):.4g} ms{ci}")
    return out


def tag_points(
    ax: Any,
    xs: Sequence[float],
    ys: Sequence[float],
    models: Sequence[Any],
    values: Sequence[str],
    source: str | Sequence[str],
    *,
    sizes: Sequence[float] | None = None,
    bars: Sequence[Any] | None = None,
) -> None:
    """Tag the points ``(xs[i], ys[i])`` of ``ax`` (data coordinates) with ``models[i]``, ``values[i]``
    (already formatted, with units) and their source (one for all, or one per point). A point that is
    not drawn (a coordinate not finite) is not tagged.

    ``sizes`` gives the markers' areas (points², as ``scatter``'s ``s``) so that a big bubble is
    hovered over its whole area; ``bars`` the drawn bar patches, which then carry the text themselves.
    """
    xs, ys, models, values = list(xs), list(ys), list(models), list(values)
    n = len(xs)
    sources = [source] * n if isinstance(source, str) else list(source)
    if not (len(ys) == len(models) == len(values) == len(sources) == n):
        raise ValueError("tag_points: xs, ys, models, values and sources differ in length")
    if bars is not None and len(bars) != n:
        raise ValueError("tag_points: one bar per point")
    keep = [i for i in range(n) if math.isfinite(float(xs[i])) and math.isfinite(float(ys[i]))]
    tags = _Tags(ax, [float(xs[i]) for i in keep], [float(ys[i]) for i in keep],
                 [point_tip(models[i], values[i], sources[i]) for i in keep],
                 None if sizes is None else [float(list(sizes)[i]) for i in keep],
                 None if bars is None else [bars[i] for i in keep])  # fmt: skip
    ax.figure.__dict__.setdefault("_hover_tags", []).append(tags)


def tagged_count(fig: Any) -> int:
    """How many points of ``fig`` carry a hover text."""
    return sum(len(t.tips) for t in fig.__dict__.get("_hover_tags", []))


def inline_svg(fig: Any, prefix: str) -> str:
    """``fig`` as an ``<svg>`` element for an HTML page: one ``<title>`` per tagged point, every id
    prefixed with ``prefix``, no XML prologue. The figure is left as it was."""
    tips: list[str] = []
    added, urled = [], []
    for tags in fig.__dict__.get("_hover_tags", []):
        urls = [f"{_URL}{len(tips) + i}" for i in range(len(tags.tips))]
        tips += tags.tips
        if tags.bars is not None:
            for bar, url in zip(tags.bars, urls, strict=True):
                bar.set_url(url)
                urled.append(bar)
            continue
        limits = tags.ax.get_xlim(), tags.ax.get_ylim()
        sizes = [max(HOVER_AREA, s) for s in tags.sizes] if tags.sizes else HOVER_AREA
        coll = tags.ax.scatter(tags.xs, tags.ys, s=sizes, facecolors="none", edgecolors="none", zorder=20,
                               clip_on=False)  # fmt: skip
        coll.set_urls(urls)
        tags.ax.set_xlim(limits[0])
        tags.ax.set_ylim(limits[1])
        added.append(coll)
    import matplotlib

    try:
        with matplotlib.rc_context({"svg.hashsalt": "archbench", "svg.fonttype": "path"}):
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        for coll in added:
            coll.remove()
        for bar in urled:
            bar.set_url(None)
    return _titled(buf.getvalue(), tips, prefix)


_LINK = re.compile(r'<a xlink:href="' + re.escape(_URL) + r'(\d+)"[^>]*>(.*?)</a>', re.S)


def _titled(svg: str, tips: Sequence[str], prefix: str) -> str:
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    svg = _LINK.sub(lambda m: f'<g class="pt" pointer-events="all"><title>{html.escape(tips[int(m.group(1))])}'
                              f"</title>{m.group(2)}</g>", svg)  # fmt: skip
    ids = set(re.findall(r'\bid="([^"]+)"', svg))

    def rename(m: re.Match[str]) -> str:
        return m.group(1) + prefix + m.group(2) if m.group(2) in ids else m.group(0)

    return re.sub(r'(\bid="|xlink:href="#|url\(#)([^")]+)', rename, svg)
