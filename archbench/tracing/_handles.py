"""The per-operation rules of traced programs, as tables (fvcore's ``jit_handles``): for each JAX
primitive (:data:`JAX_RULES`) and TensorFlow op type (:data:`TF_RULES`), a handle that costs one
operation from its static shapes, attributes and operands' structural masks, with the conventions
of :mod:`archbench.tracing`. An operation missing from its table is listed as uncounted by the
walkers (:mod:`._jax`, :mod:`._tf`), never silently zero; data movement has explicit zero rules.

A handle is ``handle(op, values, in_shapes, out_shape) -> OpCost`` for the whole batch (the tally
divides per-sample work by the batch); it raises :class:`Uncountable` with the reason when this
particular operation cannot be costed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from ..counting.formulas import einsum_macs
from ._common import Shape, Value, indicator, matmul_macs, nonzeros

__all__ = ["JAX_RULES", "TF_RULES", "OpCost", "Uncountable", "tf_shape"]


@dataclass(frozen=True)
class OpCost:
    """Multiply-adds, or ``ops`` other operations of ``category``."""

    macs: int = 0
    category: str | None = None
    ops: int = 0


class Uncountable(Exception):
    """Raised by a handle that cannot cost this operation (the reason is listed)."""


Handle = Callable[[Any, list[Value], list[Shape], Shape], OpCost]


def _zero(op, values, in_shapes, shape) -> OpCost:
    """Data movement, shapes, casts: nothing computed."""
    return OpCost()


def _per_output(category: str, per_element: int = 1) -> Handle:
    def handle(op, values, in_shapes, shape) -> OpCost:
        return OpCost(category=category, ops=per_element * prod(shape))

    return handle


def _reduction(op, values, in_shapes, shape) -> OpCost:
    """``inputs - outputs`` adds or comparisons."""
    return OpCost(category="reduction", ops=prod(in_shapes[0]) - prod(shape))


def _every_input(category: str) -> Handle:
    def handle(op, values, in_shapes, shape) -> OpCost:
        return OpCost(category=category, ops=prod(in_shapes[0]))

    return handle


def _table(*groups: tuple[str, Handle]) -> dict[str, Handle]:
    table: dict[str, Handle] = {}
    for names, handle in groups:
        for name in names.split():
            table[name] = handle
    return table


# ----------------------------------------------------------------------------------------------------
# JAX primitives.

JAX_ZERO = frozenset(
    "reshape broadcast_in_dim transpose squeeze expand_dims concatenate slice dynamic_slice "
    "dynamic_update_slice gather pad convert_element_type copy copy_p rev iota stop_gradient "
    "reduce_precision split device_put optimization_barrier sharding_constraint real imag "
    "bitcast_convert_type stack unstack tile zeros_like layout_constraint reshard".split()
)
JAX_ELEMENTWISE = frozenset(
    "add sub mul div max min neg abs sign select_n gt lt ge le eq ne and or not xor floor ceil round "
    "clamp rem nextafter square integer_pow is_finite add_any".split()
)
JAX_TRANSCENDENTAL = frozenset(
    "exp exp2 log log1p expm1 tanh logistic erf erfc erf_inv sin cos tan asin acos atan atan2 sinh cosh "
    "asinh acosh atanh sqrt rsqrt cbrt pow lgamma digamma".split()
)
JAX_REDUCTION = frozenset(
    "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax argmin".split()
)
JAX_POOLING = frozenset("reduce_window_sum reduce_window_max reduce_window_min".split())
JAX_MATMUL = frozenset(("conv_general_dilated", "dot_general"))
# Random-number generation (dropout masks, noise): zero by rule, see :mod:`archbench.tracing`.
JAX_RANDOM = frozenset(
    "random_bits random_seed random_wrap random_unwrap random_fold_in random_split threefry2x32 "
    "shift_right_logical shift_left shift_right_arithmetic".split()
)
# Scatter-adds (the gradient of a gather) carry a one-line program for the combining add: leaves here.
JAX_SCATTERS = frozenset("scatter-add scatter_add scatter".split())


def _jax_scatter_add(eqn, values, shapes, out) -> OpCost:
    """One add per element of the updates (``operand, indices, updates``), as a segment sum."""
    return OpCost(category="reduction", ops=prod(shapes[2]))


def _jax_conv(eqn, values, shapes, out) -> OpCost:
    """Multiply-adds of ``conv_general_dilated`` (see :mod:`archbench.tracing`).

    Every output position reads the whole kernel: ``batch x prod(out spatial) x nnz(kernel)``, the
    kernel being ``out features x in features / groups x prod(window)``. A transposed convolution
    (input dilation, or a kernel reversed along its spatial axes as ``jax.lax.conv_transpose`` and the
    input gradient make it) is counted as the scatter it is: ``batch x prod(in spatial) x
    nnz(kernel)``, the real multiply-adds, not the inserted zeros.
    """
    params = eqn.params
    lhs, rhs = shapes[0], shapes[1]
    dn = params["dimension_numbers"]
    kernel = nonzeros(indicator(values[1], rhs), rhs)
    if any(int(d) > 1 for d in params["lhs_dilation"]) or values[1].flipped:
        batch = lhs[dn.lhs_spec[0]] // int(params["batch_group_count"])
        return OpCost(macs=batch * prod(lhs[d] for d in dn.lhs_spec[2:]) * kernel)
    return OpCost(macs=out[dn.out_spec[0]] * prod(out[d] for d in dn.out_spec[2:]) * kernel)


def _jax_dot(eqn, values, shapes, out) -> OpCost:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    masks = [indicator(v, s) for v, s in zip(values, shapes, strict=True)]
    return OpCost(macs=matmul_macs(*shapes, tuple(lc), tuple(rc), tuple(lb), tuple(rb), *masks))


def _jax_pooling(eqn, values, shapes, out) -> OpCost:
    """Max: ``window - 1`` comparisons per output; a windowed sum ``window - 1`` adds."""
    return OpCost(category="pooling", ops=prod(out) * (prod(eqn.params["window_dimensions"]) - 1))


def _jax_pooling_gradient(eqn, values, shapes, out) -> OpCost:
    """The gradient of max pooling (``select_and_scatter_add``, ``select_and_gather_add``): per
    pooled value, ``window - 1`` comparisons to find the maximum and one add to route it."""
    return OpCost(category="pooling", ops=prod(shapes[0]) * prod(eqn.params["window_dimensions"]))


JAX_RULES: dict[str, Handle] = _table(
    (" ".join(JAX_ZERO | JAX_RANDOM), _zero),
    (" ".join(JAX_ELEMENTWISE), _per_output("elementwise")),
    (" ".join(JAX_TRANSCENDENTAL), _per_output("transcendental")),
    (" ".join(JAX_REDUCTION), _reduction),
    ("cumsum cumprod cummax cummin cumlogsumexp", _per_output("reduction")),
    (" ".join(JAX_POOLING), _jax_pooling),
    ("select_and_scatter_add select_and_gather_add", _jax_pooling_gradient),
    ("scatter-add scatter_add", _jax_scatter_add),
    ("scatter", _zero),
    ("conv_general_dilated", _jax_conv),
    ("dot_general", _jax_dot),
)


# ----------------------------------------------------------------------------------------------------
# TensorFlow op types.

TF_ZERO = frozenset(
    "Identity IdentityN Const Placeholder VarHandleOp NoOp Reshape Squeeze ExpandDims ConcatV2 Concat Pack "
    "Unpack Transpose Pad PadV2 MirrorPad Slice StridedSlice GatherV2 Gather GatherNd Shape ShapeN Size "
    "Rank Cast StopGradient PreventGradient Snapshot EnsureShape Fill ZerosLike OnesLike Range Tile "
    "BroadcastTo BroadcastArgs SpaceToBatchND BatchToSpaceND Split SplitV DepthToSpace SpaceToDepth "
    "ResizeNearestNeighbor Bitcast CheckNumerics BroadcastGradientArgs StridedSliceGrad ConcatOffset "
    "InvertPermutation DynamicStitch AssignVariableOp".split()
)
# Tensor lists carry a loop's inputs and outputs (tf.TensorArray): data movement, never evaluated.
TF_LISTS = frozenset(
    "TensorListReserve TensorListFromTensor TensorListGetItem TensorListSetItem TensorListStack "
    "TensorListLength TensorListElementShape TensorListPushBack TensorListPopBack TensorListConcatV2 "
    "TensorListSplit TensorListResize TensorListGather TensorListScatterIntoExistingList "
    "EmptyTensorList".split()
)
# Random-number generation (dropout masks, noise): zero by rule, as JAX_RANDOM.
TF_RANDOM = frozenset(
    "StatelessRandomGetKeyCounter StatelessRandomGetAlg StatelessRandomGetKeyCounterAlg StatelessRandomUniformV2 "
    "StatelessRandomUniformIntV2 StatelessRandomUniformFullIntV2 StatelessRandomNormalV2 StatelessTruncatedNormalV2 "
    "StatelessRandomUniform StatelessRandomUniformInt StatelessRandomNormal StatelessTruncatedNormal RandomUniform "
    "RandomUniformInt RandomStandardNormal TruncatedNormal".split()
)
# Segment sums (the gradient of a gather): one add per element summed, see :mod:`archbench.tracing`.
TF_SEGMENT_SUMS = {"UnsortedSegmentSum": 0, "SegmentSum": 0, "ScatterNd": 1, "TensorScatterAdd": 2}
TF_ELEMENTWISE = frozenset(
    "Add AddV2 BiasAdd Sub Mul MulNoNan RealDiv Div DivNoNan FloorDiv FloorMod Mod Maximum Minimum Neg Abs "
    "Sign Square SquaredDifference Less LessEqual Greater GreaterEqual Equal NotEqual Select SelectV2 "
    "LogicalAnd LogicalOr LogicalNot Floor Ceil Round Rint ClipByValue Reciprocal Inv Relu Relu6 LeakyRelu "
    "IsFinite ReluGrad Relu6Grad LeakyReluGrad SigmoidGrad TanhGrad RsqrtGrad SqrtGrad ReciprocalGrad "
    "EluGrad SeluGrad SoftplusGrad".split()
)
TF_TRANSCENDENTAL = frozenset(
    "Exp Expm1 Log Log1p Tanh Sigmoid Erf Erfc Sqrt Rsqrt Pow Sin Cos Tan Atan Atan2 Elu Selu Softplus "
    "Softsign Softmax LogSoftmax".split()
)
TF_REDUCTION = frozenset("Sum Max Min Prod All Any ArgMax ArgMin".split())
TF_CONVS = frozenset(("Conv2D", "Conv3D", "DepthwiseConv2dNative"))
TF_CONVS_TRANSPOSED = frozenset(
    ("Conv2DBackpropInput", "Conv3DBackpropInputV2", "DepthwiseConv2dNativeBackpropInput")
)
TF_CONV_FILTER_GRADIENTS = frozenset(
    ("Conv2DBackpropFilter", "Conv3DBackpropFilterV2", "DepthwiseConv2dNativeBackpropFilter")
)
TF_MATMULS = frozenset(("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"))
TF_WEIGHT_OPS = TF_CONVS | TF_CONVS_TRANSPOSED | TF_CONV_FILTER_GRADIENTS | TF_MATMULS
TF_RESHAPES = frozenset(
    "Identity Cast StopGradient PreventGradient Snapshot Reshape ExpandDims Squeeze EnsureShape".split()
)


def tf_shape(tensor: Any) -> Shape | None:
    """A TensorFlow tensor's static shape, or None when any dimension is unknown."""
    dims = tensor.shape.as_list() if tensor.shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        return None
    return tuple(int(d) for d in dims)


