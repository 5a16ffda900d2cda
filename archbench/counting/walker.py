"""The graph walker and the public entry points :func:`count` and :func:`complexity_row`.

Functional and Sequential models (nested ones included) are walked through their graph, read via
:mod:`archbench.keras_internals`; each call is costed by the rule table and its receptive field and
depth propagated. Counting never calls, builds or changes the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from math import prod
from typing import Any

import keras

from .. import keras_internals
from ..errors import UsageError
from ..params import count_params, iter_layers
from .formulas import elements
from .receptive_field import RF, rf_public, rf_step
from .records import Complexity, LayerRecord
from .rules import LayerCost, Shape, UncountedLayer, find_rule, is_weight_layer

__all__ = ["UnknownDimension", "complexity_row", "count", "keras_depth"]

_ITEMSIZE = {
    "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1,
    "int16": 2, "int32": 4, "int64": 8, "float8_e4m3fn": 1, "float8_e5m2": 1,
}  # fmt: skip


@dataclass(eq=False)
class _Value:
    """A tensor in the flattened graph: its batched spec and what we know about it."""

    spec: Any
    rf: RF | None
    depth: int

    @property
    def shape(self) -> Shape:
        return tuple(self.spec.shape[1:])


class UnknownDimension(UsageError):
    """A shape the graph leaves open (``None``): the model's input, or a layer's output that only a run
    decides (``EinsumDense(output_shape=(None, 64))``); :func:`archbench.count` traces such a model."""


def _check_defined(shape: Shape, what: str) -> None:
    if any(d is None for d in shape):
        raise UnknownDimension(
            f"{what} has an unknown dimension {tuple(shape)}: pass input_shape to count at a given size"
        )


class _Specs:
    """A read-only view of the walker's tensor map that :func:`keras_internals.node_call_args` can read."""

    def __init__(self, tensors: dict[int, _Value]):
        self._tensors = tensors

    def __getitem__(self, key: int) -> Any:
        return self._tensors[key].spec

    def get(self, key: int, default: Any = None) -> Any:
        value = self._tensors.get(key)
        return default if value is None else value.spec


class _Walker:
    def __init__(self, infer: bool, spatial_rank: int):
        self.infer = infer
        self.spatial_rank = spatial_rank
        self.records: list[LayerRecord] = []
        self.consumers: list[list[_Value]] = []  # inputs of each record
        self.outputs: list[list[_Value]] = []
        self.calls: dict[int, int] = {}
        self.uncounted: list[str] = []

    def run(self, graph: Any, inputs: list[_Value], prefix: str) -> list[_Value]:
        tensors = {id(x): v for x, v in zip(graph.inputs, inputs, strict=True)}
        for node in keras_internals.graph_nodes(graph):
            if any(id(x) not in tensors for x in node.inputs):
                continue  # not connected to the inputs (keras skips it too)
            values = [tensors[id(x)] for x in node.inputs]
            inner = keras_internals.functional_graph(node.operation)
            if inner is not None:
                outs = self.run(inner, values, f"{prefix}{node.operation.name}/")
            else:
                outs = self.leaf(node, values, tensors, prefix)
            for x, v in zip(node.outputs, outs, strict=True):
                tensors[id(x)] = v
        return [tensors[id(x)] for x in graph.outputs]

    def leaf(
        self, node: keras_internals.GraphNode, values: list[_Value], tensors: dict[int, _Value], prefix: str
    ) -> list[_Value]:
        op = node.operation
        if self.infer:
            args, kwargs = keras_internals.node_call_args(node, _Specs(tensors))
            if isinstance(op, keras.layers.Layer) and op.input_spec is not None:
                first = args[0] if args else next(iter(kwargs.values()))
                try:
                    keras_internals.check_input_compatibility(op, first)
                except ValueError as exc:
                    raise UsageError(f"cannot count at this input size: {exc}") from exc
            out_specs = keras.tree.flatten(op.compute_output_spec(*args, **kwargs))
        else:
            out_specs = list(node.outputs)
        in_shapes = [v.shape for v in values]
        out_shapes = [tuple(s.shape[1:]) for s in out_specs]
        for s in out_shapes:
            _check_defined(s, f"output of {op.name!r}")

        k = self.calls.get(id(op), 0)
        self.calls[id(op)] = k + 1
        name = prefix + op.name + (f"#{k + 1}" if k else "")
        params = 0 if k else sum(elements(tuple(w.shape)) for w in getattr(op, "weights", ()))

        rule = find_rule(op)
        counted = rule is not None
        cost = LayerCost()
        if rule is not None:
            try:
                cost = rule(
                    op,
                    [tuple(int(d) for d in s) for s in in_shapes],
                    [tuple(int(d) for d in s) for s in out_shapes],
                )
            except UncountedLayer as exc:
                counted = False
                self.uncounted.append(f"{name} ({type(op).__name__}): {exc}")
            except Exception as exc:
                exc.add_note(f"archbench: in the counting rule for layer {name!r} ({type(op).__name__})")
                raise
        else:
            self.uncounted.append(f"{name} ({type(op).__name__})")

        weight = is_weight_layer(op)
        depth = max((v.depth for v in values), default=0) + int(weight)
        rf = rf_step(op, values, out_shapes, self.spatial_rank)
        outs = [_Value(spec=s, rf=rf, depth=depth) for s in out_specs]
        self.records.append(
            LayerRecord(
                name=name,
                class_name=type(op).__name__,
                output_shapes=tuple(tuple(int(d) for d in s) for s in out_shapes),
                params=params,
                macs=int(cost.macs),
                other={c: int(n) for c, n in cost.other.items() if n},
                receptive_field=rf_public(rf),
                weight_layer=weight,
                depth=depth,
                counted=counted,
            )
        )
        self.consumers.append(values)
        self.outputs.append(outs)
        return outs


