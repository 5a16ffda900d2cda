"""Pieces shared by the plain (unbranched) families: Caffe/Torch padding arithmetic and a table-driven net.

Caffe and Torch pad symmetrically (``pad`` zeros on every side) and Caffe rounds pooling output sizes up
(``ceil_mode``), neither of which Keras' ``"valid"``/``"same"`` expresses. :func:`conv2d` and
:func:`max_pool` reproduce both exactly, so that feature maps have the sizes the papers print (ZFNet's
110-55-26-13, NiN's 54-27-13-6) and the windows line up with the original frameworks' weights.

The rows of every convolution table in the zoo are :class:`Conv` and :class:`Pool` (with :class:`LRN`
for the nets that have it): a row's ``pad`` is either Caffe's symmetric padding (an int) or Keras'
``"same"``/``"valid"``, so AlexNet's table and Inception-v4's figures speak the same vocabulary.
:class:`ConvNet` is the architecture-as-data form of AlexNet-style networks: a tuple of rows read in
order by :func:`build_convnet`, then a flattening head of fully connected layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
from keras import layers

from ..errors import UsageError
from ..layers import LocalResponseNormalization
from ._common import BuildArgs

__all__ = [
    "LRN",
    "BatchNorm",
    "Conv",
    "ConvNet",
    "Pool",
    "build_convnet",
    "conv2d",
    "conv_unit",
    "keras_padding",
    "max_pool",
    "pool2d",
    "pool_output_length",
]


@dataclass(frozen=True)
class BatchNorm:
    """Batch-norm settings in Keras' convention (``momentum`` 0.9 is Torch's and PyTorch's 0.1)."""

    epsilon: float = 1e-3
    momentum: float = 0.9


def pool_output_length(length: int, size: int, stride: int, pad: int = 0, ceil_mode: bool = False) -> int:
    """Output length of Caffe/Torch pooling along one axis.

    ``floor`` or ``ceil`` of ``(length + 2*pad - size) / stride``, plus one; in ceil mode a last window
    that would start in the padding is dropped (Caffe's and Torch's rule).
    """
    span = length + 2 * pad - size
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and pad and (out - 1) * stride >= length + pad:
        out -= 1
    return out


def keras_padding(
    x: Any, pad: int | str, kernel: int | tuple[int, int], stride: int, name: str
) -> tuple[Any, str]:
    """Return ``(x, padding)`` for a Keras layer: ``pad`` as given when it is ``"same"``/``"valid"``.

    An int is Caffe's symmetric zero padding: ``"valid"`` when 0, ``"same"`` when that is the same
    thing (stride 1, ``pad`` = (kernel - 1) / 2), else an explicit ``{name}_pad`` layer before a valid one.
    """
    if isinstance(pad, str):
        return x, pad
    if pad == 0:
        return x, "valid"
    kernels = (kernel, kernel) if isinstance(kernel, int) else kernel
    if stride == 1 and all(2 * pad == k - 1 for k in kernels):
        return x, "same"
    return layers.ZeroPadding2D(pad, name=f"{name}_pad")(x), "valid"


def conv2d(
    x: Any,
    filters: int,
    kernel: int | tuple[int, int],
    *,
    stride: int = 1,
    pad: int | str = 0,
    groups: int = 1,
    activation: str | None = None,
    name: str,
) -> Any:
    """A convolution padded by Caffe's ``pad`` zeros on each side or Keras' way (:func:`keras_padding`)."""
    x, padding = keras_padding(x, pad, kernel, stride, name)
    return layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, groups=groups, activation=activation, name=name
    )(x)


def max_pool(x: Any, size: int, stride: int, *, pad: int = 0, ceil_mode: bool = False, name: str) -> Any:
    """Max pooling with Caffe/Torch geometry: ``pad`` on each side, output size rounded up in ``ceil_mode``.

    The padding is zeros, which equals the frameworks' ignored padding because every caller pools
    non-negative activations (after ReLU). Ceil mode needs the input size when the model is built.
    """
    extra = [0, 0]
    if ceil_mode:
        for i, n in enumerate(x.shape[1:3]):
            if n is None:
                raise UsageError(f"{name}: ceil-mode pooling needs a known input height and width")
            out = pool_output_length(n, size, stride, pad, ceil_mode=True)
            extra[i] = max((out - 1) * stride + size - (n + 2 * pad), 0)
    if pad or any(extra):
        padding = ((pad, pad + extra[0]), (pad, pad + extra[1]))
        x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    return layers.MaxPooling2D(size, strides=stride, padding="valid", name=name)(x)


