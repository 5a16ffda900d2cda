"""The Keras side of a runtime measurement: build the model, compute the reference, export it.

Exports run on the TensorFlow backend, where Keras' ``model.export`` offers every format used here.
The model is built with a fixed seed, so every runtime of one model sees the same weights.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .base import CONFORMANCE_DRAWS, Route

__all__ = ["build", "convert", "export", "export_keras", "reference"]


def build(model_name: str, *, input_size: int | None = None, seed: int = 0) -> Any:
    """A registered model in float32 with seeded weights, at ``input_size`` when given, ending in its
    logits (``classifier_activation=None``).

    Logits, because the softmax of a randomly initialised deep network saturates: ResNet-50's largest
    probability is 1.0 to seven digits, and differences between runtimes vanish in it. The softmax over
    1000 classes is a few microseconds of the time measured.
    """
    import keras

    from ..registry import get_spec

    spec = get_spec(model_name)
    kwargs: dict[str, Any] = {"classifier_activation": None}
    if input_size is not None:
        kwargs["input_shape"] = (int(input_size), int(input_size), spec.input_shape[2])
    keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        return spec.build(**kwargs)
    finally:
        keras.config.set_dtype_policy(previous)


def _image_shape(model: Any) -> tuple[int, int, int]:
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or None in shape[1:]:
        raise ValueError(f"runtimes measure models with one fixed-size image input, got input_shape {shape}")
    return tuple(int(d) for d in shape[1:])  # type: ignore[return-value]


def reference(model: Any, batch: int, *, seed: int = 0, draws: int = CONFORMANCE_DRAWS) -> tuple[Any, Any]:
    """``(inputs, outputs)``: ``draws`` random batches (uniform in [0, 1), ``seed``) and the Keras
    model's first output on each, as float32 arrays of shape ``(draws, batch, ...)``."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    inputs = rng.random((draws, batch, *_image_shape(model)), dtype=np.float32)
    outputs = []
    for x in inputs:
        y = model(x, training=False)
        y = y[0] if isinstance(y, list | tuple) else y
        outputs.append(keras.ops.convert_to_numpy(y).astype(np.float32))
    return inputs, np.stack(outputs)


def export_keras(model: Any, route: Route, directory: str, batch: int) -> tuple[str, float]:
    """``model.export`` in the route's Keras format, with a static input of ``batch`` images;
    returns ``(path, seconds)``. The model must have been called (:func:`reference` does)."""
    import keras

    if route.keras_format is None:
        raise ValueError(f"route {route.name!r} of {route.runtime} has no Keras export")
    path = os.path.join(directory, route.keras_artifact)
    spec = keras.InputSpec(shape=(batch, *_image_shape(model)), dtype="float32")
    t0 = time.perf_counter()
    model.export(path, format=route.keras_format, input_signature=[spec], verbose=False)
    return path, time.perf_counter() - t0


def convert(route: Route, directory: str) -> tuple[str, float]:
    """The route's converter step on the Keras artifact in ``directory``; returns ``(path, seconds)``."""
    from . import onnx

    converters = {"tflite_to_onnx": onnx.tflite_to_onnx}
    if route.convert not in converters:
        raise ValueError(f"unknown converter {route.convert!r}")
    src = os.path.join(directory, route.keras_artifact)
    dst = os.path.join(directory, route.artifact)
    t0 = time.perf_counter()
    converters[route.convert](src, dst)
    return dst, time.perf_counter() - t0


def export(model: Any, route: Route, directory: str, batch: int) -> tuple[str, float]:
    """Both steps of a route in this process (tests, small models); returns ``(artifact, seconds)``.

    The ``exported`` target (:mod:`archbench.benchmark.targets.exported`) runs each step in a process
    of its own instead, under a memory limit and with the converter's environment.
    """
    path, seconds = export_keras(model, route, directory, batch)
    if route.convert is not None:
        path, more = convert(route, directory)
        seconds += more
    return path, seconds
