"""Latency figures: operations against inference time (with the fit's rule and interval), time per image
against batch size, the runtimes and backends of each model side by side, and the table of the fastest
way to run each model.

Every latency point carries its 95 % confidence interval of the median as an error bar where the row
records one (``ci_low_ms``/``ci_high_ms``); rows marked ``noisy`` (busy machine or an interval wider
than ±5 %) are ringed in red. Rows whose status is not ``ok`` (failed, out of memory, above the
conformance tolerance) are never charted; the captions name them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ResultsFileError
from . import fits
from .hover import ms_values, tag_points
from .load import RESULTS_FILE, NotDrawn, _require
from .plotting import _batch_panels, _figure, _finish, _label_points, _plain_log_labels, _styled, sweeps
from .tables import (
    _normalised,
    _per_model,
    ci_text,
    describe_run,
    is_archbench,
    latency_table,
    primary_setting,
)

RUN_FULL = "archbench run --models 'alexnet,googlenet,resnet18,resnet50,vgg16' --profile full --out DIR"
RUN_RUNTIMES = (
    "archbench run --models 'resnet50_v1_5,vgg16,googlenet_bn' --runtime keras,onnxruntime,openvino "
    "--peers torchvision --out DIR"
)
RUN_BACKENDS = "archbench run --backend tensorflow,jax --out DIR"
MIN_FIT_MODELS = 5
"""A series with fewer models (after the fixed-overhead rule) is drawn without a fit."""


def _yerr(d: pd.DataFrame, column: str = "median_ms", scale: pd.Series | float = 1.0) -> np.ndarray | None:
    """Asymmetric error bars from the rows' confidence intervals (zero where a row has none)."""
    if d["ci_low_ms"].isna().all():
        return None
    y = d[column].to_numpy(dtype=float)
    lo = (d["ci_low_ms"] / scale).to_numpy(dtype=float)
    hi = (d["ci_high_ms"] / scale).to_numpy(dtype=float)
    return np.vstack([np.nan_to_num(y - lo, nan=0.0).clip(min=0), np.nan_to_num(hi - y, nan=0.0).clip(min=0)])


def _ring_noisy(ax: Any, x: pd.Series, y: pd.Series) -> None:
    ax.scatter(x, y, s=110, facecolors="none", edgecolors="red", linewidths=1.3, zorder=5)


def _interval_note(lat: pd.DataFrame) -> str:
    if lat["ci_low_ms"].notna().any():
        return "Error bars: 95 % confidence interval of the median (ci_low_ms–ci_high_ms)."
    return "No confidence interval recorded in these rows (no error bars)."


def _noisy_note(lat: pd.DataFrame) -> list[str]:
    noisy = lat[lat["noisy"]]
    if noisy.empty:
        return []
    return ["ringed in red, noisy (busy machine or interval wider than ±5 %): "
            + ", ".join(f"{r.model} ({r.setting}, batch {r.batch_size})" for r in noisy.itertuples(index=False))]  # fmt: skip


def _with_gmacs(results: pd.DataFrame, lat: pd.DataFrame) -> pd.DataFrame:
    macs = (
        _per_model(results, "macs", "macs")["macs"].astype(float)
        if "macs" in results.columns
        else pd.Series()
    )
    own = (
        pd.to_numeric(lat["macs"], errors="coerce")
        if "macs" in lat.columns
        else pd.Series(np.nan, index=lat.index)
    )
    return lat.assign(gmacs=own.fillna(lat["model"].map(macs)) / 1e9)


def operations_series(results: pd.DataFrame) -> list[tuple[str, int, pd.DataFrame]]:
    """``(setting, batch, rows)`` of the operations-vs-time fits: each setting at its smallest batch (the
    main setting first), rows with ``gmacs`` and ``excluded`` (the fixed-overhead rule of
    :mod:`~archbench.analysis.fits`)."""
    lat = latency_table(results, "latency_vs_macs")
    if lat.empty:
        return []
    lat = _with_gmacs(results, lat)
    lat = lat[lat["gmacs"].notna() & (lat["gmacs"] > 0)]
    primary = primary_setting(lat)
    out = []
    for setting, d in lat.groupby("setting", sort=True):
        bs = int(d["batch_size"].min())
        d = d[d["batch_size"] == bs].sort_values(["gmacs", "model"]).drop_duplicates("model")
        out.append((str(setting), bs, d.assign(excluded=fits.fixed_overhead(d["gmacs"]))))
    return sorted(out, key=lambda s: s[0] != primary)