@dataclass(frozen=True)
class Conv:
    """A convolution row of a network table.

    ``kernel`` is ``k`` or ``(height, width)``; ``pad`` is Caffe's and Torch's symmetric zero padding (an
    int: AlexNet's, ZFNet's and NiN's tables) or Keras' ``"same"``/``"valid"`` (Inception-v4's figures,
    whose "V" marks the valid ones). ``name`` is the layer's name where the table gives one; otherwise
    the builder names the layer by the row's place. What follows the convolution (batch norm, ReLU) is
    the network's rule, not the row's.
    """

    filters: int
    kernel: int | tuple[int, int] = 1
    stride: int = 1
    pad: int | str = "same"
    groups: int = 1
    name: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class Pool:
    """A pooling row: ``kind`` ("max" or "avg") over ``size`` x ``size`` windows (see :func:`pool2d`).

    ``pad`` is as in :class:`Conv`: an int is Caffe/Torch geometry (max pooling only, rounded up in
    ``ceil_mode``; see :func:`max_pool`), a string Keras' padding. The default is AlexNet's
    overlapping 3x3/2 max pool.
    """

    kind: str = "max"
    size: int = 3
    stride: int = 2
    pad: int | str = 0
    ceil_mode: bool = False
    name: str = field(default="", kw_only=True)


@dataclass(frozen=True)
class LRN:
    """Local response normalisation with the net's LRN settings."""

    name: str


def pool2d(x: Any, row: Pool, name: str) -> Any:
    """The pooling layer of ``row``, named ``name``."""
    if isinstance(row.pad, str):
        pool = layers.MaxPooling2D if row.kind == "max" else layers.AveragePooling2D
        return pool(row.size, strides=row.stride, padding=row.pad, name=name)(x)
    if row.kind != "max":
        raise UsageError(f"{name}: Caffe/Torch pooling geometry (an int pad) is built for max pooling only")
    return max_pool(x, row.size, row.stride, pad=row.pad, ceil_mode=row.ceil_mode, name=name)


@dataclass(frozen=True)
class ConvNet:
    """An AlexNet-style network: ``features`` rows, flatten, ``fc`` layers with ReLU and dropout, classifier.

    ``dropout_first`` puts each dropout before its fully connected layer (torchvision, Torch) instead
    of after its ReLU (the papers' and Caffe's order); at inference the two are the same network.
    ``lrn`` holds :class:`~archbench.layers.LocalResponseNormalization` arguments.
    """

    features: tuple[Conv | LRN | Pool, ...]
    input_shape: tuple[int, int, int]
    min_input_size: int
    fc: tuple[tuple[str, int], ...] = (("fc6", 4096), ("fc7", 4096))
    dropout: float = 0.5
    dropout_first: bool = False
    batch_norm: BatchNorm | None = None
    lrn: tuple[tuple[str, float], ...] = (("size", 5), ("alpha", 1e-4), ("beta", 0.75), ("k", 2.0))

    @property
    def weight_layers(self) -> int:
        """Convolutions plus fully connected layers plus the classifier (the papers' depth)."""
        return sum(isinstance(row, Conv) for row in self.features) + len(self.fc) + 1


def _bn_relu(x: Any, bn: BatchNorm, name: str) -> Any:
    x = layers.BatchNormalization(epsilon=bn.epsilon, momentum=bn.momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def conv_unit(x: Any, row: Conv, bn: BatchNorm | None) -> Any:
    """``row``'s convolution, then batch norm when ``bn`` is given, then ReLU."""
    x = conv2d(
        x,
        row.filters,
        row.kernel,
        stride=row.stride,
        pad=row.pad,
        groups=row.groups,
        activation=None if bn else "relu",
        name=row.name,
    )
    return _bn_relu(x, bn, row.name) if bn else x


def build_convnet(config: ConvNet, args: BuildArgs, *, dropout: float | None = None) -> keras.Model:
    """Build ``config``. ``include_top=True`` needs the default input size (the head is fully connected)."""
    rate = config.dropout if dropout is None else dropout
    if not 0.0 <= rate < 1.0:
        raise UsageError(f"{args.name}: dropout must be in [0, 1), got {rate!r}")
    inputs, x = args.input(config.input_shape, config.min_input_size, fixed_size=args.include_top)
    bn = config.batch_norm
    for row in config.features:
        if isinstance(row, Conv):
            x = conv_unit(x, row, bn)
        elif isinstance(row, LRN):
            x = LocalResponseNormalization(**dict(config.lrn), name=row.name)(x)
        else:
            x = pool2d(x, row, row.name)

    def top(features: Any) -> Any:
        y = layers.Flatten(name="flatten")(features)
        for fc_name, units in config.fc:
            if config.dropout_first:
                y = layers.Dropout(rate, name=f"{fc_name}_dropout")(y)
            y = layers.Dense(units, activation=None if bn else "relu", name=fc_name)(y)
            if bn:
                y = _bn_relu(y, bn, fc_name)
            if not config.dropout_first:
                y = layers.Dropout(rate, name=f"{fc_name}_dropout")(y)
        return args.classifier(y)

    return args.finish(inputs, x, top)