def _space_to_batch_output(op: Any) -> Shape | None:
    """The real output of a convolution run between ``SpaceToBatchND`` and ``BatchToSpaceND`` (a
    dilated one), looking through the reshapes around it (a 1-D convolution is an expanded 2-D one)."""
    source = op.inputs[0].op
    while source.type in TF_RESHAPES and source.inputs:
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
            return tf_shape(sink.outputs[0])
        if sink.type not in TF_RESHAPES:
            return None


def _positions(op: Any, grid: Shape) -> int:
    channels_first = op.get_attr("data_format").decode().startswith("NC")
    return grid[0] * prod(grid[2:] if channels_first else grid[1:-1])


def _tf_weight_op(op, vals, shapes, out) -> OpCost:
    """Multiply-adds of a convolution or matrix product from static shapes and attributes.

    Every output position of a convolution reads the whole filter (``nnz(filter)``: ``prod(window) x
    in channels / groups x out channels``, groups being implicit in the filter's input channels); a
    transposed convolution (``*BackpropInput``, the input gradient) scatters every position of its
    input through it; a filter gradient (``*BackpropFilter``) takes one multiply-add per position of
    the output gradient and filter entry, as the forward convolution.
    """
    kind = op.type
    if any(s is None for s in shapes) or (kind == "Einsum" and len(shapes) != 2):
        raise Uncountable("an input of unknown shape, or an einsum of more than two operands")
    if kind in TF_CONV_FILTER_GRADIENTS:
        return OpCost(macs=_positions(op, shapes[2]) * prod(out))
    if kind in TF_CONVS or kind in TF_CONVS_TRANSPOSED:
        channels_first = op.get_attr("data_format").decode().startswith("NC")
        positions = _positions(op, shapes[2] if kind in TF_CONVS_TRANSPOSED else out)
        cropped = _space_to_batch_output(op) if kind in TF_CONVS else None
        if cropped is not None:
            positions = prod(cropped) // (out[1] if channels_first else out[-1])
        return OpCost(macs=positions * nonzeros(indicator(vals[1], shapes[1]), shapes[1]))
    if kind == "Einsum":
        return OpCost(macs=einsum_macs(op.get_attr("equation").decode(), shapes[0], shapes[1]))
    a, b = shapes
    masks = [indicator(v, s) for v, s in zip(vals, shapes, strict=True)]
    if kind == "MatMul":
        ca = 0 if op.get_attr("transpose_a") else 1
        cb = 1 if op.get_attr("transpose_b") else 0
        return OpCost(macs=matmul_macs(a, b, (ca,), (cb,), (), (), *masks))
    batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    a, b = (*batch, *a[-2:]), (*batch, *b[-2:])
    masks = [None if m is None else np.broadcast_to(m, s) for m, s in zip(masks, (a, b), strict=True)]
    nb = len(batch)
    ca = nb if op.get_attr("adj_x") else nb + 1
    cb = nb + 1 if op.get_attr("adj_y") else nb
    return OpCost(macs=matmul_macs(a, b, (ca,), (cb,), tuple(range(nb)), tuple(range(nb)), *masks))


