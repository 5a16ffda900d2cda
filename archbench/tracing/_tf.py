"""The TensorFlow backend: the graph of ``tf.function(lambda x: model(x, training=False))``'s concrete
function at a fixed input signature, walked op by op.

Function-call ops (``PartitionedCall``, ``StatefulPartitionedCall``: Keras wraps grouped convolutions
in one) are walked inside through the graph's function library; for ``If``/``Case`` the costliest
branch is counted (a note says so when they differ); a ``While`` loop is listed as untraced. Dilated
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
    matmul_macs,
    merged,
    nonzeros,
    ones,
    small,
)

_ZERO = frozenset(
    "Identity IdentityN Const Placeholder VarHandleOp NoOp Reshape Squeeze ExpandDims ConcatV2 Concat Pack "
    "Unpack Transpose Pad PadV2 MirrorPad Slice StridedSlice GatherV2 Gather GatherNd Shape ShapeN Size "
    "Rank Cast StopGradient PreventGradient Snapshot EnsureShape Fill ZerosLike OnesLike Range Tile "
    "BroadcastTo BroadcastArgs SpaceToBatchND BatchToSpaceND Split SplitV DepthToSpace SpaceToDepth "
    "ResizeNearestNeighbor Bitcast CheckNumerics".split()
)
_ELEMENTWISE = frozenset(
    "Add AddV2 BiasAdd Sub Mul MulNoNan RealDiv Div DivNoNan FloorDiv FloorMod Mod Maximum Minimum Neg Abs "
    "Sign Square SquaredDifference Less LessEqual Greater GreaterEqual Equal NotEqual Select SelectV2 "
    "LogicalAnd LogicalOr LogicalNot Floor Ceil Round Rint ClipByValue Reciprocal Inv Relu Relu6 LeakyRelu "
    "IsFinite".split()
)
_TRANSCENDENTAL = frozenset(
    "Exp Expm1 Log Log1p Tanh Sigmoid Erf Erfc Sqrt Rsqrt Pow Sin Cos Tan Atan Atan2 Elu Selu Softplus "
    "Softsign Softmax LogSoftmax".split()
)
_REDUCTION = frozenset("Sum Max Min Prod All Any ArgMax ArgMin".split())
_CUMULATIVE = frozenset(("Cumsum", "Cumprod"))
_CONVS = frozenset(("Conv2D", "Conv3D", "DepthwiseConv2dNative"))
_CONVS_TRANSPOSED = frozenset(
    ("Conv2DBackpropInput", "Conv3DBackpropInputV2", "DepthwiseConv2dNativeBackpropInput")
)
_MATMULS = frozenset(("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"))
_WEIGHT_OPS = _CONVS | _CONVS_TRANSPOSED | _MATMULS
_EVALUATED = (_ZERO | _ELEMENTWISE | _TRANSCENDENTAL | _REDUCTION | _CUMULATIVE) - {
    "Placeholder",
    "VarHandleOp",
}
_PRODUCTS = frozenset(("Mul", "Square"))
_CALLS = frozenset(("PartitionedCall", "StatefulPartitionedCall"))
_RESHAPES = frozenset(
    "Identity Cast StopGradient PreventGradient Snapshot Reshape ExpandDims Squeeze EnsureShape".split()
)


def trace(
    model: Any, shapes: list[Shape], batch_size: int, dtype: str
) -> tuple[Tally, list[Value], list[str]]:
    """Trace ``model``'s inference call at ``batch_size``; return the tally, the outputs and loop notes."""
    import tensorflow as tf

    specs = [tf.TensorSpec((batch_size, *s), dtype) for s in shapes]

    def infer(*inputs):
        return model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)

    graph = tf.function(infer).get_concrete_function(*specs).graph
    values = {
        t.name: Value(data=True, rf=_field.input_field((batch_size, *s)))
        for t, s in zip(graph.inputs[: len(specs)], shapes, strict=True)
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


def _shape(tensor: Any) -> Shape | None:
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        return None
    return tuple(int(d) for d in dims)


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
        result = merged(vals, weight_op=kind in _WEIGHT_OPS or weighted_sum)
        if name in products and result.data and result.weight:
            fused.add(name)
            return [result]
        if shape is None:
            if result.data or kind not in _ZERO:
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
        return [self.tally.see(replace(result, rf=_receptive_field(op, vals, shape)))] * n_out

    def evaluate(self, graph: Any, op: Any, vals: list[Value]) -> list[Value] | None:
        """Run an operation on constants (small ones only) so that masks and indices stay known."""
        if op.type not in _EVALUATED or any(v.const is None for v in vals) or not op.outputs:
            return None
        if any(_shape(t) is None or not small(_shape(t)) for t in op.outputs):
            return None
        import tensorflow as tf

        session = self._sessions.get(id(graph))
        if session is None:
            session = self._sessions[id(graph)] = tf.compat.v1.Session(graph=graph)
        feeds = {t.name: v.const for t, v in zip(op.inputs, vals, strict=True)}
        return [Value(const=np.asarray(r)) for r in session.run(list(op.outputs), feeds)]

    def count(self, op: Any, vals: list[Value], scope: str, shape: Shape, data: bool) -> None:
        kind = op.type
        n_out = prod(shape)
        add = self.tally.add
        in_shapes = [_shape(t) for t in op.inputs]
        if kind in _WEIGHT_OPS:
            if any(s is None for s in in_shapes) or (kind == "Einsum" and len(in_shapes) != 2):
                self.tally.missing(
                    kind, scope, "an input of unknown shape, or an einsum of more than two operands"
                )
                return
            add(kind, scope, shape, macs=_weight_op_macs(op, vals, in_shapes, shape), per_sample=data)
        elif kind == "AddN":
            add(kind, scope, shape, category="elementwise", ops=n_out * (len(vals) - 1), per_sample=data)
        elif kind in _ELEMENTWISE:
            add(kind, scope, shape, category="elementwise", ops=n_out, per_sample=data)
        elif kind in _TRANSCENDENTAL:
            add(kind, scope, shape, category="transcendental", ops=n_out, per_sample=data)
        elif kind in _REDUCTION:
            add(kind, scope, shape, category="reduction", ops=prod(in_shapes[0]) - n_out, per_sample=data)
        elif kind in ("Mean", *_CUMULATIVE):
            add(kind, scope, shape, category="reduction", ops=prod(in_shapes[0]), per_sample=data)
        elif kind in ("MaxPool", "MaxPool3D", "AvgPool", "AvgPool3D"):
            window = prod(op.get_attr("ksize"))
            ops = n_out * (window - 1) if kind.startswith("Max") else n_out * window
            add(kind, scope, shape, category="pooling", ops=ops, per_sample=data)
        elif kind not in _ZERO and kind not in _CALLS:
            self.tally.missing(kind, scope)

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

        if kind in _RESHAPES:
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
        inner = self.function(graph, op.get_attr("body").name)
        flags = merged(vals)
        loose = [Value(data=v.data, weight=v.weight, depth=v.depth) for v in vals]
        if inner is None:
            self.tally.missing(op.type, scope, "loop body not found")
            return [flags] * len(op.outputs)
        walker = self.child()
        outs = walker.run(inner, {t.name: v for t, v in zip(inner.inputs, loose, strict=True)}, scope)
        if walker.tally.records or walker.tally.untraced:
            self.tally.missing(op.type, scope, "a loop with an unknown trip count: its body is not counted")
        if walker.loops or max((v.depth for v in outs), default=0) > flags.depth:
            self.loops.append(f"weight operations inside a while loop ({scope or 'top level'})")
        return [Value(data=flags.data, weight=flags.weight, depth=v.depth) for v in outs]


def _constant(value: Any) -> Value:
    from tensorflow.python.framework import tensor_util

    return Value(const=np.asarray(tensor_util.MakeNdarray(value)))


def _topological(graph: Any) -> list[Any]:
    """The graph's operations, every one after the producers of its inputs."""
    order, seen = [], set()
    for root in graph.get_operations():
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
            stack.extend((t.op, False) for t in reversed(op.inputs) if t.op.name not in seen)
    return order


def _space_to_batch_output(op: Any) -> Shape | None:
    """The real output of a convolution run between ``SpaceToBatchND`` and ``BatchToSpaceND`` (a
    dilated one), looking through the reshapes around it (a 1-D convolution is an expanded 2-D one)."""
    source = op.inputs[0].op
    while source.type in _RESHAPES and source.inputs:
        source = source.inputs[0].op
    if source.type != "SpaceToBatchND":
        return None
    sink = op
    while True:
        consumers = sink.outputs[0].consumers()
        if len(consumers) != 1:
            return None
        sink = consumers[0]
        if sink.type == "BatchToSpaceND":
            return _shape(sink.outputs[0])
        if sink.type not in _RESHAPES:
            return None


def _weight_op_macs(op: Any, vals: list[Value], shapes: list[Shape], out: Shape) -> int:
    """Multiply-adds of a convolution or matrix product from static shapes and attributes.

    Every output position of a convolution reads the whole filter (``nnz(filter)``: ``prod(window) x
    in channels / groups x out channels``, groups being implicit in the filter's input channels); a
    transposed convolution (``*BackpropInput``) scatters every position of its input through it.
    """
    kind = op.type
    if kind in _CONVS or kind in _CONVS_TRANSPOSED:
        channels_first = op.get_attr("data_format").decode().startswith("NC")
        grid = shapes[2] if kind in _CONVS_TRANSPOSED else out
        positions = grid[0] * prod(grid[2:] if channels_first else grid[1:-1])
        cropped = _space_to_batch_output(op) if kind in _CONVS else None
        if cropped is not None:
            positions = prod(cropped) // (out[1] if channels_first else out[-1])
        return positions * nonzeros(indicator(vals[1], shapes[1]), shapes[1])
    if kind == "Einsum":
        from ..counting import einsum_macs

        return einsum_macs(op.get_attr("equation").decode(), shapes[0], shapes[1])
    a, b = shapes
    masks = [indicator(v, s) for v, s in zip(vals, shapes, strict=True)]
    if kind == "MatMul":
        ca = 0 if op.get_attr("transpose_a") else 1
        cb = 1 if op.get_attr("transpose_b") else 0
        return matmul_macs(a, b, (ca,), (cb,), (), (), *masks)
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    a, b = (*batch, *a[-2:]), (*batch, *b[-2:])
    masks = [None if m is None else np.broadcast_to(m, s) for m, s in zip(masks, (a, b), strict=True)]
    nb = len(batch)
    ca = nb if op.get_attr("adj_x") else nb + 1
    cb = nb + 1 if op.get_attr("adj_y") else nb
    return matmul_macs(a, b, (ca,), (cb,), tuple(range(nb)), tuple(range(nb)), *masks)


_SAME_FIELD = frozenset(
    "Identity IdentityN Cast StopGradient PreventGradient Snapshot EnsureShape CheckNumerics AddN".split()
)
_WINDOWS = frozenset(
    ("Conv2D", "Conv3D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D")
)


def _receptive_field(op: Any, vals: list[Value], shape: Shape) -> _field.Field | None:
    """The receptive field of a data result (see :mod:`._field`); None where it ends."""
    kind, rank = op.type, len(shape)
    data = [(i, v) for i, v in enumerate(vals) if v.data]
    if not data:
        return None
    if kind in _ELEMENTWISE or kind in _TRANSCENDENTAL or kind in _SAME_FIELD:
        fields = []
        for _, v in data:
            if v.rf is None or len(v.rf) > rank:
                return None
            fields.append((None,) * (rank - len(v.rf)) + v.rf)
        return _field.merge(fields, rank)
    first, operand = data[0]
    rf, in_shape = operand.rf, _shape(op.inputs[first])
    if rf is None or in_shape is None:
        return None
    consts = [v.const for v in vals]
    attrs = op.node_def.attr
    channels_first = "data_format" in attrs and attrs["data_format"].s.decode().startswith("NC")
    spatial = list(range(2, rank)) if channels_first else list(range(1, rank - 1))
    if kind in _WINDOWS or kind == "Conv2DBackpropInput":
        if len(data) > 1 or (kind == "Conv2DBackpropInput") != (first == 2):
            return None
        if kind.startswith(("Max", "Avg")):
            kernel = [op.get_attr("ksize")[a] for a in spatial]
        else:
            kernel = list(_shape(op.inputs[1])[: rank - 2])
        strides = [op.get_attr("strides")[a] for a in spatial]
        dilation = (
            [op.get_attr("dilations")[a] for a in spatial] if "dilations" in attrs else [1] * len(spatial)
        )
        padding = op.get_attr("padding").decode()
        if kind == "Conv2DBackpropInput":
            return _field.window(
                rf, spatial, spatial, rank, kernel, strides, dilation, [0] * len(spatial), upsample=strides
            )
        if padding == "EXPLICIT":
            before = [op.get_attr("explicit_paddings")[2 * a] for a in spatial]
        elif padding == "SAME":
            before = [
                _field.same_before(in_shape[a], k, s, d)
                for a, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
            ]
        else:
            before = [0] * len(spatial)
        return _field.window(rf, spatial, spatial, rank, kernel, strides, dilation, before)
    if kind in ("SpaceToBatchND", "BatchToSpaceND") and consts[1] is not None and consts[2] is not None:
        block, pads = [int(b) for b in consts[1]], [int(p[0]) for p in consts[2]]
        out = list(rf)
        for a, (b, p) in enumerate(zip(block, pads, strict=True), start=1):
            if out[a] is not None:
                size, jump, start = out[a]
                out[a] = (
                    (size, jump * b, start - p * jump)
                    if kind == "SpaceToBatchND"
                    else (size, jump / b, start + p * jump / b)
                )
        return tuple(out)
    if kind in ("Pad", "PadV2", "MirrorPad") and consts[1] is not None:
        return _field.shift(rf, [-int(p[0]) for p in consts[1]])
    if kind == "Slice" and consts[1] is not None:
        return _field.shift(rf, [int(b) for b in consts[1]])
    if kind == "StridedSlice":
        return _strided_slice(op, rf, in_shape, consts)
    if kind == "Transpose" and consts[1] is not None:
        return _field.permute(rf, [int(i) for i in consts[1]])
    if kind in ("Reshape", "ExpandDims", "Squeeze"):
        return _field.reshape(rf, in_shape, shape)
    if kind in _REDUCTION or kind == "Mean":
        if consts[1] is None:
            return None
        axes = {int(a) % len(in_shape) for a in np.atleast_1d(consts[1])}
        keep = "keep_dims" in attrs and op.get_attr("keep_dims")
        kept = (
            [None if i in axes else i for i in range(len(in_shape))]
            if keep
            else [i for i in range(len(in_shape)) if i not in axes]
        )
        return _field.pick(rf, kept)
    if kind == "ConcatV2" and consts[-1] is not None:
        axis = int(consts[-1]) % rank
        fields = [v.rf for _, v in data]
        if len(data) != len(vals) - 1 or any(f is None or f[axis] is not None for f in fields):
            return None
        return _field.merge(fields, rank)
    return None


def _strided_slice(op: Any, rf: _field.Field, in_shape: Shape, consts: list[Any]) -> _field.Field | None:
    """Begin and stride per axis of a ``StridedSlice`` without new or shrunk axes (``x[..., a:b]``)."""
    if any(op.get_attr(m) for m in ("new_axis_mask", "shrink_axis_mask")) or any(
        c is None for c in consts[1:4]
    ):
        return None
    begin, strides = [int(b) for b in consts[1]], [int(s) for s in consts[3]]
    ellipsis, begin_mask = op.get_attr("ellipsis_mask"), op.get_attr("begin_mask")
    rank, n = len(in_shape), len(begin)
    offsets, steps = [0] * rank, [1] * rank
    for i in range(n):
        if ellipsis & (1 << i):
            continue
        after = ellipsis and i > (ellipsis.bit_length() - 1)
        axis = rank - (n - i) if after else i
        if strides[i] < 1:
            return None
        offsets[axis] = 0 if begin_mask & (1 << i) else begin[i] % in_shape[axis]
        steps[axis] = strides[i]
    return _field.shift(rf, offsets, steps)
