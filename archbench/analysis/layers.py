"""The per-layer figure: MACs and parameters of each weight layer of one model, in network order."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ResultsFileError
from .hover import tag_points
from .load import LAYER_ALIASES, LAYERS_REQUIRED, _require
from .plotting import _figure, _finish, _styled


def _layer_kind(layer_type: str) -> str:
    t = str(layer_type).lower()
    if "conv" in t:
        return "conv"
    if "dense" in t:
        return "dense"
    return "other"


@_styled
def per_layer(layers: pd.DataFrame, model: str | None = None, *, max_names: int = 40) -> Any:
    """MACs and parameters of each weight layer of one model, in network order (where the cost is)."""
    df = layers.rename(
        columns={k: v for k, v in LAYER_ALIASES.items() if k in layers.columns and v not in layers.columns}
    )
    _require(df, LAYERS_REQUIRED, "the per-layer table", "per_layer")
    df = df.assign(macs=pd.to_numeric(df["macs"], errors="coerce").fillna(0),
                   params=pd.to_numeric(df["params"], errors="coerce").fillna(0))  # fmt: skip
    kinds = df["type"].map(_layer_kind) if "type" in df.columns else pd.Series("other", index=df.index)
    df = df.assign(kind=kinds)
    w = df[(df["macs"] > 0) | ((df["params"] > 0) & (df["kind"] != "other"))].reset_index(drop=True)
    if w.empty:
        raise ResultsFileError("per_layer: the per-layer table has no layer with MACs or parameters")
    rest = df[(df["macs"] == 0) & (df["params"] > 0) & (df["kind"] == "other")]
    fig = _figure(max(8.0, min(16.0, 0.22 * len(w) + 4)), 6.5)
    top = fig.add_subplot(2, 1, 1)
    bottom = fig.add_subplot(2, 1, 2, sharex=top)
    colours = {"conv": "tab:blue", "dense": "tab:red", "other": "0.6"}
    x = np.arange(len(w))
    for ax, col, label in ((top, "macs", "M-MACs per image"), (bottom, "params", "parameters (millions)")):
        bars = ax.bar(x, w[col] / 1e6, color=[colours[k] for k in w["kind"]], width=0.85, zorder=3)
        tag_points(ax, x, w[col] / 1e6, w["name"], [f"{v / 1e6:,.3f} {label} ({k})" for v, k in zip(w[col], w["kind"], strict=True)],
                   f"archbench's count, layers/{model or 'model'}.csv", bars=bars.patches)  # fmt: skip
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
    if len(w) <= max_names:
        bottom.set_xticks(x, w["name"], rotation=90, fontsize=7)
    else:
        step = math.ceil(len(w) / max_names)
        bottom.set_xticks(x[::step], w["name"][::step], rotation=90, fontsize=6.5)
    top.tick_params(labelbottom=False)
    from matplotlib.patches import Patch

    present = [k for k in ("conv", "dense", "other") if (w["kind"] == k).any()]
    top.legend(handles=[Patch(color=colours[k], label={"conv": "convolution", "dense": "dense", "other": "other"}[k]) for k in present],
               loc="upper right", fontsize=7.5)  # fmt: skip
    name = model or "model"
    total_macs, total_params = df["macs"].sum(), df["params"].sum()
    top.set_title(f"{name}: MACs and parameters per layer ({len(w)} layers with MACs)")
    big_m = w.nlargest(1, "macs").iloc[0]
    big_p = w.nlargest(1, "params").iloc[0]
    dense_share = 100 * w.loc[w["kind"] == "dense", "params"].sum() / total_params if total_params else 0
    caption = (
        f"Totals: {total_macs / 1e9:.3f} G-MACs, {int(total_params):,} parameters (all weights) "
        f"({dense_share:.0f} % in dense layers). Largest: {big_m['name']} with {100 * big_m['macs'] / total_macs:.0f} % "
        f"of the MACs, {big_p['name']} with {100 * big_p['params'] / total_params:.0f} % of the parameters. "
        "From archbench's per-layer count (archbench summary MODEL --format csv)."
        if total_macs and total_params
        else "From archbench's per-layer count (archbench summary MODEL --format csv)."
    )
    notes = []
    if not rest.empty:
        notes.append(
            f"not drawn: {len(rest)} layers with parameters but no MACs ({', '.join(sorted(set(rest.get('type', ['other']))))}), "
            f"{int(rest['params'].sum()):,} parameters in all"
        )
    return _finish(fig, caption, notes)