@_styled
def latency_vs_macs(results: pd.DataFrame) -> Any:
    """Operations vs inference time (Canziani et al. 2016, fig. 6), log-log: one series per setting at its
    smallest batch, each with the power law fitted to the models the fixed-overhead rule keeps, its
    exponent's 95 % interval and r."""
    _require(results, ["macs"], RESULTS_FILE, "latency_vs_macs (x = MACs, macs task)")
    lat = latency_table(results, "latency_vs_macs")
    if lat.empty:
        raise ResultsFileError("latency_vs_macs: results.csv has no ok latency rows ('median_ms')")
    series = operations_series(results)
    missing = sorted(set(lat["model"]) - {m for _s, _b, d in series for m in d["model"]})
    if not series:
        raise ResultsFileError("latency_vs_macs: no model has both a latency row and 'macs' in results.csv")
    notes = ["no MACs for " + ", ".join(missing) + " (not shown)"] if missing else []
    primary = primary_setting(lat) or series[0][0]
    any_out = any(d["excluded"].any() for _s, _b, d in series)
    fig = _figure(11 if any_out else 9.5, 7.0)
    if any_out:
        gs = fig.add_gridspec(1, 2, width_ratios=[1, 5])
        side, ax = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
    else:
        side, ax = None, fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    excluded_all, shown = [], []
    for i, (setting, bs, d) in enumerate(series):
        colour = cmap(i % 10)
        label = f"{setting}, batch {bs}"
        keep, out = d[~d["excluded"]], d[d["excluded"]]
        if len(keep) < MIN_FIT_MODELS:
            label += f": {len(keep)} models, too few for a fit"
        else:
            fit = fits.power_law(keep["gmacs"], keep["median_ms"])
            xs = np.logspace(np.log10(keep["gmacs"].min()), np.log10(keep["gmacs"].max()), 50)
            ax.plot(xs, fit(xs), "-", color=colour, lw=1, alpha=0.8)
            label += f": ms ∝ MACs^{fit.exponent:.2f} [{fit.low:.2f}, {fit.high:.2f}], r = {fit.r:.2f}, n = {fit.n}"
        if not out.empty:
            excluded_all.append(f"{', '.join(sorted(out['model']))} ({setting})")
        for target, part, hollow in ((ax, keep, False), (side, out, True)):
            if target is None or part.empty:
                continue
            yerr = _yerr(part)
            if yerr is not None:
                target.errorbar(part["gmacs"], part["median_ms"], yerr=yerr, fmt="none", ecolor=colour,
                                elinewidth=0.9, capsize=2, alpha=0.8, zorder=2)  # fmt: skip
            tag_points(target, part["gmacs"], part["median_ms"], part["model"], [f"{v} per batch" for v in ms_values(part)],
                       f"measured: {setting}, batch {bs} (results.csv)")  # fmt: skip
            target.scatter(part["gmacs"], part["median_ms"], zorder=3, s=30, lw=1.2,
                           facecolors="none" if hollow else colour, edgecolors=colour,
                           label=None if hollow else label)  # fmt: skip
            noisy = part[part["noisy"]]
            _ring_noisy(target, noisy["gmacs"], noisy["median_ms"])
            if setting == primary:
                _label_points(
                    target, list(part["gmacs"]), list(part["median_ms"]), list(part["model"]), fontsize=7
                )
        shown.append(d)
    for target in (ax, side):
        if target is None:
            continue
        target.set_xscale("log")
        target.set_yscale("log")
        target.margins(0.12)
        _plain_log_labels(target.xaxis, target.yaxis)
    ax.set_xlabel("operations: G-MACs per image (log scale)")
    ax.set_ylabel("median inference time per batch (ms, log scale)")
    ax.set_title("Operations vs inference time")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", fontsize=7)
    if side is not None:
        side.set_title("left out of the fit:\nfixed overhead", fontsize=8)
        side.set_xlabel("G-MACs (log)")
        side.set_ylabel("median time per batch (ms, log scale)")
    rows = pd.concat(shown)
    caption = (
        f"Measured on {describe_run(rows)}. Median time of compiled inference (results.csv, latency task) "
        "against archbench's MAC count. Lines: least-squares power law (log10 time on log10 MACs); exponent "
        "with its 95 % interval (Student's t on the slope's standard error); r: Pearson correlation of the "
        f"logs. Fit rule: models with {fits.OVERHEAD_RULE} are left out of the fit and drawn hollow in the left panel"
        + (": " + "; ".join(excluded_all) if excluded_all else " (none here)")
        + f". {_interval_note(rows)} Model labels on the series {primary}."
    )
    return _finish(fig, caption, notes + _noisy_note(rows))


