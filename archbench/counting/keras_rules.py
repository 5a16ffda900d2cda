"""Rules for Keras' own layers (and the ``keras.ops`` operations a functional graph records): each maps
a layer's configuration and shapes onto :mod:`archbench.counting.formulas`. Registered on import."""

from __future__ import annotations

from typing import Any

import keras

from .. import keras_internals
from .formulas import (
    as_tuple,
    conv_macs,
    conv_transpose_macs,
    dense_macs,
    depthwise_conv_macs,
    einsum_macs,
    elements,
    global_pool_ops,
    merge_ops,
    pool_ops,
    resize_ops,
    separable_conv_macs,
)
from .rules import LayerCost, Rule, UncountedLayer, register_rule, register_weight_layer, split_channels


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
    out_spatial, cout = split_channels(output_shapes[0], layer)
    _, cin = split_channels(input_shapes[0], layer)
    kernel = as_tuple(layer.kernel_size, len(out_spatial))
    macs = conv_macs(out_spatial, kernel, cin, cout, getattr(layer, "groups", 1))
    return LayerCost(macs, _bias_and_activation(layer, elements(output_shapes[0])))


def _depthwise_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, _ = split_channels(output_shapes[0], layer)
    _, cin = split_channels(input_shapes[0], layer)
    kernel = as_tuple(layer.kernel_size, len(out_spatial))
    macs = depthwise_conv_macs(out_spatial, kernel, cin, layer.depth_multiplier)
    return LayerCost(macs, _bias_and_activation(layer, elements(output_shapes[0])))


def _separable_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, cout = split_channels(output_shapes[0], layer)
    _, cin = split_channels(input_shapes[0], layer)
    kernel = as_tuple(layer.kernel_size, len(out_spatial))
    macs = separable_conv_macs(out_spatial, kernel, cin, cout, layer.depth_multiplier)
    return LayerCost(macs, _bias_and_activation(layer, elements(output_shapes[0])))


def _conv_transpose_rule(layer, input_shapes, output_shapes) -> LayerCost:
    in_spatial, cin = split_channels(input_shapes[0], layer)
    _, cout = split_channels(output_shapes[0], layer)
    kernel = as_tuple(layer.kernel_size, len(in_spatial))
    macs = conv_transpose_macs(in_spatial, kernel, cin, cout, getattr(layer, "groups", 1))
    return LayerCost(macs, _bias_and_activation(layer, elements(output_shapes[0])))


def _dense_rule(layer, input_shapes, output_shapes) -> LayerCost:
    shape = input_shapes[0]
    macs = dense_macs(int(shape[-1]), int(layer.units), elements(shape[:-1]))
    return LayerCost(macs, _bias_and_activation(layer, elements(output_shapes[0])))


def _einsum_dense_rule(layer, input_shapes, output_shapes) -> LayerCost:
    macs = einsum_macs(layer.equation, (1, *input_shapes[0]), tuple(int(d) for d in layer.kernel.shape))
    return LayerCost(macs, _bias_and_activation(layer, elements(output_shapes[0])))


def _dot_rule(layer, input_shapes, output_shapes) -> LayerCost:
    axes = layer.axes if isinstance(layer.axes, list | tuple) else (layer.axes, layer.axes)
    a = (1, *input_shapes[0])
    contracted = int(a[axes[0] % len(a)])
    other = {"normalization": 3 * sum(elements(s) for s in input_shapes)} if layer.normalize else {}
    return LayerCost(elements(output_shapes[0]) * contracted, other)


def _pool_rule(kind: str) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        out_spatial, _ = split_channels(output_shapes[0], layer)
        window = as_tuple(layer.pool_size, len(out_spatial))
        return LayerCost(0, {"pooling": pool_ops(elements(output_shapes[0]), window, kind)})

    rule.__doc__ = f"{kind} pooling: see :func:`pool_ops`."
    return rule


def _global_pool_rule(kind: str) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        in_spatial, channels = split_channels(input_shapes[0], layer)
        return LayerCost(0, {"pooling": global_pool_ops(in_spatial, channels, kind)})

    rule.__doc__ = f"global {kind} pooling: see :func:`global_pool_ops`."
    return rule


def _per_element_rule(category: str, ops_per_element: int) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        return LayerCost(0, {category: ops_per_element * elements(output_shapes[0])})

    rule.__doc__ = f"{ops_per_element} {category} operation(s) per output element."
    return rule


def _activation_rule(layer, input_shapes, output_shapes) -> LayerCost:
    if _is_linear(getattr(layer, "activation", None)):
        return LayerCost()
    return LayerCost(0, {"activation": elements(output_shapes[0])})


def _normalization_rule(layer, input_shapes, output_shapes) -> LayerCost:
    per_element = 5 + int(bool(getattr(layer, "scale", True))) + int(bool(getattr(layer, "center", True)))
    return LayerCost(0, {"normalization": per_element * elements(output_shapes[0])})


def _merge_rule(average: bool) -> Rule:
    def rule(layer, input_shapes, output_shapes) -> LayerCost:
        return LayerCost(
            0, {"elementwise": merge_ops(elements(output_shapes[0]), len(input_shapes), average)}
        )

    rule.__doc__ = "element-wise merge: see :func:`merge_ops`."
    return rule


def _upsampling_rule(layer, input_shapes, output_shapes) -> LayerCost:
    out_spatial, _ = split_channels(output_shapes[0], layer)
    method = getattr(layer, "interpolation", "nearest")
    return LayerCost(0, {"resize": resize_ops(elements(output_shapes[0]), method, len(out_spatial))})


def _resizing_rule(layer, input_shapes, output_shapes) -> LayerCost:
    if getattr(layer, "antialias", False):
        raise UncountedLayer("antialiased resizing has no rule")
    out_spatial, _ = split_channels(output_shapes[0], layer)
    return LayerCost(
        0, {"resize": resize_ops(elements(output_shapes[0]), layer.interpolation, len(out_spatial))}
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
    ops = keras_internals.symbolic_ops
    register_rule(
        *ops("numpy.Add", "numpy.Subtract", "numpy.Multiply", "numpy.Divide", "numpy.TrueDivide", "numpy.Maximum",
             "numpy.Minimum")
    )(_per_element_rule("elementwise", 1))  # fmt: skip  # binary, one operand possibly a constant
    register_rule(
        *ops("numpy.Reshape", "numpy.Transpose", "numpy.Concatenate", "numpy.ExpandDims", "numpy.Squeeze",
             "numpy.GetItem")
    )(_zero_rule)  # fmt: skip
    register_rule(
        *ops("nn.Relu", "nn.Relu6", "nn.Sigmoid", "nn.Softmax", "nn.Gelu", "nn.Silu", "numpy.Tanh")
    )(_per_element_rule("activation", 1))


_register_keras_rules()
