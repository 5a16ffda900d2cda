"""After ResNet: the 2018 updates of Canziani's analysis (Culurciello 2018; Bianco et al., IEEE Access 6,
2018), asked of this machine's rows in the style of :mod:`~archbench.analysis.findings`.

The networks after ResNet are those of the named set ``canziani2018`` (models.csv ``sets``); the ones
before it, every other model of the folder. Each :class:`~archbench.analysis.findings.Finding` states the
question, this folder's numbers, a verdict and the rule:

- accuracy per operation is still rising: some network after ResNet lies above the Pareto frontier of
  top-1 against MACs drawn by the networks up to ResNet (more top-1 than any of them at no more MACs);
- fewer operations do not buy proportionally less time: the median achieved multiply-add rate
  (MACs / median time, batch 1 or the smallest, main latency setting) of the networks after ResNet is
  below that of the networks up to ResNet — their depthwise and grouped convolutions do less work per
  byte moved (the roofline shows where each one sits);
- the Pareto front of top-1 against latency on this machine: which networks are on it, and how many of
  them came after ResNet.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ResultsFileError
from .canziani import single_crop_points, update_models
from .findings import FAILS, HOLDS, UNDECIDED, Finding
from .latency import time_vs_batch
from .load import NotDrawn
from .measured import accuracy_time_points
from .plotting import pareto_frontier

UPDATE_SET = "canziani2018"
RUN_UPDATE = "archbench run --models everything --tasks params,macs,latency --out DIR"
SOURCES = "Culurciello 2018; Bianco et al., IEEE Access 6 (2018)"


def _split(pts: pd.DataFrame, later: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    mask = pts["model"].isin(later)
    return pts[~mask], pts[mask]


def _best_before(earlier: pd.DataFrame, x: str, budget: float) -> pd.Series | None:
    """The most accurate network up to ResNet at no more than ``budget`` of ``x``."""
    within = earlier[earlier[x] <= budget]
    return None if within.empty else within.sort_values("top1", kind="stable").iloc[-1]


def _per_operation(results: pd.DataFrame, models: pd.DataFrame | None, later: set[str]) -> Finding:
    claim = f"Accuracy per operation is still rising after ResNet ({SOURCES})"
    rule = "a network after ResNet has more top-1 than every network up to ResNet with no more MACs"
    pts, _left, _notes = single_crop_points(results, models)
    pts = pts[pts["macs"].notna()]
    earlier, update = _split(pts, later)
    if earlier.empty or update.empty:
        return Finding(claim, f"{len(update)} network(s) after ResNet and {len(earlier)} up to it with MACs and a "
                       "single-crop top-1", UNDECIDED, rule, RUN_UPDATE)  # fmt: skip
    above = []
    for r in update.sort_values("macs").itertuples(index=False):
        best = _best_before(earlier, "macs", r.macs)
        if best is None or r.top1 > best["top1"]:
            beaten = "no network up to ResNet" if best is None else f"{best['display_name']} {best['top1']:.1f} %"
            above.append(f"{r.display_name} {r.top1:.1f} % at {r.macs / 1e9:.2f} G-MACs (best before at no more: "
                         f"{beaten})")  # fmt: skip
    density = pts.assign(per_gmac=pts["top1"] / (pts["macs"] / 1e9))
    e_best = density[~density["model"].isin(later)].sort_values("per_gmac").iloc[-1]
    u_best = density[density["model"].isin(later)].sort_values("per_gmac").iloc[-1]
    measured = (
        f"{len(above)} of {len(update)} networks after ResNet lie above the frontier up to ResNet"
        + (": " + "; ".join(above) if above else "")
        + f". Top-1 per G-MAC: best up to ResNet {e_best['display_name']} {e_best['per_gmac']:.0f}, "
        f"after {u_best['display_name']} {u_best['per_gmac']:.0f}"
    )
    return Finding(claim, measured, HOLDS if above else FAILS, rule)


def _rate(results: pd.DataFrame, models: pd.DataFrame | None, later: set[str]) -> Finding:
    claim = f"Fewer operations after ResNet do not buy proportionally less time ({SOURCES})"
    rule = "median achieved MAC rate (MACs / median time) of the networks after ResNet below that of those up to it"
    try:
        pts, _front, _fit, setting, _left = accuracy_time_points(results, models)
    except ResultsFileError:
        return Finding(claim, "no latency rows", UNDECIDED, rule, RUN_UPDATE)
    macs = results[results["task"] == "macs"].drop_duplicates("model").set_index("model")["macs"]
    pts = pts.assign(macs=pts["model"].map(macs)).dropna(subset=["macs"])
    pts = pts.assign(gmacs_per_s=pts["macs"] * pts["batch_size"] / 1e9 / (pts["median_ms"] / 1e3))
    earlier, update = _split(pts, later)
    if earlier.empty or update.empty:
        return Finding(claim, f"timed with MACs: {len(update)} network(s) after ResNet, {len(earlier)} up to it",
                       UNDECIDED, rule, RUN_UPDATE)  # fmt: skip
    e, u = earlier["gmacs_per_s"].median(), update["gmacs_per_s"].median()
    slow = update.sort_values("gmacs_per_s").iloc[0]
    measured = (
        f"median {u:.1f} G-MACs/s after ResNet ({len(update)} networks) vs {e:.1f} up to it ({len(earlier)}), "
        f"{setting}, batch {int(pts['batch_size'].min())}; slowest per operation: {slow['display_name']} "
        f"{slow['gmacs_per_s']:.1f} G-MACs/s ({slow['macs'] / 1e9:.2f} G-MACs in {slow['median_ms']:.2f} ms)"
    )
    return Finding(claim, measured, HOLDS if u < e else FAILS, rule)


def _latency_front(results: pd.DataFrame, models: pd.DataFrame | None, later: set[str]) -> Finding:
    claim = "The networks after ResNet hold the Pareto front of top-1 against latency on this machine"
    rule = "more than half of the networks on the front of top-1 vs median time came after ResNet"
    try:
        pts, _front, _fit, setting, _left = accuracy_time_points(results, models)
    except ResultsFileError:
        return Finding(claim, "no latency rows", UNDECIDED, rule, RUN_UPDATE)
    _earlier, update = _split(pts, later)
    if update.empty:
        return Finding(claim, "no network after ResNet was timed", UNDECIDED, rule, RUN_UPDATE)
    front = pareto_frontier(pts, "median_ms", "top1")
    names = [f"{r.display_name}{' *' if r.model in later else ''} {r.top1:.1f} % in {r.median_ms:.2f} ms"
             for r in front.itertuples(index=False)]  # fmt: skip
    n_later = int(front["model"].isin(later).sum())
    measured = (f"front ({setting}, batch {int(pts['batch_size'].min())}; * after ResNet): " + "; ".join(names)
                + f" — {n_later} of {len(front)} after ResNet")  # fmt: skip
    return Finding(claim, measured, HOLDS if n_later * 2 > len(front) else FAILS, rule)


def after_resnet_findings(results: pd.DataFrame, models: pd.DataFrame | None = None) -> list[Finding]:
    """The 2018 update's questions, each with this folder's numbers and a verdict; none for a folder
    without a network after ResNet."""
    later = update_models(models) & set(results["model"])
    if not later:
        return []
    return [_per_operation(results, models, later), _rate(results, models, later),
            _latency_front(results, models, later)]  # fmt: skip


RUN_UPDATE_FULL = "archbench run --models canziani2018 --tasks params,macs,latency --profile full --out DIR"


def update_time_vs_batch(results: pd.DataFrame, models: pd.DataFrame | None = None) -> Any:
    """Time per image against batch size for the networks after ResNet alone (Bianco et al. 2018, the
    figure of ms per image at batch 1-64): :func:`~archbench.analysis.latency.time_vs_batch` on their rows."""
    later = update_models(models)
    rows = results[results["model"].isin(later)]
    if rows.empty:
        raise NotDrawn(f"no network after ResNet (set {UPDATE_SET}) in this folder: `{RUN_UPDATE_FULL}` draws it")
    fig = time_vs_batch(rows)
    fig.suptitle("After ResNet: inference time per image vs batch size (after Bianco et al. 2018)", fontsize=12)
    return fig