@_styled
def time_vs_batch(results: pd.DataFrame) -> Any:
    """Inference time per image vs batch size (Canziani et al. 2016, fig. 2), one panel per setting, one
    line per model; not drawn when no model was measured at two batch sizes."""
    lat = latency_table(results, "time_vs_batch")
    if lat.empty:
        raise ResultsFileError("time_vs_batch: results.csv has no ok latency rows ('median_ms')")
    swept = sweeps(lat)
    if swept.empty:
        raise NotDrawn(
            f"nothing to compare: every model was measured at one batch size ({', '.join(map(str, sorted(set(lat['batch_size']))))}); "
            f"`{RUN_FULL}` sweeps batch 1, 2, 4, ... 64 and draws it"
        )
    fig = _figure(12, 4.6 * math.ceil(swept["setting"].nunique() / 2) + 1.2)
    _batch_panels(fig, swept, "ms_per_image", "median time per image (ms, log scale)", log_y=True,
                  yerr=lambda g: _yerr(g, "ms_per_image", g["batch_size"]), ring_noisy=True)  # fmt: skip
    one = sorted(set(lat["setting"]) - set(swept["setting"]))
    fig.suptitle("Inference time per image vs batch size", fontsize=12)
    notes = _noisy_note(swept) + _sweep_stops(results)
    if one:
        notes.append("not shown, one batch size only: " + ", ".join(one))
    caption = (
        f"Measured on {describe_run(swept)}. Time per image = median time per batch / batch size (results.csv, "
        f"latency task). {_interval_note(swept)}"
    )
    return _finish(fig, caption, notes)


def _sweep_stops(results: pd.DataFrame) -> list[str]:
    if "sweep_stopped" not in results.columns:
        return []
    stops = results[results["sweep_stopped"].fillna("").astype(str).isin(("oom", "cap"))]
    if stops.empty:
        return []
    batch = stops["batch_size"] if "batch_size" in stops.columns else pd.Series("?", index=stops.index)
    return ["sweep stopped: " + ", ".join(
        f"{m} at batch {b if pd.isna(b) else int(b)} ({why})"
        for m, b, why in zip(stops["model"], batch, stops["sweep_stopped"], strict=True)
    )]  # fmt: skip


def _not_charted(results: pd.DataFrame) -> list[str]:
    """Latency rows that did not succeed (failed, out of memory, above tolerance), named by stack."""
    bad = results[(results["task"] == "latency") & (results["status"] != "ok")]
    if bad.empty:
        return []
    bad = _normalised(bad)
    return ["not charted (status not ok): " + ", ".join(
        f"{r.model} {r.stack} batch {r.batch_size} ({r.status})" for r in bad.itertuples(index=False))]  # fmt: skip


