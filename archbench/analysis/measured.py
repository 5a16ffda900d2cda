"""Canziani et al.'s measured figures, from this machine's rows: memory against batch size and against
parameters, power against batch size, top-1 against energy per image and against inference time.

Memory is the measured peak above the process's baseline (``mem_peak_mb``, method in ``mem_method``);
``_mb`` columns are megabytes of 10^6 bytes, so a slope in MB per million parameters is bytes per
parameter. Energy figures are drawn only from rows whose counter was readable (``energy_available``);
elsewhere the figure is not drawn and says why. The data behind each figure is a function of its own
(``memory_points``, ``energy_points``, ``accuracy_time_points``) that the findings reuse.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ResultsFileError
from . import fits
from .canziani import single_crop_points
from .hover import ms_values, tag_points
from .latency import RUN_FULL
from .load import NotDrawn
from .plotting import (
    _batch_panels,
    _family_colours,
    _figure,
    _finish,
    _label_points,
    _plain_log_labels,
    _styled,
    pareto_frontier,
    sweeps,
)
from .tables import _truthy, describe_run, latency_table, measured_rows, model_table, primary_setting

RUN_ENERGY = RUN_FULL.replace("--profile full", "--profile full --device gpu")
"""Energy needs a counter: an NVIDIA GPU (NVML) or a CPU whose RAPL files are readable."""


def _at_smallest_batch(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model: its smallest batch size (latest row first)."""
    if df.empty:
        return df
    df = df[df["batch_size"] == df.groupby("model")["batch_size"].transform("min")]
    if "timestamp" in df.columns:
        df = df.sort_values("timestamp", ascending=False, kind="stable")
    return df.drop_duplicates("model")


