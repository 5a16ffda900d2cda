"""Analytic operation counts for Keras 3 models.

Convention: 1 MAD (= 1 MAC) is one multiply-add. ``macs`` counts the multiply-adds of convolutions and
dense layers only (the convention of papers and torchvision's tables); ``flops = 2 * macs``. Everything
else (bias adds, batch norm, activations, pooling, residual adds) is counted separately in ``ops_other``.

(STUB: the rule table interface below is fixed; the walker is being written.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer call for ONE sample: multiply-adds and other operations by category."""

    macs: int = 0
    other: Mapping[str, int] = field(default_factory=dict)


Rule = Callable[[Any, list[Shape], list[Shape]], LayerCost]
RULES: dict[type, Rule] = {}


def register_rule(*layer_classes: type) -> Callable[[Rule], Rule]:
    """Register ``rule(layer, input_shapes, output_shapes) -> LayerCost`` for layer classes.

    Shapes exclude the batch dimension. Subclasses inherit a rule unless they register their own.
    """

    def decorator(rule: Rule) -> Rule:
        for cls in layer_classes:
            RULES[cls] = rule
        return rule

    return decorator
