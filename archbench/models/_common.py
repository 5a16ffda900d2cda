"""What every builder shares: the keras.applications-style signature, inputs, heads and weights.

A builder is ``def build(include_top=True, weights=None, input_tensor=None, input_shape=None,
pooling=None, classes=1000, classifier_activation="softmax", **options)``. It calls
:func:`model_input` for its input, builds its feature extractor, and ends with :func:`finish`, which
adds the classifier (or pooling) and loads local weights.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from typing import Any

import keras
from keras import layers

from ..errors import InputTooSmallError, UsageError, WeightsError

POOLINGS = (None, "avg", "max")


def model_input(
    input_tensor: Any,
    input_shape: tuple[int | None, ...] | None,
    *,
    default_shape: tuple[int, int, int],
    min_size: int,
    model_name: str,
    fixed_size: bool = False,
) -> tuple[Any, Any]:
    """Return ``(model_inputs, x)`` for a builder, validating the spatial size against ``min_size``.

    ``fixed_size`` is for networks whose flattening head only works at the default size when
    ``include_top=True`` (the caller decides); ``None`` spatial dimensions are accepted otherwise.
    """
    if input_tensor is not None:
        shape = tuple(input_tensor.shape[1:])
    else:
        shape = tuple(input_shape) if input_shape is not None else tuple(default_shape)
    if len(shape) != 3:
        raise UsageError(f"{model_name}: input_shape must be (height, width, channels), got {shape}")
    h, w, c = shape
    for dim in (h, w):
        if dim is not None and dim < min_size:
            raise InputTooSmallError(
                f"{model_name}: input {h}x{w} is smaller than the minimum {min_size}x{min_size}"
            )
    if fixed_size and (h, w) != tuple(default_shape[:2]):
        raise UsageError(
            f"{model_name}: with include_top=True the input must be "
            f"{default_shape[0]}x{default_shape[1]} (the classifier is fully connected); "
            "use include_top=False or a pooling head for other sizes"
        )
    if c is None:
        raise UsageError(f"{model_name}: the number of input channels must be known")
    if input_tensor is None:
        inputs = keras.Input(shape=shape, name="input")
        return inputs, inputs
    if not keras.backend.is_keras_tensor(input_tensor):
        inputs = keras.Input(tensor=input_tensor, shape=shape, name="input")
        return inputs, inputs
    return keras.utils.get_source_inputs(input_tensor), input_tensor


def check_head_args(include_top: bool, pooling: str | None, classes: int, weights: str | None) -> None:
    """Validate the shared keyword arguments before anything is built."""
    if pooling not in POOLINGS:
        raise UsageError(f"pooling must be one of None, 'avg', 'max'; got {pooling!r}")
    if not isinstance(classes, int) or classes < 1:
        raise UsageError(f"classes must be a positive integer, got {classes!r}")
    if weights is not None:
        if not isinstance(weights, str | os.PathLike):
            raise WeightsError(f"weights must be None or a local file path, got {weights!r}")
        if str(weights) == "imagenet":
            raise WeightsError(
                "archbench never downloads weights: pass a local file path "
                "(see `archbench convert` to import keras.applications or torchvision weights)"
            )
        if not os.path.isfile(weights):
            raise WeightsError(f"weights file not found: {weights}")


def global_pool(x: Any, pooling: str | None, name: str = "pool") -> Any:
    """``include_top=False`` pooling: None keeps the 4-D feature map."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"avg_{name}")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"max_{name}")(x)
    return x


def finish(
    inputs: Any,
    features: Any,
    *,
    name: str,
    include_top: bool,
    pooling: str | None,
    weights: str | None,
    top: Callable[[Any], Any] | None = None,
    outputs: Any = None,
) -> keras.Model:
    """Close a builder: ``top(features)`` when ``include_top`` else :func:`global_pool`; load weights.

    ``outputs`` overrides everything (for models with several heads, e.g. GoogLeNet in training mode).
    """
    if outputs is None:
        outputs = top(features) if include_top else global_pool(features, pooling)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_local_weights(model, weights)
    return model


def classifier(x: Any, classes: int, activation: str | None, name: str = "predictions") -> Any:
    """The final linear layer with the keras.applications activation convention."""
    if activation is not None:
        keras.activations.get(activation)
    return layers.Dense(classes, activation=activation, name=name)(x)


def load_local_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a local ``.weights.h5`` / ``.keras`` / ``.h5`` file, naming the first mismatching layer."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weights file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if path.endswith(".keras"):
                other = keras.saving.load_model(path, compile=False, safe_mode=True)
                _copy_weights(other, model, path)
            else:
                model.load_weights(path)
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"cannot load weights from {path} into {model.name}: {_why(exc)}") from exc


def _why(exc: Exception) -> str:
    """One line from a Keras loading error, naming the first layer that does not fit."""
    text = str(exc).strip()
    found = re.search(r"for object <(\w+) name=([^,>]+)", text)
    if found:
        detail = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
        reason = detail[0].split(" Target variable:")[0] if detail else ""
        return f"first mismatching layer {found.group(2)!r} ({found.group(1)})" + (f": {reason}" if reason else "")
    return text.splitlines()[0] if text else type(exc).__name__


def _copy_weights(src: keras.Model, dst: keras.Model, path: str) -> None:
    src_layers = {layer.name: layer for layer in src.layers}
    for layer in dst.layers:
        if not layer.weights:
            continue
        other = src_layers.get(layer.name)
        if other is None:
            raise WeightsError(f"{path}: no layer named {layer.name!r} in the file")
        theirs = other.get_weights()
        ours = layer.get_weights()
        if [w.shape for w in theirs] != [w.shape for w in ours]:
            raise WeightsError(
                f"{path}: layer {layer.name!r} has shapes {[w.shape for w in theirs]} in the file, "
                f"{[w.shape for w in ours]} in the model"
            )
        layer.set_weights(theirs)
