"""The lecture's arithmetic (lecture 4, convolutional networks) as functions, for the report and the tests.

- A fully connected layer from a 512 x 512 image to 64 units has ``(512^2 + 1) * 64 = 16,777,280``
  weights; a convolution with 64 filters of 7 x 7 has ``(7^2 + 1) * 64 = 3,200``, whatever the image
  size: :func:`fc_vs_conv_params`, from the two formulas :func:`fc_params` and :func:`conv_params` (the
  ones the report's figure plots).
- Output sizes of strided, padded and dilated convolutions: :func:`conv_output_size` (the same formula
  the counter uses).

The two claims "a 1 x 1 convolution is a dense layer applied at every position" and "a global average
pooling head accepts any input size, a Flatten + Dense head does not" are proved in
``tests/test_counting.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import UsageError

if TYPE_CHECKING:
    from .counting import conv_output_size

__all__ = ["FcVsConvParams", "conv_output_size", "conv_params", "fc_params", "fc_vs_conv_params"]


def __getattr__(name: str) -> Any:
    """``conv_output_size`` comes from :mod:`archbench.counting` on first use, so that the formulas below
    (which :mod:`archbench.analysis` imports) do not import Keras."""
    if name == "conv_output_size":
        from .counting import conv_output_size

        return conv_output_size
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fc_params(height: int, width: int, channels: int, units: int) -> int:
    """Weights + biases of a dense layer on a flattened ``height x width x channels`` input."""
    return (height * width * channels + 1) * units


def conv_params(kernel: int | tuple[int, int], channels: int, filters: int) -> int:
    """Weights + biases of a ``kernel x kernel`` (or ``kh x kw``) convolution with ``filters`` filters,
    whatever the image size."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return (kh * kw * channels + 1) * filters


class FcVsConvParams(NamedTuple):
    """Weights (biases included) of one fully connected layer and of one convolution on the same image."""

    dense: int
    conv: int

    @property
    def ratio(self) -> float:
        """How many times more weights the fully connected layer needs."""
        return self.dense / self.conv


def fc_vs_conv_params(
    image: tuple[int, int] = (512, 512),
    units: int = 64,
    kernel: int | tuple[int, int] = 7,
    filters: int = 64,
    channels: int = 1,
) -> FcVsConvParams:
    """``dense = (H * W * C + 1) * units`` and ``conv = (kh * kw * C + 1) * filters``.

    >>> fc_vs_conv_params()
    FcVsConvParams(dense=16777280, conv=3200)
    """
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    h, w = image
    for name, value in (("image height", h), ("image width", w), ("units", units), ("kernel height", kh),
                        ("kernel width", kw), ("filters", filters), ("channels", channels)):  # fmt: skip
        if not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return FcVsConvParams(
        dense=fc_params(h, w, channels, units), conv=conv_params((kh, kw), channels, filters)
    )
