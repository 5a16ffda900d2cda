"""The lecture's worked examples, computed by Keras layers and the counter rather than typed in.

Each topic has a function returning a frozen record (the data) and a ``format_*`` function turning it
into the text that ``archbench explain TOPIC`` prints; :func:`explain` dispatches by topic name.

- ``pooling``: max and average pooling of a matrix (the lecture's 5 x 5 example by default) and where
  the gradient of the outputs flows in the backward pass, from the backend's autodiff.
- ``fc-vs-conv``: weights of a fully connected layer on a whole image vs a convolution, ``(H W C + 1) F``
  vs ``(k^2 C + 1) F``, from built Keras layers and from the closed form.
- ``conv-arithmetic``: output size and receptive field of stacked convolutions, and parameters and
  multiply-adds of the convolution variants for the same input and output channels.
- ``gap``: a Flatten + Dense head breaks on a larger input; a global-average-pooling head does not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from .errors import UsageError

__all__ = [
    "LECTURE_POOLING_INPUT",
    "TOPICS",
    "ConvArithmetic",
    "ConvStep",
    "ConvVariant",
    "FcVsConv",
    "GapExample",
    "PoolingExample",
    "conv_arithmetic",
    "explain",
    "fc_vs_conv",
    "format_conv_arithmetic",
    "format_fc_vs_conv",
    "format_gap",
    "format_pooling",
    "gap_example",
    "input_gradient",
    "parse_matrix",
    "pooling_example",
]

LECTURE_POOLING_INPUT = (
    (3, 3, 2, 1, 0),
    (0, 0, 1, 3, 1),
    (3, 1, 2, 2, 3),
    (2, 0, 0, 2, 2),
    (2, 0, 0, 0, 1),
)


def _positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _grouped(n: int) -> str:
    return f"{n:,}"


def _matrix_lines(m: np.ndarray, indent: str = "  ") -> list[str]:
    cells = [[f"{v:.2f}" for v in row] for row in np.asarray(m, dtype=np.float64)]
    width = max(len(c) for row in cells for c in row)
    return [indent + "  ".join(c.rjust(width) for c in row) for row in cells]


# --------------------------------------------------------------------------------------------------
# Autodiff on whatever backend Keras runs.


def input_gradient(fn: Callable, x) -> np.ndarray:
    """``d sum(fn(x)) / dx`` as a NumPy array, with the active backend's autodiff.

    TensorFlow: ``GradientTape``; JAX: ``jax.grad``; PyTorch: ``autograd``. ``fn`` maps a backend
    tensor to a backend tensor (e.g. a Keras layer).
    """
    x = np.asarray(x, dtype="float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            total = tf.reduce_sum(fn(t))
        return np.asarray(tape.gradient(total, t))
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: jax.numpy.sum(fn(t)))(jax.numpy.asarray(x)))
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        torch.sum(fn(t)).backward()
        return t.grad.detach().cpu().numpy()
    raise UsageError(f"no autodiff helper for the {backend!r} backend")


# --------------------------------------------------------------------------------------------------
# pooling


def parse_matrix(text: str) -> np.ndarray:
    """A matrix from ``"3,3,2;0,0,1"`` (rows split by ``;``, values by ``,``) or JSON ``[[3,3,2],[0,0,1]]``."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("empty matrix: give rows like '3,3,2;0,0,1' or JSON like '[[3,3,2],[0,0,1]]'")
    text = text.strip()
    if text.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"the matrix is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise UsageError("a JSON matrix must be a non-empty list of rows, e.g. [[3,3,2],[0,0,1]]")
    else:
        rows = [row.split(",") for row in text.split(";")]
    values: list[list[float]] = []
    for i, row in enumerate(rows, 1):
        parsed = []
        for cell in row:
            if isinstance(cell, bool):
                raise UsageError(f"{json.dumps(cell)} in row {i} is not a number")
            try:
                v = float(cell.strip()) if isinstance(cell, str) else float(cell)
            except (TypeError, ValueError):
                shown = cell.strip() if isinstance(cell, str) else json.dumps(cell)
                raise UsageError(f"{shown!r} in row {i} is not a number") from None
            if not math.isfinite(v):
                raise UsageError(f"{cell!r} in row {i} is not a finite number")
            parsed.append(v)
        if not parsed:
            raise UsageError(f"row {i} is empty")
        values.append(parsed)
    widths = {len(r) for r in values}
    if len(widths) > 1:
        bad = next(i for i, r in enumerate(values, 1) if len(r) != len(values[0]))
        n_bad, n_first = len(values[bad - 1]), len(values[0])
        raise UsageError(
            f"ragged matrix: row {bad} has {n_bad} value{'s' * (n_bad != 1)}, row 1 has {n_first}; "
            "every row needs as many values"
        )
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class PoolingExample:
    """Max and average pooling of ``input`` and the gradients of ``sum(outputs)`` w.r.t. ``input``.

    ``max_routes`` maps each output position to the input position its gradient goes to.
    """

    input: np.ndarray
    pool: int
    stride: int
    max: np.ndarray
    avg: np.ndarray
    max_grad: np.ndarray
    avg_grad: np.ndarray
    max_routes: tuple[tuple[tuple[int, int], tuple[int, int]], ...]
    backend: str


