"""Receptive field propagation through one layer call (the arithmetic is in the package docstring).

A field is ``((size, jump, start), ...)`` per spatial axis, in exact fractions; :func:`rf_public`
turns it into a :class:`~archbench.counting.records.ReceptiveField`.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from typing import Any

import keras

from ..errors import UsageError
from .formulas import as_tuple, conv_output_size, same_padding
from .records import ReceptiveField
from .rules import Shape, split_channels

__all__ = ["RF", "rf_public", "rf_step"]

RF = tuple[tuple[Fraction, Fraction, Fraction], ...]


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def rf_public(rf: RF | None) -> ReceptiveField | None:
    """The public record of a field (exact integers stay integers)."""
    if rf is None:
        return None
    return ReceptiveField(
        size=tuple(_number(s) for s, _, _ in rf),
        jump=tuple(_number(j) for _, j, _ in rf),
        start=tuple(_number(st) for _, _, st in rf),
    )


def _rf_merge(rfs: list[RF]) -> RF:
    """Where branches meet, keep the largest field (and its geometry) on each axis."""
    return tuple(max(axis, key=lambda t: (t[0], t[1])) for axis in zip(*rfs, strict=True))


def rf_step(op: Any, values: list[Any], out_shapes: list[Shape], spatial_rank: int) -> RF | None:
    """The field after ``op``, from its inputs' (``values``: each with ``.rf`` and ``.shape``), or None."""
    known = [v.rf for v in values if v.rf is not None]
    if not known or spatial_rank < 1 or len(known) != len(values):
        return None
    if any(len(s) != spatial_rank + 1 for s in out_shapes):
        return None  # flattened or globally pooled: no longer a spatial map
    rf = _rf_merge(known)
    in_spatial, _ = split_channels(values[0].shape, op)
    out_spatial, _ = split_channels(out_shapes[0], op)
    if isinstance(
        op, keras.layers.Conv1DTranspose | keras.layers.Conv2DTranspose | keras.layers.Conv3DTranspose
    ):
        kernel = as_tuple(op.kernel_size, spatial_rank)
        strides = as_tuple(op.strides, spatial_rank)
        dil = as_tuple(op.dilation_rate, spatial_rank)
        new = []
        for (size, jump, start), k, s, d in zip(rf, kernel, strides, dil, strict=True):
            taps = ceil((d * (k - 1) + 1) / s)
            new.append((size + (taps - 1) * jump, jump / s, start))
        return tuple(new)
    window = _window(op, in_spatial, out_spatial)
    if window is not None:
        new = []
        for (size, jump, start), (k_eff, s, before) in zip(rf, window, strict=True):
            new.append(
                (size + (k_eff - 1) * jump, jump * s, start + (Fraction(k_eff - 1, 2) - before) * jump)
            )
        return tuple(new)
    if isinstance(op, keras.layers.ZeroPadding1D | keras.layers.ZeroPadding2D | keras.layers.ZeroPadding3D):
        pads = [p[0] for p in _pad_pairs(op.padding, spatial_rank)]
        return tuple((sz, j, st - p * j) for (sz, j, st), p in zip(rf, pads, strict=True))
    if isinstance(op, keras.layers.Cropping1D | keras.layers.Cropping2D | keras.layers.Cropping3D):
        crops = [c[0] for c in _pad_pairs(op.cropping, spatial_rank)]
        return tuple((sz, j, st + c * j) for (sz, j, st), c in zip(rf, crops, strict=True))
    if isinstance(op, keras.layers.UpSampling1D | keras.layers.UpSampling2D | keras.layers.UpSampling3D):
        factors = as_tuple(op.size, spatial_rank)
        return tuple((sz, j / f, st) for (sz, j, st), f in zip(rf, factors, strict=True))
    if tuple(out_spatial) == tuple(in_spatial):
        return rf  # element-wise, channel-wise or per-position (1 x 1) operations
    return None


def _window(op: Any, in_spatial: Shape, out_spatial: Shape) -> list[tuple[int, int, int]] | None:
    """``(effective kernel, stride, padding before)`` per axis of a sliding-window layer, or None.

    Read from the attributes Keras' convolution and pooling layers share (``kernel_size`` or
    ``pool_size``, ``strides``, ``padding``, ``dilation_rate``; a project layer with the same attributes
    gets the same treatment, a missing ``strides`` meaning 1 for kernels and the window for pools) and
    used only if it reproduces the layer's output size.
    """
    kernel = getattr(op, "kernel_size", None)
    default_stride = 1
    if kernel is None:
        kernel = default_stride = getattr(op, "pool_size", None)
    if kernel is None:
        return None
    padding = getattr(op, "padding", "valid")
    n = len(in_spatial)
    try:
        kernel = as_tuple(kernel, n)
        strides = as_tuple(getattr(op, "strides", None) or default_stride, n)
        dilation = as_tuple(getattr(op, "dilation_rate", 1), n)
        expected = tuple(
            conv_output_size(int(size), k, s, padding, d)
            for size, k, s, d in zip(in_spatial, kernel, strides, dilation, strict=True)
        )
    except (UsageError, TypeError, ValueError):
        return None
    if expected != tuple(out_spatial):
        return None
    out = []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilation, strict=True):
        k_eff = d * (k - 1) + 1
        if padding == "same":
            before = same_padding(int(size), k, s, d)[0]
        elif padding == "causal":
            before = k_eff - 1
        elif isinstance(padding, int):
            before = padding
        elif isinstance(padding, tuple | list):
            before = int(padding[0])
        else:
            before = 0
        out.append((k_eff, s, before))
    return out


def _pad_pairs(padding: Any, n: int) -> list[tuple[int, int]]:
    """Keras' padding/cropping attribute as ``(before, after)`` per spatial axis."""
    if isinstance(padding, int):
        return [(padding, padding)] * n
    if n == 1 and all(isinstance(p, int) for p in padding):
        return [(int(padding[0]), int(padding[1]))]
    return [(p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in padding]
