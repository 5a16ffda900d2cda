"""Fully connected vs convolutional layers: the lecture's one-layer comparison, an image-size sweep, and
where each model's parameters are (conv, dense, other).

The formulas are :func:`archbench.lecture.fc_params` and :func:`archbench.lecture.conv_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..lecture import conv_params, fc_params
from ..units import si
from .hover import tag_points
from .layers import _layer_kind
from .plotting import _figure, _finish, _styled
from .tables import _num, _per_model


def _param_split(results: pd.DataFrame | None, layers: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame:
    """Per model: parameters in conv layers, in dense layers, and in the rest (batch norm, LRN ...)."""
    rows = {}
    if results is not None and {"params_conv", "params_dense"} <= set(results.columns):
        per = _per_model(results, "macs", "params_conv")
        for name, r in per.iterrows():
            total = _num(r.get("params_paper")) or _num(r.get("params_total"))
            conv, dense = float(r["params_conv"]), float(_num(r["params_dense"]) or 0.0)
            rows[name] = {
                "conv": conv,
                "dense": dense,
                "other": max((total or conv + dense) - conv - dense, 0.0),
            }
    for name, df in (layers or {}).items():
        if name in rows or "type" not in df.columns:
            continue
        kinds = df["type"].map(_layer_kind)
        sums = pd.to_numeric(df["params"], errors="coerce").fillna(0).groupby(kinds).sum()
        rows[name] = {k: float(sums.get(k, 0.0)) for k in ("conv", "dense", "other")}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["conv", "dense", "other"])


@_styled
def fc_vs_conv(
    results: pd.DataFrame | None = None,
    models: pd.DataFrame | None = None,
    layers: Mapping[str, pd.DataFrame] | None = None,
    *,
    image: int = 512,
    units: int = 64,
    kernel: int = 7,
    filters: int = 64,
    channels: int = 1,
) -> Any:
    """The lecture's fully connected vs convolutional comparison, a sweep over image sizes, and (from
    ``params_conv``/``params_dense`` in results.csv or per-layer tables) each model's parameter split."""
    fc = fc_params(image, image, channels, units)
    conv = conv_params(kernel, channels, filters)
    split = _param_split(results, layers)
    notes = []
    fig = _figure(13, max(4.8, 0.28 * len(split) + 2.2))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1.2, 1.5])
    a = fig.add_subplot(gs[0])
    b = fig.add_subplot(gs[1])
    c = fig.add_subplot(gs[2])

    labels = [
        f"dense, {units} units\non {image}×{image}×{channels}",
        f"{kernel}×{kernel} conv,\n{filters} filters",
    ]
    bars = a.bar(labels, [fc, conv], color=["tab:red", "tab:blue"], zorder=3)
    formula = "archbench.lecture (conv_params, fc_params)"
    tag_points(a, [0, 1], [fc, conv], [lab.replace("\n", " ") for lab in labels], [f"{fc:,} parameters", f"{conv:,} parameters"],
               formula, bars=bars.patches)  # fmt: skip
    a.set_yscale("log")
    a.set_ylim(1e2, fc * 8)
    ch = "" if channels == 1 else f"·{channels}"
    for bar, v, f in zip(
        bars, [fc, conv], [f"({image}²{ch}+1)·{units}", f"({kernel}²{ch}+1)·{filters}"], strict=True
    ):
        a.text(
            bar.get_x() + bar.get_width() / 2, v * 1.3, f"{v:,}\n{f}", ha="center", va="bottom", fontsize=8
        )
    a.set_ylabel("trainable parameters (log scale)")
    a.set_title(f"One layer on a {image}×{image} image")
    a.grid(axis="x", visible=False)

    sizes = np.array(sorted({8, 16, 32, 64, 128, 256, 512, 1024, 2048, image}))
    dense = [fc_params(s, s, channels, units) for s in sizes]
    tag_points(b, sizes, dense, [f"dense, {units} units"] * len(sizes),
               [f"{p:,} parameters on {s}×{s}" for s, p in zip(sizes, dense, strict=True)], formula)  # fmt: skip
    tag_points(b, sizes, [conv_params(kernel, channels, filters)] * len(sizes), [f"{kernel}×{kernel} conv"] * len(sizes),
               [f"{conv_params(kernel, channels, filters):,} parameters on {s}×{s}" for s in sizes], formula)  # fmt: skip
    b.plot(
        sizes,
        dense,
        "o-",
        color="tab:red",
        label=f"dense, {units} units",
    )
    b.plot(
        sizes,
        [conv_params(kernel, channels, filters)] * len(sizes),
        "s-",
        color="tab:blue",
        label=f"{kernel}×{kernel} conv, {filters} filters",
    )
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xticks(sizes, [str(s) for s in sizes], fontsize=7)
    b.axvline(image, color="0.5", ls=":", lw=1)
    b.set_xlabel("image side (pixels, log scale)")
    b.set_ylabel("parameters (log scale)")
    b.set_title("Image size sweep")
    b.legend(loc="upper left")

    if split.empty:
        c.set_axis_off()
        c.text(0.5, 0.5, "per-model split not available:\nneeds 'params_conv'/'params_dense' in results.csv\n"
               "(macs task) or layers/<model>.csv tables", ha="center", va="center", fontsize=9, transform=c.transAxes)  # fmt: skip
        notes.append("per-model split skipped: no params_conv/params_dense columns and no per-layer tables")
    else:
        meta = models.drop_duplicates("model").set_index("model") if models is not None else pd.DataFrame()
        order = sorted(
            split.index,
            key=lambda m: (
                _num(meta.at[m, "year"]) if "year" in meta.columns and m in meta.index else 9999,
                m,
            ),
        )
        split = split.loc[order]
        share = split.div(split.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) * 100
        names = [
            str(meta.at[m, "display_name"]) if "display_name" in meta.columns and m in meta.index else m
            for m in order
        ]
        y = np.arange(len(share))
        left = np.zeros(len(share))
        for kind, colour in (("conv", "tab:blue"), ("dense", "tab:red"), ("other", "0.7")):
            c.barh(
                y,
                share[kind],
                left=left,
                color=colour,
                height=0.7,
                label={"conv": "convolution", "dense": "fully connected", "other": "other (BN, ...)"}[kind],
                zorder=3,
            )
            tag_points(c, left + share[kind].to_numpy() / 2, y, names,
                       [f"{kind}: {p:.1f} % of the parameters ({si(n)})" for p, n in zip(share[kind], split[kind], strict=True)],
                       "archbench's counts (results.csv or layers/<model>.csv)")  # fmt: skip
            left += share[kind].to_numpy()
        for yi, (m, r) in zip(y, share.iterrows(), strict=True):
            c.text(101, yi, f"{r['dense']:.0f} % FC · {si(split.loc[m].sum())}", va="center", fontsize=7)
        c.set_yticks(y, names, fontsize=8)
        c.set_xlim(0, 135)
        c.set_ylim(len(share) - 0.5 + max(0, 3 - len(share)) * 0.5, -0.5 - max(0, 3 - len(share)) * 0.5)
        c.set_xticks([0, 25, 50, 75, 100])
        c.set_xlabel("share of parameters (%)")
        c.set_title("Where each model's parameters are")
        c.legend(loc="upper center", bbox_to_anchor=(0.4, -0.12), ncols=3, fontsize=7.5, frameon=False)
        c.grid(axis="y", visible=False)
    fig.suptitle("Fully connected vs convolutional layers: parameters", fontsize=12)
    caption = (
        f"Left and middle: computed here from the formulas (H·W·C+1)·units and (k²·C+1)·filters "
        f"(lecture 4: ({image}²+1)·{units} = {fc:,} vs ({kernel}²+1)·{filters} = {conv:,}). "
        "Right: parameters per layer kind from archbench's counts."
    )
    return _finish(fig, caption, notes)