def _normalise_input_shapes(model: Any, graph: Any, input_shape: Any) -> tuple[list[Shape], bool]:
    """The per-sample input shapes to count at, and whether they differ from the graph's own."""
    stored = [tuple(x.shape[1:]) for x in graph.inputs]
    if input_shape is None:
        for s in stored:
            _check_defined(s, f"the input of {model.name!r}")
        return stored, False
    given = (
        [tuple(input_shape)]
        if input_shape and not isinstance(input_shape[0], tuple | list)
        else [tuple(s) for s in input_shape]
    )
    if len(given) != len(stored):
        raise UsageError(f"{model.name!r} has {len(stored)} inputs, input_shape gives {len(given)}")
    for g, s in zip(given, stored, strict=True):
        if len(g) != len(s) or any(a is not None and a != b for a, b in zip(s, g, strict=True)):
            raise UsageError(
                f"input_shape {g} does not fit {model.name!r}, built for {s}; "
                "build the model at the size to count (or with None spatial sizes)"
            )
        _check_defined(g, "input_shape")
    return [tuple(int(d) for d in g) for g in given], given != stored


def _itemsize(dtype: str) -> int:
    if str(dtype) not in _ITEMSIZE:
        raise UsageError(f"unknown dtype {dtype!r}; one of {', '.join(_ITEMSIZE)}")
    return _ITEMSIZE[str(dtype)]


def count(model: Any, input_shape: Any = None, batch_size: int = 1, dtype: str = "float32") -> Complexity:
    """Count MACs, other operations, params, depth, receptive field and activation memory of a built model.

    ``input_shape`` (without batch; a list of shapes for several inputs) counts a model built with
    ``None`` spatial sizes at that size; dimensions the model fixes must match. Functional and
    Sequential models, nested ones included, are walked through their graph; for a subclassed model
    each built sub-layer is counted once at the shape it was built with, and the model is listed in
    ``uncounted`` (its call graph is unknown, so depth, receptive field and peak memory are None);
    :func:`archbench.count` counts such a model from its traced program.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    itemsize = _itemsize(dtype)
    if not isinstance(model, keras.layers.Layer):
        raise UsageError(f"count() needs a Keras model, got {type(model).__name__}")
    graph = keras_internals.functional_graph(model)
    if graph is None:
        return _count_subclassed(model, batch_size, dtype, itemsize)
    shapes, infer = _normalise_input_shapes(model, graph, input_shape)
    spatial_rank = len(shapes[0]) - 1 if len(shapes[0]) >= 2 else 0
    walker = _Walker(infer=infer, spatial_rank=spatial_rank)
    inputs = []
    for x, s in zip(graph.inputs, shapes, strict=True):
        spec = keras.KerasTensor((None, *s), dtype=x.dtype) if infer else x
        rf = tuple((Fraction(1), Fraction(1), Fraction(0)) for _ in range(spatial_rank)) or None
        inputs.append(_Value(spec=spec, rf=rf, depth=0))
    outputs = walker.run(graph, inputs, prefix="")

    records = walker.records
    macs = sum(r.macs for r in records)
    other: dict[str, int] = {}
    for r in records:
        for c, n in r.other.items():
            other[c] = other.get(c, 0) + n
    peak, total = _activation_memory(walker, inputs, outputs)
    with_rf = [(prod(r.receptive_field.size), i) for i, r in enumerate(records) if r.receptive_field]
    rf = records[max(with_rf)[1]].receptive_field if with_rf else None
    return Complexity(
        model_name=model.name,
        input_shapes=tuple(shapes),
        batch_size=batch_size,
        dtype=str(dtype),
        layers=tuple(records),
        macs=macs,
        ops_other=dict(sorted(other.items())),
        params=count_params(model),
        depth=max(v.depth for v in outputs),
        keras_depth=keras_depth(model),
        receptive_field=rf,
        activation_bytes_peak=peak * batch_size * itemsize,
        activation_bytes_total=total * batch_size * itemsize,
        uncounted=tuple(walker.uncounted),
    )


def keras_depth(model: Any) -> int:
    """keras.applications' "depth": the layers holding weights of their own, at any depth (the
    sublayers of custom layers and nested models, not containers whose weights are their sublayers')."""

    def holders(layer: Any):
        for sub in keras_internals.sublayers(layer):
            inner = keras_internals.sublayers(sub)
            held = {id(w) for s in inner for w in s.weights}
            if any(id(w) not in held for w in sub.weights):
                yield sub
            yield from holders(sub)

    return len(dict.fromkeys(holders(model)))


