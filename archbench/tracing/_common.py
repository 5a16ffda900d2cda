"""What both backends' walkers share: the op record, the tally, structural masks and the depth bookkeeping.

A *mask* is the structural non-zero pattern of a value computed from weights and constants alone (a
kernel assembled in ``call``): ``None`` means dense (every entry may be non-zero). Masks are combined
by logic, never by arithmetic, so they are exact whatever the weights' values: a product is non-zero
where both factors may be, a sum where either may be, and data movement (reshape, concatenate,
gather, pad...) moves the pattern with the values. Only values that do not depend on the model's
input get masks: zeros in activations (padding) are counted as the implementation computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

import numpy as np

from . import _field
from ._field import Field

Shape = tuple[int, ...]

MASK_LIMIT = 1 << 24
"""Largest value (in elements) that gets a mask or a constant value; larger ones count as dense."""


@dataclass(frozen=True)
class OpRecord:
    """One operation of the traced program that costs something.

    ``op`` is the primitive (JAX) or op type (TensorFlow), or ``weighted_sum`` for a sum reduction of
    products with weights (see :mod:`archbench.tracing`); ``scope`` the name scope it ran in (the layer
    path; TensorFlow makes graph scopes unique, ``block_1``); ``shape`` its output shape, batch included. ``macs`` and ``ops`` are per sample when
    ``per_sample`` is true, else once per call (work on weights and constants alone).
    """

    op: str
    scope: str
    shape: Shape
    macs: int = 0
    category: str | None = None
    ops: int = 0
    per_sample: bool = True


@dataclass
class Tally:
    """Collects the records, the untraced operations and the notes of one trace."""

    batch_size: int
    records: list[OpRecord] = field(default_factory=list)
    untraced: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    receptive_field: Field | None = None

    def see(self, value: Value) -> Value:
        """Keep the largest receptive field of the data values produced (:mod:`._field`)."""
        self.receptive_field = _field.larger(self.receptive_field, value.rf)
        return value

    def add(
        self,
        op: str,
        scope: str,
        shape: Shape,
        *,
        macs: int = 0,
        category: str | None = None,
        ops: int = 0,
        per_sample: bool = True,
    ) -> None:
        if not macs and not ops:
            return
        if per_sample:
            if macs % self.batch_size or ops % self.batch_size:
                self.missing(op, scope, f"cost not proportional to the batch of {self.batch_size}")
                return
            macs, ops = macs // self.batch_size, ops // self.batch_size
        shape = tuple(int(d) for d in shape)
        self.records.append(OpRecord(op, scope, shape, int(macs), category, int(ops), per_sample))

    def missing(self, op: str, scope: str, why: str = "no rule") -> None:
        """List an operation that was seen but not counted (its cost is not in the totals)."""
        self.untraced.setdefault(f"{scope or '<top>'}: {op}", why)

    def absorb(self, other: Tally, times: int = 1) -> None:
        """Add another tally's records (``times`` over: a loop body of known trip count)."""
        for r in other.records:
            self.records.append(replace(r, macs=r.macs * times, ops=r.ops * times))
        for key, why in other.untraced.items():
            self.untraced.setdefault(key, why)
        self.notes.extend(other.notes)
        self.receptive_field = _field.larger(self.receptive_field, other.receptive_field)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.records if r.per_sample)

    def totals(self, per_sample: bool) -> dict[str, int]:
        """Operations by category (``macs`` included when not per sample)."""
        out: dict[str, int] = {}
        for r in self.records:
            if r.per_sample != per_sample:
                continue
            if not per_sample and r.macs:
                out["macs"] = out.get("macs", 0) + r.macs
            if r.ops:
                out[r.category] = out.get(r.category, 0) + r.ops
        return dict(sorted(out.items()))


