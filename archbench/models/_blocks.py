"""Pieces shared by the plain (unbranched) families: Caffe/Torch padding arithmetic and a table-driven net.

Caffe and Torch pad symmetrically (``pad`` zeros on every side) and Caffe rounds pooling output sizes up
(``ceil_mode``), neither of which Keras' ``"valid"``/``"same"`` expresses. :func:`conv2d` and
:func:`max_pool` reproduce both exactly, so that feature maps have the sizes the papers print (ZFNet's
110-55-26-13, NiN's 54-27-13-6) and the windows line up with the original frameworks' weights.

:class:`ConvNet` is the architecture-as-data form of AlexNet-style networks: a tuple of rows
(:class:`Conv`, :class:`LRN`, :class:`MaxPool`) read in order by :func:`build_convnet`, then a
flattening head of fully connected layers. :func:`keras_builder` turns ``(build, config)`` into a
function with the keras.applications signature, so a variant is one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keras import layers

from ..errors import UsageError
from ..layers import LocalResponseNormalization
from ._common import check_head_args, classifier, finish, model_input

__all__ = [
    "LRN",
    "BatchNorm",
    "Conv",
    "ConvNet",
    "MaxPool",
    "build_convnet",
    "check_options",
    "conv2d",
    "conv_unit",
    "keras_builder",
    "max_pool",
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


def conv2d(
    x: Any,
    filters: int,
    kernel: int,
    *,
    stride: int = 1,
    pad: int = 0,
    groups: int = 1,
    activation: str | None = None,
    name: str,
) -> Any:
    """A convolution with Caffe's symmetric zero padding ``pad`` (``"same"`` when that is the same thing)."""
    if pad == 0:
        padding = "valid"
    elif stride == 1 and 2 * pad == kernel - 1:
        padding = "same"
    else:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
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
    """A convolution row, followed by ReLU (batch norm in between when the net has it)."""

    name: str
    filters: int
    kernel: int
    stride: int = 1
    pad: int = 0
    groups: int = 1


@dataclass(frozen=True)
class LRN:
    """Local response normalisation with the net's LRN settings."""

    name: str


@dataclass(frozen=True)
class MaxPool:
    """A max-pooling row with Caffe/Torch geometry (see :func:`max_pool`)."""

    name: str
    size: int = 3
    stride: int = 2
    pad: int = 0
    ceil_mode: bool = False


@dataclass(frozen=True)
class ConvNet:
    """An AlexNet-style network: ``features`` rows, flatten, ``fc`` layers with ReLU and dropout, classifier.

    ``dropout_first`` puts each dropout before its fully connected layer (torchvision, Torch) instead
    of after its ReLU (the papers' and Caffe's order); at inference the two are the same network.
    ``lrn`` holds :class:`~archbench.layers.LocalResponseNormalization` arguments.
    """

    features: tuple[Conv | LRN | MaxPool, ...]
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


def check_options(model_name: str, options: dict[str, Any], accepted: tuple[str, ...]) -> None:
    """Reject builder keyword arguments that the builder does not know, naming the ones it does."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        known = ", ".join(accepted) or "none"
        raise UsageError(f"{model_name}: unknown option(s) {', '.join(unknown)}; accepted: {known}")


def build_convnet(
    config: ConvNet,
    *,
    name: str,
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: tuple[int, int, int] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: str | None,
    dropout: float | None = None,
) -> Any:
    """Build ``config``. ``include_top=True`` needs the default input size (the head is fully connected)."""
    rate = config.dropout if dropout is None else dropout
    if not 0.0 <= rate < 1.0:
        raise UsageError(f"{name}: dropout must be in [0, 1), got {rate!r}")
    check_head_args(include_top, pooling, classes, weights)
    inputs, x = model_input(
        input_tensor,
        input_shape,
        default_shape=config.input_shape,
        min_size=config.min_input_size,
        model_name=name,
        fixed_size=include_top,
    )
    bn = config.batch_norm
    for row in config.features:
        if isinstance(row, Conv):
            x = conv_unit(x, row, bn)
        elif isinstance(row, LRN):
            x = LocalResponseNormalization(**dict(config.lrn), name=row.name)(x)
        else:
            x = max_pool(x, row.size, row.stride, pad=row.pad, ceil_mode=row.ceil_mode, name=row.name)

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
        return classifier(y, classes, classifier_activation)

    return finish(inputs, x, name=name, include_top=include_top, pooling=pooling, weights=weights, top=top)


def keras_builder(
    build: Callable[..., Any],
    config: Any,
    *,
    name: str,
    doc: str,
    classes: int = 1000,
    options: tuple[str, ...] = (),
) -> Callable[..., Any]:
    """A builder with the keras.applications signature that calls ``build(config, name=name, ...)``.

    ``options`` are the extra keyword arguments ``build`` accepts; others raise :class:`UsageError`.
    The returned function is named ``name``, ready for :func:`~archbench.registry.register_model`.
    """
    default_classes = classes

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=default_classes,
        classifier_activation="softmax",
        **kwargs,
    ):
        check_options(name, kwargs, options)
        return build(
            config,
            name=name,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            **kwargs,
        )

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    return builder
