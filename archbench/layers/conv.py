"""Convolution variants of the lecture that Keras does not ship: spatially separable, deformable, sparse.

Strided, dilated, grouped, 1x1 and depthwise-separable convolutions are Keras' own ``Conv2D``,
``DepthwiseConv2D`` and ``SeparableConv2D``, counted by the rules in :mod:`archbench.counting`.

Counting convention (as in :mod:`archbench.counting`): ``macs`` are the multiply-adds with weights of
one sample; bias adds go to ``other["bias"]``, a fused activation to ``other["activation"]`` and the
bilinear sampling of the deformable convolution to ``other["interpolation"]``. All layers are channels
last.

- Spatially separable: a k x k kernel factorised into k x 1 followed by 1 x k (Szegedy et al.,
  "Rethinking the Inception Architecture for Computer Vision", CVPR 2016, section 3.2; the classic
  example is the separable Sobel filter).
- Deformable v1: Dai et al., "Deformable Convolutional Networks", ICCV 2017 (arXiv 1703.06211).
- Sparse: a fixed binary mask on the kernel, e.g. from magnitude pruning (Han, Pool, Tran & Dally,
  "Learning both Weights and Connections for Efficient Neural Networks", NIPS 2015).
"""

from __future__ import annotations

import base64
import math

import keras
import numpy as np
from keras import ops

from ..counting import LayerCost, register_rule
from ..errors import UsageError

__all__ = ["DeformableConv2D", "SparseConv2D", "SpatiallySeparableConv2D", "conv_output_length"]


def _prod(shape) -> int:
    return int(math.prod(int(d) for d in shape))


def _check_padding(padding: str) -> str:
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise UsageError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding


