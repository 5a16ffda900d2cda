"""Top-1 accuracy against operations and top-1 per parameter, after Canziani, Paszke & Culurciello
(arXiv 1605.07678, 2016, figures 1 and 8), on single-crop figures only.

Canziani et al. compare single-crop top-1 accuracies. A reference figure measured another way (10-crop
averages, multi-scale, a value read off a chart) is not comparable and is left out of these charts, with
the reason in the caption; marker shape says whose weights a figure was measured with, since the same
architecture scores differently with another training recipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ResultsFileError
from ..units import si
from .hover import tag_points
from .load import MODELS_FILE, RESULTS_FILE, _require
from .plotting import (
    _family_colours,
    _figure,
    _finish,
    _label_points,
    _legend_column,
    _nice_sizes,
    _plain_log_labels,
    _plain_log_ticks,
    _styled,
    pareto_frontier,
)
from .tables import IMAGENET_DATASETS, is_single_crop, model_table

WEIGHTS_MARKERS = {"paper": "D", "torchvision": "o", "keras.applications": "s", "BVLC": "^",
                   "Caffe Model Zoo": "v", "TF-slim": "P", "archbench": "*"}  # fmt: skip
_SPARE_MARKERS = ("X", "h", "p", "<", ">")


def _marker(weights: str, seen: dict[str, str]) -> str:
    if weights not in seen:
        spare = [m for m in _SPARE_MARKERS if m not in seen.values()]
        seen[weights] = WEIGHTS_MARKERS.get(weights) or (spare[0] if spare else "o")
    return seen[weights]


def single_crop_points(
    results: pd.DataFrame, models: pd.DataFrame | None, datasets: Sequence[str] = IMAGENET_DATASETS
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Models with a single-crop ImageNet top-1: ``(table, left_out, notes)``.

    ``table`` is :func:`~archbench.analysis.tables.model_table` restricted to single-crop figures;
    ``left_out`` names each top-1 figure left out with its protocol; ``notes`` are the table's notes.
    """
    t = model_table(results, models, datasets=datasets)
    notes = list(t.attrs["notes"])
    has = t["top1"].notna()
    single = t["top1_protocol"].map(is_single_crop)
    left_out = [
        f"{r.model} {r.top1:.1f} ({r.top1_protocol})" for r in t[has & ~single].itertuples(index=False)
    ]
    inferred = t[has & t["top1_inferred"].astype(bool)]["model"].tolist()
    if inferred:
        every = len(inferred) == int((has & (t["top1_kind"] == "reference")).sum())
        notes.append(
            "protocol and weights read from accuracy_ref_scope/accuracy_ref_source (models.csv has no "
            "top1_protocol/top1_weights columns) for "
            + ("every reference figure" if every else ", ".join(inferred))
        )
    return t[has & single].copy(), left_out, notes


def _resnet_gap(pts: pd.DataFrame) -> str:
    """What the v1 vs v1.5 gap of the plotted ResNet pairs is made of, from their weights."""
    by_name = pts.set_index("model")
    pairs = [(m, f"{m}_v1_5") for m in by_name.index if f"{m}_v1_5" in by_name.index]
    if not pairs:
        return ""
    gaps = ", ".join(
        f"{by_name.at[v, 'display_name']} {by_name.at[v, 'top1'] - by_name.at[m, 'top1']:+.1f}"
        for m, v in pairs
    )
    w1 = sorted({by_name.at[m, "top1_weights"] for m, _ in pairs})
    w15 = sorted({by_name.at[v, "top1_weights"] for _, v in pairs})
    if w1 == w15:
        cause = f"both measured with {', '.join(w1)} weights, so the gap is the stride position and recipe"
    else:
        cause = (
            f"v1 figures come from {', '.join(w1)} weights and v1.5 figures from {', '.join(w15)} weights: the "
            "gap mixes the stride position (v1.5 strides in the 3×3 convolution) with different weights and "
            "training recipes, and is not the effect of the stride alone"
        )
    return f" ResNet v1.5 vs v1 (points of top-1): {gaps}; {cause}."


