"""Parameter counts in the four conventions archbench reports, as exact integers.

- ``total``: every weight variable of the model (what ``model.count_params()`` says).
- ``trainable`` / ``non_trainable``: Keras' split, which follows the variables' ``trainable`` flag;
  freezing a layer (``layer.trainable = False``) moves its weights to ``non_trainable``.
- ``paper``: what the papers count, the learned parameters: ``total`` minus the weights that are
  state or fixed constants, whatever is frozen. Those are batch norm's moving mean and variance
  (statistics of the data, updated by averaging, not by the gradient) and the weights a layer names in
  its class attribute ``archbench_fixed_weights`` (e.g. LeNet-5's RBF ``centers``, a fixed +-1 code
  that the paper does not count: 60,000 parameters, not 60,840). For a model with neither it equals
  ``total``; for a freshly built one it equals ``trainable``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import prod

import keras

from .errors import UsageError

__all__ = ["FIXED_WEIGHTS_ATTRIBUTE", "ParamCounts", "count_params", "fixed_weights", "iter_layers"]

FIXED_WEIGHTS_ATTRIBUTE = "archbench_fixed_weights"
_BATCH_NORM_STATISTICS = ("moving_mean", "moving_variance")


@dataclass(frozen=True)
class ParamCounts:
    total: int
    trainable: int
    non_trainable: int
    paper: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def iter_layers(model: keras.layers.Layer):
    """Every layer inside ``model``, depth first, nested models expanded (the model itself excluded)."""
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None):
            yield from iter_layers(layer)


def _all_sublayers(layer: keras.layers.Layer):
    """Every layer ``layer`` holds, at any depth: nested models and the sublayers of custom layers
    (``iter_layers`` follows ``.layers`` only)."""
    from .keras_internals import sublayers

    for sub in sublayers(layer):
        yield sub
        yield from _all_sublayers(sub)


def _size(variable) -> int:
    return int(prod(int(d) for d in variable.shape))


def fixed_weights(layer: keras.layers.Layer) -> list:
    """The weights of ``layer`` that are not learned parameters (see the module docstring).

    Batch norm's moving statistics, plus the attributes named in ``archbench_fixed_weights`` of the
    layer's class: a custom layer declares its constants there, e.g. ``archbench_fixed_weights =
    ("centers",)``. A declared name the layer lacks is an error, never silently skipped.
    """
    names: tuple[str, ...] = tuple(getattr(layer, FIXED_WEIGHTS_ATTRIBUTE, ()))
    if isinstance(layer, keras.layers.BatchNormalization):
        names = _BATCH_NORM_STATISTICS + names
    found = []
    for name in names:
        weight = getattr(layer, name, None)
        if weight is None:
            if not layer.built:
                continue
            raise UsageError(
                f"{layer.name} ({type(layer).__name__}) declares a fixed weight {name!r} it does not have"
            )
        found.append(weight)
    return found


def count_params(model: keras.layers.Layer) -> ParamCounts:
    """Count a built model's weights; nothing is created, changed or initialised."""
    seen: dict[int, tuple[int, bool]] = {}
    for w in model.weights:
        seen.setdefault(id(w), (_size(w), bool(w.trainable)))
    total = sum(n for n, _ in seen.values())
    trainable = sum(n for n, t in seen.values() if t)
    fixed = {id(w) for layer in (model, *_all_sublayers(model)) for w in fixed_weights(layer)}
    paper = total - sum(seen[i][0] for i in fixed if i in seen)
    return ParamCounts(total=total, trainable=trainable, non_trainable=total - trainable, paper=paper)