def pooling_example(matrix=None, pool: int = 3, stride: int = 1) -> PoolingExample:
    """Pool ``matrix`` (default: the lecture's 5 x 5 example) with Keras' max and average pooling.

    Window ``pool x pool``, ``stride``, no padding. Gradients come from the backend's autodiff: the
    total one (each input's share of ``d sum(outputs)``) and, for max pooling with at most 36 outputs,
    the input position each output's gradient is routed to.
    """
    if matrix is None:
        matrix = LECTURE_POOLING_INPUT
    elif isinstance(matrix, str):
        matrix = parse_matrix(matrix)
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise UsageError(f"the input must be a non-empty 2-D matrix, got shape {m.shape}")
    pool = _positive(pool, "the pooling window (--pool)")
    stride = _positive(stride, "the stride (--stride)")
    if pool > min(m.shape):
        raise UsageError(f"a {pool} x {pool} window does not fit a {m.shape[0]} x {m.shape[1]} input")
    x = m.astype("float32")[None, :, :, None]
    max_layer = keras.layers.MaxPooling2D(pool, stride, padding="valid")
    avg_layer = keras.layers.AveragePooling2D(pool, stride, padding="valid")
    peak = keras.ops.convert_to_numpy(max_layer(x))[0, :, :, 0]
    mean = keras.ops.convert_to_numpy(avg_layer(x))[0, :, :, 0]
    max_grad = input_gradient(max_layer, x)[0, :, :, 0]
    avg_grad = input_gradient(avg_layer, x)[0, :, :, 0]
    routes = []
    if peak.size <= 36:
        for i in range(peak.shape[0]):
            for j in range(peak.shape[1]):
                g = input_gradient(lambda t, i=i, j=j: max_layer(t)[:, i, j, :], x)[0, :, :, 0]
                r, c = np.unravel_index(int(np.argmax(g)), g.shape)
                routes.append(((i, j), (int(r), int(c))))
    return PoolingExample(
        input=m,
        pool=pool,
        stride=stride,
        max=peak.astype(np.float64),
        avg=mean.astype(np.float64),
        max_grad=max_grad.astype(np.float64),
        avg_grad=avg_grad.astype(np.float64),
        max_routes=tuple(routes),
        backend=keras.backend.backend(),
    )


