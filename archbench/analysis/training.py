"""What training costs, measured: the training step's throughput against its counted operations, its time
against inference's beside the counted MAC ratio, and its memory against the batch size.

The rows are the ``train`` task's (one compiled training step: forward in training mode, cross-entropy,
backward, SGD with momentum; :mod:`archbench.benchmark.train_step`), normalised as latency rows are
(:func:`~archbench.analysis.tables.latency_table`), their ``mode`` without its ``train step`` suffix so
that a training row and an inference row of the same stack share a ``setting``. ``train_macs`` is
:func:`archbench.count_training`'s count per image of archbench's build, which the torchvision peers'
rows repeat. Without training rows no figure is drawn, and each says which command measures them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .hover import tag_points
from .load import NotDrawn
from .plotting import (
    _batch_panels,
    _figure,
    _finish,
    _label_points,
    _model_styles,
    _plain_log_labels,
    _styled,
)
from .tables import describe_run, latency_table, primary_setting

RUN_TRAIN = "archbench run --models 'alexnet,resnet18,resnet50,vgg16' --tasks latency,train --peers torchvision --out DIR"
SUFFIX = " train step"
RULE_OF_THUMB = 3.0


def train_table(results: pd.DataFrame, purpose: str = "training figures") -> pd.DataFrame:
    """The ok training-step rows, normalised as latency rows, with ``train_macs`` per image filled in
    from the model's other rows where a row lacks it (a peer measured without the count)."""
    if "task" not in results.columns or not (results["task"] == "train").any():
        raise NotDrawn(f"no training-step rows in results.csv (task 'train'): `{RUN_TRAIN}` measures them")
    rows = results[results["task"] == "train"].copy()
    if "mode" in rows.columns:
        rows["mode"] = rows["mode"].astype("string").str.removesuffix(SUFFIX)
    table = latency_table(rows, purpose, task="train")
    if table.empty:
        raise NotDrawn(f"no ok training-step rows in results.csv (task 'train', 'median_ms'): `{RUN_TRAIN}`")
    macs = pd.to_numeric(table.get("train_macs"), errors="coerce") if "train_macs" in table else np.nan
    table["train_macs"] = macs
    table["train_macs"] = table["train_macs"].fillna(table.groupby("model")["train_macs"].transform("max"))
    return table


def _at_largest_batch(df: pd.DataFrame) -> pd.DataFrame:
    """One row per model and setting: its largest batch (the highest throughput a sweep reached)."""
    keep = df["batch_size"] == df.groupby(["model", "setting"])["batch_size"].transform("max")
    return df[keep].drop_duplicates(["model", "setting"], keep="last")


def _by_setting(fig: Any, pts: pd.DataFrame, x: str, y: str, *, xlabel: str, ylabel: str, title: str) -> Any:
    """An axes with ``pts`` scattered, one colour per setting (its batch sizes in the legend), labelled."""
    from matplotlib import colormaps

    ax = fig.add_subplot()
    for i, setting in enumerate(sorted(pts["setting"].unique())):
        d = pts[pts["setting"] == setting]
        tag_points(ax, d[x], d[y], d["model"],
                   [f"{ylabel.split(' (')[0]} {b:.4g}, {xlabel.split(':')[0].split(' (')[0]} {a:.4g}, batch {n}"
                    for a, b, n in zip(d[x], d[y], d["batch_size"], strict=True)],
                   f"measured: {setting} (results.csv, train task)")  # fmt: skip
        ax.scatter(d[x], d[y], s=34, color=colormaps["tab10"](i % 10), zorder=3,
                   label=f"{setting}, batch {'/'.join(str(b) for b in sorted(d['batch_size'].unique()))}")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


