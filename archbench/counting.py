"""Analytic operation counts for Keras 3 models: MACs, other operations, depth, receptive field, memory.

Conventions (the numbers are per sample, i.e. for one image, whatever the batch size):

- **1 MAD = 1 MAC = one multiply-add.** ``macs`` counts the multiply-adds of convolutions (all
  kinds), dense and einsum-dense layers and matrix products (``Dot``) only: the convention of papers
  ("3.8 x 10^9 multiply-adds" for ResNet-50) and of torchvision's tables. ``flops = 2 * macs``; a
  figure labelled FLOPs that equals our MACs was counted in multiply-adds.
- A convolution costs ``prod(output spatial) * prod(kernel) * (C_in / groups) * C_out`` MACs: padding
  taps are counted as in the implementation, dilation changes which inputs are read, not how many.
  A transposed convolution scatters every input element through the whole kernel:
  ``prod(input spatial) * prod(kernel) * C_in * C_out / groups``. A depthwise-separable convolution
  is its depthwise part plus its 1 x 1 pointwise part.
- Everything else is counted in ``ops_other``, one operation per scalar result, by category:

  ``bias``           one add per output element of a layer with a bias;
  ``activation``     one per element, whatever the function (relu, sigmoid, softmax...), also for
                     the fused ``activation=`` of convolution and dense layers;
  ``batchnorm``      two per element (inference form ``x * a + b``, statistics folded);
  ``normalization``  LayerNormalization / GroupNormalization: five per element to normalise plus one
                     each for scale and centre; UnitNormalization three; LRN as its rule states;
  ``pooling``        max: ``window - 1`` comparisons per output element; average: ``window`` (adds
                     and one divide); windows at a "same" border are counted whole;
  ``elementwise``    Add / Subtract / Multiply / Maximum / Minimum: ``inputs - 1`` per output
                     element; Average: ``inputs``; keras.ops arithmetic recorded in a functional
                     graph (``x + y``, ``x * 2.0``): one; Concatenate, reshapes, padding, dropout: zero;
  ``resize``         interpolation taps per output element: nearest 0, (bi)linear 2^d, bicubic 4^d;
  ``preprocessing``  Rescaling and Normalization layers: two per element.

- A layer with no rule is listed in :attr:`Complexity.uncounted`, never silently zero; layers that
  truly cost nothing (InputLayer, Flatten, Reshape, Dropout, Concatenate, ZeroPadding2D, Identity...)
  have explicit zero rules.
- **Depth** is the number of weight layers (convolutions and dense layers, and any layer flagged with
  :func:`register_weight_layer` or a class attribute ``archbench_weight_layer = True``) on the longest
  input-to-output path of the graph: AlexNet 8, VGG-16 16, ResNet-152 152 (shortcut projections are
  not on that path). ``keras_depth`` is keras.applications' "depth": the number of layers holding
  weights, batch norm included (VGG16 16, ResNet50 107, MobileNetV2 105, InceptionV3 189). Keras'
  documentation calls it "topological depth", but its table's numbers are this count.
- The **receptive field** ``(size, jump, start)`` per spatial axis follows the arithmetic of
  Araujo, Norris & Sim (Distill 2019): ``size += (k_eff - 1) * jump``, ``jump *= stride``,
  ``start += ((k_eff - 1) / 2 - pad_before) * jump`` with ``k_eff = dilation * (k - 1) + 1``; ``start``
  is the input coordinate of the centre of the first output unit's field (input pixel i is centred
  at i). Where branches merge the largest field is kept. The model's field is the largest one of any
  spatial feature map (that of the last one before global pooling or flattening). Transposed
  convolutions and up-sampling divide the jump (their field is approximate); a layer that changes the
  spatial size in a way the walker does not know ends the field (None).
- **Activation memory** at ``batch_size`` and ``dtype``: ``activation_bytes_total`` sums every layer
  output and the inputs (what training keeps for the backward pass, an upper bound); the peak is the
  largest sum of live tensors while layers run in topological order, a tensor being freed after its
  last consumer (inference). Zero-copy layers (Reshape, Flatten, Dropout) count as new tensors.

Cross-check: on the TensorFlow backend, the convolution and matmul FLOPs that TensorFlow's v1
profiler finds in the model's concrete function are exactly ``2 * macs`` for every Keras layer here
except grouped convolutions (not visible to it) and dilated ones (it counts the space-to-batch
implementation), which are checked against closed forms instead (``tests/test_counting.py``).

Counting reads the graph and never calls, builds or changes the model. With ``input_shape`` the
shapes are re-inferred with each operation's ``compute_output_spec`` on symbolic tensors (no weights
are created), so a model built with ``None`` spatial sizes can be counted at any size.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil, prod
from typing import Any

import keras

from .errors import UsageError
from .params import ParamCounts, count_params, iter_layers

__all__ = [
    "Complexity",
    "LayerCost",
    "LayerRecord",
    "RULES",
    "ReceptiveField",
    "RefGap",
    "UncountedLayer",
    "complexity_row",
    "conv_macs",
    "conv_output_size",
    "conv_transpose_macs",
    "count",
    "dense_macs",
    "depthwise_conv_macs",
    "einsum_macs",
    "format_complexity",
    "global_pool_ops",
    "is_weight_layer",
    "merge_ops",
    "pool_ops",
    "reference_gap",
    "register_rule",
    "register_weight_layer",
    "resize_ops",
    "same_padding",
    "summarize_model",
    "separable_conv_macs",
]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer call for ONE sample: multiply-adds and other operations by category."""

    macs: int = 0
    other: Mapping[str, int] = field(default_factory=dict)


Rule = Callable[[Any, list[Shape], list[Shape]], LayerCost]
RULES: dict[type, Rule] = {}
WEIGHT_LAYERS: set[type] = set()


class UncountedLayer(Exception):
    """Raised by a rule that cannot count this particular layer configuration (the layer is listed)."""