def _tf_add_n(op, vals, shapes, out) -> OpCost:
    return OpCost(category="elementwise", ops=prod(out) * (len(vals) - 1))


def _tf_pooling(op, vals, shapes, out) -> OpCost:
    """Max: ``window - 1`` comparisons per output; average: ``window`` (adds and the divide)."""
    window = prod(op.get_attr("ksize"))
    return OpCost(category="pooling", ops=prod(out) * (window - 1 if op.type.startswith("Max") else window))


def _tf_pooling_gradient(op, vals, shapes, out) -> OpCost:
    """Per pooled gradient value, ``window`` operations: find the maximum and route it (max), or
    spread it over the window (average)."""
    grad = shapes[2] if op.type.startswith("MaxPool") else shapes[1]
    if grad is None:
        raise Uncountable("an input of unknown shape")
    return OpCost(category="pooling", ops=prod(grad) * prod(op.get_attr("ksize")))


def _tf_assign_update(op, vals, shapes, out) -> OpCost:
    """``AssignSubVariableOp`` / ``AssignAddVariableOp``: one per element of the value."""
    if shapes[1] is None:
        raise Uncountable("a value of unknown shape")
    return OpCost(category="elementwise", ops=prod(shapes[1]))


def _tf_segment_sum(op, vals, shapes, out) -> OpCost:
    """One add per element of the data summed into the (zero-initialised) output."""
    data = shapes[TF_SEGMENT_SUMS[op.type]]
    if data is None:
        raise Uncountable("data of unknown shape")
    return OpCost(category="reduction", ops=prod(data))


