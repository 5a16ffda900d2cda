"""One training step of a Keras model, defined once: what ``archbench run --tasks train`` times
(:mod:`archbench.benchmark.train_step` compiles :func:`jax_step` or :func:`tf_step`) and what
:func:`archbench.count_training` counts (:mod:`archbench.tracing._training` traces the same functions).

The step:

- **forward in training mode**: batch norm normalises with the batch's statistics and updates its
  moving averages, dropout is on;
- **loss** (:data:`LOSS`): sparse categorical cross-entropy on integer labels, on the model's outputs
  (the zoo ends in a softmax), the mean over the batch, summed over several outputs;
- **gradients** of the loss with respect to the trainable weights (none with respect to the input);
- **update** (:func:`optimizer`): ``keras.optimizers.SGD`` with rate :data:`LR` and momentum
  :data:`MOMENTUM`, no weight decay (:data:`OPTIMIZER` says so in a row).

Per backend it is two functions, the loss with its gradients and the update, so that a count can tell
per-sample work from the update's (once per step, whatever the batch); the step is their composition.
JAX: :func:`jax_gradients` (``model.stateless_call`` under ``jax.value_and_grad``) and
:func:`jax_update` (``optimizer.stateless_apply``), stateless; TensorFlow: :func:`tf_gradients` (a
``tf.GradientTape``) and :func:`tf_update` (``optimizer.apply``). The torch backend's step (for the Keras
model on torch and for torchvision's build) is :func:`archbench.benchmark.train_step.torch_train_step`
with :func:`loss_value`: the tracer does not read torch programs.

Why a module of its own, below both users: the timer (:mod:`archbench.benchmark`) sits above the tracer
(:mod:`archbench.tracing`), which cannot import upward; the definition needs Keras and nothing else of
the package, so it sits under both and each builds it. :class:`archbench.train_config.TrainConfig`'s
default rate and momentum are :data:`LR` and :data:`MOMENTUM`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .errors import UsageError

__all__ = ["LOSS", "LR", "MOMENTUM", "OPTIMIZER", "jax_gradients", "jax_step", "jax_update", "label_specs",
           "loss_function", "loss_value", "optimizer", "tf_gradients", "tf_step", "tf_update"]  # fmt: skip

LOSS = "sparse_categorical_crossentropy"
LR = 0.01
MOMENTUM = 0.9
OPTIMIZER = f"SGD lr {LR:g} momentum {MOMENTUM:g}, no weight decay"


def loss_function(loss: Any = None) -> Any:
    """The loss function of ``loss`` (anything ``keras.losses.get`` accepts); None: :data:`LOSS`."""
    import keras

    try:
        found = keras.losses.get(LOSS if loss is None else loss)
    except ValueError as exc:
        raise UsageError(f"unknown loss {loss!r}: {exc}") from exc
    if found is None:
        raise UsageError(f"need a loss, got {loss!r}")
    return found


def optimizer(value: Any = None) -> Any:
    """A new, unbuilt optimizer: SGD with :data:`LR` and :data:`MOMENTUM` for None, else a fresh copy of
    what ``keras.optimizers.get`` makes of ``value`` (the caller's instance is left as it is)."""
    import keras

    if value is None:
        return keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
    try:
        found = keras.optimizers.get(value)
    except ValueError as exc:
        raise UsageError(f"unknown optimizer {value!r}: {exc}") from exc
    if not isinstance(found, keras.optimizers.Optimizer):
        raise UsageError(f"need an optimizer, got {value!r}")
    return type(found).from_config(found.get_config())


def _sparse(loss_fn: Any) -> bool:
    name = getattr(loss_fn, "__name__", None) or type(loss_fn).__name__
    return "sparse" in name.lower()


def label_specs(
    loss_fn: Any, outputs: Sequence[tuple[tuple[int, ...], str]]
) -> list[tuple[tuple[int, ...], str]]:
    """``(shape, dtype)`` of the labels of each output ``(shape, dtype)``: integer class indices for a
    sparse loss, else the output's own shape."""
    if _sparse(loss_fn):
        return [(tuple(shape[:-1]), "int32") for shape, _ in outputs]
    return [(tuple(shape), dtype) for shape, dtype in outputs]


def loss_value(loss_fn: Any, labels: Any, outputs: Any) -> Any:
    """The scalar loss: the mean over the batch, summed over the outputs; ``labels`` one per output,
    or one for all of them."""
    import keras

    outputs = keras.tree.flatten(outputs)
    if not isinstance(labels, list | tuple):
        labels = [labels] * len(outputs)
    return sum(keras.ops.mean(loss_fn(t, p)) for t, p in zip(labels, outputs, strict=True))


def _forward_input(inputs: Sequence[Any]) -> Any:
    return inputs[0] if len(inputs) == 1 else list(inputs)


def jax_gradients(model: Any, loss_fn: Any) -> Callable[..., Any]:
    """``(trainable, frozen, inputs, labels) -> ((loss, frozen), grads)``: the forward pass in training
    mode, the loss and its gradients with respect to the trainable weights (JAX, stateless)."""
    import jax

    def loss(trainable: Any, frozen: Any, inputs: Sequence[Any], labels: Any) -> Any:
        outputs, frozen = model.stateless_call(trainable, frozen, _forward_input(inputs), training=True)
        return loss_value(loss_fn, labels, outputs), frozen

    return jax.value_and_grad(loss, has_aux=True)


def jax_update(opt: Any) -> Callable[..., Any]:
    """``(optimizer variables, grads, trainable) -> (trainable, optimizer variables)``: one update by a
    built optimizer (JAX, stateless)."""

    def update(state: Any, grads: Any, trainable: Any) -> Any:
        return opt.stateless_apply(state, grads, trainable)

    return update


def jax_step(model: Any, loss_fn: Any, opt: Any) -> Callable[..., Any]:
    """``((trainable, frozen, optimizer variables), inputs, labels) -> (new state, loss)``: the whole
    step, :func:`jax_gradients` then :func:`jax_update`."""
    gradients, update = jax_gradients(model, loss_fn), jax_update(opt)

    def step(state: Any, inputs: Sequence[Any], labels: Any) -> Any:
        trainable, frozen, opt_state = state
        (value, frozen), grads = gradients(trainable, frozen, inputs, labels)
        trainable, opt_state = update(opt_state, grads, trainable)
        return (trainable, frozen, opt_state), value

    return step


def tf_gradients(model: Any, loss_fn: Any) -> Callable[..., Any]:
    """``(inputs, labels) -> (loss, grads)``: the forward pass in training mode under a
    ``tf.GradientTape``, the loss and the tape's gradients with respect to the trainable weights."""
    import tensorflow as tf

    def gradients(inputs: Sequence[Any], labels: Any) -> Any:
        with tf.GradientTape() as tape:
            value = loss_value(loss_fn, labels, model(_forward_input(inputs), training=True))
        return value, tape.gradient(value, model.trainable_variables)

    return gradients


def tf_update(model: Any, opt: Any) -> Callable[[Any], None]:
    """``grads -> None``: one update of the model's trainable weights by a built optimizer."""

    def update(grads: Any) -> None:
        opt.apply(list(grads), model.trainable_variables)

    return update


def tf_step(model: Any, loss_fn: Any, opt: Any) -> Callable[..., Any]:
    """``(inputs, labels) -> loss``: the whole step, :func:`tf_gradients` then :func:`tf_update`."""
    gradients, update = tf_gradients(model, loss_fn), tf_update(model, opt)

    def step(inputs: Sequence[Any], labels: Any) -> Any:
        value, grads = gradients(inputs, labels)
        update(grads)
        return value

    return step
