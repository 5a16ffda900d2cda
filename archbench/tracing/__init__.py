"""Traced operation counts: the model's inference program as the backend builds it, counted with the
conventions of :mod:`archbench.counting`.

The layer walker (:func:`archbench.counting.count`) reads a functional graph; a subclassed model, a
custom layer holding sublayers or one calling ``keras.ops`` in ``call`` is outside it. The tracer
counts what runs instead: on JAX the jaxpr of ``model.stateless_call(..., training=False)`` (abstract
shapes, nothing is computed, see :mod:`._jax`), on TensorFlow the graph of the concrete function of
``model(x, training=False)`` (see :mod:`._tf`).

Conventions (numbers per sample: the program is traced at ``batch_size`` and divided by it):

- **1 MAC = one multiply-add.** ``macs`` counts convolutions and matrix products only, by closed
  forms from static shapes and attributes: a convolution costs ``prod(output spatial) x prod(window)
  x C_in / groups x C_out`` (padding taps included, dilation changing which inputs are read, not how
  many; groups and depthwise convolutions from the kernel's input channels); a transposed convolution
  (``Conv2DBackpropInput``; on JAX an input-dilated convolution or one with a spatially reversed
  kernel, as ``lax.conv_transpose`` makes it) ``prod(input spatial) x prod(window) x C_in x C_out /
  groups``, the real multiply-adds and not the inserted zeros; a matrix product (``dot_general``,
  ``MatMul``, ``BatchMatMul``, ``Einsum``) batch x contracted x free sizes. TensorFlow runs a dilated
  convolution as ``SpaceToBatchND -> conv -> BatchToSpaceND``: it is counted at the real output
  positions. These are :mod:`archbench.counting`'s formulas (``tests/test_tracing.py`` checks them).
- **Structural zeros of kernels.** A kernel assembled in ``call`` from weights and constants (LeNet-5's
  C3 connection table gathers its weights into a dense kernel with zeros; a pruning mask multiplies a
  kernel) is counted at its structural non-zeros, found by logic on the program (see
  :mod:`._common`), never from the weights' values: a multiply by a structural zero is not a
  multiply-add of the layer. Zeros in activations (padding) are counted, as in the walker.
- **Weighted sums.** A sum reduction of products of which one factor depends on the input (and not
  both: a loss's ``sum(labels * log(p))`` is element-wise work) and the product on a weight (``sum((x - w) ** 2)``, ``sum(x[..., None] * w)``: a matrix product written
  element-wise, LeNet-5's Euclidean RBF output) is ``weighted_sum``: one MAC per product.
- Everything else goes to ``ops_other`` by category, one operation per scalar result:
  ``elementwise`` (arithmetic, comparisons, selections, max/min: ReLU is ``max(x, 0)``, bias adds),
  ``transcendental`` (exp, log, tanh, sigmoid, sqrt, rsqrt, pow, erf; TensorFlow's fused Softmax/Elu
  one per element), ``reduction`` (``inputs - outputs`` adds or comparisons; a mean ``inputs``),
  ``pooling`` (max: ``window - 1`` comparisons per output; average: ``window``, adds and divide).
  Data movement (reshape, transpose, concatenate, slice, gather, pad, casts) costs nothing, by an
  explicit zero rule. So does **random-number generation** (a dropout mask's or noise's random bits:
  TensorFlow's ``StatelessRandom*``, JAX's ``random_bits``/``threefry2x32``): drawing them is not
  arithmetic of the model; the mask's comparison and multiply are element-wise operations. A **segment
  sum** (the gradient of a gather: TensorFlow's ``UnsortedSegmentSum``, JAX's ``scatter-add``) is a
  ``reduction`` of one add per element summed into its (zero-started) output.
- ``static`` holds the work done on weights and constants alone (folding batch-norm statistics,
  assembling a kernel), once per call whatever the batch: it is not in the per-sample figures.
- An operation with no rule is listed in :attr:`TracedCount.uncounted`, never silently zero; the rules
  are tables, one per backend (:mod:`._handles`). Operations whose results reach no output are not
  counted (the backend does not run them).
- **Loops** count as their body times the trip count: a ``scan`` its ``length``; a ``while`` loop (JAX
  ``while``, TensorFlow ``While``) as many times as its condition, run on the loop values known before
  it starts (a counter and its bound, ``maximum_iterations``, a tensor list's length), lets it run.
  A loop whose trip count depends on the data is listed in ``uncounted`` (the count is partial). A
  loop-carried state that starts from constants (zeros) and that the body makes data (a recurrent
  state) is per-sample work. Of a ``cond`` the costliest branch counts, with a note in
  :attr:`TracedCount.notes` when branches differ.
- **Depth** is the number of convolutions, matrix products and weighted sums on the longest path from
  the input to an output; ``None`` when weight operations run inside a loop (``depth_note`` says
  where). It counts operations, not layers: a separable convolution is two, and a layer with weights
  but no multiply-adds (LeNet-5's trainable subsampling) none.
- The **receptive field** follows the walker's arithmetic through the program's windows (convolutions
  and pooling by their dimension numbers, padding, slicing, data movement; see :mod:`._field`): the
  largest field of any value, the input taken as channels-last. ``None`` (with ``rf_note``) when no
  window acts on a spatial axis of the input. It equals the walker's for every zoo model.

Walker and tracer agree exactly on the MACs and params of every zoo model (``tests/test_tracing.py``:
all 28 on TensorFlow, four of them under JAX). Where they differ by design:

====================================  =================================================================
what                                  why
====================================  =================================================================
depth of ``lenet5``: 5 (walker 7)     S2 and S4 (:class:`TrainableSubsampling2D`) are weight layers of
                                      the paper's seven, but compute an average pool, a scale and a
                                      bias: no convolution or matrix product to trace.
depth with separable convolutions     the walker counts ``SeparableConv2D`` as one weight layer, the
                                      trace as its two convolutions.
``LpPooling2D``,                      their window sums run as a depthwise convolution with a constant
``StochasticPooling2D`` MACs          kernel of ones: the trace counts its multiply-adds, the layer
                                      rules count pooling operations (0 MACs).
``ops_other``                         the walker counts by layer (bias, activation, batchnorm...), the
                                      trace by operation kind; the totals differ in definition.
====================================  =================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..counting.records import CountRecord
from ..errors import UsageError
from ..params import count_params
from . import _field
from ._common import OpRecord, Shape

__all__ = ["OpRecord", "TracedCount", "split_scope", "trace_count", "trace_training"]


@dataclass(frozen=True, kw_only=True)
class TracedCount(CountRecord):
    """What :func:`trace_count` measured: per-sample MACs and operations, exact params, per-op records.

    ``uncounted`` (also :attr:`untraced`) lists the operations without a rule and the loops whose trip
    count could not be bounded; ``static`` the work on weights and constants alone, once per call."""

    backend: str
    static: Mapping[str, int]
    depth_note: str | None
    ops: tuple[OpRecord, ...]
    notes: tuple[str, ...] = ()
    rf_note: str | None = None

    @property
    def untraced(self) -> tuple[str, ...]:
        return self.uncounted

    def macs_by_scope(self) -> dict[str, int]:
        """Per-sample MACs by name scope (the layer path the operations ran in), in program order."""
        out: dict[str, int] = {}
        for r in self.ops:
            if r.per_sample and r.macs:
                out[r.scope] = out.get(r.scope, 0) + r.macs
        return out

    def by_operator(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.ops:
            if r.per_sample and r.macs:
                out[r.op] = out.get(r.op, 0) + r.macs
        return out

    def rows(self) -> list[dict[str, Any]]:
        """The per-scope table, in program order: the layer path, its operations with a cost, the
        output shape of its last one, MACs, % of MACs and other operations per sample. Parameters
        are not attributed to scopes (the column is empty)."""
        scopes: dict[str, dict[str, Any]] = {}
        for r in self.ops:
            if not r.per_sample:
                continue
            row = scopes.setdefault(
                r.scope or "<top>",
                {"name": r.scope or "<top>", "type": [], "output_shape": "", "params": None, "macs": 0,
                 "macs_pct": 0.0, "ops_other": 0, "receptive_field": None, "depth": None, "counted": True},
            )  # fmt: skip
            if r.op not in row["type"]:
                row["type"].append(r.op)
            row["output_shape"] = " x ".join(str(d) for d in r.shape[1:])
            row["macs"] += r.macs
            row["ops_other"] += r.ops
        for row in scopes.values():
            row["type"] = ", ".join(row["type"])
            row["macs_pct"] = self._macs_pct(row["macs"])
        return list(scopes.values())

    def _extras(self) -> dict[str, Any]:
        return {"backend": self.backend}


def trace_count(
    model: Any, input_shape: Any = None, batch_size: int = 1, dtype: str = "float32"
) -> TracedCount:
    """Trace ``model``'s inference program on the active Keras backend and count it.

    ``input_shape`` is one per-sample shape (no batch axis) or a list of them for several inputs;
    without it the shapes of a functional or Sequential model's inputs are used. The model must be
    built (called once, or ``build()``); it is traced, never run, and not changed.
    """
    import keras

    dtype = _check(model, batch_size, dtype, "trace_count")
    shapes = _input_shapes(model, input_shape)
    backend = keras.backend.backend()
    if backend == "jax":
        from ._jax import trace
    else:
        from ._tf import trace
    tally, outputs, loops = trace(model, shapes, batch_size, dtype)
    if loops:
        depth, depth_note = None, "; ".join(loops)
    else:
        depth, depth_note = max((v.depth for v in outputs), default=0), None
    return _record(model, tally, shapes, batch_size, dtype, depth, depth_note)


def trace_training(
    model: Any, input_shape: Any = None, *, loss: Any = None, optimizer: Any = None, dtype: str = "float32"
) -> tuple[TracedCount, TracedCount]:
    """Trace one sample's training step of ``model`` (:mod:`archbench.step`, as the timer runs it; see
    :mod:`._training`) and the optimizer's update: ``(step, update)``. The step's operations are per
    sample, each with the scope :func:`split_scope` reads as forward or backward; the update's are all
    ``static`` (once per step). ``loss`` and ``optimizer`` are anything ``keras.losses.get`` /
    ``keras.optimizers.get`` accept; None: the timed step's (:func:`archbench.step.loss_function`,
    :func:`archbench.step.optimizer`)."""
    from .. import step
    from ._training import trace_step, trace_update

    dtype = _check(model, 1, dtype, "count_training")
    shapes = _input_shapes(model, input_shape)
    loss_fn, opt = step.loss_function(loss), step.optimizer(optimizer)
    tally, loops = trace_step(model, shapes, loss_fn, dtype)
    update = trace_update(model, opt)
    depth_note = "; ".join(loops) or None
    traced = _record(model, tally, shapes, 1, dtype, None, depth_note or "not computed for a training step")
    return traced, _record(model, update, shapes, 1, dtype, None, "an optimizer update")


def split_scope(scope: str) -> tuple[str, str]:
    """``("forward" or "backward", layer path)`` of an operation of :func:`trace_training`'s step."""
    from ._training import phase

    return phase(scope)