def register_rule(*layer_classes: type) -> Callable[[Rule], Rule]:
    """Register ``rule(layer, input_shapes, output_shapes) -> LayerCost`` for layer classes.

    Shapes exclude the batch dimension. Subclasses inherit a rule unless they register their own.
    """

    def decorator(rule: Rule) -> Rule:
        for cls in layer_classes:
            RULES[cls] = rule
        return rule

    return decorator


def register_weight_layer(*layer_classes: type) -> None:
    """Count these classes (and their subclasses) as weight layers in :attr:`Complexity.depth`."""
    WEIGHT_LAYERS.update(layer_classes)


def is_weight_layer(layer: Any) -> bool:
    """Whether ``layer`` counts towards the paper's depth (its class attribute wins over the table)."""
    flag = getattr(type(layer), "archbench_weight_layer", None)
    if flag is not None:
        return bool(flag)
    return isinstance(layer, tuple(WEIGHT_LAYERS))


def find_rule(layer: Any) -> Rule | None:
    """The rule of the nearest class in ``type(layer).__mro__`` that has one."""
    for cls in type(layer).__mro__:
        if cls in RULES:
            return RULES[cls]
    return None


# --------------------------------------------------------------------------------------------------
# Pure formulas: shapes in, integers out. They know nothing about Keras.


