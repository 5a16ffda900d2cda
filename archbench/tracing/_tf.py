"""The TensorFlow backend: the graph of ``tf.function(lambda x: model(x, training=False))``'s concrete
function at a fixed input signature, walked op by op.

Function-call ops (``PartitionedCall``, ``StatefulPartitionedCall``: Keras wraps grouped convolutions
in one) are walked inside through the graph's function library (a gradient function's call in the
scope of the forward call it differentiates); for ``If``/``Case`` the costliest
branch is counted (a note says so when they differ); a ``While`` body is counted as many times as the
loop runs when its condition and body, run on the loop values known before it starts (counters,
``maximum_iterations``, a tensor list's length), say how many; otherwise the loop is listed as
uncounted. Operations whose results reach no output are not counted (TensorFlow does not run them). Dilated
convolutions, which TensorFlow runs as ``SpaceToBatchND -> convolution -> BatchToSpaceND``, are
counted at the positions of the real (cropped) output. Constants computed in the graph (indices
assembling a kernel) are evaluated with a session on the graph itself.
"""

from __future__ import annotations

from dataclasses import replace
from math import prod
from typing import Any

import numpy as np

from . import _field
from ._common import (
    DENSE,
    Shape,
    Tally,
    Value,
    dense_or,
    indicator,
    merged,
    mixes,
    ones,
    small,
)
from ._handles import (
    TF_ELEMENTWISE,
    TF_REDUCTION,
    TF_RESHAPES,
    TF_RULES,
    TF_TRANSCENDENTAL,
    TF_WEIGHT_OPS,
    TF_ZERO,
    Uncountable,
)
from ._handles import tf_shape as _shape
from ._tf_field import receptive_field

_EVALUATED = (TF_ZERO | TF_ELEMENTWISE | TF_TRANSCENDENTAL | TF_REDUCTION | {"Mean", "Cumsum", "Cumprod"}) - {
    "Placeholder",
    "VarHandleOp",
    "AssignVariableOp",
    "AssignSubVariableOp",
    "AssignAddVariableOp",
}
_PRODUCTS = frozenset(("Mul", "Square"))
_CALLS = frozenset(("PartitionedCall", "StatefulPartitionedCall"))


def trace(
    model: Any, shapes: list[Shape], batch_size: int, dtype: str
) -> tuple[Tally, list[Value], list[str]]:
    """Trace ``model``'s inference call at ``batch_size``; return the tally, the outputs and loop notes."""
    import tensorflow as tf

    specs = [tf.TensorSpec((batch_size, *s), dtype) for s in shapes]

    def infer(*inputs):
        return model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

    graph = tf.function(infer).get_concrete_function(*specs).graph
    return walk(graph, [(batch_size, *s) for s in shapes], batch_size)


def walk(graph: Any, data: list[Shape], batch_size: int) -> tuple[Tally, list[Value], list[str]]:
    """Walk a function's graph whose first inputs are data of the shapes ``data`` (batch included),
    its captured variables weights: the tally, the outputs and loop notes."""
    import tensorflow as tf

    values = {
        t.name: Value(data=True, rf=_field.input_field(s))
        for t, s in zip(graph.inputs[: len(data)], data, strict=True)
    }
    for external, internal in graph.captures:
        if internal.dtype == tf.resource:
            values[internal.name] = Value(weight=True)
        elif hasattr(external, "numpy") and small(tuple(external.shape)):
            values[internal.name] = Value(const=np.asarray(external.numpy()))
    walker = _Walker(batch_size, graph)
    try:
        outputs = walker.run(graph, values, "")
    finally:
        walker.close()
    return walker.tally, outputs, walker.loops


def _join(prefix: str, scope: str) -> str:
    """An inner graph's scope under its caller's (inner graphs of ``If`` repeat the full path)."""
    if not prefix or scope == prefix or scope.startswith(prefix + "/"):
        return scope or prefix
    return f"{prefix}/{scope}" if scope else prefix