def _one_setting(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    setting = primary_setting(df)
    return (df[df["setting"] == setting], setting) if setting else (df.iloc[0:0], None)


def _no_memory(results: pd.DataFrame) -> NotDrawn:
    return NotDrawn(
        "no measured memory in results.csv (column 'mem_peak_mb'): "
        f"`{RUN_FULL}` measures each model's peak memory at every batch size"
    )


def memory_points(
    results: pd.DataFrame, models: pd.DataFrame | None
) -> tuple[pd.DataFrame, fits.LineFit | None, str]:
    """Measured peak memory (MB above baseline) at each model's smallest batch in the main setting, with
    its parameter count: ``(points, fit of memory on parameters or None, setting)``."""
    mem = measured_rows(results, "mem_peak_mb")
    if mem.empty:
        raise _no_memory(results)
    mem, setting = _one_setting(_at_smallest_batch_per_setting(mem))
    params = model_table(results, models).set_index("model")["params"]
    pts = mem.assign(params=mem["model"].map(params)).dropna(subset=["params"])
    pts = pts[pts["params"] > 0].sort_values("params")
    try:
        fit = fits.line(pts["params"] / 1e6, pts["mem_peak_mb"])
    except ValueError:
        fit = None
    return pts, fit, str(setting)


def _at_smallest_batch_per_setting(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([_at_smallest_batch(g) for _s, g in df.groupby("setting")]) if len(df) else df


def energy_rows(results: pd.DataFrame, column: str = "power_w") -> pd.DataFrame:
    """Rows whose energy counter was readable, with ``column`` set."""
    rows = measured_rows(results, column)
    if "energy_available" in rows.columns:
        rows = rows[_truthy(rows["energy_available"])]
    return rows


def energy_reason(results: pd.DataFrame) -> str:
    """Why no energy was measured, from the rows' ``energy_reason`` (or that no row recorded energy)."""
    if "energy_reason" in results.columns:
        reasons = [str(r) for r in results["energy_reason"].dropna().unique() if str(r).strip()]
        if reasons:
            return "energy: not available (" + "; ".join(reasons) + ")"
    return "energy: not measured (no energy_j / power_w in results.csv)"


def _no_energy(results: pd.DataFrame) -> NotDrawn:
    return NotDrawn(
        f"{energy_reason(results)}; on a machine with an energy counter (NVIDIA GPU through NVML, or a CPU "
        f"with readable RAPL) `{RUN_ENERGY}` measures it"
    )


def energy_points(results: pd.DataFrame, models: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """Energy per image at each model's smallest batch in the main energy setting, with single-crop top-1."""
    rows = energy_rows(results, "energy_j_per_image")
    if rows.empty:
        raise _no_energy(results)
    rows, setting = _one_setting(_at_smallest_batch_per_setting(rows))
    single, _left, _notes = single_crop_points(results, models)
    top1 = single.set_index("model")
    pts = rows.assign(
        top1=rows["model"].map(top1["top1"]), display_name=rows["model"].map(top1["display_name"])
    )
    return pts.dropna(subset=["top1"]), str(setting)


def accuracy_time_points(
    results: pd.DataFrame, models: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, fits.Hyperbola | None, str, list[str]]:
    """Single-crop top-1 against median time at batch 1 (or the smallest) in the main latency setting:
    ``(points, Pareto frontier, hyperbola fitted on the frontier or None, setting, left-out)``."""
    lat = latency_table(results, "top1_vs_latency")
    if lat.empty:
        raise ResultsFileError("top1_vs_latency: results.csv has no ok latency rows ('median_ms')")
    lat, setting = _one_setting(_at_smallest_batch_per_setting(lat))
    single, left_out, _notes = single_crop_points(results, models)
    top1 = single.set_index("model")
    pts = lat.assign(top1=lat["model"].map(top1["top1"]), display_name=lat["model"].map(top1["display_name"]))
    pts = pts.dropna(subset=["top1"]).sort_values("median_ms")
    front = pareto_frontier(pts, "median_ms", "top1") if len(pts) else pts
    try:
        fit = fits.hyperbola(front["median_ms"], front["top1"])
    except ValueError:
        fit = None
    return pts, front, fit, str(setting), left_out


def _oom_stops(results: pd.DataFrame) -> list[str]:
    oom = results[results["status"] == "oom"]
    if oom.empty:
        return []
    batch = oom["batch_size"] if "batch_size" in oom.columns else pd.Series(np.nan, index=oom.index)
    return ["out of memory (sweep stopped): " + ", ".join(
        f"{m} at batch {'?' if pd.isna(b) else int(b)}" for m, b in zip(oom["model"], batch, strict=True))]  # fmt: skip


def _method(rows: pd.DataFrame) -> str:
    if "mem_method" not in rows.columns or rows["mem_method"].isna().all():
        return "method not recorded"
    return "method: " + ", ".join(dict.fromkeys(rows["mem_method"].dropna().astype(str)))


@_styled
def memory_vs_batch(results: pd.DataFrame) -> Any:
    """Measured peak memory vs batch size (Canziani et al. 2016, fig. 4), one panel per setting."""
    mem = measured_rows(results, "mem_peak_mb")
    if mem.empty:
        raise _no_memory(results)
    mem = sweeps(mem)
    if mem.empty:
        raise NotDrawn(
            f"nothing to compare: memory measured at one batch size only; `{RUN_FULL}` sweeps the batch"
        )
    fig = _figure(12, 4.6 * math.ceil(mem["setting"].nunique() / 2) + 1.2)
    _batch_panels(fig, mem, "mem_peak_mb", "peak memory above baseline (MB)")
    fig.suptitle("Memory vs batch size", fontsize=12)
    caption = (
        f"Measured on {describe_run(mem)}. Peak memory during inference above the process's baseline "
        f"(results.csv 'mem_peak_mb', MB = 10^6 bytes; {_method(mem)})."
    )
    return _finish(fig, caption, _oom_stops(results))


@_styled
def memory_vs_params(results: pd.DataFrame, models: pd.DataFrame | None = None) -> Any:
    """Measured peak memory vs parameter count at batch 1 (Canziani et al. 2016, fig. 5), with the fit
    memory = a + b × parameters (b in bytes per parameter, 95 % interval)."""
    pts, fit, setting = memory_points(results, models)
    if pts.empty:
        raise ResultsFileError("memory_vs_params: no model has both measured memory and a parameter count")
    fig = _figure(9, 6.2)
    ax = fig.add_subplot()
    x = pts["params"] / 1e6
    ax.scatter(x, pts["mem_peak_mb"], s=30, color="tab:blue", zorder=3, label="measured peak above baseline")
    tag_points(ax, x, pts["mem_peak_mb"], pts["model"],
               [f"{m:,.1f} MB peak, {p:,.3g} M parameters" for m, p in zip(pts["mem_peak_mb"], x, strict=True)],
               f"measured: {setting} (results.csv mem_peak_mb)")  # fmt: skip
    xs = np.linspace(0, float(x.max()) * 1.05, 50)
    ax.plot(xs, 4.0 * xs, ls=":", color="0.4", lw=1, label="4 bytes per parameter (float32 weights alone)")
    if fit is not None:
        ax.plot(xs, fit(xs), "-", color="tab:blue", lw=1,
                label=f"fit: {fit.intercept:.0f} MB + {fit.slope:.2f} [{fit.slope_low:.2f}, {fit.slope_high:.2f}] "
                      f"bytes/parameter, r = {fit.r:.2f}, n = {fit.n}")  # fmt: skip
    ax.set_xlim(0, float(x.max()) * 1.08)
    ax.set_ylim(0, max(float(pts["mem_peak_mb"].max()), 4.0 * float(x.max())) * 1.1)
    ax.set_xlabel("parameters (millions, paper convention)")
    ax.set_ylabel("peak memory above baseline (MB)")
    ax.set_title(
        f"Memory vs parameters\n{textwrap.shorten(setting, 80)}, batch {int(pts['batch_size'].min())}"
    )
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", fontsize=7.5)
    _label_points(ax, list(x), list(pts["mem_peak_mb"]), list(pts["model"]), fontsize=7)
    notes = [] if fit is not None else ["fewer than 3 models: no fit"]
    caption = (
        f"Measured on {describe_run(pts)}. y: peak memory during inference above the process's baseline "
        f"('mem_peak_mb', MB = 10^6 bytes; {_method(pts)}) at each model's smallest batch; x: parameters "
        "counted by archbench. Line: least squares memory = a + b × parameters; b in MB per million parameters "
        "= bytes per parameter, with its 95 % interval (Student's t)."
    )
    return _finish(fig, caption, notes)


@_styled
def power_vs_batch(results: pd.DataFrame) -> Any:
    """Average power over the timed window vs batch size (Canziani et al. 2016, fig. 3), where an energy
    counter was readable; not drawn otherwise, with the reason."""
    rows = energy_rows(results, "power_w")
    if rows.empty:
        raise _no_energy(results)
    fig = _figure(12, 4.6 * math.ceil(rows["setting"].nunique() / 2) + 1.2)
    _batch_panels(fig, rows, "power_w", "average power (W)")
    fig.suptitle("Power vs batch size", fontsize=12)
    method = (
        ", ".join(dict.fromkeys(rows["energy_method"].dropna().astype(str)))
        if "energy_method" in rows
        else "?"
    )
    caption = (
        f"Measured on {describe_run(rows)}. Average power = energy over the timed window / its duration "
        f"(results.csv 'power_w'; counter: {method})."
    )
    return _finish(fig, caption)


@_styled
def top1_vs_energy(results: pd.DataFrame, models: pd.DataFrame | None = None) -> Any:
    """Single-crop top-1 vs energy per image (Canziani et al. 2016, fig. 9), where energy was measured."""
    pts, setting = energy_points(results, models)
    if pts.empty:
        raise ResultsFileError("top1_vs_energy: no model has both energy per image and a single-crop top-1")
    fig = _figure(9, 6)
    ax = fig.add_subplot()
    ax.scatter(pts["energy_j_per_image"], pts["top1"], s=30, color="tab:green", zorder=3)
    tag_points(ax, pts["energy_j_per_image"], pts["top1"], pts["display_name"],
               [f"{e * 1e3:.4g} mJ per image, top-1 {t:.1f} %" for e, t in zip(pts["energy_j_per_image"], pts["top1"], strict=True)],
               f"energy measured: {setting}; top-1: models.csv or measured")  # fmt: skip
    ax.set_xscale("log")
    ax.margins(0.1)
    _plain_log_labels(ax.xaxis)
    _label_points(
        ax, list(pts["energy_j_per_image"]), list(pts["top1"]), list(pts["display_name"]), fontsize=7
    )
    ax.set_xlabel("energy per image (J, log scale)")
    ax.set_ylabel("ImageNet top-1 (%), single centre crop")
    ax.set_title(
        f"Top-1 vs energy per image\n{textwrap.shorten(setting, 80)}, batch {int(pts['batch_size'].min())}"
    )
    method = (
        ", ".join(dict.fromkeys(pts["energy_method"].dropna().astype(str))) if "energy_method" in pts else "?"
    )
    caption = (
        f"Measured on {describe_run(pts)}. x: energy over the timed window / images (results.csv "
        f"'energy_j_per_image'; counter: {method}); y: single-crop top-1 (reference or measured)."
    )
    return _finish(fig, caption)


@_styled
def top1_vs_latency(results: pd.DataFrame, models: pd.DataFrame | None = None) -> Any:
    """Single-crop top-1 vs inference time (Canziani et al. 2016, fig. 7): the Pareto frontier and the
    hyperbola top-1 = a - b / time fitted on it."""
    pts, front, fit, setting, left_out = accuracy_time_points(results, models)
    if pts.empty:
        raise ResultsFileError("top1_vs_latency: no model has both a latency row and a single-crop top-1")
    fig = _figure(9.5, 6.2)
    ax = fig.add_subplot()
    colours = _family_colours(models["family"] if models is not None else ["unknown"])
    family = model_table(results, models).set_index("model")["family"]
    ax.scatter(pts["median_ms"], pts["top1"], s=30, zorder=3,
               c=[colours.get(family.get(m, "unknown"), "0.5") for m in pts["model"]])  # fmt: skip
    tag_points(ax, pts["median_ms"], pts["top1"], pts["display_name"],
               [f"{v} per batch, top-1 {t:.1f} %" for v, t in zip(ms_values(pts), pts["top1"], strict=True)],
               f"time measured: {setting}; top-1: models.csv or measured")  # fmt: skip
    ax.plot(front["median_ms"], front["top1"], drawstyle="steps-post", ls="--", color="0.35", lw=1,
            label="Pareto frontier")  # fmt: skip
    if fit is not None:
        xs = np.geomspace(front["median_ms"].min(), pts["median_ms"].max(), 80)
        ax.plot(xs, fit(xs), "-", color="tab:red", lw=1,
                label=f"top-1 = {fit.a:.1f} − {fit.b:.3g} / ms on the frontier (r = {fit.r:.2f}, n = {fit.n})")  # fmt: skip
    ax.set_xscale("log")
    ax.margins(0.1)
    _plain_log_labels(ax.xaxis)
    from matplotlib.lines import Line2D

    families = sorted({family.get(m, "unknown") for m in pts["model"]}, key=str.lower)
    handles = [Line2D([], [], marker="o", ls="", color=colours.get(f, "0.5"), label=f) for f in families]
    fig.legend(handles=handles + ax.get_legend_handles_labels()[0], loc="outside right upper", fontsize=7.5)
    _label_points(ax, list(pts["median_ms"]), list(pts["top1"]), list(pts["display_name"]), fontsize=7)
    ax.set_xlabel("median inference time per batch (ms, log scale)")
    ax.set_ylabel("ImageNet top-1 (%), single centre crop")
    ax.set_title(
        f"Top-1 vs inference time\n{textwrap.shorten(setting, 80)}, batch {int(pts['batch_size'].min())}"
    )
    caption = (
        f"Measured on {describe_run(pts)}. x: median time per batch (results.csv, latency task); y: single-crop "
        "top-1 (reference figures unless measured). The hyperbola is fitted by least squares in 1/time to the "
        "frontier (the fastest model for its accuracy)."
        + (" Left out, not single-crop: " + ", ".join(left_out) + "." if left_out else "")
    )
    return _finish(fig, caption, [] if fit is not None else ["fewer than 3 frontier models: no fit"])