def _check(model: Any, batch_size: Any, dtype: str, what: str) -> str:
    """Refuse what cannot be traced (one-line errors); the standard name of ``dtype``."""
    import keras

    if not isinstance(model, keras.Model):
        raise UsageError(f"{what}() needs a built keras.Model, got {type(model).__name__}")
    if not model.built:
        raise UsageError(f"{model.name!r} is not built: call it on a batch or build() it before counting")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        raise UsageError(f"tracing needs the jax or tensorflow backend, not {backend!r} (set KERAS_BACKEND)")
    try:
        return keras.backend.standardize_dtype(dtype)
    except ValueError as exc:
        raise UsageError(f"unknown dtype {dtype!r}") from exc


def _record(
    model: Any, tally: Any, shapes: list[Shape], batch_size: int, dtype: str, depth: int | None, depth_note: str | None
) -> TracedCount:  # fmt: skip
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        tally.records = _layer_scopes(tally.records, model)
    receptive_field = _field.public(tally.receptive_field)
    rf_note = (
        None
        if receptive_field is not None
        else ("no convolution or pooling window on a spatial axis of the (channels-last) input")
    )
    return TracedCount(
        model_name=model.name,
        backend=backend,
        input_shapes=tuple(shapes),
        batch_size=batch_size,
        dtype=dtype,
        macs=tally.macs,
        ops_other=tally.totals(per_sample=True),
        static=tally.totals(per_sample=False),
        params=count_params(model),
        depth=depth,
        depth_note=depth_note,
        ops=tuple(tally.records),
        uncounted=tuple(f"{key} ({why})" for key, why in tally.untraced.items()),
        notes=tuple(tally.notes),
        receptive_field=receptive_field,
        rf_note=rf_note,
    )


