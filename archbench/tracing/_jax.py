"""The JAX backend: the jaxpr of ``model.stateless_call(..., training=False)``, walked recursively.

``jax.make_jaxpr`` traces with abstract shapes only (``jax.ShapeDtypeStruct``): nothing is computed.
Call-like primitives (``jit``/``pjit``, ``closed_call``, ``custom_jvp_call``, ``custom_vjp_call``,
``remat``) are walked inside (a scatter's combining program is not: a scatter is a leaf); ``scan``
bodies are counted ``length`` times, a ``while`` body as many times as its condition, run on the
values known before the loop (counters, bounds), lets it run; a ``while`` loop whose trip count
depends on run-time values is listed as uncounted. For ``cond`` the costliest branch is counted (and
a note says so when branches differ). Equations whose results nothing uses are not counted (XLA does
not run them).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from math import prod
from typing import Any

import numpy as np

from ..keras_internals import inference_flags
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
    JAX_ELEMENTWISE,
    JAX_POOLING,
    JAX_RANDOM,
    JAX_REDUCTION,
    JAX_RULES,
    JAX_SCATTERS,
    JAX_TRANSCENDENTAL,
    JAX_ZERO,
    Uncountable,
)

_EVALUATED = frozenset(JAX_RULES) - JAX_RANDOM
_MATMUL = frozenset(("conv_general_dilated", "dot_general"))
_PRODUCTS = frozenset(("mul", "square", "integer_pow"))

# Structural masks: data movement moves the pattern; these operands are indices, not values.
_MOVES = frozenset(
    "reshape broadcast_in_dim transpose squeeze expand_dims concatenate slice rev convert_element_type "
    "pad gather dynamic_slice select_n stack tile".split()
)
_INDEX_OPERANDS = {"gather": slice(1, 2), "dynamic_slice": slice(1, None), "select_n": slice(0, 1)}
_SAME_MASK = frozenset("neg abs square integer_pow copy copy_p stop_gradient reduce_precision sign".split())
_KEEPS_FLIP = frozenset("transpose reshape convert_element_type copy copy_p reduce_precision".split())
_SAME_FIELD = frozenset(
    "convert_element_type copy copy_p reduce_precision stop_gradient optimization_barrier "
    "sharding_constraint".split()
)


def trace(
    model: Any, shapes: list[Shape], batch_size: int, dtype: str
) -> tuple[Tally, list[Value], list[str]]:
    """Trace ``model``'s inference call at ``batch_size``; return the tally, the outputs and loop notes.

    ``training=False`` is passed when ``call`` takes it (``stateless_call`` calls ``call`` directly);
    otherwise the sublayers run with their inference default, as ``model(x)`` would.
    """
    import jax

    def spec(v: Any) -> Any:
        return jax.ShapeDtypeStruct(tuple(int(d) for d in v.shape), v.dtype)

    trainable = [spec(v) for v in model.trainable_variables]
    frozen = [spec(v) for v in model.non_trainable_variables]
    inputs = [jax.ShapeDtypeStruct((batch_size, *s), dtype) for s in shapes]

    flags = inference_flags(model)

    def infer(trainable, frozen, inputs):
        x = inputs[0] if len(inputs) == 1 else list(inputs)
        outputs, _ = model.stateless_call(trainable, frozen, x, **flags)
        return outputs

    closed = jax.make_jaxpr(infer)(trainable, frozen, inputs)
    return walk(closed, len(trainable) + len(frozen), [x.shape for x in inputs], batch_size)


def walk(
    closed: Any, weights: int, data: list[Shape], batch_size: int
) -> tuple[Tally, list[Value], list[str]]:
    """Walk a program whose first ``weights`` inputs are weights and the next ones data of the shapes
    ``data`` (batch included): the tally, the outputs and loop notes."""
    walker = _Walker(batch_size)
    values = [Value(weight=True)] * weights + [Value(data=True, rf=_field.input_field(tuple(s))) for s in data]
    outputs = walker.closed(closed, values, "")
    return walker.tally, outputs, walker.loops


def _jaxpr_of(value: Any) -> tuple[Any, list[Any]] | None:
    """``(jaxpr, consts)`` of a ClosedJaxpr or Jaxpr parameter, else None."""
    from jax.extend import core

    if isinstance(value, core.ClosedJaxpr):
        return value.jaxpr, list(value.consts)
    if isinstance(value, core.Jaxpr):
        return value, []
    return None


def _inner_jaxprs(params: dict) -> list[tuple[Any, list[Any]]]:
    found = []
    for value in params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            inner = _jaxpr_of(item)
            if inner is not None:
                found.append(inner)
    return found


def _join(prefix: str, scope: str) -> str:
    return f"{prefix}/{scope}" if scope else prefix


def _const(value: Any) -> Value:
    array = np.asarray(value)
    return Value(const=array) if small(array.shape) else DENSE


def _loose(value: Value) -> Value:
    """A loop-carried or sliced value: its flags without a value or a mask (they change per step)."""
    return Value(data=value.data, weight=value.weight, depth=value.depth)


class _Walker:
    def __init__(self, batch_size: int):
        self.tally = Tally(batch_size)
        self.loops: list[str] = []

    def closed(self, closed: Any, values: list[Value], prefix: str) -> list[Value]:
        jaxpr, consts = _jaxpr_of(closed)
        return self.run(jaxpr, consts, values, prefix)

    def run(self, jaxpr: Any, consts: list[Any], values: list[Value], prefix: str) -> list[Value]:
        from jax.extend import core

        env: dict[Any, Value] = {v: _const(c) for v, c in zip(jaxpr.constvars, consts, strict=True)}
        env.update(zip(jaxpr.invars, values, strict=True))

        def read(v: Any) -> Value:
            return _const(v.val) if isinstance(v, core.Literal) else env.get(v, DENSE)

        eqns = _live(jaxpr)
        uses = Counter(v for e in eqns for v in e.invars if not isinstance(v, core.Literal))
        summed = {e.invars[0] for e in eqns if e.primitive.name == "reduce_sum"}
        products = {
            e.outvars[0]
            for e in eqns
            if e.primitive.name in _PRODUCTS
            and e.params.get("y", 2) == 2
            and e.outvars[0] in summed
            and uses[e.outvars[0]] == 1
        }
        fused: set[Any] = set()
        for eqn in eqns:
            inner = str(eqn.source_info.name_stack)
            scope = (
                inner
                if not prefix or inner == prefix or inner.startswith(prefix + "/")
                else _join(prefix, inner)
            )
            outs = self.eqn(eqn, [read(v) for v in eqn.invars], scope, products, fused)
            env.update(zip(eqn.outvars, outs, strict=True))
        return [read(v) for v in jaxpr.outvars]

    def eqn(self, eqn: Any, values: list[Value], scope: str, products: set, fused: set) -> list[Value]:
        name = eqn.primitive.name
        if name == "cond":
            return self.cond(eqn, values, scope)
        if name == "scan":
            return self.scan(eqn, values, scope)
        if name == "while":
            return self.while_loop(eqn, values, scope)
        inner = [] if name in JAX_SCATTERS else _inner_jaxprs(eqn.params)
        if inner:
            jaxpr, consts = inner[0]
            if (
                len(inner) == 1
                and len(jaxpr.invars) == len(values)
                and len(jaxpr.outvars) == len(eqn.outvars)
            ):
                return self.run(jaxpr, consts, values, scope)
            self.tally.missing(name, scope, "a primitive with inner programs the walker does not know")
            return [merged(values)] * len(eqn.outvars)
        return self.leaf(eqn, values, scope, products, fused)

    def leaf(self, eqn: Any, values: list[Value], scope: str, products: set, fused: set) -> list[Value]:
        name = eqn.primitive.name
        shape = tuple(int(d) for d in eqn.outvars[0].aval.shape)
        out = eqn.outvars[0]
        weighted_sum = name == "reduce_sum" and eqn.invars[0] in fused
        result = merged(values, weight_op=name in _MATMUL or weighted_sum)
        # a product with one data factor (x * w), or the square of x - w; not data x data (a loss) nor
        # the square of any activation (batch statistics)
        weighted = bool(values) and (not all(v.data for v in values) if name == "mul" else values[0].mixed)
        if name in _PRODUCTS and out in products and result.data and result.weight and weighted:
            fused.add(out)
            return [result]
        if weighted_sum:
            operand = tuple(int(d) for d in eqn.invars[0].aval.shape)
            self.tally.add("weighted_sum", scope, shape, macs=prod(operand))
            return [result]
        self.count(eqn, values, scope, shape, result.data)
        flipped = name == "rev" or (name in _KEEPS_FLIP and bool(values) and values[0].flipped)
        if result.static:
            evaluated = self.evaluate(eqn, values)
            if evaluated is not None:
                return evaluated
            result = Value(weight=result.weight, mask=_mask(eqn, values, shape), flipped=flipped)
        else:
            rf = _receptive_field(eqn, values, shape)
            mixed = mixes(values, name in JAX_ELEMENTWISE, name in JAX_ZERO)
            result = self.tally.see(replace(result, flipped=flipped, rf=rf, mixed=mixed))
        return [result] * len(eqn.outvars)

    def evaluate(self, eqn: Any, values: list[Value]) -> list[Value] | None:
        """Compute an operation on constants (small ones only) so that masks and indices stay known."""
        if eqn.primitive.name not in _EVALUATED or any(v.const is None for v in values):
            return None
        if not all(small(v.aval.shape) for v in eqn.outvars):
            return None
        out = eqn.primitive.bind(*(v.const for v in values), **eqn.params)
        outs = out if eqn.primitive.multiple_results else [out]
        return [Value(const=np.asarray(o)) for o in outs]

    def count(self, eqn: Any, values: list[Value], scope: str, shape: Shape, data: bool) -> None:
        name = eqn.primitive.name
        handle = JAX_RULES.get(name)
        if handle is None:
            self.tally.missing(name, scope)
            return
        in_shapes = [tuple(int(d) for d in v.aval.shape) for v in eqn.invars]
        try:
            cost = handle(eqn, values, in_shapes, shape)
        except Uncountable as exc:
            self.tally.missing(name, scope, str(exc))
            return
        self.tally.add(name, scope, shape, macs=cost.macs, category=cost.category, ops=cost.ops, per_sample=data)

    def cond(self, eqn: Any, values: list[Value], scope: str) -> list[Value]:
        index, operands = values[0], values[1:]
        runs = []
        for branch in eqn.params["branches"]:
            walker = _Walker(self.tally.batch_size)
            outs = walker.closed(branch, operands, scope)
            cost = (walker.tally.macs, sum(r.ops for r in walker.tally.records))
            runs.append((cost, walker, outs))
        costs = {cost for cost, _, _ in runs}
        _, best, _ = max(runs, key=lambda run: run[0])
        if len(costs) > 1:
            self.tally.notes.append(
                f"{scope}: cond with branches of different cost; the costliest is counted"
            )
        self.tally.absorb(best.tally)
        self.loops.extend(best.loops)
        results = []
        for i, out in enumerate(eqn.outvars):
            branch_outs = [outs[i] for _, _, outs in runs]
            flags = merged([index, *branch_outs])
            depth = max(v.depth for v in branch_outs)
            rf = _field.merge([v.rf for v in branch_outs], len(out.aval.shape))
            results.append(Value(data=flags.data, weight=flags.weight, depth=depth, rf=rf))
        for _, walker, _ in runs:
            self.tally.receptive_field = _field.larger(
                self.tally.receptive_field, walker.tally.receptive_field
            )
        return results

    def scan(self, eqn: Any, values: list[Value], scope: str) -> list[Value]:
        p = eqn.params
        n_consts, n_carry = p["num_consts"], p["num_carry"]
        carry = [_loose(v) for v in values[n_consts : n_consts + n_carry]]
        xs = [_loose(v) for v in values[n_consts + n_carry :]]
        walker, outs = self.body(p["jaxpr"], values[:n_consts], carry, xs, scope)
        self.tally.absorb(walker.tally, times=int(p["length"]))
        self._note_loop(walker, values, outs, scope, "scan")
        flags = merged(values)
        carried = [Value(data=flags.data, weight=flags.weight, depth=v.depth) for v in outs[:n_carry]]
        return carried + [_loose(v) for v in outs[n_carry:]]

    def body(
        self, body: Any, consts: list[Value], carry: list[Value], rest: list[Value], scope: str
    ) -> tuple[_Walker, list[Value]]:
        """Walk a loop body; a carry that its body makes data (a recurrent state starting from zeros)
        is walked again as data, so that its per-sample work is counted as such."""
        for _ in range(len(carry) + 1):
            walker = _Walker(self.tally.batch_size)
            outs = walker.closed(body, [*consts, *carry, *rest], scope)
            wider = [
                Value(data=c.data or o.data, weight=c.weight or o.weight, depth=c.depth)
                for c, o in zip(carry, outs[: len(carry)], strict=True)
            ]
            if all((w.data, w.weight) == (c.data, c.weight) for w, c in zip(wider, carry, strict=True)):
                break
            carry = wider
        return walker, outs

    def while_loop(self, eqn: Any, values: list[Value], scope: str) -> list[Value]:
        """A ``while`` loop: its body counted as many times as it runs, when the trip count follows
        from constants (:func:`_trip_count`); otherwise the loop is listed as uncounted."""
        p = eqn.params
        n_cond, n_body = p["cond_nconsts"], p["body_nconsts"]
        consts, carry = values[n_cond : n_cond + n_body], [_loose(v) for v in values[n_cond + n_body :]]
        walker, outs = self.body(p["body_jaxpr"], consts, carry, [], scope)
        trips = _trip_count(p, values)
        if isinstance(trips, str):
            if walker.tally.records or walker.tally.untraced:
                self.tally.missing("while", scope, f"a loop whose trip count is unknown ({trips}): not counted")
        else:
            tested = _Walker(self.tally.batch_size)
            tested.closed(p["cond_jaxpr"], [*values[:n_cond], *carry], scope)
            self.tally.absorb(walker.tally, times=trips)
            self.tally.absorb(tested.tally, times=trips + 1)
        self._note_loop(walker, values, outs, scope, "while loop")
        flags = merged(values)
        return [Value(data=flags.data, weight=flags.weight, depth=v.depth) for v in outs]

    def _note_loop(
        self, walker: _Walker, values: list[Value], outs: list[Value], scope: str, kind: str
    ) -> None:
        before = max((v.depth for v in values), default=0)
        if walker.loops or max((v.depth for v in outs), default=0) > before:
            self.loops.append(f"weight operations inside a {kind} ({scope or 'top level'})")


LOOP_LIMIT = 100_000
"""Most iterations a ``while`` loop is followed for its trip count."""


def _trip_count(params: dict, values: list[Value]) -> int | str:
    """How many times a ``while`` loop runs, by running its condition and body on the values known
    before it starts (counters, bounds), or why it cannot be known."""
    n_cond, n_body = params["cond_nconsts"], params["body_nconsts"]
    known = [v.const for v in values]
    cond_consts, body_consts, carry = known[:n_cond], known[n_cond : n_cond + n_body], known[n_cond + n_body :]
    for trips in range(LOOP_LIMIT + 1):
        go = _evaluate(params["cond_jaxpr"], [*cond_consts, *carry])[0]
        if go is None:
            return "its condition depends on values computed at run time"
        if not bool(np.asarray(go)):
            return trips
        carry = _evaluate(params["body_jaxpr"], [*body_consts, *carry])
    return f"more than {LOOP_LIMIT:,} iterations"


def _evaluate(closed: Any, inputs: list[Any]) -> list[Any]:
    """The outputs of a program that follow from its known inputs (None: unknown, or too large)."""
    from jax.extend import core

    jaxpr, consts = _jaxpr_of(closed)
    env = dict(zip(jaxpr.constvars, consts, strict=True))
    env.update((v, x) for v, x in zip(jaxpr.invars, inputs, strict=True) if x is not None)

    def read(v: Any) -> Any:
        return v.val if isinstance(v, core.Literal) else env.get(v)

    for eqn in jaxpr.eqns:
        args = [read(v) for v in eqn.invars]
        if any(a is None for a in args) or not all(small(v.aval.shape) for v in eqn.outvars):
            continue
        out = eqn.primitive.bind(*args, **eqn.primitive.get_bind_params(eqn.params))
        env.update(zip(eqn.outvars, out if eqn.primitive.multiple_results else [out], strict=True))
    return [read(v) for v in jaxpr.outvars]


def _live(jaxpr: Any) -> list[Any]:
    """The equations whose results reach the outputs (or that have effects), in program order: work
    whose result nothing uses is not run by XLA and not counted."""
    from jax.extend import core

    needed = {v for v in jaxpr.outvars if not isinstance(v, core.Literal)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if eqn.effects or any(v in needed for v in eqn.outvars):
            kept.append(eqn)
            needed.update(v for v in eqn.invars if not isinstance(v, core.Literal))
    return kept[::-1]


def _receptive_field(eqn: Any, values: list[Value], shape: Shape) -> _field.Field | None:
    """The receptive field of a data result (see :mod:`._field`); None where it ends."""
    name, p = eqn.primitive.name, eqn.params
    rank = len(shape)
    data = [(i, v) for i, v in enumerate(values) if v.data]
    if not data:
        return None
    first, operand = data[0]
    in_shape = tuple(int(d) for d in eqn.invars[first].aval.shape)
    if name in JAX_ELEMENTWISE or name in JAX_TRANSCENDENTAL or name in _SAME_FIELD:
        return _field.merge([v.rf for i, v in data if eqn.invars[i].aval.shape], rank)
    if len(data) > 1 and name != "concatenate":
        return None
    rf = operand.rf
    if name == "conv_general_dilated":
        if first != 0:
            return None
        dn = p["dimension_numbers"]
        rhs = tuple(int(d) for d in eqn.invars[1].aval.shape)
        kernel = [rhs[d] for d in dn.rhs_spec[2:]]
        upsample = [int(d) for d in p["lhs_dilation"]]
        transposed = any(d > 1 for d in upsample) or values[1].flipped
        return _field.window(
            rf, list(dn.lhs_spec[2:]), list(dn.out_spec[2:]), rank, kernel, list(p["window_strides"]),
            list(p["rhs_dilation"]), [lo for lo, _ in p["padding"]], upsample=upsample if transposed else None,
        )  # fmt: skip
    if name in JAX_POOLING:
        if any(int(d) > 1 for d in p["base_dilation"]):
            return None
        axes = list(range(rank))
        return _field.window(
            rf, axes, axes, rank, list(p["window_dimensions"]), list(p["window_strides"]),
            list(p["window_dilation"]), [lo for lo, _ in p["padding"]],
        )  # fmt: skip
    if name == "pad":
        config = p["padding_config"]
        if any(interior for _, _, interior in config):
            return None
        return _field.shift(rf, [-lo for lo, _, _ in config])
    if name == "slice":
        return _field.shift(rf, list(p["start_indices"]), list(p["strides"] or [1] * rank))
    if name == "transpose":
        return _field.permute(rf, list(p["permutation"]))
    if name == "broadcast_in_dim":
        axes: list[int | None] = [None] * rank
        for i, d in enumerate(p["broadcast_dimensions"]):
            axes[d] = i
        return _field.pick(rf, axes)
    if name in ("reshape", "squeeze", "expand_dims"):
        return _field.reshape(rf, in_shape, shape)
    if name in JAX_REDUCTION:
        return _field.pick(rf, [i for i in range(len(in_shape)) if i not in p["axes"]])
    if name == "concatenate":
        fields = [v.rf for _, v in data]
        if any(f is not None and f[p["dimension"]] is not None for f in fields):
            return None
        return _field.merge(fields, rank)
    if name == "dot_general":
        (lc, rc), (lb, rb) = p["dimension_numbers"]
        shapes = [len(v.aval.shape) for v in eqn.invars]
        free = [
            [i for i in range(n) if i not in c and i not in b]
            for n, c, b in zip(shapes, (lc, rc), (lb, rb), strict=True)
        ]
        if first == 0:
            axes = [*lb, *free[0], *[None] * len(free[1])]
        else:
            axes = [*rb, *[None] * len(free[0]), *free[1]]
        return _field.pick(rf, axes)
    return None


def _mask(eqn: Any, values: list[Value], shape: Shape) -> np.ndarray | None:
    """The structural non-zeros of a static result (see :mod:`archbench.tracing._common`)."""
    name = eqn.primitive.name
    in_shapes = [tuple(int(d) for d in v.aval.shape) for v in eqn.invars]
    masks = [indicator(v, s) for v, s in zip(values, in_shapes, strict=True)]
    if all(m is None for m in masks) or not small(shape):
        return None
    if name == "mul":
        out = ones(shape)
        for m in masks:
            out = out if m is None else out & np.broadcast_to(m, shape)
        return dense_or(out)
    if name in ("add", "sub", "max", "min", "add_any"):
        if any(m is None for m in masks):
            return None
        return dense_or(np.logical_or(*(np.broadcast_to(m, shape) for m in masks)))
    if name == "div":
        return dense_or(None if masks[0] is None else np.broadcast_to(masks[0], shape))
    if name in _SAME_MASK:
        return dense_or(masks[0])
    if name not in _MOVES:
        return None
    index = _INDEX_OPERANDS.get(name, slice(0, 0))
    positions = range(len(values))[index]
    args = []
    for i, (v, m, s) in enumerate(zip(values, masks, in_shapes, strict=True)):
        if i in positions:
            if v.const is None:
                return None
            args.append(v.const)
        else:
            args.append((ones(s) if m is None else m).astype(np.float32))
    return dense_or(np.asarray(eqn.primitive.bind(*args, **eqn.params)) != 0)
