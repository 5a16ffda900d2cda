"""The lecture's worked examples, computed by Keras layers and the counter rather than typed in.

Each topic has a function returning a frozen record (the data) and a ``format_*`` function turning it
into the text that ``archbench explain TOPIC`` prints; :func:`explain` dispatches by topic name. One
module per topic:

- ``pooling`` (:mod:`~archbench.explain.pooling`): max and average pooling of a matrix (the lecture's
  5 x 5 example by default) and where the gradient of the outputs flows in the backward pass, from the
  backend's autodiff.
- ``fc-vs-conv`` (:mod:`~archbench.explain.fc_vs_conv`): weights of a fully connected layer on a whole
  image vs a convolution, ``(H W C + 1) F`` vs ``(k^2 C + 1) F``, from built Keras layers and from the
  closed form.
- ``conv-arithmetic`` (:mod:`~archbench.explain.conv_arithmetic`): output size and receptive field of
  stacked convolutions, and parameters and multiply-adds of the convolution variants for the same input
  and output channels.
- ``gap`` (:mod:`~archbench.explain.gap`): a Flatten + Dense head breaks on a larger input; a
  global-average-pooling head does not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from ..errors import UsageError
from ._common import input_gradient
from .conv_arithmetic import ConvArithmetic, ConvStep, ConvVariant, conv_arithmetic, format_conv_arithmetic
from .fc_vs_conv import MAX_BUILD_PARAMS, FcVsConv, fc_vs_conv, format_fc_vs_conv
from .gap import GapExample, format_gap, gap_example
from .pooling import LECTURE_POOLING_INPUT, PoolingExample, format_pooling, parse_matrix, pooling_example

__all__ = [
    "LECTURE_POOLING_INPUT",
    "MAX_BUILD_PARAMS",
    "TOPICS",
    "ConvArithmetic",
    "ConvStep",
    "ConvVariant",
    "FcVsConv",
    "GapExample",
    "PoolingExample",
    "conv_arithmetic",
    "explain",
    "fc_vs_conv",
    "format_conv_arithmetic",
    "format_fc_vs_conv",
    "format_gap",
    "format_pooling",
    "gap_example",
    "input_gradient",
    "parse_matrix",
    "pooling_example",
    "topic_options",
]

TOPICS: dict[str, tuple[Callable, Callable]] = {
    "pooling": (pooling_example, format_pooling),
    "fc-vs-conv": (fc_vs_conv, format_fc_vs_conv),
    "conv-arithmetic": (conv_arithmetic, format_conv_arithmetic),
    "gap": (gap_example, format_gap),
}


def _flag(option: str) -> str:
    return "--" + {"matrix": "input"}.get(option, option).replace("_", "-")


def topic_options(topic: str) -> tuple[str, ...]:
    """Keyword options the topic's function accepts."""
    return tuple(inspect.signature(TOPICS[topic][0]).parameters)


def explain(topic: str, **options) -> str:
    """The printed worked example of ``topic`` (one of :data:`TOPICS`) with the given options."""
    if topic not in TOPICS:
        raise UsageError(f"unknown topic {topic!r}; choose from {', '.join(TOPICS)}")
    allowed = topic_options(topic)
    for name in options:
        if name not in allowed:
            flags = ", ".join(_flag(a) for a in allowed)
            raise UsageError(f"option {_flag(name)} does not apply to topic {topic!r} (its options: {flags})")
    compute, render = TOPICS[topic]
    return render(compute(**options))
