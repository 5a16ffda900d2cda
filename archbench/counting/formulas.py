"""Pure formulas: shapes in, integers out. They know nothing about Keras (see the package docstring
for the conventions)."""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil, prod

from ..errors import UsageError
from .rules import Shape, UncountedLayer

__all__ = [
    "as_tuple",
    "conv_macs",
    "conv_output_size",
    "conv_transpose_macs",
    "dense_macs",
    "depthwise_conv_macs",
    "einsum_macs",
    "elements",
    "global_pool_ops",
    "merge_ops",
    "pool_ops",
    "resize_ops",
    "same_padding",
    "separable_conv_macs",
]


def as_tuple(value: int | Sequence[int], n: int) -> tuple[int, ...]:
    """``value`` repeated ``n`` times, or the ``n`` values it holds (a layer's kernel size, strides...)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise UsageError(f"expected {n} values, got {value}")
    return value


def _positive(**values: int) -> None:
    for name, v in values.items():
        if int(v) < 1:
            raise UsageError(f"{name} must be a positive integer, got {v}")


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: str | int | tuple[int, int] = "valid", dilation: int = 1
) -> int:
    """Output length of a convolution or pooling window along one axis.

    ``padding`` is ``"valid"`` (none), ``"same"`` (output ``ceil(size / stride)``), ``"causal"`` (left
    padding ``dilation * (kernel - 1)``), an int padded on both sides, or ``(before, after)``.
    """
    _positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    k_eff = dilation * (kernel - 1) + 1
    if padding in ("same", "causal"):
        return ceil(size / stride)
    if padding == "valid":
        before = after = 0
    elif isinstance(padding, int):
        before = after = padding
    elif isinstance(padding, tuple | list) and len(padding) == 2:
        before, after = (int(p) for p in padding)
    else:
        raise UsageError(
            f"padding must be 'valid', 'same', 'causal', an int or (before, after); got {padding!r}"
        )
    out = (size + before + after - k_eff) // stride + 1
    if out < 1:
        raise UsageError(f"a window of {k_eff} does not fit an input of {size} padded by ({before}, {after})")
    return out


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` padding of TensorFlow's / Keras' ``"same"`` (the extra one goes after)."""
    k_eff = dilation * (kernel - 1) + 1
    total = max((ceil(size / stride) - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def conv_macs(out_spatial: Shape, kernel: Shape, cin: int, cout: int, groups: int = 1) -> int:
    """Multiply-adds of a (grouped) convolution: every output element reads ``prod(kernel) * cin / groups``."""
    _positive(cin=cin, cout=cout, groups=groups)
    if cin % groups or cout % groups:
        raise UsageError(f"groups={groups} must divide both cin={cin} and cout={cout}")
    return prod(out_spatial) * prod(kernel) * (cin // groups) * cout


def depthwise_conv_macs(out_spatial: Shape, kernel: Shape, channels: int, depth_multiplier: int = 1) -> int:
    """Multiply-adds of a depthwise convolution (``groups = channels``, ``channels * multiplier`` outputs)."""
    _positive(channels=channels, depth_multiplier=depth_multiplier)
    return prod(out_spatial) * prod(kernel) * channels * depth_multiplier


def separable_conv_macs(
    out_spatial: Shape, kernel: Shape, cin: int, cout: int, depth_multiplier: int = 1
) -> int:
    """Depthwise part plus the 1 x 1 pointwise part (both at the output resolution)."""
    mid = cin * depth_multiplier
    return depthwise_conv_macs(out_spatial, kernel, cin, depth_multiplier) + prod(out_spatial) * mid * cout


def conv_transpose_macs(in_spatial: Shape, kernel: Shape, cin: int, cout: int, groups: int = 1) -> int:
    """Multiply-adds of a transposed convolution: each input element is scattered through the kernel."""
    _positive(cin=cin, cout=cout, groups=groups)
    if cin % groups or cout % groups:
        raise UsageError(f"groups={groups} must divide both cin={cin} and cout={cout}")
    return prod(in_spatial) * prod(kernel) * cin * (cout // groups)


def dense_macs(in_features: int, units: int, positions: int = 1) -> int:
    """Multiply-adds of a dense layer applied at ``positions`` positions (all leading axes)."""
    return positions * in_features * units


def einsum_macs(equation: str, a_shape: Shape, b_shape: Shape) -> int:
    """Multiply-adds of a two-operand einsum: the product of the sizes of all its indices.

    ``a_shape`` and ``b_shape`` are full shapes (batch included, so pass 1 for a per-sample count);
    ``...`` stands for the broadcast leading axes.
    """
    try:
        lhs, _ = equation.replace(" ", "").split("->")
        specs = lhs.split(",")
    except ValueError as exc:
        raise UsageError(f"not a two-operand einsum equation: {equation!r}") from exc
    if len(specs) != 2:
        raise UsageError(f"not a two-operand einsum equation: {equation!r}")
    sizes: dict[str, int] = {}
    ellipsis = 1
    for spec, shape in zip(specs, (tuple(a_shape), tuple(b_shape)), strict=True):
        if "..." in spec:
            pre, post = spec.split("...")
            n = len(shape) - len(pre) - len(post)
            ellipsis = max(ellipsis, prod(shape[len(pre) : len(pre) + n]))
            letters, dims = pre + post, shape[: len(pre)] + shape[len(shape) - len(post) :]
        else:
            letters, dims = spec, shape
        if len(letters) != len(dims):
            raise UsageError(f"einsum {equation!r}: operand {spec!r} does not match shape {shape}")
        for letter, d in zip(letters, dims, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), int(d))
    return prod(sizes.values()) * ellipsis


def pool_ops(out_elements: int, window: Shape, kind: str) -> int:
    """Pooling operations: max ``window - 1`` comparisons per output, average ``window`` (adds + divide)."""
    k = prod(window)
    if kind == "max":
        return out_elements * (k - 1)
    if kind == "avg":
        return out_elements * k
    raise UsageError(f"pooling kind must be 'max' or 'avg', got {kind!r}")


def global_pool_ops(in_spatial: Shape, channels: int, kind: str) -> int:
    """Global pooling over ``in_spatial``: a window covering the whole map, one output per channel."""
    return pool_ops(channels, in_spatial, kind)


def merge_ops(out_elements: int, n_inputs: int, average: bool = False) -> int:
    """Element-wise merge of ``n_inputs`` tensors: ``n - 1`` binary ops per element (+1 divide for a mean)."""
    return out_elements * (n_inputs - 1 + int(average))


def resize_ops(out_elements: int, interpolation: str, spatial_rank: int) -> int:
    """Interpolation taps per output element: nearest 0, linear ``2^d``, cubic ``4^d``, lanczos3/5 ``6^d``/``10^d``."""
    taps = {"nearest": 0, "bilinear": 2, "linear": 2, "bicubic": 4, "cubic": 4, "lanczos3": 6, "lanczos5": 10}
    if interpolation not in taps:
        raise UncountedLayer(f"interpolation {interpolation!r} has no rule")
    return out_elements * taps[interpolation] ** spatial_rank


def elements(shape: Shape) -> int:
    """The number of scalars in a tensor of ``shape``."""
    return prod(int(d) for d in shape)
