"""``fc-vs-conv``: weights of a fully connected layer on a whole image vs a convolution,
``(H W C + 1) F`` vs ``(k^2 C + 1) F``, from built Keras layers and from the closed form."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from ..errors import UsageError
from ..lecture import conv_params, fc_params
from ._common import grouped, positive

__all__ = ["MAX_BUILD_PARAMS", "FcVsConv", "fc_vs_conv", "format_fc_vs_conv"]

MAX_BUILD_PARAMS = 50_000_000


@dataclass(frozen=True)
class FcVsConv:
    """Weights of a dense layer on the flattened image vs a convolution with as many filters.

    ``*_built`` are the counts of the built Keras layers (``None`` when the dense layer would exceed
    :data:`MAX_BUILD_PARAMS` and was not built).
    """

    image_size: int
    channels: int
    units: int
    kernel: int
    fc_formula: int
    fc_built: int | None
    conv_formula: int
    conv_built: int


def fc_vs_conv(image_size: int = 512, units: int = 64, kernel: int = 7, channels: int = 1) -> FcVsConv:
    """``(H W C + 1) units`` for ``Dense(units)`` on an ``H x W x C`` image vs ``(k^2 C + 1) units`` for
    ``Conv2D(units, k)``, each from the closed form and from the built layer's ``count_params()``."""
    from ..params import count_params

    image_size = positive(image_size, "the image size (--image-size)")
    units = positive(units, "the number of units/filters (--units)")
    kernel = positive(kernel, "the kernel size (--kernel)")
    channels = positive(channels, "the number of channels (--channels)")
    if kernel > image_size:
        raise UsageError(f"a {kernel} x {kernel} kernel does not fit a {image_size} x {image_size} image")
    features = image_size * image_size * channels
    fc_formula = fc_params(image_size, image_size, channels, units)
    conv_formula = conv_params(kernel, channels, units)
    fc_built = None
    if fc_formula <= MAX_BUILD_PARAMS:
        inputs = keras.Input((features,))
        dense = keras.Model(inputs, keras.layers.Dense(units, kernel_initializer="zeros")(inputs))
        fc_built = count_params(dense).total
    inputs = keras.Input((image_size, image_size, channels))
    conv = keras.Model(inputs, keras.layers.Conv2D(units, kernel)(inputs))
    return FcVsConv(
        image_size=image_size,
        channels=channels,
        units=units,
        kernel=kernel,
        fc_formula=fc_formula,
        fc_built=fc_built,
        conv_formula=conv_formula,
        conv_built=count_params(conv).total,
    )


def format_fc_vs_conv(r: FcVsConv) -> str:
    n, c, f, k = r.image_size, r.channels, r.units, r.kernel
    fc_expr = f"({n}^2 * {c} + 1) * {f}" if c > 1 else f"({n}^2 + 1) * {f}"
    conv_expr = f"({k}^2 * {c} + 1) * {f}" if c > 1 else f"({k}^2 + 1) * {f}"
    width = max(len(fc_expr), len(conv_expr))
    built_fc = (
        f"keras Dense: {grouped(r.fc_built)}"
        if r.fc_built is not None
        else f"not built: over {grouped(MAX_BUILD_PARAMS)} weights"
    )
    return "\n".join(
        [
            f"input image {n} x {n} x {c}, {f} units / filters",
            f"  fully connected:   {fc_expr.ljust(width)} = {grouped(r.fc_formula)}  ({built_fc})",
            f"  {k} x {k} convolution: {conv_expr.ljust(width)} = {grouped(r.conv_formula)}  "
            f"(keras Conv2D: {grouped(r.conv_built)})",
            f"the convolution has {r.fc_formula / r.conv_formula:,.1f}x fewer weights, and their number does "
            "not depend on the image size",
        ]
    )