def _activation_memory(walker: _Walker, inputs: list[_Value], outputs: list[_Value]) -> tuple[int, int]:
    """Peak and total elements per sample (see the module docstring)."""
    last_use: dict[int, int] = {}
    for i, values in enumerate(walker.consumers):
        for v in values:
            last_use[id(v)] = i
    kept = {id(v) for v in outputs}
    sizes = {id(v): elements(v.shape) for v in inputs}
    live = sum(sizes.values())
    total = live
    peak = live
    for i, outs in enumerate(walker.outputs):
        for v in outs:
            n = elements(v.shape)
            sizes[id(v)] = n
            live += n
            total += n
        peak = max(peak, live)
        for v in {id(v): v for v in walker.consumers[i] + outs}.values():
            if id(v) not in kept and last_use.get(id(v), -1) <= i:
                live -= sizes.pop(id(v), 0)
    return peak, total


def _count_subclassed(model: Any, batch_size: int, dtype: str, itemsize: int) -> Complexity:
    if not model.built:
        raise UsageError(f"{model.name!r} is not built: call it on data or build it before counting")
    records, uncounted = [], [f"{model.name} ({type(model).__name__}): subclassed model, call graph unknown"]
    for layer in iter_layers(model):
        if getattr(layer, "layers", None):
            continue
        shapes = keras_internals.build_shapes(layer)
        rule = find_rule(layer)
        if len(shapes) != 1 or rule is None:
            uncounted.append(f"{layer.name} ({type(layer).__name__})")
            continue
        in_shape = tuple(next(iter(shapes.values())))
        out_shape = tuple(layer.compute_output_shape(in_shape))
        if any(d is None for d in (*in_shape[1:], *out_shape[1:])):
            uncounted.append(f"{layer.name} ({type(layer).__name__}): unknown shape")
            continue
        try:
            cost = rule(layer, [tuple(in_shape[1:])], [tuple(out_shape[1:])])
        except UncountedLayer as exc:
            uncounted.append(f"{layer.name} ({type(layer).__name__}): {exc}")
            continue
        records.append(
            LayerRecord(
                name=layer.name,
                class_name=type(layer).__name__,
                output_shapes=(tuple(int(d) for d in out_shape[1:]),),
                params=sum(elements(tuple(w.shape)) for w in layer.weights),
                macs=int(cost.macs),
                other=dict(cost.other),
                receptive_field=None,
                weight_layer=is_weight_layer(layer),
                depth=None,
            )
        )
    other: dict[str, int] = {}
    for r in records:
        for c, n in r.other.items():
            other[c] = other.get(c, 0) + n
    total = sum(elements(r.output_shape) for r in records)
    input_shapes = tuple(tuple(x.shape[1:]) for x in getattr(model, "inputs", None) or ())
    return Complexity(
        model_name=model.name,
        input_shapes=input_shapes or ((),),
        batch_size=batch_size,
        dtype=str(dtype),
        layers=tuple(records),
        macs=sum(r.macs for r in records),
        ops_other=dict(sorted(other.items())),
        params=count_params(model),
        depth=None,
        keras_depth=keras_depth(model),
        receptive_field=None,
        activation_bytes_peak=None,
        activation_bytes_total=total * batch_size * itemsize,
        uncounted=tuple(uncounted),
    )


def complexity_row(
    model: Any, input_shape: Any = None, *, batch_size: int = 1, dtype: str = "float32"
) -> dict[str, Any]:
    """One flat record for results files and golden counts: :meth:`Complexity.totals` (input shape,
    batch, dtype, macs, flops, ops_other, depth, keras_depth, params_*, rf_*, activation bytes,
    uncounted) plus the time :func:`count` took in seconds (``count_seconds``)."""
    start = time.perf_counter()
    c = count(model, input_shape, batch_size=batch_size, dtype=dtype)
    seconds = time.perf_counter() - start
    return {**c.totals(), "count_seconds": round(seconds, 4)}