class _Walker:
    def __init__(self, batch_size: int, root: Any):
        self.tally = Tally(batch_size)
        self.root = root
        self.loops: list[str] = []
        self._sessions: dict[int, Any] = {}

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    def child(self) -> _Walker:
        walker = _Walker(self.tally.batch_size, self.root)
        walker._sessions = self._sessions
        return walker

    def function(self, graph: Any, name: str) -> Any | None:
        for g in (graph, self.root):
            found = g._get_function(name)
            if found is not None:
                return found.graph
        return None

    def run(self, graph: Any, values: dict[str, Value], prefix: str) -> list[Value]:
        env = dict(values)
        ops = _topological(graph)
        products = set()
        for op in ops:
            if op.type in _PRODUCTS:
                consumers = op.outputs[0].consumers()
                if (
                    len(consumers) == 1
                    and consumers[0].type == "Sum"
                    and consumers[0].inputs[0].name == op.outputs[0].name
                ):
                    products.add(op.outputs[0].name)
        fused: set[str] = set()
        for op in ops:
            if op.type == "Placeholder" and op.outputs[0].name in env:
                continue
            vals = [env.get(t.name, DENSE) for t in op.inputs]
            outs = self.op(graph, op, vals, _join(prefix, op.name.rpartition("/")[0]), products, fused)
            env.update((t.name, v) for t, v in zip(op.outputs, outs, strict=True))
        return [env.get(t.name, DENSE) for t in graph.outputs]

    def op(
        self, graph: Any, op: Any, vals: list[Value], scope: str, products: set, fused: set
    ) -> list[Value]:
        kind = op.type
        n_out = len(op.outputs)
        if kind in _CALLS:
            inner = self.function(graph, op.get_attr("f").name)
            if inner is not None:
                scope = _gradient_scope(op, scope)
                return self.run(inner, {t.name: v for t, v in zip(inner.inputs, vals, strict=True)}, scope)
        if kind in ("If", "StatelessIf", "Case", "StatelessCase"):
            return self.branches(graph, op, vals, scope)
        if kind in ("While", "StatelessWhile"):
            return self.while_loop(graph, op, vals, scope)
        if kind == "ReadVariableOp":
            return [Value(weight=True)]
        if kind == "Const":
            value = op.get_attr("value")
            shape = tuple(d.size for d in value.tensor_shape.dim)
            return [_constant(value) if small(shape) else DENSE]
        if kind in ("Shape", "Size", "Rank") and _shape(op.inputs[0]) is not None:
            static = _shape(op.inputs[0])
            return [
                Value(const=np.asarray({"Shape": static, "Size": prod(static), "Rank": len(static)}[kind]))
            ]
        shape = _shape(op.outputs[0]) if n_out else ()
        name = op.outputs[0].name if n_out else ""
        weighted_sum = kind == "Sum" and op.inputs[0].name in fused
        result = merged(vals, weight_op=kind in TF_WEIGHT_OPS or weighted_sum)
        # a product with one data factor (x * w), or the square of x - w; not data x data (a loss) nor
        # the square of any activation (batch statistics)
        weighted = bool(vals) and (not all(v.data for v in vals) if kind == "Mul" else vals[0].mixed)
        if name in products and result.data and result.weight and weighted:
            fused.add(name)
            return [result]
        if shape is None:
            if result.data or kind not in TF_ZERO:
                self.tally.missing(kind, scope, "an output of unknown shape")
            return [merged(vals)] * n_out
        if weighted_sum:
            self.tally.add("weighted_sum", scope, shape, macs=prod(_shape(op.inputs[0])))
            return [result]
        self.count(op, vals, scope, shape, result.data)
        if result.static:
            evaluated = self.evaluate(graph, op, vals)
            if evaluated is not None:
                return evaluated
            return [Value(weight=result.weight, mask=self.mask(op, vals, shape))] * n_out
        mixed = mixes(vals, kind in TF_ELEMENTWISE, kind in TF_RESHAPES)
        return [self.tally.see(replace(result, rf=receptive_field(op, vals, shape), mixed=mixed))] * n_out

    def evaluate(self, graph: Any, op: Any, vals: list[Value]) -> list[Value] | None:
        """Run an operation on constants (small ones only) so that masks and indices stay known."""
        if op.type not in _EVALUATED or any(v.const is None for v in vals) or not op.outputs:
            return None
        if any(_shape(t) is None or not small(_shape(t)) for t in op.outputs):
            return None
        import tensorflow as tf

        feeds = {t.name: v.const for t, v in zip(op.inputs, vals, strict=True) if t.op.type != "Const"}
        try:
            results = self.session(graph).run(list(op.outputs), feeds)
        except (tf.errors.OpError, ValueError):  # it reads variables through its control inputs
            return None
        return [Value(const=np.asarray(r)) for r in results]

    def session(self, graph: Any) -> Any:
        """A session on ``graph`` (kept until :meth:`close`), to evaluate constants in it."""
        import tensorflow as tf

        session = self._sessions.get(id(graph))
        if session is None:
            session = self._sessions[id(graph)] = tf.compat.v1.Session(graph=graph)
        return session

    def count(self, op: Any, vals: list[Value], scope: str, shape: Shape, data: bool) -> None:
        kind = op.type
        handle = TF_RULES.get(kind)
        if handle is None:
            if kind not in _CALLS:
                self.tally.missing(kind, scope)
            return
        try:
            cost = handle(op, vals, [_shape(t) for t in op.inputs], shape)
        except Uncountable as exc:
            self.tally.missing(kind, scope, str(exc))
            return
        self.tally.add(kind, scope, shape, macs=cost.macs, category=cost.category, ops=cost.ops, per_sample=data)

    def mask(self, op: Any, vals: list[Value], shape: Shape) -> np.ndarray | None:
        """The structural non-zeros of a static result (see :mod:`archbench.tracing._common`)."""
        if not small(shape) or not op.inputs:
            return None
        kind = op.type
        shapes = [_shape(t) for t in op.inputs]
        masks = [None if s is None else indicator(v, s) for v, s in zip(vals, shapes, strict=True)]

        def full(i: int) -> np.ndarray:
            return ones(shapes[i]) if masks[i] is None else masks[i]

        def const(i: int) -> np.ndarray | None:
            return vals[i].const

        if kind in TF_RESHAPES:
            return None if masks[0] is None else dense_or(np.reshape(masks[0], shape))
        if kind in ("Neg", "Abs", "Square", "RealDiv", "Div", "DivNoNan"):
            return None if masks[0] is None else dense_or(np.broadcast_to(masks[0], shape))
        if kind == "Mul":
            out = ones(shape)
            for m in masks:
                out = out if m is None else out & np.broadcast_to(m, shape)
            return dense_or(out)
        if kind in ("AddV2", "Add", "Sub", "Maximum", "Minimum", "BiasAdd"):
            if any(m is None for m in masks):
                return None
            return dense_or(np.logical_or(*(np.broadcast_to(m, shape) for m in masks)))
        if kind == "ConcatV2" and const(len(vals) - 1) is not None and any(m is not None for m in masks[:-1]):
            return dense_or(np.concatenate([full(i) for i in range(len(vals) - 1)], axis=int(const(-1))))
        if kind == "Pack" and any(m is not None for m in masks):
            return dense_or(np.stack([full(i) for i in range(len(vals))], axis=op.get_attr("axis")))
        if masks[0] is None:
            return None
        if kind == "Transpose" and const(1) is not None:
            return dense_or(np.transpose(masks[0], const(1)))
        if (
            kind == "GatherV2"
            and const(1) is not None
            and const(2) is not None
            and op.get_attr("batch_dims") == 0
        ):
            return dense_or(np.take(masks[0], const(1), axis=int(const(2))))
        if kind == "Tile" and const(1) is not None:
            return dense_or(np.tile(masks[0], const(1)))
        if kind in ("Pad", "PadV2") and const(1) is not None:
            fill = kind == "PadV2" and (const(2) is None or bool(np.asarray(const(2)) != 0))
            return dense_or(np.pad(masks[0], const(1), constant_values=fill))
        if kind == "Slice" and const(1) is not None and const(2) is not None:
            begin, size = const(1), const(2)
            index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True))
            return dense_or(masks[0][index])
        return None

    def branches(self, graph: Any, op: Any, vals: list[Value], scope: str) -> list[Value]:
        names = (
            [f.name for f in op.get_attr("branches")]
            if "Case" in op.type
            else [op.get_attr("then_branch").name, op.get_attr("else_branch").name]
        )
        runs = []
        for name in names:
            inner = self.function(graph, name)
            if inner is None:
                self.tally.missing(op.type, scope, f"branch {name} not found")
                return [merged(vals)] * len(op.outputs)
            walker = self.child()
            outs = walker.run(inner, {t.name: v for t, v in zip(inner.inputs, vals[1:], strict=True)}, scope)
            runs.append(((walker.tally.macs, sum(r.ops for r in walker.tally.records)), walker, outs))
        _, best, _ = max(runs, key=lambda run: run[0])
        if len({cost for cost, _, _ in runs}) > 1:
            self.tally.notes.append(
                f"{scope}: {op.type} with branches of different cost; the costliest is counted"
            )
        self.tally.absorb(best.tally)
        self.loops.extend(best.loops)
        for _, walker, _ in runs:
            self.tally.receptive_field = _field.larger(
                self.tally.receptive_field, walker.tally.receptive_field
            )
        flags = merged(vals)
        results = []
        for i, t in enumerate(op.outputs):
            outs = [outs[i] for _, _, outs in runs]
            rank = len(_shape(t) or ())
            rf = _field.merge([v.rf for v in outs], rank)
            results.append(
                Value(data=flags.data, weight=flags.weight, depth=max(v.depth for v in outs), rf=rf)
            )
        return results

    def while_loop(self, graph: Any, op: Any, vals: list[Value], scope: str) -> list[Value]:
        """A ``While`` loop: its body counted as many times as it runs, when the trip count follows
        from constants (:meth:`trip_count`: ``maximum_iterations``, a counter and its bound, a tensor
        list's length); otherwise the loop is listed as uncounted."""
        body = self.function(graph, op.get_attr("body").name)
        cond = self.function(graph, op.get_attr("cond").name)
        flags = merged(vals)
        if body is None or cond is None:
            self.tally.missing(op.type, scope, "loop body or condition not found")
            return [flags] * len(op.outputs)
        carry = [Value(data=v.data, weight=v.weight, depth=v.depth) for v in vals]
        for _ in range(len(carry) + 1):
            walker = self.child()
            outs = walker.run(body, dict(zip((t.name for t in body.inputs), carry, strict=True)), scope)
            wider = [
                Value(data=c.data or o.data, weight=c.weight or o.weight, depth=c.depth)
                for c, o in zip(carry, outs, strict=True)
            ]
            if all((w.data, w.weight) == (c.data, c.weight) for w, c in zip(wider, carry, strict=True)):
                break
            carry = wider  # a state that the body makes data (a recurrent state starting from zeros)
        trips = self.trip_count(cond, body, vals)
        if isinstance(trips, str):
            if walker.tally.records or walker.tally.untraced:
                self.tally.missing(op.type, scope, f"a loop whose trip count is unknown ({trips}): not counted")
        else:
            tested = self.child()
            tested.run(cond, dict(zip((t.name for t in cond.inputs), carry, strict=False)), scope)
            self.tally.absorb(walker.tally, times=trips)
            self.tally.absorb(tested.tally, times=trips + 1)
        if walker.loops or max((v.depth for v in outs), default=0) > flags.depth:
            self.loops.append(f"weight operations inside a while loop ({scope or 'top level'})")
        return [Value(data=flags.data, weight=flags.weight, depth=v.depth) for v in outs]

    def trip_count(self, cond: Any, body: Any, vals: list[Value]) -> int | str:
        """How many times a loop runs, by running its condition and body on the loop values known
        before it starts (counters, bounds), or why it cannot be known."""
        import tensorflow as tf

        failures = (tf.errors.OpError, TypeError, ValueError)
        known = {i: v.const for i, v in enumerate(vals) if v.const is not None}

        def feeds(graph: Any, values: dict[int, Any]) -> dict[Any, Any]:
            return {graph.inputs[i].name: x for i, x in values.items() if i < len(graph.inputs)}

        results = [_past_identities(t) for t in body.outputs]  # their control inputs read variables
        followed = sorted(known)  # the loop values the body computes from known ones alone
        for _ in range(len(followed) + 1):
            kept = []
            for i in followed:
                try:
                    self.session(body).run(results[i], feeds(body, {j: known[j] for j in followed}))
                except failures:
                    continue
                kept.append(i)
            if kept == followed:
                break
            followed = kept
        known = {i: known[i] for i in followed}
        fetches = [results[i] for i in followed]
        for trips in range(LOOP_LIMIT + 1):
            try:
                go = self.session(cond).run(_past_identities(cond.outputs[0]), feeds(cond, known))
            except failures:
                return "its condition depends on values computed at run time"
            if not bool(go):
                return trips
            known = dict(zip(followed, self.session(body).run(fetches, feeds(body, known)), strict=True))
        return f"more than {LOOP_LIMIT:,} iterations"


