"""The rule table: which function counts which layer class, and which classes are weight layers.

A rule is ``rule(layer, input_shapes, output_shapes) -> LayerCost`` for ONE sample (shapes exclude
the batch dimension). Rules for Keras' own layers are in :mod:`archbench.counting.keras_rules`; the
project's layers register theirs beside their definitions. Nothing here imports Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

__all__ = [
    "RULES",
    "LayerCost",
    "Rule",
    "Shape",
    "UncountedLayer",
    "find_rule",
    "is_weight_layer",
    "register_rule",
    "register_weight_layer",
    "split_channels",
]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer call for ONE sample: multiply-adds and other operations by category."""

    macs: int = 0
    other: Mapping[str, int] = field(default_factory=dict)


Rule = Callable[[Any, list[Shape], list[Shape]], LayerCost]
RULES: dict[type, Rule] = {}
WEIGHT_LAYERS: set[type] = set()


class UncountedLayer(Exception):
    """Raised by a rule that cannot count this particular layer configuration (the layer is listed)."""


def register_rule(*layer_classes: type, replace: bool = False) -> Callable[[Rule], Rule]:
    """Register ``rule(layer, input_shapes, output_shapes) -> LayerCost`` for layer classes.

    Shapes exclude the batch dimension. Subclasses inherit a rule unless they register their own.
    A class that already has another rule is refused (a ``UsageError``) unless ``replace=True``.
    """

    def decorator(rule: Rule) -> Rule:
        taken = [cls for cls in layer_classes if RULES.get(cls, rule) is not rule]
        if taken and not replace:
            names = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in taken)
            raise UsageError(
                f"a counting rule is already registered for {names}; pass replace=True to replace it"
            )
        for cls in layer_classes:
            RULES[cls] = rule
        return rule

    return decorator


def register_weight_layer(*layer_classes: type) -> None:
    """Count these classes (and their subclasses) as weight layers in :attr:`Complexity.depth`."""
    WEIGHT_LAYERS.update(layer_classes)


def is_weight_layer(layer: Any) -> bool:
    """Whether ``layer`` counts towards the paper's depth (its class attribute wins over the table)."""
    flag = getattr(type(layer), "archbench_weight_layer", None)
    if flag is not None:
        return bool(flag)
    return isinstance(layer, tuple(WEIGHT_LAYERS))


def find_rule(layer: Any) -> Rule | None:
    """The rule of the nearest class in ``type(layer).__mro__`` that has one."""
    for cls in type(layer).__mro__:
        if cls in RULES:
            return RULES[cls]
    return None


def split_channels(shape: Shape, layer: Any) -> tuple[Shape, int]:
    """``(spatial dims, channels)`` of a per-sample shape in the layer's data format."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return tuple(shape[1:]), int(shape[0])
    return tuple(shape[:-1]), int(shape[-1])