@dataclass(frozen=True, eq=False)
class Value:
    """What the walkers know about one value of the program.

    ``data``: it depends on the model's input (per-sample work); ``weight``: on a variable; ``depth``:
    weight operations on the longest data path that produced it; ``const``: its value, when it depends
    on neither; ``mask``: its structural non-zeros (static values only, ``None`` = dense); ``flipped``:
    a kernel reversed along its spatial axes (JAX's form of a transposed convolution); ``rf``: its
    receptive field, one entry per axis (data values only, see :mod:`._field`); ``mixed``: a data
    value a weight entered element-wise (``x - w``), whose square summed is a weighted sum.
    """

    data: bool = False
    weight: bool = False
    depth: int = 0
    const: np.ndarray | None = None
    mask: np.ndarray | None = None
    flipped: bool = False
    rf: Field | None = None
    mixed: bool = False

    @property
    def static(self) -> bool:
        return not self.data


DENSE = Value()


def merged(values: list[Value], *, weight_op: bool = False) -> Value:
    """The flags of an operation's result: data/weight if any input is, depth the longest plus one
    for a weight operation on a data path."""
    data = any(v.data for v in values)
    depth = max((v.depth for v in values), default=0) + int(weight_op and data)
    return Value(data=data, weight=any(v.weight for v in values), depth=depth)


def indicator(value: Value, shape: Shape) -> np.ndarray | None:
    """The non-zero pattern of a static value as a boolean array, or None when it is dense."""
    if value.data:
        return None
    if value.mask is not None:
        return value.mask
    if value.const is not None:
        nonzero = np.asarray(value.const) != 0
        if nonzero.all():
            return None
        return np.broadcast_to(nonzero, shape) if nonzero.ndim == 0 else nonzero
    return None


def dense_or(mask: np.ndarray | None) -> np.ndarray | None:
    """``None`` for a mask with no zeros (dense), else the mask."""
    if mask is None or mask.all():
        return None
    return np.asarray(mask, dtype=bool)


def ones(shape: Shape) -> np.ndarray:
    return np.ones(tuple(int(d) for d in shape), dtype=bool)


def small(shape: Shape) -> bool:
    return prod(int(d) for d in shape) <= MASK_LIMIT


def nonzeros(mask: np.ndarray | None, shape: Shape) -> int:
    """Entries that may be non-zero: all of them for a dense value."""
    return int(prod(int(d) for d in shape)) if mask is None else int(np.count_nonzero(mask))


def matmul_macs(
    a_shape: Shape,
    b_shape: Shape,
    a_contract: tuple[int, ...],
    b_contract: tuple[int, ...],
    a_batch: tuple[int, ...],
    b_batch: tuple[int, ...],
    a_mask: np.ndarray | None = None,
    b_mask: np.ndarray | None = None,
) -> int:
    """Multiply-adds of a general matrix product: batch x contracted x both free sizes.

    With a structural mask on one operand, only its non-zero entries are multiplied (each by every
    free position of the other operand); with masks on both, the non-zero products are counted.
    """
    a_free = [d for i, d in enumerate(a_shape) if i not in a_contract and i not in a_batch]
    b_free = [d for i, d in enumerate(b_shape) if i not in b_contract and i not in b_batch]
    if a_mask is None and b_mask is None:
        return (
            prod(a_shape[i] for i in a_batch)
            * prod(a_shape[i] for i in a_contract)
            * prod(a_free)
            * prod(b_free)
        )
    if b_mask is None:
        return nonzeros(a_mask, a_shape) * prod(b_free)
    if a_mask is None:
        return nonzeros(b_mask, b_shape) * prod(a_free)
    a = np.moveaxis(a_mask.astype(np.int64), [*a_batch, *a_contract], range(len(a_batch) + len(a_contract)))
    b = np.moveaxis(b_mask.astype(np.int64), [*b_batch, *b_contract], range(len(b_batch) + len(b_contract)))
    nb, nc = len(a_batch), len(a_contract)
    a = a.reshape(prod(a.shape[:nb]), prod(a.shape[nb : nb + nc]), -1)
    b = b.reshape(prod(b.shape[:nb]), prod(b.shape[nb : nb + nc]), -1)
    return int(np.einsum("bca,bcd->", a, b))


def mixes(values: list[Value], elementwise: bool, moves: bool) -> bool:
    """Whether an operation's data result is ``mixed``: an element-wise operation of data and a weight
    alone (``x - w``), or data movement of a mixed value."""
    if elementwise:
        return any(v.data for v in values) and any(v.weight and not v.data for v in values)
    return moves and bool(values) and values[0].mixed