LOOP_LIMIT = 100_000
"""Most iterations a ``While`` loop is followed for its trip count."""


def _gradient_scope(op: Any, scope: str) -> str:
    """The scope of a call of a gradient function (TensorFlow names it outside any layer): that of the
    forward call it differentiates, whose outputs it reads, under the tape's ``gradient_tape/``."""
    if "_backward_" not in op.get_attr("f").name:
        return scope
    forward = next((t.op for t in op.inputs if t.op.type in _CALLS), None)
    return scope if forward is None else "gradient_tape/" + forward.name.rpartition("/")[0]


def _past_identities(tensor: Any) -> Any:
    """The tensor an ``Identity`` chain forwards (the identities hold the control inputs)."""
    while tensor.op.type == "Identity":
        tensor = tensor.op.inputs[0]
    return tensor


def _constant(value: Any) -> Value:
    from tensorflow.python.framework import tensor_util

    return Value(const=np.asarray(tensor_util.MakeNdarray(value)))


def _topological(graph: Any) -> list[Any]:
    """The operations that reach the graph's outputs (data or control) or have side effects, every one
    after the producers of its inputs: work whose result nothing uses is not run, nor counted."""
    roots = [t.op for t in graph.outputs] + list(getattr(graph, "control_outputs", ()))
    roots += [op for op in graph.get_operations() if op.type in _EFFECTS]
    order, seen = [], set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            op, expanded = stack.pop()
            if expanded:
                order.append(op)
                continue
            if op.name in seen:
                continue
            seen.add(op.name)
            stack.append((op, True))
            producers = [t.op for t in reversed(op.inputs)] + list(reversed(op.control_inputs))
            stack.extend((p, False) for p in producers if p.name not in seen)
    return order


_EFFECTS = frozenset(
    "AssignVariableOp AssignSubVariableOp AssignAddVariableOp While StatelessWhile If StatelessIf Case "
    "StatefulPartitionedCall".split()
)