def _tuple(value: int | Sequence[int], n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise UsageError(f"expected {n} values, got {value}")
    return value


def _positive(**values: int) -> None:
    for name, v in values.items():
        if int(v) < 1:
            raise UsageError(f"{name} must be a positive integer, got {v}")


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: str | int | tuple[int, int] = "valid", dilation: int = 1
) -> int:
    """Output length of a convolution or pooling window along one axis.

    ``padding`` is ``"valid"`` (none), ``"same"`` (output ``ceil(size / stride)``), ``"causal"`` (left
    padding ``dilation * (kernel - 1)``), an int padded on both sides, or ``(before, after)``.
    """
    _positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    k_eff = dilation * (kernel - 1) + 1
    if padding in ("same", "causal"):
        return ceil(size / stride)
    if padding == "valid":
        before = after = 0
    elif isinstance(padding, int):
        before = after = padding
    elif isinstance(padding, tuple | list) and len(padding) == 2:
        before, after = (int(p) for p in padding)
    else:
        raise UsageError(
            f"padding must be 'valid', 'same', 'causal', an int or (before, after); got {padding!r}"
        )
    out = (size + before + after - k_eff) // stride + 1
    if out < 1:
        raise UsageError(f"a window of {k_eff} does not fit an input of {size} padded by ({before}, {after})")
    return out


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` padding of TensorFlow's / Keras' ``"same"`` (the extra one goes after)."""
    k_eff = dilation * (kernel - 1) + 1
    total = max((ceil(size / stride) - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def conv_macs(out_spatial: Shape, kernel: Shape, cin: int, cout: int, groups: int = 1) -> int:
    """Multiply-adds of a (grouped) convolution: every output element reads ``prod(kernel) * cin / groups``."""
    _positive(cin=cin, cout=cout, groups=groups)
    if cin % groups or cout % groups:
        raise UsageError(f"groups={groups} must divide both cin={cin} and cout={cout}")
    return prod(out_spatial) * prod(kernel) * (cin // groups) * cout


def depthwise_conv_macs(out_spatial: Shape, kernel: Shape, channels: int, depth_multiplier: int = 1) -> int:
    """Multiply-adds of a depthwise convolution (``groups = channels``, ``channels * multiplier`` outputs)."""
    _positive(channels=channels, depth_multiplier=depth_multiplier)
    return prod(out_spatial) * prod(kernel) * channels * depth_multiplier


def separable_conv_macs(
    out_spatial: Shape, kernel: Shape, cin: int, cout: int, depth_multiplier: int = 1
) -> int:
    """Depthwise part plus the 1 x 1 pointwise part (both at the output resolution)."""
    mid = cin * depth_multiplier
    return depthwise_conv_macs(out_spatial, kernel, cin, depth_multiplier) + prod(out_spatial) * mid * cout


def conv_transpose_macs(in_spatial: Shape, kernel: Shape, cin: int, cout: int, groups: int = 1) -> int:
    """Multiply-adds of a transposed convolution: each input element is scattered through the kernel."""
    _positive(cin=cin, cout=cout, groups=groups)
    if cin % groups or cout % groups:
        raise UsageError(f"groups={groups} must divide both cin={cin} and cout={cout}")
    return prod(in_spatial) * prod(kernel) * cin * (cout // groups)


def dense_macs(in_features: int, units: int, positions: int = 1) -> int:
    """Multiply-adds of a dense layer applied at ``positions`` positions (all leading axes)."""
    return positions * in_features * units


def einsum_macs(equation: str, a_shape: Shape, b_shape: Shape) -> int:
    """Multiply-adds of a two-operand einsum: the product of the sizes of all its indices.

    ``a_shape`` and ``b_shape`` are full shapes (batch included, so pass 1 for a per-sample count);
    ``...`` stands for the broadcast leading axes.
    """
    try:
        lhs, _ = equation.replace(" ", "").split("->")
        specs = lhs.split(",")
    except ValueError as exc:
        raise UsageError(f"not a two-operand einsum equation: {equation!r}") from exc
    if len(specs) != 2:
        raise UsageError(f"not a two-operand einsum equation: {equation!r}")
    sizes: dict[str, int] = {}
    ellipsis = 1
    for spec, shape in zip(specs, (tuple(a_shape), tuple(b_shape)), strict=True):
        if "..." in spec:
            pre, post = spec.split("...")
            n = len(shape) - len(pre) - len(post)
            ellipsis = max(ellipsis, prod(shape[len(pre) : len(pre) + n]))
            letters, dims = pre + post, shape[: len(pre)] + shape[len(shape) - len(post) :]
        else:
            letters, dims = spec, shape
        if len(letters) != len(dims):
            raise UsageError(f"einsum {equation!r}: operand {spec!r} does not match shape {shape}")
        for letter, d in zip(letters, dims, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), int(d))
    return prod(sizes.values()) * ellipsis


def pool_ops(out_elements: int, window: Shape, kind: str) -> int:
    """Pooling operations: max ``window - 1`` comparisons per output, average ``window`` (adds + divide)."""
    k = prod(window)
    if kind == "max":
        return out_elements * (k - 1)
    if kind == "avg":
        return out_elements * k
    raise UsageError(f"pooling kind must be 'max' or 'avg', got {kind!r}")


def global_pool_ops(in_spatial: Shape, channels: int, kind: str) -> int:
    """Global pooling over ``in_spatial``: a window covering the whole map, one output per channel."""
    return pool_ops(channels, in_spatial, kind)


def merge_ops(out_elements: int, n_inputs: int, average: bool = False) -> int:
    """Element-wise merge of ``n_inputs`` tensors: ``n - 1`` binary ops per element (+1 divide for a mean)."""
    return out_elements * (n_inputs - 1 + int(average))


def resize_ops(out_elements: int, interpolation: str, spatial_rank: int) -> int:
    """Interpolation taps per output element: nearest 0, linear ``2^d``, cubic ``4^d``, lanczos3/5 ``6^d``/``10^d``."""
    taps = {"nearest": 0, "bilinear": 2, "linear": 2, "bicubic": 4, "cubic": 4, "lanczos3": 6, "lanczos5": 10}
    if interpolation not in taps:
        raise UncountedLayer(f"interpolation {interpolation!r} has no rule")
    return out_elements * taps[interpolation] ** spatial_rank


# --------------------------------------------------------------------------------------------------
# Rules for Keras layers: map a layer's configuration and shapes onto the formulas.


def _channels_axis(layer: Any) -> int:
    return 0 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def _split(shape: Shape, layer: Any) -> tuple[Shape, int]:
    """``(spatial dims, channels)`` of a per-sample shape in the layer's data format."""
    if _channels_axis(layer) == 0:
        return tuple(shape[1:]), int(shape[0])
    return tuple(shape[:-1]), int(shape[-1])


def _elements(shape: Shape) -> int:
    return prod(int(d) for d in shape)


def _is_linear(activation: Any) -> bool:
    return activation is None or getattr(activation, "__name__", "") == "linear"


def _bias_and_activation(layer: Any, out_elements: int) -> dict[str, int]:
    other = {}
    if getattr(layer, "use_bias", False) or getattr(layer, "bias", None) is not None:
        other["bias"] = out_elements
    if not _is_linear(getattr(layer, "activation", None)):
        other["activation"] = out_elements
    return other


def _zero_rule(layer, input_shapes, output_shapes) -> LayerCost:
    """Reshaping, padding, copying and inference-time no-ops cost nothing."""
    return LayerCost()


def _conv_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, cout = _split(output_shapes[0], layer)
    _, cin = _split(input_shapes[0], layer)
    kernel = _tuple(layer.kernel_size, len(out_spatial))
    macs = conv_macs(out_spatial, kernel, cin, cout, getattr(layer, "groups", 1))
    return LayerCost(macs, _bias_and_activation(layer, _elements(output_shapes[0])))


def _depthwise_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, _ = _split(output_shapes[0], layer)
    _, cin = _split(input_shapes[0], layer)
    kernel = _tuple(layer.kernel_size, len(out_spatial))
    macs = depthwise_conv_macs(out_spatial, kernel, cin, layer.depth_multiplier)
    return LayerCost(macs, _bias_and_activation(layer, _elements(output_shapes[0])))


def _separable_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, cout = _split(output_shapes[0], layer)
    _, cin = _split(input_shapes[0], layer)
    kernel = _tuple(layer.kernel_size, len(out_spatial))
    macs = separable_conv_macs(out_spatial, kernel, cin, cout, layer.depth_multiplier)
    return LayerCost(macs, _bias_and_activation(layer, _elements(output_shapes[0])))


def _conv_transpose_rule(layer, input_shapes, output_shapes) -> LayerCost:
    in_spatial, cin = _split(input_shapes[0], layer)
    _, cout = _split(output_shapes[0], layer)
    kernel = _tuple(layer.kernel_size, len(in_spatial))
    macs = conv_transpose_macs(in_spatial, kernel, cin, cout, getattr(layer, "groups", 1))
    return LayerCost(macs, _bias_and_activation(layer, _elements(output_shapes[0])))


def _dense_rule(layer, input_shapes, output_shapes) -> LayerCost:
    shape = input_shapes[0]
    macs = dense_macs(int(shape[-1]), int(layer.units), _elements(shape[:-1]))
    return LayerCost(macs, _bias_and_activation(layer, _elements(output_shapes[0])))


def _einsum_dense_rule(layer, input_shapes, output_shapes) -> LayerCost:
    macs = einsum_macs(layer.equation, (1, *input_shapes[0]), tuple(int(d) for d in layer.kernel.shape))
    return LayerCost(macs, _bias_and_activation(layer, _elements(output_shapes[0])))


def _dot_rule(layer, input_shapes, output_shapes) -> LayerCost:
    axes = layer.axes if isinstance(layer.axes, list | tuple) else (layer.axes, layer.axes)
    a = (1, *input_shapes[0])
    contracted = int(a[axes[0] % len(a)])
    other = {"normalization": 3 * sum(_elements(s) for s in input_shapes)} if layer.normalize else {}
    return LayerCost(_elements(output_shapes[0]) * contracted, other)


def _pool_rule(kind: str) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        out_spatial, _ = _split(output_shapes[0], layer)
        window = _tuple(layer.pool_size, len(out_spatial))
        return LayerCost(0, {"pooling": pool_ops(_elements(output_shapes[0]), window, kind)})

    rule.__doc__ = f"{kind} pooling: see :func:`pool_ops`."
    return rule


def _global_pool_rule(kind: str) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        in_spatial, channels = _split(input_shapes[0], layer)
        return LayerCost(0, {"pooling": global_pool_ops(in_spatial, channels, kind)})

    rule.__doc__ = f"global {kind} pooling: see :func:`global_pool_ops`."
    return rule


def _per_element_rule(category: str, ops_per_element: int) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        return LayerCost(0, {category: ops_per_element * _elements(output_shapes[0])})

    rule.__doc__ = f"{ops_per_element} {category} operation(s) per output element."
    return rule


def _activation_rule(layer, input_shapes, output_shapes) -> LayerCost:
    if _is_linear(getattr(layer, "activation", None)):
        return LayerCost()
    return LayerCost(0, {"activation": _elements(output_shapes[0])})


def _normalization_rule(layer, input_shapes, output_shapes) -> LayerCost:
    per_element = 5 + int(bool(getattr(layer, "scale", True))) + int(bool(getattr(layer, "center", True)))
    return LayerCost(0, {"normalization": per_element * _elements(output_shapes[0])})


def _merge_rule(average: bool) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        return LayerCost(
            0, {"elementwise": merge_ops(_elements(output_shapes[0]), len(input_shapes), average)}
        )

    rule.__doc__ = "element-wise merge: see :func:`merge_ops`."
    return rule


def _upsampling_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, _ = _split(output_shapes[0], layer)
    method = getattr(layer, "interpolation", "nearest")
    return LayerCost(0, {"resize": resize_ops(_elements(output_shapes[0]), method, len(out_spatial))})


def _resizing_rule(layer, input_shapes, output_shapes) -> LayerCost:
    if getattr(layer, "antialias", False):
        raise UncountedLayer("antialiased resizing has no rule")
    out_spatial, _ = _split(output_shapes[0], layer)
    return LayerCost(
        0, {"resize": resize_ops(_elements(output_shapes[0]), layer.interpolation, len(out_spatial))}
    )


def _register_keras_rules() -> None:
    L = keras.layers
    register_rule(L.Conv1D, L.Conv2D, L.Conv3D)(_conv_rule)
    register_rule(L.DepthwiseConv1D, L.DepthwiseConv2D)(_depthwise_rule)
    register_rule(L.SeparableConv1D, L.SeparableConv2D)(_separable_rule)
    register_rule(L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)(_conv_transpose_rule)
    register_rule(L.Dense)(_dense_rule)
    register_rule(L.EinsumDense)(_einsum_dense_rule)
    register_rule(L.Dot)(_dot_rule)
    register_weight_layer(
        L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D,
        L.SeparableConv2D, L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose, L.Dense, L.EinsumDense,
    )  # fmt: skip
    register_rule(L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D)(_pool_rule("max"))
    register_rule(L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)(_pool_rule("avg"))
    register_rule(L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)(_global_pool_rule("max"))
    register_rule(L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D)(
        _global_pool_rule("avg")
    )
    register_rule(L.BatchNormalization)(_per_element_rule("batchnorm", 2))
    register_rule(L.LayerNormalization, L.GroupNormalization)(_normalization_rule)
    register_rule(L.UnitNormalization)(_per_element_rule("normalization", 3))
    register_rule(L.Activation)(_activation_rule)
    register_rule(L.ReLU, L.LeakyReLU, L.PReLU, L.ELU, L.Softmax)(_per_element_rule("activation", 1))
    register_rule(L.Add, L.Subtract, L.Multiply, L.Maximum, L.Minimum)(_merge_rule(average=False))
    register_rule(L.Average)(_merge_rule(average=True))
    register_rule(L.Rescaling, L.Normalization)(_per_element_rule("preprocessing", 2))
    register_rule(L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)(_upsampling_rule)
    register_rule(L.Resizing)(_resizing_rule)
    register_rule(
        keras.layers.InputLayer, L.Flatten, L.Reshape, L.Permute, L.RepeatVector, L.Dropout,
        L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianDropout, L.GaussianNoise,
        L.AlphaDropout, L.ActivityRegularization, L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D,
        L.Cropping1D, L.Cropping2D, L.Cropping3D, L.Identity, L.Concatenate,
    )(_zero_rule)  # fmt: skip
    # Operations recorded when keras.ops functions are applied to symbolic tensors (``x + y``).
    from keras.src.ops import nn as _nn
    from keras.src.ops import numpy as _np

    register_rule(_np.Add, _np.Subtract, _np.Multiply, _np.Divide, _np.TrueDivide, _np.Maximum, _np.Minimum)(
        _per_element_rule("elementwise", 1)
    )  # binary, one operand possibly a constant
    register_rule(_np.Reshape, _np.Transpose, _np.Concatenate, _np.ExpandDims, _np.Squeeze, _np.GetItem)(
        _zero_rule
    )
    register_rule(_nn.Relu, _nn.Relu6, _nn.Sigmoid, _nn.Softmax, _nn.Gelu, _nn.Silu, _np.Tanh)(
        _per_element_rule("activation", 1)
    )


_register_keras_rules()


# --------------------------------------------------------------------------------------------------
# Records.


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a feature map, one entry per spatial axis (see the module docstring)."""

    size: tuple[int | float, ...]
    jump: tuple[int | float, ...]
    start: tuple[int | float, ...]

    def _fmt(self, values: tuple[int | float, ...]) -> int | float | str:
        if len(set(values)) == 1:
            return values[0]
        return "x".join(str(v) for v in values)

    def as_dict(self) -> dict[str, int | float | str]:
        """``{"rf_size", "rf_jump", "rf_start"}``: a number when isotropic, else ``"h x w"`` joined by ``x``."""
        return {
            "rf_size": self._fmt(self.size),
            "rf_jump": self._fmt(self.jump),
            "rf_start": self._fmt(self.start),
        }

    def __str__(self) -> str:
        d = self.as_dict()
        return f"{d['rf_size']} (jump {d['rf_jump']}, start {d['rf_start']})"


@dataclass(frozen=True)
class LayerRecord:
    """One layer call: nested models are expanded, names of their layers prefixed ``model/layer``."""

    name: str
    class_name: str
    output_shapes: tuple[Shape, ...]
    params: int
    macs: int
    other: Mapping[str, int]
    receptive_field: ReceptiveField | None
    weight_layer: bool
    depth: int | None
    counted: bool = True

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[0] if self.output_shapes else ()

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def ops_other(self) -> int:
        return sum(self.other.values())


@dataclass(frozen=True)
class Complexity:
    """What :func:`count` measured. MACs and operations are per sample; memory is at ``batch_size``."""

    model_name: str
    input_shapes: tuple[Shape, ...]
    batch_size: int
    dtype: str
    layers: tuple[LayerRecord, ...]
    macs: int
    ops_other: Mapping[str, int]
    params: ParamCounts
    depth: int | None
    keras_depth: int
    receptive_field: ReceptiveField | None
    activation_bytes_peak: int | None
    activation_bytes_total: int
    uncounted: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        """``2 * macs``: one multiply-add is two floating-point operations."""
        return 2 * self.macs

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0]

    @property
    def ops_other_total(self) -> int:
        return sum(self.ops_other.values())

    def rows(self) -> list[dict[str, Any]]:
        """The per-layer table: name, type, output shape, params, MACs, % of MACs, other ops, field."""
        out = []
        for r in self.layers:
            rf = r.receptive_field.as_dict()["rf_size"] if r.receptive_field else None
            out.append(
                {
                    "name": r.name,
                    "type": r.class_name,
                    "output_shape": " x ".join(str(d) for d in r.output_shape),
                    "params": r.params,
                    "macs": r.macs,
                    "macs_pct": round(100.0 * r.macs / self.macs, 3) if self.macs else 0.0,
                    "ops_other": r.ops_other,
                    "receptive_field": rf,
                    "depth": r.depth,
                    "counted": r.counted,
                }
            )
        return out

    def totals(self) -> dict[str, Any]:
        """The model-level figures as a flat, JSON-friendly dict (the ``complexity_row`` columns)."""
        row: dict[str, Any] = {
            "input_shape": "x".join(str(d) for d in self.input_shape),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "macs": self.macs,
            "flops": self.flops,
            "ops_other": self.ops_other_total,
            "depth": self.depth,
            "keras_depth": self.keras_depth,
        }
        row.update({f"params_{k}": v for k, v in self.params.as_dict().items()})
        rf = (
            self.receptive_field.as_dict()
            if self.receptive_field
            else dict.fromkeys(("rf_size", "rf_jump", "rf_start"))
        )
        row.update(rf)
        row["activation_bytes_peak"] = self.activation_bytes_peak
        row["activation_bytes_total"] = self.activation_bytes_total
        row["uncounted"] = ";".join(self.uncounted)
        return row


# --------------------------------------------------------------------------------------------------
# The walker.

_ITEMSIZE = {
    "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1,
    "int16": 2, "int32": 4, "int64": 8, "float8_e4m3fn": 1, "float8_e5m2": 1,
}  # fmt: skip


@dataclass(eq=False)
class _Value:
    """A tensor in the flattened graph: its batched spec and what we know about it."""

    spec: Any
    rf: tuple[tuple[Fraction, Fraction, Fraction], ...] | None
    depth: int

    @property
    def shape(self) -> Shape:
        return tuple(self.spec.shape[1:])


def _graph_of(op: Any) -> Any | None:
    """The functional graph behind a nested model, or None for a leaf operation."""
    if isinstance(op, keras.Sequential):
        return getattr(op, "_functional", None)
    if isinstance(op, keras.Model) and hasattr(op, "_nodes_by_depth"):
        return op
    return None


def _check_defined(shape: Shape, what: str) -> None:
    if any(d is None for d in shape):
        raise UsageError(
            f"{what} has an unknown dimension {tuple(shape)}: pass input_shape to count at a given size"
        )


class _Specs:
    """A read-only view of the walker's tensor map that ``SymbolicArguments.fill_in`` can read."""

    def __init__(self, tensors: dict[int, _Value]):
        self._tensors = tensors

    def __getitem__(self, key: int) -> Any:
        return self._tensors[key].spec

    def get(self, key: int, default: Any = None) -> Any:
        value = self._tensors.get(key)
        return default if value is None else value.spec


class _Walker:
    def __init__(self, infer: bool, spatial_rank: int):
        self.infer = infer
        self.spatial_rank = spatial_rank
        self.records: list[LayerRecord] = []
        self.consumers: list[list[_Value]] = []  # inputs of each record
        self.outputs: list[list[_Value]] = []
        self.calls: dict[int, int] = {}
        self.uncounted: list[str] = []

    def run(self, graph: Any, inputs: list[_Value], prefix: str) -> list[_Value]:
        tensors = {id(x): v for x, v in zip(graph.inputs, inputs, strict=True)}
        for depth in sorted(graph._nodes_by_depth, reverse=True):
            for node in graph._nodes_by_depth[depth]:
                if node.is_input or node.operation is None:
                    continue
                if any(id(x) not in tensors for x in node.input_tensors):
                    continue  # not connected to the inputs (keras skips it too)
                values = [tensors[id(x)] for x in node.input_tensors]
                inner = _graph_of(node.operation)
                if inner is not None:
                    outs = self.run(inner, values, f"{prefix}{node.operation.name}/")
                else:
                    outs = self.leaf(node, values, tensors, prefix)
                for x, v in zip(node.outputs, outs, strict=True):
                    tensors[id(x)] = v
        return [tensors[id(x)] for x in graph.outputs]

    def leaf(self, node: Any, values: list[_Value], tensors: dict[int, _Value], prefix: str) -> list[_Value]:
        op = node.operation
        if self.infer:
            args, kwargs = node.arguments.fill_in(_Specs(tensors))
            if isinstance(op, keras.layers.Layer) and op.input_spec is not None:
                from keras.src.layers.input_spec import assert_input_compatibility

                first = args[0] if args else next(iter(kwargs.values()))
                try:
                    assert_input_compatibility(op.input_spec, first, op.name)
                except ValueError as exc:
                    raise UsageError(f"cannot count at this input size: {exc}") from exc
            out_specs = keras.tree.flatten(op.compute_output_spec(*args, **kwargs))
        else:
            out_specs = list(node.outputs)
        in_shapes = [v.shape for v in values]
        out_shapes = [tuple(s.shape[1:]) for s in out_specs]
        for s in out_shapes:
            _check_defined(s, f"output of {op.name!r}")

        k = self.calls.get(id(op), 0)
        self.calls[id(op)] = k + 1
        name = prefix + op.name + (f"#{k + 1}" if k else "")
        params = 0 if k else sum(_elements(tuple(w.shape)) for w in getattr(op, "weights", ()))

        rule = find_rule(op)
        counted = rule is not None
        cost = LayerCost()
        if rule is not None:
            try:
                cost = rule(
                    op,
                    [tuple(int(d) for d in s) for s in in_shapes],
                    [tuple(int(d) for d in s) for s in out_shapes],
                )
            except UncountedLayer as exc:
                counted = False
                self.uncounted.append(f"{name} ({type(op).__name__}): {exc}")
            except Exception as exc:
                exc.add_note(f"archbench: in the counting rule for layer {name!r} ({type(op).__name__})")
                raise
        else:
            self.uncounted.append(f"{name} ({type(op).__name__})")

        weight = is_weight_layer(op)
        depth = max((v.depth for v in values), default=0) + int(weight)
        rf = _rf_step(op, values, out_shapes, self.spatial_rank)
        outs = [_Value(spec=s, rf=rf, depth=depth) for s in out_specs]
        self.records.append(
            LayerRecord(
                name=name,
                class_name=type(op).__name__,
                output_shapes=tuple(tuple(int(d) for d in s) for s in out_shapes),
                params=params,
                macs=int(cost.macs),
                other={c: int(n) for c, n in cost.other.items() if n},
                receptive_field=_rf_public(rf),
                weight_layer=weight,
                depth=depth,
                counted=counted,
            )
        )
        self.consumers.append(values)
        self.outputs.append(outs)
        return outs


# --------------------------------------------------------------------------------------------------
# Receptive field propagation.

_RF = tuple[tuple[Fraction, Fraction, Fraction], ...]


def _rf_public(rf: _RF | None) -> ReceptiveField | None:
    if rf is None:
        return None
    return ReceptiveField(
        size=tuple(_number(s) for s, _, _ in rf),
        jump=tuple(_number(j) for _, j, _ in rf),
        start=tuple(_number(st) for _, _, st in rf),
    )


def _rf_merge(rfs: list[_RF]) -> _RF:
    """Where branches meet, keep the largest field (and its geometry) on each axis."""
    return tuple(max(axis, key=lambda t: (t[0], t[1])) for axis in zip(*rfs, strict=True))


def _rf_step(op: Any, values: list[_Value], out_shapes: list[Shape], spatial_rank: int) -> _RF | None:
    known = [v.rf for v in values if v.rf is not None]
    if not known or spatial_rank < 1 or len(known) != len(values):
        return None
    if any(len(s) != spatial_rank + 1 for s in out_shapes):
        return None  # flattened or globally pooled: no longer a spatial map
    rf = _rf_merge(known)
    in_spatial, _ = _split(values[0].shape, op)
    out_spatial, _ = _split(out_shapes[0], op)
    if isinstance(
        op, keras.layers.Conv1DTranspose | keras.layers.Conv2DTranspose | keras.layers.Conv3DTranspose
    ):
        kernel = _tuple(op.kernel_size, spatial_rank)
        strides = _tuple(op.strides, spatial_rank)
        dil = _tuple(op.dilation_rate, spatial_rank)
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
        factors = _tuple(op.size, spatial_rank)
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
        kernel = _tuple(kernel, n)
        strides = _tuple(getattr(op, "strides", None) or default_stride, n)
        dilation = _tuple(getattr(op, "dilation_rate", 1), n)
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


# --------------------------------------------------------------------------------------------------
# The public entry points.


def _normalise_input_shapes(model: Any, graph: Any, input_shape: Any) -> tuple[list[Shape], bool]:
    """The per-sample input shapes to count at, and whether they differ from the graph's own."""
    stored = [tuple(x.shape[1:]) for x in graph.inputs]
    if input_shape is None:
        for s in stored:
            _check_defined(s, f"the input of {model.name!r}")
        return stored, False
    given = (
        [tuple(input_shape)]
        if input_shape and not isinstance(input_shape[0], tuple | list)
        else [tuple(s) for s in input_shape]
    )
    if len(given) != len(stored):
        raise UsageError(f"{model.name!r} has {len(stored)} inputs, input_shape gives {len(given)}")
    for g, s in zip(given, stored, strict=True):
        if len(g) != len(s) or any(a is not None and a != b for a, b in zip(s, g, strict=True)):
            raise UsageError(
                f"input_shape {g} does not fit {model.name!r}, built for {s}; "
                "build the model at the size to count (or with None spatial sizes)"
            )
        _check_defined(g, "input_shape")
    return [tuple(int(d) for d in g) for g in given], given != stored


def _itemsize(dtype: str) -> int:
    if str(dtype) not in _ITEMSIZE:
        raise UsageError(f"unknown dtype {dtype!r}; one of {', '.join(_ITEMSIZE)}")
    return _ITEMSIZE[str(dtype)]


def count(model: Any, input_shape: Any = None, batch_size: int = 1, dtype: str = "float32") -> Complexity:
    """Count MACs, other operations, params, depth, receptive field and activation memory of a built model.

    ``input_shape`` (without batch; a list of shapes for several inputs) counts a model built with
    ``None`` spatial sizes at that size; dimensions the model fixes must match. Functional and
    Sequential models, nested ones included, are walked through their graph; for a subclassed model
    each built sub-layer is counted once at the shape it was built with, and the model is listed in
    ``uncounted`` (its call graph is unknown, so depth, receptive field and peak memory are None).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    itemsize = _itemsize(dtype)
    if not isinstance(model, keras.layers.Layer):
        raise UsageError(f"count() needs a Keras model, got {type(model).__name__}")
    graph = _graph_of(model)
    if graph is None:
        return _count_subclassed(model, batch_size, dtype, itemsize)
    shapes, infer = _normalise_input_shapes(model, graph, input_shape)
    spatial_rank = len(shapes[0]) - 1 if len(shapes[0]) >= 2 else 0
    walker = _Walker(infer=infer, spatial_rank=spatial_rank)
    inputs = []
    for x, s in zip(graph.inputs, shapes, strict=True):
        spec = keras.KerasTensor((None, *s), dtype=x.dtype) if infer else x
        rf = tuple((Fraction(1), Fraction(1), Fraction(0)) for _ in range(spatial_rank)) or None
        inputs.append(_Value(spec=spec, rf=rf, depth=0))
    outputs = walker.run(graph, inputs, prefix="")

    records = walker.records
    macs = sum(r.macs for r in records)
    other: dict[str, int] = {}
    for r in records:
        for c, n in r.other.items():
            other[c] = other.get(c, 0) + n
    peak, total = _activation_memory(walker, inputs, outputs)
    with_rf = [(prod(r.receptive_field.size), i) for i, r in enumerate(records) if r.receptive_field]
    rf = records[max(with_rf)[1]].receptive_field if with_rf else None
    return Complexity(
        model_name=model.name,
        input_shapes=tuple(shapes),
        batch_size=batch_size,
        dtype=str(dtype),
        layers=tuple(records),
        macs=macs,
        ops_other=dict(sorted(other.items())),
        params=count_params(model),
        depth=max(v.depth for v in outputs),
        keras_depth=_keras_depth(model),
        receptive_field=rf,
        activation_bytes_peak=peak * batch_size * itemsize,
        activation_bytes_total=total * batch_size * itemsize,
        uncounted=tuple(walker.uncounted),
    )


def _keras_depth(model: Any) -> int:
    return sum(1 for layer in iter_layers(model) if not getattr(layer, "layers", None) and layer.weights)


def _activation_memory(walker: _Walker, inputs: list[_Value], outputs: list[_Value]) -> tuple[int, int]:
    """Peak and total elements per sample (see the module docstring)."""
    last_use: dict[int, int] = {}
    for i, values in enumerate(walker.consumers):
        for v in values:
            last_use[id(v)] = i
    kept = {id(v) for v in outputs}
    sizes = {id(v): _elements(v.shape) for v in inputs}
    live = sum(sizes.values())
    total = live
    peak = live
    for i, outs in enumerate(walker.outputs):
        for v in outs:
            n = _elements(v.shape)
            sizes[id(v)] = n
            live += n
            total += n
        peak = max(peak, live)
        for v in {id(v): v for v in walker.consumers[i] + outs}.values():
            if id(v) not in kept and last_use.get(id(v), -1) <= i:
                live -= sizes.pop(id(v), 0)
    return peak, total


def _count_subclassed(model: Any, batch_size: int, dtype: str, itemsize: int) -> Complexity:
    if not model.built:
        raise UsageError(f"{model.name!r} is not built: call it on data or build it before counting")
    records, uncounted = [], [f"{model.name} ({type(model).__name__}): subclassed model, call graph unknown"]
    for layer in iter_layers(model):
        if getattr(layer, "layers", None):
            continue
        shapes = getattr(layer, "_build_shapes_dict", None) or {}
        rule = find_rule(layer)
        if len(shapes) != 1 or rule is None:
            uncounted.append(f"{layer.name} ({type(layer).__name__})")
            continue
        in_shape = tuple(next(iter(shapes.values())))
        out_shape = tuple(layer.compute_output_shape(in_shape))
        if any(d is None for d in (*in_shape[1:], *out_shape[1:])):
            uncounted.append(f"{layer.name} ({type(layer).__name__}): unknown shape")
            continue
        try:
            cost = rule(layer, [tuple(in_shape[1:])], [tuple(out_shape[1:])])
        except UncountedLayer as exc:
            uncounted.append(f"{layer.name} ({type(layer).__name__}): {exc}")
            continue
        records.append(
            LayerRecord(
                name=layer.name,
                class_name=type(layer).__name__,
                output_shapes=(tuple(int(d) for d in out_shape[1:]),),
                params=sum(_elements(tuple(w.shape)) for w in layer.weights),
                macs=int(cost.macs),
                other=dict(cost.other),
                receptive_field=None,
                weight_layer=is_weight_layer(layer),
                depth=None,
            )
        )
    other: dict[str, int] = {}
    for r in records:
        for c, n in r.other.items():
            other[c] = other.get(c, 0) + n
    total = sum(_elements(r.output_shape) for r in records)
    input_shapes = tuple(tuple(x.shape[1:]) for x in getattr(model, "inputs", None) or ())
    return Complexity(
        model_name=model.name,
        input_shapes=input_shapes or ((),),
        batch_size=batch_size,
        dtype=str(dtype),
        layers=tuple(records),
        macs=sum(r.macs for r in records),
        ops_other=dict(sorted(other.items())),
        params=count_params(model),
        depth=None,
        keras_depth=_keras_depth(model),
        receptive_field=None,
        activation_bytes_peak=None,
        activation_bytes_total=total * batch_size * itemsize,
        uncounted=tuple(uncounted),
    )


def complexity_row(
    model: Any, input_shape: Any = None, *, batch_size: int = 1, dtype: str = "float32"
) -> dict[str, Any]:
    """One flat record for results files and golden counts: :meth:`Complexity.totals` (input shape,
    batch, dtype, macs, flops, ops_other, depth, keras_depth, params_*, rf_*, activation bytes,
    uncounted) plus the time :func:`count` took in seconds (``count_seconds``)."""
    start = time.perf_counter()
    c = count(model, input_shape, batch_size=batch_size, dtype=dtype)
    seconds = time.perf_counter() - start
    return {**c.totals(), "count_seconds": round(seconds, 4)}


@dataclass(frozen=True)
class RefGap:
    """Our MACs against one registry reference (``Ref``): relative gap and whether it is as expected.

    A reference whose scope mentions a "budget" is an upper bound (GoogLeNet's 1.5 G multiply-adds):
    it is met when ``measured <= value * (1 + rtol)``. Otherwise ``|gap| <= rtol`` (exact when 0).
    """

    ref: Any
    measured: int
    gap: float
    ok: bool
    budget: bool

    def __str__(self) -> str:
        r = self.ref
        scope = f"; {r.scope}" if r.scope else ""
        tol = f", tolerance {100 * r.rtol:.1f} %" if r.rtol else ""
        note = f" ({r.note})" if r.note else ""
        head = f"{r.value / 1e9:.3f} G MACs ({r.source}{scope}): ours {self.measured / 1e9:.3f} G"
        if self.budget:
            side = "within" if self.gap <= 0 else f"{100 * self.gap:.1f} % over"
            verdict = "" if self.ok else ", beyond the tolerance"
            return f"budget {head}: {side} the budget{tol}{verdict}{note}"
        verdict = "as expected" if self.ok else "UNEXPECTED"
        return f"reference {head}, {100 * self.gap:+.1f} %{tol}: {verdict}{note}"


def reference_gap(spec: Any, complexity: Complexity) -> tuple[RefGap, ...]:
    """Compare ``complexity.macs`` with every ``spec.macs_refs`` entry."""
    gaps = []
    for ref in spec.macs_refs:
        budget = "budget" in (ref.scope or "").lower()
        gap = complexity.macs / ref.value - 1 if ref.value else float("inf")
        if budget:
            ok = complexity.macs <= ref.value * (1 + ref.rtol)
        elif ref.rtol == 0:
            ok = complexity.macs == ref.value
        else:
            ok = abs(gap) <= ref.rtol
        gaps.append(RefGap(ref=ref, measured=complexity.macs, gap=gap, ok=ok, budget=budget))
    return tuple(gaps)


# --------------------------------------------------------------------------------------------------
# Rendering (used by ``archbench summary``).

_FORMATS = ("table", "csv", "json", "markdown")


def _si(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f} {unit}"
    return str(n)


def _totals_lines(c: Complexity, gaps: Iterable[RefGap]) -> list[str]:
    other = ", ".join(f"{k} {_si(v)}" for k, v in c.ops_other.items()) or "none"
    lines = [
        f"model {c.model_name}: input {' x '.join(map(str, c.input_shape))}, batch {c.batch_size}, {c.dtype}",
        f"MACs (multiply-adds, per sample): {c.macs:,} ({_si(c.macs)}); FLOPs = 2 x MACs = {c.flops:,}",
        f"other operations: {c.ops_other_total:,} ({other})",
        f"params: total {c.params.total:,}, trainable {c.params.trainable:,}, "
        f"non-trainable {c.params.non_trainable:,}, paper {c.params.paper:,}",
        f"depth (weight layers on the longest path): {c.depth}; keras depth (layers with weights): {c.keras_depth}",
        f"receptive field: {c.receptive_field if c.receptive_field else '-'}",
        f"activation memory: peak {_si(c.activation_bytes_peak)}B, total {_si(c.activation_bytes_total)}B",
    ]
    lines += [str(g) for g in gaps]
    if c.uncounted:
        lines.append(f"UNCOUNTED ({len(c.uncounted)}): " + "; ".join(c.uncounted))
    return lines


def format_complexity(c: Complexity, fmt: str = "table", gaps: Iterable[RefGap] = ()) -> str:
    """Render the per-layer table and totals as ``table`` (text), ``csv``, ``json`` or ``markdown``."""
    if fmt not in _FORMATS:
        raise UsageError(f"format must be one of {', '.join(_FORMATS)}; got {fmt!r}")
    gaps = tuple(gaps)
    rows = c.rows()
    if fmt == "json":
        return json.dumps(
            {
                "totals": c.totals(),
                "ops_other": dict(c.ops_other),
                "layers": rows,
                "references": [str(g) for g in gaps],
            },
            indent=2,
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    head = ["name", "type", "output shape", "params", "MACs", "% MACs", "other ops", "RF"]
    body = [
        [
            r["name"] + ("" if r["counted"] else " (!)"),
            r["type"],
            r["output_shape"],
            f"{r['params']:,}",
            f"{r['macs']:,}",
            f"{r['macs_pct']:.1f}",
            f"{r['ops_other']:,}",
            "" if r["receptive_field"] is None else str(r["receptive_field"]),
        ]
        for r in rows
    ]
    right = {3, 4, 5, 6, 7}
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines + [""] + [f"- {line}" for line in _totals_lines(c, gaps)])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            s.rjust(w) if i in right else s.ljust(w)
            for i, (s, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-" * len(line(head))
    return "\n".join([line(head), rule, *(line(r) for r in body), rule, *_totals_lines(c, gaps)])


def summarize_model(
    name: str,
    *,
    input_size: int | None = None,
    batch_size: int = 1,
    dtype: str = "float32",
    include_top: bool = True,
    fmt: str = "table",
) -> str:
    """Build a registered model (at ``input_size`` x ``input_size`` if given), count it, and render the
    per-layer table, the totals and the gaps to the spec's MAC references (budgets included)."""
    from .registry import get_spec

    spec = get_spec(name)
    if fmt not in _FORMATS:
        raise UsageError(f"format must be one of {', '.join(_FORMATS)}; got {fmt!r}")
    kwargs: dict[str, Any] = {}
    if input_size is not None:
        kwargs["input_shape"] = (input_size, input_size, spec.input_shape[-1])
    if not include_top:
        kwargs.update(include_top=False, pooling="avg")
    model = spec.build(**kwargs)
    c = count(model, batch_size=batch_size, dtype=dtype)
    at_reference = include_top and tuple(c.input_shape) == tuple(spec.input_shape)
    return format_complexity(c, fmt, reference_gap(spec, c) if at_reference else ())