def _tf_cross_entropy(op, vals, shapes, out) -> OpCost:
    """The fused softmax cross-entropy (loss and its gradient): one per logit."""
    return OpCost(category="transcendental", ops=prod(shapes[0]))


TF_RULES: dict[str, Handle] = _table(
    (" ".join(TF_ZERO | TF_LISTS | TF_RANDOM), _zero),
    (" ".join(TF_ELEMENTWISE), _per_output("elementwise")),
    (" ".join(TF_TRANSCENDENTAL), _per_output("transcendental")),
    (" ".join(TF_REDUCTION), _reduction),
    ("BiasAddGrad", _reduction),
    ("Mean Cumsum Cumprod", _every_input("reduction")),
    ("AddN", _tf_add_n),
    (" ".join(TF_SEGMENT_SUMS), _tf_segment_sum),
    ("AssignSubVariableOp AssignAddVariableOp", _tf_assign_update),
    ("MaxPool MaxPool3D AvgPool AvgPool3D", _tf_pooling),
    ("MaxPoolGrad MaxPool3DGrad AvgPoolGrad AvgPool3DGrad", _tf_pooling_gradient),
    ("SoftmaxCrossEntropyWithLogits SparseSoftmaxCrossEntropyWithLogits", _tf_cross_entropy),
    (" ".join(TF_WEIGHT_OPS), _tf_weight_op),
)
