"""Rooflines: where each model stands against the measured limits of the machine it ran on.

Reads the roofline columns of the latency rows (:func:`archbench.roofline.roofline_columns`:
``flops_per_s``, ``fraction_of_peak``, ``arithmetic_intensity``, ``peak_flops_per_s``,
``peak_bandwidth_bytes_per_s``, ``peak_source``, ``bound``). One panel per device and compute precision:
the roof is attainable FLOP/s = min(peak FLOP/s, intensity × bandwidth) from the measured peaks; each
model is a point at its measured FLOP/s and intensity at its smallest batch (coloured by its bound), and
a model measured at several batch sizes has a line through its batch sweep. :func:`roofline_findings`
gives one line per model: its bound and how far it is from the roof.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from ..roofline import OVERHEAD_FACTOR
from .hover import tag_points
from .load import NotDrawn
from .plotting import _figure, _finish, _label_points, _plain_log_labels, _styled
from .tables import describe_run, latency_table

RUN_ROOFLINE = "archbench run --models resnet18,nin,vgg11 --tasks params,macs,latency --out DIR"
NEEDED = ("flops_per_s", "fraction_of_peak", "arithmetic_intensity", "peak_flops_per_s",
          "peak_bandwidth_bytes_per_s")  # fmt: skip
BOUND_COLOURS = {"compute": "tab:blue", "memory": "tab:orange", "overhead": "tab:red", "unknown": "0.5"}


def roofline_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Ok latency rows with every roofline column set (numbers as floats), with ``panel`` (device ·
    precision) and ``roof_fraction`` (measured FLOP/s over the roof at the row's intensity).

    Raises :class:`~archbench.analysis.load.NotDrawn` naming the missing column or rows."""
    missing = [c for c in NEEDED if c not in results.columns]
    if missing:
        raise NotDrawn(
            f"results.csv has no {', '.join(missing)} (rows written before archbench measured this machine's "
            f"peaks); `{RUN_ROOFLINE}` writes them (`archbench doctor --peaks` shows the peaks)"
        )
    if "median_ms" not in results.columns:
        raise NotDrawn(f"results.csv has no latency rows; `{RUN_ROOFLINE}` measures them")
    lat = latency_table(results, "roofline")
    for c in NEEDED:
        lat[c] = pd.to_numeric(lat[c], errors="coerce")
    lat = lat[lat[list(NEEDED)].notna().all(axis=1) & (lat["arithmetic_intensity"] > 0)].copy()
    if lat.empty:
        raise NotDrawn(
            "no ok latency row has all of " + ", ".join(NEEDED) + f" (see roofline_reason); `{RUN_ROOFLINE}` "
            "measures them"
        )
    lat["panel"] = lat["device"] + " · " + lat["precision"]
    roof = np.minimum(
        lat["peak_flops_per_s"], lat["arithmetic_intensity"] * lat["peak_bandwidth_bytes_per_s"]
    )
    lat["roof_fraction"] = lat["flops_per_s"] / roof
    bound = lat["bound"] if "bound" in lat.columns else pd.Series(np.nan, index=lat.index)
    lat["bound"] = bound.fillna("unknown").astype(str)
    return lat.reset_index(drop=True)


def _points(d: pd.DataFrame) -> pd.DataFrame:
    """One point per model and stack: its smallest batch."""
    return d.sort_values(["batch_size", "median_ms"], kind="stable").drop_duplicates(["model", "stack"])