@_styled
def top1_vs_operations(
    results: pd.DataFrame,
    models: pd.DataFrame | None = None,
    *,
    log_x: bool = True,
    datasets: Sequence[str] = IMAGENET_DATASETS,
) -> Any:
    """Top-1 accuracy vs operations (Canziani, Paszke & Culurciello 2016, fig. 1), single-crop figures.

    x: G-MACs counted by archbench (macs task); y: measured ImageNet top-1 where the results have it,
    else the single-crop reference figure of ``models.csv`` (drawn with a dashed edge); bubble area
    proportional to parameters (paper convention); colour: family; marker shape: whose weights; the
    Pareto frontier dashed. Each label is tied to its bubble (leader line where it had to move).
    """
    _require(results, ["macs"], RESULTS_FILE, "top1_vs_operations (x = MACs, macs task)")
    if models is not None:
        _require(models, ["family"], MODELS_FILE, "top1_vs_operations (colour = family)")
    t = model_table(results, models, datasets=datasets)
    if t["top1"].isna().all():
        raise ResultsFileError(
            "top1_vs_operations needs a top-1: column 'top1_ref' in models.csv or 'top1' (accuracy task on "
            "ImageNet) in results.csv, and neither has a value"
        )
    single, left_out, notes = single_crop_points(results, models, datasets)
    no_macs = t[t["macs"].isna()]["model"].tolist()
    no_top1 = t[t["macs"].notna() & t["top1"].isna()]["model"].tolist()
    pts = single[single["macs"].notna()].copy()
    if pts.empty:
        raise ResultsFileError(
            "top1_vs_operations: no model has both 'macs' (results.csv) and a single-crop top-1"
            + (f" (left out: {', '.join(left_out)})" if left_out else "")
        )
    if no_macs:
        notes.append("not shown, no MACs row: " + ", ".join(no_macs))
    if no_top1:
        notes.append("not shown, no ImageNet top-1: " + ", ".join(no_top1))
    no_params = pts[pts["params"].isna()]["model"].tolist()
    if no_params:
        notes.append("no parameter count (drawn as dots): " + ", ".join(no_params))
    ref_params = pts[pts["params_kind"] == "reference"]["model"].tolist()
    if ref_params:
        notes.append("bubble from the reference parameter count: " + ", ".join(ref_params))
    if models is not None and "default_input_shape" in models.columns:
        default = models.drop_duplicates("model").set_index("model")["default_input_shape"].astype(str)
        odd = [
            f"{m} ({shape})"
            for m, shape in zip(pts["model"], pts["input_shape"].astype(str), strict=True)
            if m in default.index and shape not in ("None", "nan", default[m])
        ]
        if odd:
            notes.append("MACs counted at a non-default input: " + ", ".join(odd))

    fig = _figure(10.5, 6.8)
    gs = fig.add_gridspec(1, 2, width_ratios=[4.2, 1.15])
    ax = fig.add_subplot(gs[0])
    lax = fig.add_subplot(gs[1])
    colours = _family_colours(models["family"] if models is not None else t["family"])
    pts["gmacs"] = pts["macs"] / 1e9
    max_params = pts["params"].max() if pts["params"].notna().any() else 1.0
    area_per_param = 2000.0 / max_params
    pts["area"] = (pts["params"] * area_per_param).fillna(0.0).clip(lower=12.0)
    markers: dict[str, str] = {}
    for (kind, weights), sel in pts.groupby(["top1_kind", "top1_weights"], sort=True):
        ax.scatter(
            sel["gmacs"],
            sel["top1"],
            s=sel["area"],
            marker=_marker(str(weights), markers),
            c=[colours[f] for f in sel["family"]],
            edgecolors=[colours[f] for f in sel["family"]] if kind == "reference" else "black",
            alpha=0.35 if kind == "reference" else 0.8,
            linewidths=1.2 if kind == "reference" else 1.8,
            linestyle="--" if kind == "reference" else "-",
            zorder=3,
        )
    ax.scatter(pts["gmacs"], pts["top1"], s=6, c="black", zorder=4)
    pts["after"] = _after_resnet(pts, models)
    later = pts[pts["after"]]
    if not later.empty:
        ax.scatter(later["gmacs"], later["top1"], s=later["area"] + 60, facecolors="none", edgecolors=UPDATE_COLOUR,
                   linewidths=2.2, zorder=3.5)  # fmt: skip
    earlier = pts[~pts["after"]]
    if not earlier.empty:
        front = pareto_frontier(earlier, "gmacs", "top1")
        ax.plot(front["gmacs"], front["top1"], drawstyle="steps-post", ls="--", color="0.35", lw=1, zorder=2)
    if not later.empty:
        front = pareto_frontier(pts, "gmacs", "top1")
        ax.plot(front["gmacs"], front["top1"], drawstyle="steps-post", ls="-", color=UPDATE_COLOUR, lw=1.2,
                zorder=2)  # fmt: skip
    lo, hi = pts["gmacs"].min(), pts["gmacs"].max()
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(lo / 2, hi * 2)
        _plain_log_ticks(ax.xaxis, lo / 2, hi * 2)
    else:
        ax.set_xlim(0, hi * 1.15)
    ax.set_xlabel(
        "operations: G-MACs per image (multiply-adds / 1e9, counted by archbench"
        + (", log scale)" if log_x else ")")
    )
    ax.set_ylabel("ImageNet top-1 accuracy (%), single centre crop")
    ax.set_title("Top-1 accuracy vs operations (after Canziani et al. 2016); bubble area ∝ parameters")
    ylo, yhi = pts["top1"].min(), pts["top1"].max()
    pad = max(2.5, 0.12 * (yhi - ylo))
    ax.set_ylim(ylo - pad, yhi + pad)
    _label_points(ax, list(pts["gmacs"]), list(pts["top1"]), list(pts["display_name"]))
    tag_points(ax, pts["gmacs"], pts["top1"], pts["display_name"],
               [f"top-1 {t:.1f} % ({k}), {g:.3g} G-MACs" for t, k, g in zip(pts["top1"], pts["top1_kind"], pts["gmacs"], strict=True)],
               [f"top-1: {s}; MACs: archbench (results.csv)" for s in pts["top1_source"]], sizes=pts["area"])  # fmt: skip

    from matplotlib.lines import Line2D

    fam_handles = [Line2D([], [], marker="o", ls="", color=colours[f], markersize=8, label=f)
                   for f in sorted(set(pts["family"]), key=str.lower)]  # fmt: skip
    weight_handles = [Line2D([], [], marker=m, ls="", markerfacecolor="0.75", markeredgecolor="0.3",
                             markersize=8, label=w) for w, m in markers.items()]  # fmt: skip
    present = set(pts["top1_kind"])
    kind_handles = []
    if "reference" in present:
        kind_handles.append(Line2D([], [], marker="o", ls="", markersize=10, markerfacecolor=(0.5, 0.5, 0.5, 0.35),
                                   markeredgecolor="0.4", label="reference (published)"))  # fmt: skip
    if "measured" in present:
        kind_handles.append(Line2D([], [], marker="o", ls="", markersize=10, markerfacecolor=(0.5, 0.5, 0.5, 0.8),
                                   markeredgecolor="black", markeredgewidth=1.8, label="measured (archbench)"))  # fmt: skip
    if later.empty:
        kind_handles.append(Line2D([], [], ls="--", color="0.35", label="Pareto frontier"))
    else:
        kind_handles += [
            Line2D([], [], marker="o", ls="", markersize=10, markerfacecolor="none", markeredgecolor=UPDATE_COLOUR,
                   markeredgewidth=2.2, label="after ResNet (2018 update)"),
            Line2D([], [], ls="--", color="0.35", label="Pareto frontier to ResNet"),
            Line2D([], [], ls="-", color=UPDATE_COLOUR, label="Pareto frontier with\nthe 2018 update"),
        ]  # fmt: skip
    legends = [(fam_handles, "family", {}), (weight_handles, "weights", {}), (kind_handles, "top-1", {})]
    if pts["params"].notna().any():
        sizes = _nice_sizes(list(pts["params"].dropna()))
        biggest = math.sqrt(max(sizes) * area_per_param)
        size_handles = [lax.scatter([], [], s=v * area_per_param, facecolors="none", edgecolors="0.3", label=si(v))
                        for v in sizes]  # fmt: skip
        legends.append((size_handles, "parameters", {"labelspacing": biggest / 8 * 0.7, "borderpad": 0.4 + biggest / 24,
                                                     "handletextpad": biggest / 8 * 0.5}))  # fmt: skip
    _legend_column(lax, legends)
    kinds = ", ".join(
        f"{(pts['top1_kind'] == k).sum()} {k}"
        for k in ("measured", "reference")
        if (pts["top1_kind"] == k).any()
    )
    caption = (
        f"x: multiply-adds per image counted by archbench (results.csv, macs task) at each model's measured input; "
        f"y: single-centre-crop top-1 ({kinds}); reference figures from models.csv (accuracy_ref_source). "
        + (
            "Left out, not single-crop (not comparable with the rest): " + ", ".join(left_out) + "."
            if left_out
            else "Every top-1 figure here is single-crop."
        )
        + _resnet_gap(pts)
        + " Canziani, Paszke & Culurciello, arXiv 1605.07678 (2016)."
        + (
            f" Ringed: the {len(later)} network{'s' * (len(later) != 1)} after ResNet (set canziani2018: the 2018 updates of the analysis, "
            "Culurciello 2018 and Bianco et al., IEEE Access 6, 2018); dashed: the frontier of the networks up to "
            "ResNet, solid: the frontier with them."
            if not later.empty
            else ""
        )
    )
    return _finish(fig, caption, notes)


