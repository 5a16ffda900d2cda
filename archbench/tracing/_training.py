"""The programs of one training step, traced on the active backend and walked like the inference
program: the functions of :mod:`archbench.step`, the very ones the timer compiles.

- JAX: the jaxpr of :func:`archbench.step.jax_gradients` (``jax.value_and_grad`` of the loss of
  ``model.stateless_call(..., training=True)`` with respect to the trainable variables); its forward
  operations carry the layer's scope in ``jvp(...)``, the gradient's in ``transpose(jvp(...))``.
- TensorFlow: the graph of :func:`archbench.step.tf_gradients` in a ``tf.function`` (the loss of
  ``model(x, training=True)`` under a ``tf.GradientTape`` and the tape's gradients); the gradient's
  operations run under the ``gradient_tape/`` scope.
- The update: :func:`archbench.step.jax_update` or :func:`archbench.step.tf_update` on gradients of
  the variables' shapes; it runs once per step, whatever the batch.

Nothing is computed (abstract shapes on JAX, a traced graph on TensorFlow); the model is not changed
(the optimizer is a new one, built for the model's variables).
"""

from __future__ import annotations

import re
from typing import Any

from .. import step
from ._common import Shape, Tally

__all__ = ["phase", "trace_step", "trace_update"]

BACKWARD, FORWARD = "backward", "forward"


def phase(scope: str) -> tuple[str, str]:
    """``(forward or backward, the layer path)`` of an operation's scope in a gradient program."""
    parts = [p for p in scope.split("/") if p]
    backward = bool(parts) and (parts[0] == "gradient_tape" or any(p.startswith("transpose(") for p in parts))
    if parts and parts[0] == "gradient_tape":
        parts = parts[1:]
    layer = [re.sub(r"^(?:transpose\(|jvp\()+(.*?)\)*$", r"\1", p) for p in parts]
    return (BACKWARD if backward else FORWARD), "/".join(layer)


def trace_step(model: Any, shapes: list[Shape], loss_fn: Any, dtype: str) -> tuple[Tally, list[str]]:
    """Trace one sample's loss and weight gradients (:func:`archbench.step.jax_gradients` or
    :func:`archbench.step.tf_gradients`): the tally and loop notes."""
    import keras

    if keras.backend.backend() == "jax":
        return _jax_step(model, shapes, loss_fn, dtype)
    return _tf_step(model, shapes, loss_fn, dtype)


def _jax_step(model: Any, shapes: list[Shape], loss_fn: Any, dtype: str) -> tuple[Tally, list[str]]:
    import jax
    import keras

    from . import _jax

    def spec(v: Any) -> Any:
        return jax.ShapeDtypeStruct(tuple(int(d) for d in v.shape), v.dtype)

    trainable = [spec(v) for v in model.trainable_variables]
    frozen = [spec(v) for v in model.non_trainable_variables]
    inputs = [jax.ShapeDtypeStruct((1, *s), dtype) for s in shapes]

    def forward(trainable, frozen, inputs):
        return model.stateless_call(trainable, frozen, inputs[0] if len(inputs) == 1 else list(inputs), training=True)

    outputs = keras.tree.flatten(jax.eval_shape(forward, trainable, frozen, inputs)[0])
    specs = step.label_specs(loss_fn, [(tuple(o.shape), o.dtype) for o in outputs])
    labels = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in specs]
    closed = jax.make_jaxpr(step.jax_gradients(model, loss_fn))(trainable, frozen, inputs, labels)
    data = [x.shape for x in inputs] + [t.shape for t in labels]
    tally, _, loops = _jax.walk(closed, len(trainable) + len(frozen), data, 1)
    return tally, loops


def _tf_step(model: Any, shapes: list[Shape], loss_fn: Any, dtype: str) -> tuple[Tally, list[str]]:
    import keras
    import tensorflow as tf

    from . import _tf

    specs = [tf.TensorSpec((1, *s), dtype) for s in shapes]

    def forward(*inputs):
        return model(inputs[0] if len(inputs) == 1 else list(inputs), training=True)

    known = keras.tree.flatten(getattr(model, "outputs", None) or [])
    if known and all(d is not None for o in known for d in o.shape[1:]):  # a functional model's: no trace
        shapes_out = [((1, *o.shape[1:]), o.dtype) for o in known]
    else:
        traced_forward = tf.function(forward).get_concrete_function(*specs).structured_outputs
        shapes_out = [(tuple(o.shape), o.dtype) for o in keras.tree.flatten(traced_forward)]
    labels = [tf.TensorSpec(shape, dtype) for shape, dtype in step.label_specs(loss_fn, shapes_out)]
    gradients = step.tf_gradients(model, loss_fn)

    def traced(*args):
        value, grads = gradients(args[: len(specs)], list(args[len(specs) :]))
        return [value, *grads]

    graph = tf.function(traced).get_concrete_function(*specs, *labels).graph
    data = [tuple(s.shape) for s in specs] + [tuple(t.shape) for t in labels]
    tally, _, loops = _tf.walk(graph, data, 1)
    return tally, loops


def trace_update(model: Any, optimizer: Any) -> Tally:
    """Trace a new ``optimizer``'s update of the model's trainable variables
    (:func:`archbench.step.jax_update` or :func:`archbench.step.tf_update`): every operation is static
    (no data flows into it), so its tally holds per-step work only."""
    import keras

    variables = model.trainable_variables
    optimizer.build(variables)
    if keras.backend.backend() == "jax":
        import jax

        from . import _jax

        def spec(v: Any) -> Any:
            return jax.ShapeDtypeStruct(tuple(int(d) for d in v.shape), v.dtype)

        state = [spec(v) for v in optimizer.variables]
        weights = [spec(v) for v in variables]
        closed = jax.make_jaxpr(step.jax_update(optimizer))(state, weights, weights)
        return _jax.walk(closed, 2 * len(weights) + len(state), [], 1)[0]
    import tensorflow as tf

    from . import _tf

    update = step.tf_update(model, optimizer)

    def apply(*grads):
        update(grads)
        return tf.constant(0)

    graph = tf.function(apply).get_concrete_function(*(tf.TensorSpec(v.shape, v.dtype) for v in variables)).graph
    return _tf.walk(graph, [], 1)[0]
