"""Receptive fields through a traced program, with the walker's arithmetic
(:mod:`archbench.counting.receptive_field`: Araujo, Norris & Sim, Distill 2019).

A *field* is one entry per axis of a value, batch included: ``(size, jump, start)`` in exact fractions
for a spatial axis, ``None`` for the others (batch, channels, an axis the walker lost track of). The
model's input is channels-last, as Keras' default: its axes between the batch and the last one are
spatial. Sliding windows (convolutions, pooling) grow the field along the axes their dimension
numbers call spatial; padding and slicing move its start; data movement maps axes (a transpose
permutes them, a reshape keeps the axes whose size and position it keeps); element-wise operations
merge their data operands' fields (the largest per axis, as where branches meet in the walker). Any
other operation on a spatial axis (a reduction over it, a flatten) ends the field there. The model's
field is the largest seen on any value, as the walker takes the largest of any layer's output.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil, prod

from ..counting.receptive_field import rf_public
from ..counting.records import ReceptiveField

Axis = tuple[Fraction, Fraction, Fraction]
Field = tuple[Axis | None, ...]

_ONE = (Fraction(1), Fraction(1), Fraction(0))


def input_field(shape: tuple[int, ...]) -> Field | None:
    """The field of a channels-last input of ``shape`` (batch included): size 1 on its spatial axes."""
    if len(shape) < 3:
        return None
    return (None, *([_ONE] * (len(shape) - 2)), None)


def tracked(field: Field | None) -> bool:
    return field is not None and any(a is not None for a in field)


def merge(fields: list[Field | None], rank: int) -> Field | None:
    """Where data operands meet: the largest field per axis; None when one of them has none."""
    if not fields or any(f is None or len(f) != rank for f in fields):
        return None
    out = []
    for axes in zip(*fields, strict=True):
        known = [a for a in axes if a is not None]
        out.append(max(known, key=lambda a: (a[0], a[1])) if known else None)
    return _kept(tuple(out))


def window(
    field: Field | None,
    axes_in: list[int],
    axes_out: list[int],
    rank_out: int,
    kernel: list[int],
    strides: list[int],
    dilation: list[int],
    before: list[int],
    *,
    upsample: list[int] | None = None,
) -> Field | None:
    """A sliding window along ``axes_in`` (giving ``axes_out``): ``size += (k_eff - 1) * jump``,
    ``jump *= stride``, ``start += ((k_eff - 1) / 2 - before) * jump``; the other axes of the result
    are not spatial. ``upsample`` (a transposed convolution's strides) divides the jump instead and
    adds ``ceil(k_eff / stride) - 1`` taps, the start unchanged, as the walker does."""
    if field is None:
        return None
    out: list[Axis | None] = [None] * rank_out
    for i, j, k, s, d, b, u in zip(
        axes_in, axes_out, kernel, strides, dilation, before, upsample or [1] * len(axes_in), strict=True
    ):
        axis = field[i]
        if axis is None:
            continue
        size, jump, start = axis
        k_eff = d * (k - 1) + 1
        if upsample is not None:
            out[j] = (size + (ceil(k_eff / u) - 1) * jump, jump / u, start)
        else:
            out[j] = (size + (k_eff - 1) * jump, jump * s, start + (Fraction(k_eff - 1, 2) - b) * jump)
    return _kept(tuple(out))


def same_before(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Padding before the input of a ``"SAME"`` window (TensorFlow's rule: the extra one goes after)."""
    k_eff = dilation * (kernel - 1) + 1
    return max((ceil(size / stride) - 1) * stride + k_eff - size, 0) // 2


def shift(field: Field | None, offsets: list[int], strides: list[int] | None = None) -> Field | None:
    """Padding (negative offsets) or slicing (positive, with ``strides``) along each axis."""
    if field is None:
        return None
    out = []
    for axis, offset, stride in zip(field, offsets, strides or [1] * len(field), strict=True):
        if axis is None:
            out.append(None)
            continue
        size, jump, start = axis
        out.append((size, jump * stride, start + offset * jump))
    return _kept(tuple(out))


def permute(field: Field | None, perm: list[int]) -> Field | None:
    return None if field is None else tuple(field[int(i)] for i in perm)


def pick(field: Field | None, axes: list[int | None]) -> Field | None:
    """The field of a result whose axis ``j`` is the operand's axis ``axes[j]`` (None: a new axis).
    A spatial axis of the operand that is not kept ends the field."""
    if field is None:
        return None
    kept = {a for a in axes if a is not None}
    if any(axis is not None and i not in kept for i, axis in enumerate(field)):
        return None
    return _kept(tuple(None if a is None else field[a] for a in axes))


def reshape(field: Field | None, shape_in: tuple[int, ...], shape_out: tuple[int, ...]) -> Field | None:
    """A reshape keeps an axis whose size and number of elements before it are unchanged."""
    if field is None:
        return None
    before_out = {(prod(shape_out[:j]), d): j for j, d in reversed(list(enumerate(shape_out)))}
    axes: list[int | None] = [None] * len(shape_out)
    for i, d in enumerate(shape_in):
        j = before_out.get((prod(shape_in[:i]), d))
        if j is not None and axes[j] is None:
            axes[j] = i
    return pick(field, axes)


def _kept(field: Field) -> Field | None:
    return field if tracked(field) else None


def area(field: Field) -> Fraction:
    return prod((a[0] for a in field if a is not None), start=Fraction(1))


def trivial(field: Field) -> bool:
    """A field no window has grown: size 1, jump 1 on every spatial axis."""
    return all(a is None or (a[0] == 1 and a[1] == 1) for a in field)


def larger(best: Field | None, field: Field | None) -> Field | None:
    """The model's field so far: the largest, the later one among equals (as the walker keeps)."""
    if field is None or not tracked(field) or trivial(field):
        return best
    if best is None or area(field) >= area(best):
        return field
    return best


def public(field: Field | None) -> ReceptiveField | None:
    if field is None:
        return None
    return rf_public(tuple(a for a in field if a is not None))
