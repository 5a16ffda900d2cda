"""Receptive fields through a TensorFlow graph (see :mod:`._field`): windows of convolutions and
pooling by their attributes, padding, slicing, space-to-batch (dilated convolutions), transposes,
reshapes and reductions, for the walker of :mod:`._tf`."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _field
from ._common import Shape, Value
from ._handles import TF_ELEMENTWISE, TF_REDUCTION, TF_TRANSCENDENTAL
from ._handles import tf_shape as _shape

__all__ = ["receptive_field"]

_SAME_FIELD = frozenset(
    "Identity IdentityN Cast StopGradient PreventGradient Snapshot EnsureShape CheckNumerics AddN".split()
)
_WINDOWS = frozenset(
    ("Conv2D", "Conv3D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D")
)


def receptive_field(op: Any, vals: list[Value], shape: Shape) -> _field.Field | None:
    """The receptive field of a data result (see :mod:`._field`); None where it ends."""
    kind, rank = op.type, len(shape)
    data = [(i, v) for i, v in enumerate(vals) if v.data]
    if not data:
        return None
    if kind in TF_ELEMENTWISE or kind in TF_TRANSCENDENTAL or kind in _SAME_FIELD:
        fields = []
        for _, v in data:
            if v.rf is None or len(v.rf) > rank:
                return None
            fields.append((None,) * (rank - len(v.rf)) + v.rf)
        return _field.merge(fields, rank)
    first, operand = data[0]
    rf, in_shape = operand.rf, _shape(op.inputs[first])
    if rf is None or in_shape is None:
        return None
    consts = [v.const for v in vals]
    attrs = op.node_def.attr
    channels_first = "data_format" in attrs and attrs["data_format"].s.decode().startswith("NC")
    spatial = list(range(2, rank)) if channels_first else list(range(1, rank - 1))
    if kind in _WINDOWS or kind == "Conv2DBackpropInput":
        if len(data) > 1 or (kind == "Conv2DBackpropInput") != (first == 2):
            return None
        if kind.startswith(("Max", "Avg")):
            kernel = [op.get_attr("ksize")[a] for a in spatial]
        else:
            kernel = list(_shape(op.inputs[1])[: rank - 2])
        strides = [op.get_attr("strides")[a] for a in spatial]
        dilation = (
            [op.get_attr("dilations")[a] for a in spatial] if "dilations" in attrs else [1] * len(spatial)
        )
        padding = op.get_attr("padding").decode()
        if kind == "Conv2DBackpropInput":
            return _field.window(
                rf, spatial, spatial, rank, kernel, strides, dilation, [0] * len(spatial), upsample=strides
            )
        if padding == "EXPLICIT":
            before = [op.get_attr("explicit_paddings")[2 * a] for a in spatial]
        elif padding == "SAME":
            before = [
                _field.same_before(in_shape[a], k, s, d)
                for a, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
            ]
        else:
            before = [0] * len(spatial)
        return _field.window(rf, spatial, spatial, rank, kernel, strides, dilation, before)
    if kind in ("SpaceToBatchND", "BatchToSpaceND") and consts[1] is not None and consts[2] is not None:
        block, pads = [int(b) for b in consts[1]], [int(p[0]) for p in consts[2]]
        out = list(rf)
        for a, (b, p) in enumerate(zip(block, pads, strict=True), start=1):
            if out[a] is not None:
                size, jump, start = out[a]
                out[a] = (
                    (size, jump * b, start - p * jump)
                    if kind == "SpaceToBatchND"
                    else (size, jump / b, start + p * jump / b)
                )
        return tuple(out)
    if kind in ("Pad", "PadV2", "MirrorPad") and consts[1] is not None:
        return _field.shift(rf, [-int(p[0]) for p in consts[1]])
    if kind == "Slice" and consts[1] is not None:
        return _field.shift(rf, [int(b) for b in consts[1]])
    if kind == "StridedSlice":
        return _strided_slice(op, rf, in_shape, consts)
    if kind == "Transpose" and consts[1] is not None:
        return _field.permute(rf, [int(i) for i in consts[1]])
    if kind in ("Reshape", "ExpandDims", "Squeeze"):
        return _field.reshape(rf, in_shape, shape)
    if kind in TF_REDUCTION or kind == "Mean":
        if consts[1] is None:
            return None
        axes = {int(a) % len(in_shape) for a in np.atleast_1d(consts[1])}
        keep = "keep_dims" in attrs and op.get_attr("keep_dims")
        kept = (
            [None if i in axes else i for i in range(len(in_shape))]
            if keep
            else [i for i in range(len(in_shape)) if i not in axes]
        )
        return _field.pick(rf, kept)
    if kind == "ConcatV2" and consts[-1] is not None:
        axis = int(consts[-1]) % rank
        fields = [v.rf for _, v in data]
        if len(data) != len(vals) - 1 or any(f is None or f[axis] is not None for f in fields):
            return None
        return _field.merge(fields, rank)
    return None


def _strided_slice(op: Any, rf: _field.Field, in_shape: Shape, consts: list[Any]) -> _field.Field | None:
    """Begin and stride per axis of a ``StridedSlice`` without new or shrunk axes (``x[..., a:b]``)."""
    if any(op.get_attr(m) for m in ("new_axis_mask", "shrink_axis_mask")) or any(
        c is None for c in consts[1:4]
    ):
        return None
    begin, strides = [int(b) for b in consts[1]], [int(s) for s in consts[3]]
    ellipsis, begin_mask = op.get_attr("ellipsis_mask"), op.get_attr("begin_mask")
    rank, n = len(in_shape), len(begin)
    offsets, steps = [0] * rank, [1] * rank
    for i in range(n):
        if ellipsis & (1 << i):
            continue
        after = ellipsis and i > (ellipsis.bit_length() - 1)
        axis = rank - (n - i) if after else i
        if strides[i] < 1:
            return None
        offsets[axis] = 0 if begin_mask & (1 << i) else begin[i] % in_shape[axis]
        steps[axis] = strides[i]
    return _field.shift(rf, offsets, steps)