@_styled
def roofline(results: pd.DataFrame) -> Any:
    """Attainable FLOP/s vs arithmetic intensity, one panel per device and precision (log-log)."""
    rows = roofline_rows(results)
    panels = sorted(rows["panel"].unique())
    cols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / cols)
    fig = _figure(6.6 * cols + 1.4, 5.6 * nrows + 1.4)
    notes = []
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(nrows, cols, i + 1)
        d = rows[rows["panel"] == panel]
        peak = float(d["peak_flops_per_s"].max())
        bandwidth = float(d["peak_bandwidth_bytes_per_s"].max())
        if d["peak_flops_per_s"].nunique() > 1 or d["peak_bandwidth_bytes_per_s"].nunique() > 1:
            notes.append(f"{panel}: rows carry different peaks (several measurements); the highest is drawn")
        ridge = peak / bandwidth
        lo = min(d["arithmetic_intensity"].min(), ridge) / 4
        hi = max(d["arithmetic_intensity"].max(), ridge) * 4
        xs = np.geomspace(lo, hi, 200)
        source = ", ".join(sorted(set(d["peak_source"].dropna().astype(str)))) if "peak_source" in d else "?"
        ax.plot(xs, np.minimum(peak, xs * bandwidth) / 1e9, "-", color="0.2", lw=1.6, zorder=2,
                label=f"roof, {source}: {peak / 1e9:,.0f} GFLOP/s,\n{bandwidth / 1e9:,.1f} GB/s")  # fmt: skip
        for _key, g in d.groupby(["model", "stack"], sort=True):
            if g["batch_size"].nunique() < 2:
                continue
            g = g.sort_values("batch_size")
            ax.plot(g["arithmetic_intensity"], g["flops_per_s"] / 1e9, "-", color="0.45", lw=1.0, zorder=3)
            tag_points(ax, g["arithmetic_intensity"].iloc[1:], g["flops_per_s"].iloc[1:] / 1e9, g["model"].iloc[1:],
                       [_tip(r) for _i, r in g.iloc[1:].iterrows()], f"measured: {panel}, {g['stack'].iloc[0]} (results.csv)")  # fmt: skip
            ax.plot(g["arithmetic_intensity"].iloc[1:], g["flops_per_s"].iloc[1:] / 1e9, ".", color="0.45",
                    ms=5, zorder=3)  # fmt: skip
        pts = _points(d)
        for bound, g in pts.groupby("bound", sort=True):
            ax.scatter(g["arithmetic_intensity"], g["flops_per_s"] / 1e9, s=34, zorder=4,
                       color=BOUND_COLOURS.get(bound, "0.5"), edgecolors="black", linewidths=0.5,
                       label=f"{bound}-bound")  # fmt: skip
        tag_points(ax, pts["arithmetic_intensity"], pts["flops_per_s"] / 1e9, pts["model"],
                   [_tip(r) for _i, r in pts.iterrows()], [f"measured: {panel}, {s} (results.csv)" for s in pts["stack"]])  # fmt: skip
        several = pts["stack"].nunique() > 1
        texts = [f"{m} · {s}" if several else m for m, s in zip(pts["model"], pts["stack"], strict=True)]
        _label_points(
            ax, list(pts["arithmetic_intensity"]), list(pts["flops_per_s"] / 1e9), texts, fontsize=7
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ymin = min(float(pts["flops_per_s"].min()), lo * bandwidth) / 1e9 / 3
        ax.set_xlim(lo, hi)
        ax.set_ylim(ymin, max(peak, float(d["flops_per_s"].max())) / 1e9 * 2.5)
        _plain_log_labels(ax.xaxis, ax.yaxis)
        ax.set_title(textwrap.fill(panel, 60), fontsize=9)
        ax.set_xlabel("arithmetic intensity (FLOPs per byte of weights and activations moved, log scale)")
        ax.set_ylabel("GFLOP/s (2 × MACs × batch / median time, log scale)")
        ax.legend(loc="lower right", fontsize=7)
    swept = rows.groupby(["panel", "model", "stack"])["batch_size"].nunique()
    fig.suptitle("Roofline: measured FLOP/s against the machine's measured limits", fontsize=12)
    caption = (
        f"Measured on {describe_run(rows)}. Roof: min(peak FLOP/s, intensity × bandwidth) from the peaks "
        "stamped into the rows (peak_source: measured = the peak probes, the better of a matrix product and a 3×3 "
        "convolution, and an in-place add, timed on this machine, `archbench doctor --peaks`; datasheet = the "
        "device's datasheet FLOP/s). Points: each model at its smallest batch, "
        "coloured by its bound (overhead: median time above "
        f"{OVERHEAD_FACTOR:g} × the larger of FLOPs/peak and bytes/bandwidth). Intensity: 2 × MACs × batch over "
        "the weights' bytes + twice the live activations' bytes (a lower bound on traffic). "
        + ("Grey lines: a model's batch sweep, from its labelled point (smallest batch) through dots at larger batches." if (swept > 1).any()
           else "No model was measured at several batch sizes (no sweep lines).")
    )  # fmt: skip
    return _finish(fig, caption, notes)


def _tip(r: pd.Series) -> str:
    return (f"batch {int(r['batch_size'])}: {r['flops_per_s'] / 1e9:,.1f} GFLOP/s = {r['fraction_of_peak']:.0%} of the "
            f"peak, {r['arithmetic_intensity']:.3g} FLOP/byte, {r['bound']}-bound, {r['median_ms']:.4g} ms")  # fmt: skip


def roofline_findings(results: pd.DataFrame) -> list[str]:
    """One line per model and device: its bound at its smallest batch, its fraction of the peak and of the
    roof at its intensity, and the same at its largest batch when it was swept."""
    rows = roofline_rows(results)
    lines = []
    for (model, panel, stack), g in rows.groupby(["model", "panel", "stack"], sort=True):
        g = g.sort_values("batch_size")
        first, last = g.iloc[0], g.iloc[-1]
        text = f"{model} ({panel}, {stack}): " + _where(first)
        if len(g) > 1:
            text += f"; at batch {int(last['batch_size'])}: " + _where(last)
        lines.append(text)
    return lines


def _where(r: pd.Series) -> str:
    gap = (
        f"{1 / r['roof_fraction']:.1f}× below it"
        if r["roof_fraction"] < 1
        else "above it: the kernels multiply less than the direct count, e.g. Winograd"
    )
    return (
        f"batch {int(r['batch_size'])} {r['bound']}-bound, {r['flops_per_s'] / 1e9:,.1f} GFLOP/s = "
        f"{r['fraction_of_peak']:.0%} of the peak, {r['roof_fraction']:.0%} of the roof at "
        f"{r['arithmetic_intensity']:.3g} FLOP/byte ({gap})"
    )
