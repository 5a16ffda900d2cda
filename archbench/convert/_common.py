"""Helpers shared by the keras and torchvision importers: local files, layers with weights, batch norm."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import UsageError, WeightsError


def _local_file(path: str | os.PathLike, what: str) -> str:
    path = os.fspath(path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        raise UsageError(f"{what} must be a local file, not a URL: {path}")
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{what} not found: {path}")
    return path


def _layers_with_weights(model) -> list:
    from ..params import iter_layers

    return [layer for layer in iter_layers(model) if layer.weights and not getattr(layer, "layers", None)]


def _bn_layers(model) -> dict[str, Any]:
    import keras

    return {
        layer.name: layer
        for layer in _layers_with_weights(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def _set(layer, arrays: list[np.ndarray], source: str) -> None:
    ours = [tuple(w.shape) for w in layer.weights]
    theirs = [tuple(a.shape) for a in arrays]
    if ours != theirs:
        raise WeightsError(f"{source}: shapes {theirs} do not fit layer {layer.name!r} with shapes {ours}")
    layer.set_weights([np.asarray(a, dtype=w.dtype) for a, w in zip(arrays, layer.weights, strict=True)])


def _bn_arrays(layer, gamma, beta, mean, var, eps_theirs: float, notes: dict[str, int]) -> list[np.ndarray]:
    """Our BN's weights from (gamma, beta, mean, var) written for ``eps_theirs``."""
    var = np.asarray(var, np.float64)
    if layer.epsilon != eps_theirs:
        var = var + (eps_theirs - layer.epsilon)
        if np.any(var < 0):
            raise WeightsError(
                f"{layer.name}: cannot move epsilon {eps_theirs} -> {layer.epsilon} into a moving variance < 0"
            )
        key = f"batch-norm epsilon {eps_theirs:g} -> {layer.epsilon:g}: moving variance += {eps_theirs - layer.epsilon:.3g}"
        notes[key] = notes.get(key, 0) + 1
    out = []
    if layer.scale:
        out.append(gamma)
    elif gamma is not None and not np.allclose(gamma, 1.0):
        raise WeightsError(f"{layer.name}: our batch norm has no scale but the source's gamma is not 1")
    if layer.center:
        out.append(beta)
    out += [mean, var]
    return [np.asarray(a, np.float32) for a in out]


def _notes(counter: Mapping[str, int]) -> list[str]:
    return [f"{text} ({n} layers)" for text, n in counter.items()]
