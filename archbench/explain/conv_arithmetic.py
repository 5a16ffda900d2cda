"""``conv-arithmetic``: output size and receptive field of stacked convolutions, and parameters and
multiply-adds of the convolution variants for the same input and output channels."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..catalog import format_table
from ..errors import UsageError
from ._common import grouped, positive

__all__ = ["ConvArithmetic", "ConvStep", "ConvVariant", "conv_arithmetic", "format_conv_arithmetic"]


@dataclass(frozen=True)
class ConvStep:
    """After ``layer`` stacked convolutions: output side, receptive field and jump (input pixels)."""

    layer: int
    output_size: int
    receptive_field: int
    jump: int


@dataclass(frozen=True)
class ConvVariant:
    """One convolution variant from ``C_in`` to ``C_out`` channels, counted on a one-block model."""

    name: str
    layers: str
    output_shape: tuple[int, ...]
    params: int
    nonzero_params: int
    macs: int
    receptive_field: int


@dataclass(frozen=True)
class ConvArithmetic:
    input_size: int
    kernel: int
    stride: int
    padding: str | int
    dilation: int
    in_channels: int
    out_channels: int
    steps: tuple[ConvStep, ...]
    variants: tuple[ConvVariant, ...]


def _parse_padding(padding) -> str | int:
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        value = int(padding)
    else:
        text = str(padding).strip().lower()
        if text in ("valid", "same"):
            return text
        try:
            value = int(text)
        except ValueError:
            raise UsageError(
                f"padding must be 'valid', 'same' or a number of pixels, got {padding!r}"
            ) from None
    if value < 0:
        raise UsageError(f"padding must be >= 0, got {value}")
    return value


def _conv_variants(size, kernel, stride, padding, dilation, cin, cout, groups, bottleneck, sparsity):
    """``(name, description, [layers])`` of each variant."""
    from ..layers import DeformableConv2D, SparseConv2D, SpatiallySeparableConv2D

    L = keras.layers
    pad = "valid" if isinstance(padding, int) else padding
    common = dict(strides=stride, padding=pad, dilation_rate=dilation)
    k = f"{kernel}x{kernel}"
    dil = f", dilation {dilation}" if dilation > 1 else ""
    wide = 2 if dilation == 1 else dilation
    return [
        ("standard", f"Conv2D {k}{dil}", _padded(padding, L.Conv2D(cout, kernel, **common))),
        (
            "depthwise-separable",
            f"DepthwiseConv2D {k} + Conv2D 1x1",
            _padded(padding, L.SeparableConv2D(cout, kernel, **common)),
        ),
        (
            "grouped",
            f"Conv2D {k}, {groups} groups",
            _padded(padding, L.Conv2D(cout, kernel, groups=groups, **common)),
        ),
        (
            "spatially separable",
            f"{kernel}x1 then 1x{kernel}",
            _padded(padding, SpatiallySeparableConv2D(cout, kernel, **common)),
        ),
        (
            "1x1 bottleneck",
            f"Conv2D 1x1 to {bottleneck} + Conv2D {k}",
            [L.Conv2D(bottleneck, 1), *_padded(padding, L.Conv2D(cout, kernel, **common))],
        ),
        (
            "dilated",
            f"Conv2D {k}, dilation {wide}, stride 1",
            _padded(padding, L.Conv2D(cout, kernel, padding=pad, dilation_rate=wide)),
        ),
        (
            "sparse",
            f"SparseConv2D {k}, {sparsity:.0%} zeros",
            _padded(padding, SparseConv2D(cout, kernel, sparsity=sparsity, **common)),
        ),
        (
            "deformable",
            f"DeformableConv2D {k} (+ offset conv)",
            _padded(padding, DeformableConv2D(cout, kernel, **common)),
        ),
    ]


def _padded(padding, layer) -> list:
    """``[layer]``, preceded by a ZeroPadding2D for a padding given in pixels."""
    if isinstance(padding, int) and padding > 0:
        return [keras.layers.ZeroPadding2D(padding), layer]
    return [layer]


def _model_of(layers, size: int, channels: int) -> keras.Model:
    inputs = keras.Input((size, size, channels))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def conv_arithmetic(
    input_size: int = 32,
    kernel: int = 3,
    stride: int = 1,
    padding: str | int = "valid",
    dilation: int = 1,
    layers: int = 3,
    in_channels: int = 64,
    out_channels: int = 64,
    groups: int = 4,
    bottleneck: int | None = None,
    sparsity: float = 0.5,
) -> ConvArithmetic:
    """Output size and receptive field of ``layers`` stacked convolutions, and the variants side by side.

    Everything is counted by :func:`archbench.counting.count` on tiny Keras models: the stack of
    ``layers`` one-channel convolutions for sizes and receptive fields, and one model per variant
    (``input_size^2 x in_channels`` to ``out_channels``) for parameters and multiply-adds. The 1x1
    bottleneck reduces to ``bottleneck`` channels (default ``in_channels // 4``); the dilated variant
    uses dilation 2 (or the given one) at stride 1.
    """
    from ..counting import conv_output_size, count
    from ..params import count_params

    size = positive(input_size, "the input size (--input-size)")
    kernel = positive(kernel, "the kernel size (--kernel)")
    stride = positive(stride, "the stride (--stride)")
    dilation = positive(dilation, "the dilation (--dilation)")
    layers = positive(layers, "the number of layers (--layers)")
    cin = positive(in_channels, "--in-channels")
    cout = positive(out_channels, "--out-channels")
    groups = positive(groups, "--groups")
    bottleneck = max(cin // 4, 1) if bottleneck is None else positive(bottleneck, "--bottleneck")
    padding = _parse_padding(padding)
    if not 0.0 <= float(sparsity) < 1.0:
        raise UsageError(f"--sparsity must be in [0, 1), got {sparsity}")
    if stride > 1 and dilation > 1:
        raise UsageError("Keras convolutions do not support a stride > 1 together with a dilation > 1")
    if cin % groups or cout % groups:
        raise UsageError(f"--groups {groups} must divide both --in-channels {cin} and --out-channels {cout}")
    if layers > 50:
        raise UsageError(f"--layers must be at most 50, got {layers}")
    conv_output_size(size, kernel, stride, padding, dilation)  # raises if the window does not fit

    steps = []
    stack_layers = []
    n = size
    for i in range(1, layers + 1):
        try:
            n = conv_output_size(n, kernel, stride, padding, dilation)
        except UsageError:
            raise UsageError(
                f"layer {i} of {layers}: a {kernel} x {kernel} window no longer fits the "
                f"{n} x {n} map; use fewer --layers"
            ) from None
        stack_layers += _padded(
            padding,
            keras.layers.Conv2D(
                1,
                kernel,
                strides=stride,
                dilation_rate=dilation,
                padding="valid" if isinstance(padding, int) else padding,
            ),
        )
    stack = count(_model_of(stack_layers, size, 1))
    conv_records = [r for r in stack.layers if r.class_name == "Conv2D"]
    for i, r in enumerate(conv_records, 1):
        rf = r.receptive_field
        steps.append(
            ConvStep(
                layer=i,
                output_size=int(r.output_shape[0]),
                receptive_field=int(rf.size[0]),
                jump=int(rf.jump[0]),
            )
        )

    variants = []
    for name, description, blocks in _conv_variants(
        size, kernel, stride, padding, dilation, cin, cout, groups, bottleneck, float(sparsity)
    ):
        model = _model_of(blocks, size, cin)
        c = count(model)
        if c.uncounted:
            raise UsageError(f"variant {name}: layers without a counting rule: {', '.join(c.uncounted)}")
        nonzero = count_params(model).total
        for block in blocks:
            if hasattr(block, "nonzero_weights"):
                nonzero -= int(np.prod(block.kernel.shape)) - block.nonzero_weights
        variants.append(
            ConvVariant(
                name=name,
                layers=description,
                output_shape=tuple(int(d) for d in model.output_shape[1:]),
                params=count_params(model).total,
                nonzero_params=nonzero,
                macs=c.macs,
                receptive_field=int(c.receptive_field.size[0]) if c.receptive_field else 0,
            )
        )
    return ConvArithmetic(
        input_size=size,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        in_channels=cin,
        out_channels=cout,
        steps=tuple(steps),
        variants=tuple(variants),
    )


def format_conv_arithmetic(r: ConvArithmetic) -> str:
    k_eff = r.dilation * (r.kernel - 1) + 1
    pad = r.padding if isinstance(r.padding, str) else f"{r.padding} px"
    lines = [
        f"kernel {r.kernel}, stride {r.stride}, padding {pad}, dilation {r.dilation} "
        f"(effective kernel {k_eff}) on a {r.input_size} x {r.input_size} input",
        "  output = floor((n + 2p - d(k-1) - 1) / s) + 1 ('same': ceil(n / s));  "
        "field += (k_eff - 1) * jump, jump *= s",
        "",
    ]
    lines += [
        "  " + s
        for s in format_table(
            ["layer", "output", "receptive field", "jump"],
            [
                [
                    str(s.layer),
                    f"{s.output_size} x {s.output_size}",
                    f"{s.receptive_field} x {s.receptive_field}",
                    str(s.jump),
                ]
                for s in r.steps
            ],
            right={0, 3},
        ).split("\n")
    ]
    standard = r.variants[0].macs
    rows = []
    for v in r.variants:
        params = grouped(v.params)
        if v.nonzero_params != v.params:
            params += f" ({grouped(v.nonzero_params)} non-zero)"
        rows.append(
            [
                v.name,
                v.layers,
                " x ".join(str(d) for d in v.output_shape),
                params,
                grouped(v.macs),
                f"{v.macs / standard:.2f}",
                str(v.receptive_field),
            ]
        )
    lines += [
        "",
        f"one block, {r.input_size} x {r.input_size} x {r.in_channels} -> {r.out_channels} channels "
        "(counted by archbench.counting.count; MACs = multiply-adds per image):",
    ]
    lines += [
        "  " + s
        for s in format_table(
            ["variant", "layers", "output", "params", "MACs", "MACs/standard", "field"],
            rows,
            right={3, 4, 5, 6},
        ).split("\n")
    ]
    return "\n".join(lines)