def format_pooling(ex: PoolingExample) -> str:
    h, w = ex.input.shape
    oh, ow = ex.max.shape
    window = ex.pool * ex.pool
    lines = [f"input {h} x {w}, window {ex.pool} x {ex.pool}, stride {ex.stride} -> output {oh} x {ow}", ""]
    lines += _matrix_lines(ex.input)
    lines += ["", "max pooling (keras MaxPooling2D):", *_matrix_lines(ex.max)]
    lines += ["", "average pooling (keras AveragePooling2D):", *_matrix_lines(ex.avg)]
    lines += [
        "",
        f"backward pass: gradient of sum(outputs) w.r.t. the input ({ex.backend} autodiff)",
        "max pooling: each output passes its gradient to one input, the maximum of its window",
        "(ties: the backend picks one); summed over outputs:",
        *_matrix_lines(ex.max_grad),
    ]
    if ex.max_routes:
        lines.append("  output <- input receiving its gradient:")
        for (i, j), (r, c) in ex.max_routes:
            lines.append(f"    ({i},{j}) = {ex.max[i, j]:.2f} <- ({r},{c})")
    lines += [
        f"average pooling: each output shares its gradient equally, 1/{window} = {1 / window:.2f} to each "
        f"of the {window} inputs of its window (dense gradient); summed over outputs:",
        *_matrix_lines(ex.avg_grad),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# fc-vs-conv

MAX_BUILD_PARAMS = 50_000_000


@dataclass(frozen=True)
class FcVsConv:
    """Weights of a dense layer on the flattened image vs a convolution with as many filters.

    ``*_built`` are the counts of the built Keras layers (``None`` when the dense layer would exceed
    :data:`MAX_BUILD_PARAMS` and was not built).
    """

    image_size: int
    channels: int
    units: int
    kernel: int
    fc_formula: int
    fc_built: int | None
    conv_formula: int
    conv_built: int


def fc_vs_conv(image_size: int = 512, units: int = 64, kernel: int = 7, channels: int = 1) -> FcVsConv:
    """``(H W C + 1) units`` for ``Dense(units)`` on an ``H x W x C`` image vs ``(k^2 C + 1) units`` for
    ``Conv2D(units, k)``, each from the closed form and from the built layer's ``count_params()``."""
    from .params import count_params

    image_size = _positive(image_size, "the image size (--image-size)")
    units = _positive(units, "the number of units/filters (--units)")
    kernel = _positive(kernel, "the kernel size (--kernel)")
    channels = _positive(channels, "the number of channels (--channels)")
    if kernel > image_size:
        raise UsageError(f"a {kernel} x {kernel} kernel does not fit a {image_size} x {image_size} image")
    features = image_size * image_size * channels
    fc_formula = (features + 1) * units
    conv_formula = (kernel * kernel * channels + 1) * units
    fc_built = None
    if fc_formula <= MAX_BUILD_PARAMS:
        inputs = keras.Input((features,))
        dense = keras.Model(inputs, keras.layers.Dense(units, kernel_initializer="zeros")(inputs))
        fc_built = count_params(dense).total
    inputs = keras.Input((image_size, image_size, channels))
    conv = keras.Model(inputs, keras.layers.Conv2D(units, kernel)(inputs))
    return FcVsConv(
        image_size=image_size,
        channels=channels,
        units=units,
        kernel=kernel,
        fc_formula=fc_formula,
        fc_built=fc_built,
        conv_formula=conv_formula,
        conv_built=count_params(conv).total,
    )


def format_fc_vs_conv(r: FcVsConv) -> str:
    n, c, f, k = r.image_size, r.channels, r.units, r.kernel
    fc_expr = f"({n}^2 * {c} + 1) * {f}" if c > 1 else f"({n}^2 + 1) * {f}"
    conv_expr = f"({k}^2 * {c} + 1) * {f}" if c > 1 else f"({k}^2 + 1) * {f}"
    width = max(len(fc_expr), len(conv_expr))
    built_fc = (
        f"keras Dense: {_grouped(r.fc_built)}"
        if r.fc_built is not None
        else f"not built: over {_grouped(MAX_BUILD_PARAMS)} weights"
    )
    return "\n".join(
        [
            f"input image {n} x {n} x {c}, {f} units / filters",
            f"  fully connected:   {fc_expr.ljust(width)} = {_grouped(r.fc_formula)}  ({built_fc})",
            f"  {k} x {k} convolution: {conv_expr.ljust(width)} = {_grouped(r.conv_formula)}  "
            f"(keras Conv2D: {_grouped(r.conv_built)})",
            f"the convolution has {r.fc_formula / r.conv_formula:,.1f}x fewer weights, and their number does "
            "not depend on the image size",
        ]
    )


# --------------------------------------------------------------------------------------------------
# conv-arithmetic


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
    from .layers import DeformableConv2D, SparseConv2D, SpatiallySeparableConv2D

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
    from .counting import conv_output_size, count
    from .params import count_params

    size = _positive(input_size, "the input size (--input-size)")
    kernel = _positive(kernel, "the kernel size (--kernel)")
    stride = _positive(stride, "the stride (--stride)")
    dilation = _positive(dilation, "the dilation (--dilation)")
    layers = _positive(layers, "the number of layers (--layers)")
    cin = _positive(in_channels, "--in-channels")
    cout = _positive(out_channels, "--out-channels")
    groups = _positive(groups, "--groups")
    bottleneck = max(cin // 4, 1) if bottleneck is None else _positive(bottleneck, "--bottleneck")
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


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


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
        for s in _table(
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
        )
    ]
    standard = r.variants[0].macs
    rows = []
    for v in r.variants:
        params = _grouped(v.params)
        if v.nonzero_params != v.params:
            params += f" ({_grouped(v.nonzero_params)} non-zero)"
        rows.append(
            [
                v.name,
                v.layers,
                " x ".join(str(d) for d in v.output_shape),
                params,
                _grouped(v.macs),
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
        for s in _table(
            ["variant", "layers", "output", "params", "MACs", "MACs/standard", "field"],
            rows,
            right={3, 4, 5, 6},
        )
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# gap


@dataclass(frozen=True)
class GapExample:
    """The same small network with a Flatten + Dense head and with a global-average-pooling head."""

    input_size: int
    larger_size: int
    classes: int
    features_at: dict[int, tuple[int, ...]]
    fc_params: int
    fc_head_params: int
    fc_error: str | None
    fc_error_layer: str | None
    gap_params: int
    gap_head_params: int
    gap_outputs: dict[int, tuple[int, ...]]


def _features(name: str) -> list[keras.layers.Layer]:
    L = keras.layers
    return [
        L.Conv2D(16, 3, padding="same", activation="relu", name=f"{name}_conv1"),
        L.MaxPooling2D(2, name=f"{name}_pool1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name=f"{name}_conv2"),
        L.MaxPooling2D(2, name=f"{name}_pool2"),
    ]


def gap_example(input_size: int = 32, larger: int = 64, classes: int = 10) -> GapExample:
    """Build both heads on a two-stage conv net, then feed each a ``larger x larger`` image.

    The Flatten + Dense head fixes the number of features at build time, so the larger image fails in
    the Dense layer (the error is caught and returned); the GAP head averages each channel over any map.
    """
    from .params import count_params

    size = _positive(input_size, "the input size (--input-size)")
    larger = _positive(larger, "the larger input size (--larger)")
    classes = _positive(classes, "the number of classes (--classes)")
    if size < 4 or larger < 4:
        raise UsageError("the inputs must be at least 4 x 4 (two 2 x 2 poolings)")
    if larger == size:
        raise UsageError("--larger must differ from --input-size")
    L = keras.layers
    fc_layers = [*_features("fc"), L.Flatten(name="fc_flatten"), L.Dense(classes, name="fc_dense")]
    fc = keras.Sequential([keras.Input((size, size, 3)), *fc_layers], name="flatten_dense_head")
    gap_in = keras.Input((None, None, 3))
    x = gap_in
    for layer in [
        *_features("gap"),
        L.GlobalAveragePooling2D(name="gap_pool"),
        L.Dense(classes, name="gap_dense"),
    ]:
        x = layer(x)
    gap = keras.Model(gap_in, x, name="gap_head")

    features_at = {}
    for n in (size, larger):
        shape = (1, n, n, 3)
        for layer in fc_layers[:4]:
            shape = layer.compute_output_shape(shape)
        features_at[n] = tuple(int(d) for d in shape[1:])
    error = error_layer = None
    x = np.zeros((1, larger, larger, 3), dtype="float32")
    try:
        for layer in fc_layers:
            error_layer = layer.name
            x = layer(x)
        error_layer = None
    except ValueError as exc:
        error = " ".join(str(exc).split())
    gap_outputs = {}
    for n in (size, larger):
        y = gap(np.zeros((1, n, n, 3), dtype="float32"))
        gap_outputs[n] = tuple(int(d) for d in y.shape)
    head = count_params(fc).total - sum(
        int(np.prod(w.shape)) for layer in fc_layers[:4] for w in layer.weights
    )
    gap_head = sum(int(np.prod(w.shape)) for w in gap.get_layer("gap_dense").weights)
    return GapExample(
        input_size=size,
        larger_size=larger,
        classes=classes,
        features_at=features_at,
        fc_params=count_params(fc).total,
        fc_head_params=head,
        fc_error=error,
        fc_error_layer=error_layer,
        gap_params=count_params(gap).total,
        gap_head_params=gap_head,
        gap_outputs=gap_outputs,
    )


def format_gap(r: GapExample) -> str:
    small, big = r.input_size, r.larger_size
    fs, fb = r.features_at[small], r.features_at[big]
    n_small, n_big = int(np.prod(fs)), int(np.prod(fb))
    channels = fs[-1]
    lines = [
        f"features: conv 16 + pool + conv 32 + pool -> {' x '.join(map(str, fs))} for a {small} x {small} input, "
        f"{' x '.join(map(str, fb))} for {big} x {big}",
        "",
        f"Flatten + Dense head (built for {small} x {small}): {_grouped(r.fc_params)} params, head "
        f"{_grouped(r.fc_head_params)} = ({_grouped(n_small)} + 1) * {r.classes}",
    ]
    if r.fc_error is not None:
        lines += [
            f"  on a {big} x {big} input it fails in layer {r.fc_error_layer!r}:",
            f"    {r.fc_error}",
            f"  why: Flatten gives {' x '.join(map(str, fb))} = {_grouped(n_big)} features instead of "
            f"{_grouped(n_small)}, but the Dense kernel was built with {_grouped(n_small)} rows; "
            "the head fixes the input size.",
        ]
    else:
        lines.append(f"  on a {big} x {big} input it unexpectedly worked")
    lines += [
        "",
        f"global-average-pooling head: {_grouped(r.gap_params)} params, head {_grouped(r.gap_head_params)} = "
        f"({channels} + 1) * {r.classes}",
        *(f"  {n} x {n} input -> output {r.gap_outputs[n]}" for n in (small, big)),
        "  why: GlobalAveragePooling2D averages each channel over the whole map, so the Dense layer always "
        f"sees {channels} features, whatever the input size.",
        "",
        f"parameter saving: {_grouped(r.fc_params - r.gap_params)} "
        f"({100 * (r.fc_params - r.gap_params) / r.fc_params:.1f} % of the Flatten + Dense network)",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Dispatch.

TOPICS: dict[str, tuple[Callable, Callable]] = {
    "pooling": (pooling_example, format_pooling),
    "fc-vs-conv": (fc_vs_conv, format_fc_vs_conv),
    "conv-arithmetic": (conv_arithmetic, format_conv_arithmetic),
    "gap": (gap_example, format_gap),
}


def _flag(option: str) -> str:
    return "--" + {"matrix": "input"}.get(option, option).replace("_", "-")


def topic_options(topic: str) -> tuple[str, ...]:
    """Keyword options the topic's function accepts."""
    import inspect

    return tuple(inspect.signature(TOPICS[topic][0]).parameters)


def explain(topic: str, **options) -> str:
    """The printed worked example of ``topic`` (one of :data:`TOPICS`) with the given options."""
    if topic not in TOPICS:
        raise UsageError(f"unknown topic {topic!r}; choose from {', '.join(TOPICS)}")
    allowed = topic_options(topic)
    for name in options:
        if name not in allowed:
            flags = ", ".join(_flag(a) for a in allowed)
            raise UsageError(f"option {_flag(name)} does not apply to topic {topic!r} (its options: {flags})")
    compute, render = TOPICS[topic]
    return render(compute(**options))
