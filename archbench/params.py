"""Parameter counts in the three conventions archbench reports, as exact integers.

- ``total``: every weight variable of the model (what ``model.count_params()`` says).
- ``trainable`` / ``non_trainable``: Keras' split; batch-norm moving statistics are non-trainable.
- ``paper``: what papers and torchvision count: ``total`` minus batch-norm moving mean and variance
  (the statistics are state, not learned parameters). For a model without batch norm it equals ``total``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import prod

import keras

__all__ = ["ParamCounts", "count_params", "iter_layers"]


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


def _size(variable) -> int:
    return int(prod(int(d) for d in variable.shape))


def count_params(model: keras.layers.Layer) -> ParamCounts:
    """Count a built model's weights; nothing is created, changed or initialised."""
    seen: dict[int, tuple[int, bool]] = {}
    for w in model.weights:
        seen.setdefault(id(w), (_size(w), bool(w.trainable)))
    total = sum(n for n, _ in seen.values())
    trainable = sum(n for n, t in seen.values() if t)
    bn_stats: set[int] = set()
    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            for w in layer.non_trainable_weights:
                bn_stats.add(id(w))
    paper = total - sum(seen[i][0] for i in bn_stats if i in seen)
    return ParamCounts(total=total, trainable=trainable, non_trainable=total - trainable, paper=paper)