def _layer_scopes(records: list[OpRecord], model: Any) -> list[OpRecord]:
    """Scopes named by layers: TensorFlow makes graph scopes unique (``block_1`` for the layer
    ``block`` when the name was taken); the suffix goes where the layer's own name is meant."""
    from ..keras_internals import sublayers

    names, stack = {model.name}, [model]
    while stack:
        for layer in sublayers(stack.pop()):
            if layer.name not in names:
                names.add(layer.name)
                stack.append(layer)

    def layer_name(part: str) -> str:
        base = re.sub(r"_\d+$", "", part)
        return base if part not in names and base in names else part

    return [
        replace(r, scope="/".join(layer_name(p) for p in r.scope.split("/"))) if r.scope else r
        for r in records
    ]


def _input_shapes(model: Any, input_shape: Any) -> list[Shape]:
    """The per-sample input shapes: given, or those of a functional model's inputs."""
    if input_shape is not None:
        given = (
            [input_shape]
            if isinstance(input_shape, Sequence) and input_shape and not isinstance(input_shape[0], Sequence)
            else list(input_shape)
        )
        shapes = []
        if not given:
            raise UsageError(f"input_shape must be positive integers (no batch axis), got {input_shape!r}")
        for shape in given:
            if (
                not isinstance(shape, Sequence)
                or not shape
                or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
            ):
                raise UsageError(
                    f"input_shape must be positive integers (no batch axis), got {input_shape!r}"
                )
            shapes.append(tuple(int(d) for d in shape))
        return shapes
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise UsageError(
            f"the input shape of {model.name!r} is unknown ({type(model).__name__} is not a functional "
            "model): give it as the registration's input_shape or with --input-size"
        )
    shapes = [tuple(x.shape[1:]) for x in inputs]
    if any(d is None for s in shapes for d in s):
        raise UsageError(
            f"{model.name!r} takes inputs of shape {', '.join(map(str, shapes))} with unknown sizes: give "
            "the size to count at as the registration's input_shape or with --input-size"
        )
    return [tuple(int(d) for d in s) for s in shapes]
