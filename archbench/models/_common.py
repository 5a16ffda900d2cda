"""What every builder shares: the keras.applications signature, its checks, inputs, heads and weights.

A family writes one build function ``build(config, args, **options)``: ``args`` is a :class:`BuildArgs`
(the keras.applications keyword arguments, already checked), ``config`` the variant's data (a table,
a depth, a configuration letter). The function opens with :meth:`BuildArgs.input`, builds the feature
extractor, and closes with :meth:`BuildArgs.finish`, which adds the classifier (or the pooling) and
loads local weights. :func:`variant` turns ``(build, config)`` into the public builder, with the
keras.applications signature, so that a registered model is one line::

    vgg16 = register_model(...)(variant(_vgg, "D", name="vgg16", doc="...", options=("dropout", "name")))

(torchvision's ``_vgg(cfg, batch_norm, ...)`` and keras' ``ResNet(stack_fn, ...)`` are the model.)
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import keras
from keras import layers

from ..errors import InputTooSmallError, UsageError, WeightsError

__all__ = [
    "KERAS_ARGUMENTS",
    "POOLINGS",
    "BuildArgs",
    "check_options",
    "global_pool",
    "load_local_weights",
    "variant",
]

POOLINGS = (None, "avg", "max")


@dataclass(frozen=True)
class BuildArgs:
    """The keras.applications keyword arguments of one build, checked when made.

    ``name`` is the model's name, used in error messages too. ``weights`` is ``None`` or a local file
    (archbench never downloads); ``pooling`` applies only with ``include_top=False``.
    """

    name: str
    include_top: bool = True
    weights: str | os.PathLike | None = None
    input_tensor: Any = None
    input_shape: tuple[int | None, ...] | None = None
    pooling: str | None = None
    classes: int = 1000
    classifier_activation: str | None = "softmax"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise UsageError(f"pooling must be one of None, 'avg', 'max'; got {self.pooling!r}")
        if not isinstance(self.classes, int) or self.classes < 1:
            raise UsageError(f"classes must be a positive integer, got {self.classes!r}")
        if self.weights is not None:
            if not isinstance(self.weights, str | os.PathLike):
                raise WeightsError(f"weights must be None or a local file path, got {self.weights!r}")
            if str(self.weights) == "imagenet":
                raise WeightsError(
                    "archbench never downloads weights: pass a local file path "
                    "(see `archbench convert` to import keras.applications or torchvision weights)"
                )
            if not os.path.isfile(self.weights):
                raise WeightsError(f"weights file not found: {self.weights}")

    def keras_arguments(self) -> dict[str, Any]:
        """The keras.applications keyword arguments (:data:`KERAS_ARGUMENTS`), by name."""
        return {argument: getattr(self, argument) for argument in KERAS_ARGUMENTS}

    def input(
        self, default_shape: tuple[int, int, int], min_size: int, *, fixed_size: bool = False
    ) -> tuple[Any, Any]:
        """Return ``(model_inputs, x)``, validating the spatial size against ``min_size``.

        ``fixed_size`` is for networks whose flattening head only works at the default size (the
        caller passes ``include_top``); ``None`` spatial dimensions are accepted otherwise.
        """
        if self.input_tensor is not None:
            shape = tuple(self.input_tensor.shape[1:])
        else:
            shape = tuple(self.input_shape) if self.input_shape is not None else tuple(default_shape)
        if len(shape) != 3:
            raise UsageError(f"{self.name}: input_shape must be (height, width, channels), got {shape}")
        h, w, c = shape
        for dim in (h, w):
            if dim is not None and dim < min_size:
                raise InputTooSmallError(
                    f"{self.name}: input {h}x{w} is smaller than the minimum {min_size}x{min_size}"
                )
        if fixed_size and (h, w) != tuple(default_shape[:2]):
            raise UsageError(
                f"{self.name}: with include_top=True the input must be "
                f"{default_shape[0]}x{default_shape[1]} (the classifier is fully connected); "
                "use include_top=False or a pooling head for other sizes"
            )
        if c is None:
            raise UsageError(f"{self.name}: the number of input channels must be known")
        if self.input_tensor is None:
            inputs = keras.Input(shape=shape, name="input")
            return inputs, inputs
        if not keras.backend.is_keras_tensor(self.input_tensor):
            inputs = keras.Input(tensor=self.input_tensor, shape=shape, name="input")
            return inputs, inputs
        return keras.utils.get_source_inputs(self.input_tensor), self.input_tensor

    def classifier(self, x: Any, name: str = "predictions") -> Any:
        """The final linear layer with ``classes`` units and the keras.applications activation convention."""
        if self.classifier_activation is not None:
            keras.activations.get(self.classifier_activation)
        return layers.Dense(self.classes, activation=self.classifier_activation, name=name)(x)

    def finish(
        self,
        inputs: Any,
        features: Any,
        top: Callable[[Any], Any] | None = None,
        *,
        outputs: Any = None,
        name: str | None = None,
    ) -> keras.Model:
        """Close a build: ``top(features)`` when ``include_top`` else :func:`global_pool`; load weights.

        ``outputs`` overrides everything (for models with several heads, e.g. GoogLeNet in training
        mode); ``name`` renames the model (the builders' ``name`` option).
        """
        if outputs is None:
            outputs = top(features) if self.include_top else global_pool(features, self.pooling)
        model = keras.Model(inputs, outputs, name=name or self.name)
        if self.weights is not None:
            load_local_weights(model, self.weights)
        return model


KERAS_ARGUMENTS = tuple(f.name for f in fields(BuildArgs) if f.name != "name")
"""The keyword arguments of every keras.applications builder, ``include_top`` to ``classifier_activation``."""


def check_options(model_name: str, options: Iterable[str], accepted: Iterable[str]) -> None:
    """Reject builder keyword arguments that the builder does not know, naming the ones it does."""
    accepted = tuple(accepted)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        known = ", ".join(accepted) or "none"
        raise UsageError(f"{model_name}: unknown option(s) {', '.join(unknown)}; accepted: {known}")


def variant(
    build: Callable[..., keras.Model],
    config: Any,
    *,
    name: str,
    doc: str,
    classes: int = 1000,
    options: Iterable[str] = (),
) -> Callable[..., keras.Model]:
    """The public builder of one variant: the keras.applications signature over ``build(config, args)``.

    The builder checks its arguments into a :class:`BuildArgs` named ``name`` and calls
    ``build(config, args, **options)``. ``options`` are the extra keyword arguments ``build`` accepts
    (others raise :class:`UsageError`); those with a default in ``build``'s signature appear in the
    builder's signature too, so callers can ask whether it takes, e.g., ``aux_logits``. The returned
    function is named ``name``, ready for :func:`~archbench.registry.register_model`.
    """
    accepted = tuple(options)
    default_classes = classes

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=default_classes,
        classifier_activation="softmax",
        **options,
    ):
        check_options(name, options, accepted)
        args = BuildArgs(
            name, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation
        )
        return build(config, args, **options)

    declared = inspect.signature(build).parameters
    shown = [
        inspect.Parameter(option, inspect.Parameter.KEYWORD_ONLY, default=declared[option].default)
        for option in accepted
        if option in declared and declared[option].default is not inspect.Parameter.empty
    ]
    signature = inspect.signature(builder)
    *keyword_list, rest = signature.parameters.values()
    builder.__signature__ = signature.replace(parameters=[*keyword_list, *shown, rest])
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    return builder


def global_pool(x: Any, pooling: str | None, name: str = "pool") -> Any:
    """``include_top=False`` pooling: None keeps the 4-D feature map."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"avg_{name}")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"max_{name}")(x)
    return x


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
        return f"first mismatching layer {found.group(2)!r} ({found.group(1)})" + (
            f": {reason}" if reason else ""
        )
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