def _positive_int(value, what: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise UsageError(f"{what} must be a single integer (square), got {value!r}")
        value = value[0]
    if int(value) != value or int(value) < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _check_stride_dilation(strides: int, dilation: int) -> None:
    if strides > 1 and dilation > 1:
        raise UsageError(
            f"strides > 1 with dilation_rate > 1 is not supported (got {strides} and {dilation})"
        )


def conv_output_length(length, kernel: int, stride: int = 1, padding: str = "valid", dilation: int = 1):
    """Output length of a convolution or pooling along one axis (Keras/TensorFlow ``valid``/``same``).

    ``valid``: ``floor((n - d*(k-1) - 1) / s) + 1``; ``same``: ``ceil(n / s)``. ``None`` stays ``None``.
    """
    if length is None:
        return None
    if padding == "same":
        return -(-int(length) // stride)
    span = dilation * (kernel - 1) + 1
    return max((int(length) - span) // stride + 1, 0)


def _same_pad_before(length, out_length, kernel: int, stride: int, dilation: int):
    """Leading zero padding of TensorFlow's ``same`` (works on ints and on backend scalars)."""
    total = (out_length - 1) * stride + dilation * (kernel - 1) + 1 - length
    return ops.maximum(total, 0) // 2


def _activation_cost(layer, n_out: int) -> dict[str, int]:
    act = getattr(layer, "activation", None)
    if act is None or act is keras.activations.linear:
        return {}
    return {"activation": n_out}


class _SquareConv2D(keras.layers.Layer):
    """What the square-kernel convolutions here share: arguments, their checks, output shape, config."""

    archbench_weight_layer = True

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "filters")
        self.kernel_size = _positive_int(kernel_size, "kernel_size")
        self.strides = _positive_int(strides, "strides")
        self.padding = _check_padding(padding)
        self.dilation_rate = _positive_int(dilation_rate, "dilation_rate")
        _check_stride_dilation(self.strides, self.dilation_rate)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _bias_weight(self):
        if not self.use_bias:
            return None
        return self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)

    def compute_output_shape(self, input_shape):
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        h = conv_output_length(input_shape[1], k, s, self.padding, d)
        w = conv_output_length(input_shape[2], k, s, self.padding, d)
        return (input_shape[0], h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


@keras.saving.register_keras_serializable(package="archbench")
class SpatiallySeparableConv2D(_SquareConv2D):
    """A k x k convolution factorised into a k x 1 convolution followed by a 1 x k one.

    The first convolution maps ``C`` input channels to ``intermediate_filters`` (default ``filters``)
    with a ``k x 1`` kernel and stride ``(s, 1)``; the second maps those to ``filters`` with ``1 x k``
    and stride ``(1, s)``. There is no bias or non-linearity in between, so the pair is exactly a
    (low-rank) k x k convolution: parameters ``k*C*M + k*M*F (+F)`` instead of ``k*k*C*F (+F)``.
    Inception v3 (Szegedy et al., CVPR 2016, section 3.2) puts batch norm and ReLU between the two; stack
    two ``Conv2D`` layers for that variant.
    """

    def __init__(
        self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, intermediate_filters=None,
        *args, **kwargs,
    ):
        super().__init__(filters, kernel_size, strides, padding, dilation_rate, *args, **kwargs)
        self.intermediate_filters = (
            self.filters
            if intermediate_filters is None
            else _positive_int(intermediate_filters, "intermediate_filters")
        )

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k, m = self.kernel_size, self.intermediate_filters
        self.kernel_vertical = self.add_weight(
            name="kernel_vertical", shape=(k, 1, channels, m), initializer=self.kernel_initializer
        )
        self.kernel_horizontal = self.add_weight(
            name="kernel_horizontal", shape=(1, k, m, self.filters), initializer=self.kernel_initializer
        )
        self.bias = self._bias_weight()

    def call(self, inputs):
        s, d = self.strides, self.dilation_rate
        x = ops.conv(inputs, self.kernel_vertical, strides=(s, 1), padding=self.padding, dilation_rate=(d, 1))
        x = ops.conv(x, self.kernel_horizontal, strides=(1, s), padding=self.padding, dilation_rate=(1, d))
        if self.bias is not None:
            x = x + self.bias
        return self.activation(x)

    def intermediate_shape(self, input_shape):
        """Shape after the k x 1 convolution (batch dimension included)."""
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        h = conv_output_length(input_shape[1], k, s, self.padding, d)
        return (input_shape[0], h, input_shape[2], self.intermediate_filters)

    def get_config(self):
        config = super().get_config()
        config.update(intermediate_filters=self.intermediate_filters)
        return config


@register_rule(SpatiallySeparableConv2D)
def _spatially_separable_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """k*C*M per position of the intermediate map plus k*M*F per output position."""
    (h_in, w_in, c), out = input_shapes[0], output_shapes[0]
    k, m = layer.kernel_size, layer.intermediate_filters
    h_mid = conv_output_length(h_in, k, layer.strides, layer.padding, layer.dilation_rate)
    n_out = _prod(out)
    macs = h_mid * int(w_in) * k * int(c) * m + _prod(out[:2]) * k * m * layer.filters
    other = {"bias": n_out} if layer.use_bias else {}
    other.update(_activation_cost(layer, n_out))
    return LayerCost(macs=macs, other=other)


@keras.saving.register_keras_serializable(package="archbench")
class DeformableConv2D(_SquareConv2D):
    """Deformable convolution v1 (Dai et al., "Deformable Convolutional Networks", ICCV 2017).

        y(p0) = sum_n w(p_n) * x(p0 + p_n + dp_n)

    An offset convolution (same kernel size, stride, padding and dilation as the main one, with bias)
    predicts ``2*k*k`` offsets per output position, ordered ``(dy_0, dx_0, dy_1, dx_1, ...)`` over the
    kernel taps in row-major order; ``x`` is read at the shifted, fractional positions by bilinear
    interpolation, with zeros outside the image (the paper's implementation); the sampled values are then
    multiplied by the ``k x k x C x F`` kernel. The offset convolution is initialised to zero (as in the
    paper), so an untrained layer is an ordinary convolution. One offset field is shared by all channels
    (the paper's ``deformable_group=1``).
    """

    def __init__(self, filters, kernel_size, *args, offset_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, *args, **kwargs)
        self.offset_initializer = keras.initializers.get(offset_initializer)

    @property
    def taps(self) -> int:
        return self.kernel_size * self.kernel_size

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, channels, self.filters), initializer=self.kernel_initializer
        )
        self.bias = self._bias_weight()
        self.offset_kernel = self.add_weight(
            name="offset_kernel", shape=(k, k, channels, 2 * self.taps), initializer=self.offset_initializer
        )
        self.offset_bias = self.add_weight(name="offset_bias", shape=(2 * self.taps,), initializer="zeros")

    def offsets(self, inputs):
        """The predicted offsets, ``(batch, out_h, out_w, 2*k*k)``."""
        out = ops.conv(
            inputs,
            self.offset_kernel,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
        )
        return out + self.offset_bias

    def sample(self, inputs, offsets):
        """Bilinearly sampled input at every tap, ``(batch, out_h, out_w, k*k*C)`` (tap-major)."""
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        shape = ops.shape(inputs)
        batch, height, width, channels = shape[0], shape[1], shape[2], inputs.shape[-1]
        out_shape = ops.shape(offsets)
        out_h, out_w = out_shape[1], out_shape[2]
        dtype = offsets.dtype
        if self.padding == "same":
            top = _same_pad_before(height, out_h, k, s, d)
            left = _same_pad_before(width, out_w, k, s, d)
        else:
            top = left = 0
        taps = np.arange(self.taps)
        ky = ops.convert_to_tensor((taps // k) * d, dtype=dtype)
        kx = ops.convert_to_tensor((taps % k) * d, dtype=dtype)
        rows = ops.cast(ops.arange(out_h) * s - top, dtype)
        cols = ops.cast(ops.arange(out_w) * s - left, dtype)
        py = rows[:, None, None] + ky + offsets[..., 0::2]  # batch x out_h x out_w x k*k
        px = cols[None, :, None] + kx + offsets[..., 1::2]
        y0, x0 = ops.floor(py), ops.floor(px)
        ly, lx = py - y0, px - x0
        y0, x0 = ops.cast(y0, "int32"), ops.cast(x0, "int32")
        flat = ops.reshape(inputs, (-1, channels))
        base = ops.reshape(ops.arange(batch, dtype="int32") * height, (-1, 1, 1, 1))
        sampled = None
        for dy, wy in ((0, 1.0 - ly), (1, ly)):
            for dx, wx in ((0, 1.0 - lx), (1, lx)):
                yc, xc = y0 + dy, x0 + dx
                inside = (yc >= 0) & (yc < height) & (xc >= 0) & (xc < width)
                index = (base + ops.clip(yc, 0, height - 1)) * width + ops.clip(xc, 0, width - 1)
                weight = wy * wx * ops.cast(inside, dtype)
                values = ops.take(flat, ops.reshape(index, (-1,)), axis=0) * ops.reshape(weight, (-1, 1))
                sampled = values if sampled is None else sampled + values
        return ops.reshape(sampled, (-1, out_h, out_w, self.taps * channels))

    def call(self, inputs):
        sampled = self.sample(inputs, self.offsets(inputs))
        kernel = ops.reshape(self.kernel, (-1, self.filters))
        out = ops.matmul(sampled, kernel)
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def get_config(self):
        config = super().get_config()
        config.update(offset_initializer=keras.initializers.serialize(self.offset_initializer))
        return config


@register_rule(DeformableConv2D)
def _deformable_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Per output position: k*k*C*F (kernel) + k*k*C*2k*k (offset conv) MACs; 4 interpolation MADs per sample."""
    c, out = int(input_shapes[0][-1]), output_shapes[0]
    positions, taps = _prod(out[:2]), layer.taps
    macs = positions * taps * c * (layer.filters + 2 * taps)
    n_out = _prod(out)
    other = {
        "bias": positions * 2 * taps + (n_out if layer.use_bias else 0),
        "interpolation": positions * taps * c * 4,
    }
    other.update(_activation_cost(layer, n_out))
    return LayerCost(macs=macs, other=other)


def magnitude_mask(kernel, sparsity: float) -> np.ndarray:
    """Binary mask keeping the ``1 - sparsity`` fraction of largest-magnitude weights (ties: earlier first).

    Exactly ``round(sparsity * size)`` entries are zero.
    """
    sparsity = float(sparsity)
    if not 0.0 <= sparsity < 1.0:
        raise UsageError(f"sparsity must be in [0, 1), got {sparsity}")
    w = np.abs(np.asarray(kernel, dtype=np.float64)).ravel()
    n_zero = int(round(sparsity * w.size))
    mask = np.ones(w.size, dtype=bool)
    mask[np.argsort(w, kind="stable")[:n_zero]] = False
    return mask.reshape(np.shape(kernel))


def _encode_mask(mask: np.ndarray) -> dict:
    bits = np.packbits(np.asarray(mask, dtype=bool).ravel())
    return {"shape": [int(d) for d in mask.shape], "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def _decode_mask(mask) -> np.ndarray:
    if isinstance(mask, dict):
        shape = tuple(int(d) for d in mask["shape"])
        bits = np.frombuffer(base64.b64decode(mask["bits"]), dtype=np.uint8)
        return np.unpackbits(bits)[: _prod(shape)].astype(bool).reshape(shape)
    arr = np.asarray(mask)
    if not np.isin(arr, (0, 1)).all():
        raise UsageError("a SparseConv2D mask must contain only 0 and 1")
    return arr.astype(bool)


@keras.saving.register_keras_serializable(package="archbench")
class SparseConv2D(keras.layers.Conv2D):
    """A ``Conv2D`` whose kernel is multiplied by a fixed binary mask (a sparse, pruned convolution).

    The mask is either given (``mask``, shape ``(k, k, C/groups, F)``) or made at build time by magnitude
    pruning of the initial kernel at ``sparsity`` (exactly ``round(sparsity * size)`` zeros); call
    :meth:`prune` to re-prune a trained kernel (before tracing, the mask is a constant of the graph).
    Masked weights get zero gradient. The mask is part of the config, not a weight, so parameter counts
    show the dense kernel that is stored, while the MAC count includes only the non-zero weights
    (``nonzero_weights`` per output position), as a sparse kernel would compute them.
    """

    def __init__(self, filters, kernel_size, mask=None, sparsity=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._mask = None if mask is None else _decode_mask(mask)
        self.sparsity = None if sparsity is None else float(sparsity)
        if self.sparsity is not None and not 0.0 <= self.sparsity < 1.0:
            raise UsageError(f"sparsity must be in [0, 1), got {self.sparsity}")

    def build(self, input_shape):
        super().build(input_shape)
        shape = tuple(int(d) for d in self.kernel.shape)
        if self._mask is None:
            if self.sparsity is None:
                self._mask = np.ones(shape, dtype=bool)
            else:
                self._mask = magnitude_mask(ops.convert_to_numpy(self.kernel), self.sparsity)
        elif self._mask.shape != shape:
            raise UsageError(f"SparseConv2D mask has shape {self._mask.shape}, the kernel {shape}")

    @property
    def mask(self) -> np.ndarray:
        """The binary kernel mask (a NumPy array; available after build)."""
        return self._mask

    @property
    def nonzero_weights(self) -> int:
        """Kernel entries that are kept (multiply-adds per output position)."""
        return int(self._mask.sum())

    def prune(self, sparsity: float) -> None:
        """Replace the mask by magnitude pruning of the current kernel at ``sparsity``."""
        self._mask = magnitude_mask(ops.convert_to_numpy(self.kernel), sparsity)
        self.sparsity = float(sparsity)

    def convolution_op(self, inputs, kernel):
        mask = ops.convert_to_tensor(self._mask, dtype=kernel.dtype)
        return super().convolution_op(inputs, kernel * mask)

    def get_config(self):
        config = super().get_config()
        config.update(sparsity=self.sparsity, mask=None if self._mask is None else _encode_mask(self._mask))
        return config


@register_rule(SparseConv2D)
def _sparse_cost(layer, input_shapes, output_shapes) -> LayerCost:
    """Non-zero kernel entries (per group they already count C/groups inputs) per output position."""
    out = output_shapes[0]
    positions, n_out = _prod(out[:-1]), _prod(out)
    other = {"bias": n_out} if layer.use_bias else {}
    other.update(_activation_cost(layer, n_out))
    return LayerCost(macs=positions * layer.nonzero_weights, other=other)