UPDATE_COLOUR = "#d95f02"
"""The ring and frontier of the networks after ResNet (the 2018 update of Canziani's figures)."""


def update_models(models: pd.DataFrame | None) -> set[str]:
    """The models of the 2018 update's set (``canziani2018`` in models.csv's ``sets``); none for a
    results folder written before that column existed."""
    if models is None or "sets" not in models.columns:
        return set()
    sets = models.drop_duplicates("model").set_index("model")["sets"].fillna("").astype(str)
    return {m for m, s in sets.items() if "canziani2018" in s.split(";")}


def _after_resnet(pts: pd.DataFrame, models: pd.DataFrame | None) -> pd.Series:
    """Whether each point is of the 2018 update (:func:`update_models`)."""
    return pts["model"].isin(update_models(models))


@_styled
def top1_density(
    results: pd.DataFrame, models: pd.DataFrame | None = None, *, datasets: Sequence[str] = IMAGENET_DATASETS
) -> Any:
    """Top-1 accuracy per million parameters, one bar per network (Canziani et al. 2016, fig. 8):
    how efficiently each architecture uses its parameters. Single-crop figures only."""
    pts, left_out, notes = single_crop_points(results, models, datasets)
    pts = pts[pts["params"].notna() & (pts["params"] > 0)].copy()
    if pts.empty:
        raise ResultsFileError(
            "top1_density needs a single-crop ImageNet top-1 and a parameter count for at least one model"
        )
    pts["density"] = pts["top1"] / (pts["params"] / 1e6)
    pts = pts.sort_values("density", ascending=False, kind="stable")
    colours = _family_colours(models["family"] if models is not None else pts["family"])
    fig = _figure(max(7.0, 0.36 * len(pts) + 2.5), 5.2)
    ax = fig.add_subplot()
    x = np.arange(len(pts))
    after = _after_resnet(pts, models)
    bars = ax.bar(x, pts["density"], color=[colours[f] for f in pts["family"]], zorder=3,
           hatch=["//" if k == "measured" else "" for k in pts["top1_kind"]],
           edgecolor=[UPDATE_COLOUR if a else "0.3" for a in after], linewidth=[2.0 if a else 0.5 for a in after])  # fmt: skip
    tag_points(ax, x, pts["density"], pts["display_name"],
               [f"{d:.3g} % per M parameters (top-1 {t:.1f} %)" for d, t in zip(pts["density"], pts["top1"], strict=True)],
               [f"top-1: {s}; parameters: archbench" for s in pts["top1_source"]], bars=bars.patches)  # fmt: skip
    for xi, d in zip(x, pts["density"], strict=True):
        ax.text(xi, d * 1.08, f"{d:.3g}", ha="center", va="bottom", fontsize=6.5, rotation=90)
    ax.set_yscale("log")
    ax.set_ylim(pts["density"].min() / 1.6, pts["density"].max() * 3)
    _plain_log_labels(ax.yaxis)
    ax.set_xticks(x, pts["display_name"], rotation=60, ha="right", fontsize=7.5)
    ax.set_ylabel("top-1 (%) per million parameters (log scale)")
    ax.grid(axis="x", visible=False)
    ax.set_title("Accuracy density: top-1 per million parameters (after Canziani et al. 2016)")
    caption = (
        "Single-crop ImageNet top-1 (reference figure from models.csv; hatched: measured by archbench) "
        "divided by the parameter count in millions (paper convention, counted by archbench): accuracy "
        "density after Canziani et al. 2016 and Bianco et al., IEEE Access 6 (2018). "
        + (f"Orange edge: after ResNet (the 2018 update, {int(after.sum())} network{'s' if after.sum() != 1 else ''}). "
           if after.any() else "")
        + ("Left out, not single-crop: " + ", ".join(left_out) + "." if left_out else "")
    )
    return _finish(fig, caption, notes)