@_styled
def backend_comparison(results: pd.DataFrame) -> Any:
    """Median latency per model at the smallest batch, one bar per way of running it: Keras backends,
    exported runtimes (ONNX Runtime, OpenVINO, LiteRT) and torchvision peers (hatched), with error bars;
    not drawn when every model ran one way only."""
    lat = latency_table(results, "backend_comparison")
    if lat.empty:
        raise ResultsFileError("backend_comparison: results.csv has no ok latency rows ('median_ms')")
    bs = int(lat["batch_size"].min())
    d = lat[lat["batch_size"] == bs]
    if d["setting"].nunique() < 2:
        raise NotDrawn(
            f"nothing to compare: one backend/runtime/device measured ({d['setting'].iloc[0]}); "
            f"`{RUN_RUNTIMES}` (runtimes and torchvision peers) or `{RUN_BACKENDS}` draws it"
        )
    ways = d.groupby("model")["setting"].nunique()
    single = sorted(ways[ways < 2].index) if (ways >= 2).any() else []
    d = d[~d["model"].isin(single)]
    table = d.pivot_table(index="model", columns="setting", values="median_ms", aggfunc="median")
    low = d.pivot_table(index="model", columns="setting", values="ci_low_ms", aggfunc="median", dropna=False)
    high = d.pivot_table(
        index="model", columns="setting", values="ci_high_ms", aggfunc="median", dropna=False
    )
    macs = (
        _per_model(results, "macs", "macs")["macs"] if "macs" in results.columns else pd.Series(dtype=float)
    )
    table = table.loc[sorted(table.index, key=lambda m: (macs.get(m, np.inf), m))]
    first = d.drop_duplicates("setting").set_index("setting")
    peer = first["framework"] != "archbench"
    settings = sorted(
        table.columns, key=lambda s: (bool(peer.get(s, False)), first.at[s, "runtime"] != "keras", s)
    )
    fig_width = min(16.0, max(7.5, (0.3 * len(settings) + 0.3) * len(table) + 3.5))
    fig = _figure(fig_width, 5.0 + 0.17 * len(settings))  # the legend above the axes grows by a line per way
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    width = 0.8 / len(settings)
    x = np.arange(len(table))
    for i, s in enumerate(settings):
        y = table[s].to_numpy(dtype=float)
        lo = (
            low.reindex(index=table.index)[s].to_numpy(dtype=float)
            if s in low.columns
            else np.full(len(y), np.nan)
        )
        hi = (
            high.reindex(index=table.index)[s].to_numpy(dtype=float)
            if s in high.columns
            else np.full(len(y), np.nan)
        )
        err = np.vstack(
            [np.nan_to_num(y - lo, nan=0.0).clip(min=0), np.nan_to_num(hi - y, nan=0.0).clip(min=0)]
        )
        bars = ax.bar(x - 0.4 + width * (i + 0.5), y, width, label=s, color=cmap(i % 10), zorder=3,
               hatch="//" if peer.get(s, False) else "", edgecolor="white" if peer.get(s, False) else None,
               yerr=err if np.isfinite(lo).any() else None, error_kw={"elinewidth": 0.8, "capsize": 1.5})  # fmt: skip
        tag_points(ax, x - 0.4 + width * (i + 0.5), y, table.index,
                   [f"{v:.4g} ms per batch" + (f" [{a:.3g}–{b:.3g}]" if np.isfinite(a) and np.isfinite(b) else "")
                    for v, a, b in zip(y, lo, hi, strict=True)], f"measured: {s}, batch {bs} (results.csv)", bars=bars.patches)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xticks(x, table.index, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"median time at batch {bs} (ms, log scale)")
    _plain_log_labels(ax.yaxis)
    ax.set_title(f"Ways to run each model: backends, runtimes and torchvision peers (batch {bs})", fontsize=11)
    ax.grid(axis="x", visible=False)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="outside upper center",
               title="device · stack · precision\n(hatched: torchvision peers)", title_fontsize=7)  # fmt: skip
    caption = (
        f"Measured on {describe_run(d)}. Median time per batch (results.csv, latency task), models ordered by "
        f"MACs; each bar one way of running the same architecture. {_interval_note(d)}"
    )
    one_way = ["measured one way only (not shown): " + ", ".join(single)] if single else []
    return _finish(fig, caption, _noisy_note(d) + _not_charted(results) + one_way)


def fastest_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The fastest way to run this model here: per model, device and batch size, the fastest ok latency
    row with what ran it, its precision and its conformance difference, beside archbench's default
    (the Keras runtime) and the best torchvision peer.

    Columns: ``model, device, batch, fastest (stack), framework, runtime, mode, precision, median (ms),
    95 % CI (ms), max abs diff, tolerance, ways measured, default (ms), default / fastest, torchvision
    best (ms), archbench best / torchvision best``. Empty where there are no latency rows.
    """
    if "median_ms" not in results.columns:
        return pd.DataFrame()
    lat = latency_table(results)
    if lat.empty:
        return pd.DataFrame()
    out = []
    for (model, device, bs), g in lat.groupby(["model", "device", "batch_size"], sort=True):
        g = g.sort_values("median_ms", kind="stable")
        best = g.iloc[0]
        own = g[is_archbench(g)]
        default = own[own["runtime"] == "keras"]
        peers = g[~is_archbench(g)]
        ratio = own["median_ms"].min() / peers["median_ms"].min() if len(own) and len(peers) else np.nan
        out.append({
            "model": model, "device": device, "batch": int(bs), "fastest": best["stack"],
            "framework": best["framework"], "runtime": best["runtime"], "mode": best["mode"],
            "precision": best["precision"], "median (ms)": round(float(best["median_ms"]), 3),
            "95 % CI (ms)": ci_text(best["ci_low_ms"], best["ci_high_ms"]),
            "max abs diff": best.get("max_abs_diff", np.nan), "tolerance": best.get("tolerance", np.nan),
            "ways measured": int(g["setting"].nunique()),
            "default (ms)": round(float(default["median_ms"].min()), 3) if len(default) else np.nan,
            "default / fastest": round(float(default["median_ms"].min() / best["median_ms"]), 2) if len(default) else np.nan,
            "torchvision best (ms)": round(float(peers["median_ms"].min()), 3) if len(peers) else np.nan,
            "archbench best / torchvision best": round(float(ratio), 2) if not np.isnan(ratio) else np.nan,
        })  # fmt: skip
    return pd.DataFrame(out)