@_styled
def train_throughput(results: pd.DataFrame) -> Any:
    """Training images per second against the counted multiply-adds of one training step per image,
    log-log, one colour per setting (backend or peer), at each model's largest batch, with lines of
    constant training FLOP/s."""
    table = train_table(results, "train_throughput")
    pts = _at_largest_batch(table.dropna(subset=["train_macs"]))
    if pts.empty:
        raise NotDrawn("no training-step row has a counted 'train_macs' (archbench.count_training failed: "
                       "see 'train_count')")  # fmt: skip
    pts = pts.assign(gmacs=pts["train_macs"] / 1e9)
    labelled = primary_setting(pts) or sorted(pts["setting"].unique())[0]
    fig = _figure(9.5, 6.6)
    ax = _by_setting(fig, pts, "gmacs", "images_per_s",
                     xlabel="train_macs: G-MACs per image per step (counted, log scale)",
                     ylabel="training throughput (images/s, log scale)", title="Training throughput vs training operations")  # fmt: skip
    x = np.geomspace(pts["gmacs"].min() / 1.6, pts["gmacs"].max() * 1.6, 20)
    y = (float(pts["images_per_s"].min()) / 1.6, float(pts["images_per_s"].max()) * 1.6)
    rate = 2 * pts["train_macs"] * pts["images_per_s"] / 1e9  # training GFLOP/s of each point
    for gflops in 10.0 ** np.arange(math.floor(np.log10(rate.min())), math.ceil(np.log10(rate.max())) + 1):
        ax.plot(x, gflops / (2 * x), ls=":", lw=0.8, color="0.55", zorder=1)
        at = min(x[-1], gflops / (2 * y[0]))  # where the line leaves the frame, at its right or bottom
        if y[0] <= gflops / (2 * at) <= y[1]:
            ax.text(at, gflops / (2 * at), f"{gflops:g} GFLOP/s ", fontsize=6.5, color="0.4", ha="right",
                    va="bottom", rotation=-30, rotation_mode="anchor")  # fmt: skip
    d = pts[pts["setting"] == labelled]
    _label_points(ax, list(d["gmacs"]), list(d["images_per_s"]), list(d["model"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_labels(ax.xaxis, ax.yaxis)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(*y)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", fontsize=7)
    caption = (
        f"Measured on {describe_run(pts)}. One compiled training step (forward in training mode, batch norm on "
        "batch statistics, cross-entropy on random labels, backward, SGD momentum 0.9; results.csv, train task) "
        "at each model's largest batch; x: archbench.count_training's multiply-adds of the step per image "
        "('train_macs', forward + backward, archbench's build; the torchvision rows repeat it). Dotted: constant "
        f"training FLOP/s (2 FLOPs per MAC). Model labels on the series {labelled}."
    )
    return _finish(fig, caption)


def ratio_points(results: pd.DataFrame) -> pd.DataFrame:
    """Each training row paired with the inference row of the same model, setting and batch size:
    ``time_ratio`` (training step / inference median) beside ``train_mac_ratio`` (counted)."""
    train = train_table(results, "train_vs_inference")
    try:
        inference = latency_table(results, "train_vs_inference")
    except Exception:  # a results file without latency columns: nothing to pair
        inference = train.iloc[0:0]
    keys = ["model", "setting", "batch_size"]
    inference = inference.drop_duplicates(keys, keep="last")[[*keys, "median_ms"]]
    pairs = train.merge(inference, on=keys, suffixes=("", "_inference"))
    pairs["time_ratio"] = pairs["median_ms"] / pairs["median_ms_inference"]
    pairs["train_mac_ratio"] = pd.to_numeric(pairs.get("train_mac_ratio"), errors="coerce")
    pairs["train_mac_ratio"] = pairs["train_mac_ratio"].fillna(
        pairs.groupby("model")["train_mac_ratio"].transform("max"))
    return pairs.dropna(subset=["time_ratio"])


@_styled
def train_vs_inference(results: pd.DataFrame) -> Any:
    """The measured time of a training step over that of inference (same model, stack and batch size, the
    largest batch both were measured at) against the counted ratio of their multiply-adds, per model; the
    diagonal is time following MACs."""
    pairs = ratio_points(results)
    pairs = _at_largest_batch(pairs) if not pairs.empty else pairs
    if pairs.empty:
        raise NotDrawn("no training row has an inference row at the same setting and batch size: "
                       f"`{RUN_TRAIN}` measures both")  # fmt: skip
    counted = pairs.dropna(subset=["train_mac_ratio"])
    uncounted = sorted(set(pairs["model"]) - set(counted["model"]))
    if counted.empty:
        raise NotDrawn("no counted MAC ratio ('train_mac_ratio') for the models with both rows")
    fig = _figure(9.5, 6.6)
    ax = _by_setting(fig, counted, "train_mac_ratio", "time_ratio",
                     xlabel="train_mac_ratio: train_macs / train_forward_macs (counted, archbench.count_training)",
                     ylabel="measured: training step time / inference time (same batch)",
                     title="Training vs inference: measured time ratio beside counted MAC ratio")  # fmt: skip
    _label_points(ax, list(counted["train_mac_ratio"]), list(counted["time_ratio"]), list(counted["model"]),
                  fontsize=7)  # fmt: skip
    values = pd.concat([counted["train_mac_ratio"], counted["time_ratio"]])
    lo, hi = min(1.0, float(values.min()) * 0.9), max(4.0, float(values.max()) * 1.1)
    ax.plot([lo, hi], [lo, hi], ls="--", lw=0.9, color="0.4", zorder=1, label="time ratio = MAC ratio")
    ax.axvline(RULE_OF_THUMB, ls=":", lw=0.9, color="tab:red", zorder=1, label="the \"3x\" rule of thumb")
    ax.set_xlim(lo, max(hi, RULE_OF_THUMB * 1.1))
    ax.set_ylim(lo, hi)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", fontsize=7)
    caption = (
        f"Measured on {describe_run(counted)}. y: median time of one compiled training step (train task) over the "
        "median time of compiled inference (latency task) of the same model, stack and batch size (the largest "
        "batch both were measured at); x: the "
        "counted multiply-adds of a training step (forward in training mode + weight and input gradients) over "
        "those of the forward pass ('train_mac_ratio'). Above the diagonal a step costs more time than its MACs "
        "say (batch-norm statistics, the update, memory traffic of the saved activations)."
    )
    notes = [f"no counted MAC ratio for {', '.join(uncounted)} (not shown)"] if uncounted else []
    return _finish(fig, caption, notes)


@_styled
def train_memory_vs_batch(results: pd.DataFrame) -> Any:
    """Measured peak memory of the training step vs batch size, one panel per setting, one line per
    model, inference's peak of the same model and setting dotted beside it where it was measured."""
    table = train_table(results, "train_memory_vs_batch")
    mem = table.assign(mem_peak_mb=pd.to_numeric(table.get("mem_peak_mb"), errors="coerce")).dropna(
        subset=["mem_peak_mb"])
    if mem.empty:
        raise NotDrawn(f"no measured memory ('mem_peak_mb') in the training rows: `{RUN_TRAIN}` measures it")
    swept = mem.groupby(["setting", "model"])["batch_size"].nunique()
    if swept.max() < 2:
        raise NotDrawn("nothing to compare: training memory measured at one batch size only; "
                       f"`{RUN_TRAIN.replace('--out', '--profile full --out')}` sweeps the batch")  # fmt: skip
    fig = _figure(12, 4.6 * math.ceil(mem["setting"].nunique() / 2) + 1.2)
    axes = _batch_panels(fig, mem, "mem_peak_mb", "peak memory above baseline (MB)")
    try:
        inference = latency_table(results, "train_memory_vs_batch")
        inference = inference.assign(mem_peak_mb=pd.to_numeric(inference.get("mem_peak_mb"), errors="coerce"))
    except Exception:  # no latency rows: the training lines stand alone
        inference = mem.iloc[0:0]
    styles = _model_styles(mem["model"])
    for ax, setting in zip(axes, sorted(mem["setting"].unique()), strict=True):
        for model, g in inference[(inference["setting"] == setting) & inference["model"].isin(styles)].groupby("model"):
            g = g.dropna(subset=["mem_peak_mb"]).sort_values("batch_size")
            tag_points(ax, g["batch_size"], g["mem_peak_mb"], [model] * len(g),
                       [f"inference peak {m:,.1f} MB at batch {b}" for m, b in zip(g["mem_peak_mb"], g["batch_size"], strict=True)],
                       f"measured: {setting} (results.csv, latency task)")  # fmt: skip
            ax.plot(g["batch_size"], g["mem_peak_mb"], ls=":", lw=1, marker=styles[model][1], ms=3, mfc="none",
                    color=styles[model][0])  # fmt: skip
    fig.suptitle("Training memory vs batch size", fontsize=12)
    caption = (
        f"Measured on {describe_run(mem)}. Solid: peak memory while one training step is compiled and timed, "
        "above the process's baseline (results.csv 'mem_peak_mb' of the train task: the saved activations, "
        "gradients and momentum buffers); dotted, hollow markers: the same model's inference peak (latency "
        "task) where it was measured. MB = 10^6 bytes."
    )
    return _finish(fig, caption)
