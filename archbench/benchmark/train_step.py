"""One training step as a compiled zero-argument call, for the targets of the one latency pipeline.

A way whose ``step`` is ``train`` (:class:`~archbench.benchmark.targets.Way`) times this step instead of inference,
with everything else of the pipeline unchanged (timer and stop rule, load/``noisy``, memory, energy, the
row). The step is the same on every stack:

- **forward in training mode**: batch norm normalises with the batch's statistics and updates its moving
  averages, dropout is on;
- **loss**: cross-entropy on random integer labels (Keras: ``sparse_categorical_crossentropy`` on the
  model's outputs, which the zoo ends in a softmax, as :func:`archbench.count_training` counts it; torch:
  ``cross_entropy`` on torchvision's logits), the mean over the batch, summed over several outputs;
- **backward**: gradients with respect to the trainable weights;
- **update**: SGD with momentum (:data:`LR`, :data:`MOMENTUM`, no weight decay), the weights changed in
  place or carried to the next call.

The input batch and labels are random, generated once on the device. Per backend: JAX ``jax.jit`` of the
stateless step (``model.stateless_call`` under ``jax.value_and_grad``, the momentum update written out),
its state donated and the updated state kept for the next call; TensorFlow a ``tf.function`` (XLA when
``jit``) with a ``GradientTape`` and ``keras.optimizers.SGD``; torch (the Keras model on the torch
backend, and torchvision's build) ``torch.compile`` of the forward and the loss (AOTAutograd compiles the
backward; ``torch.optim.SGD`` updates eagerly) or all eager. Each call synchronises on the loss and the
new weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import UsageError
from ..train_config import TrainConfig
from .compilers import Compiled, _want_gpu, input_batch_shape
from .config import LatencyConfig
from .oom import is_oom
from .result import short_message

LR = TrainConfig.lr
MOMENTUM = TrainConfig.momentum

COLUMNS: Mapping[str, str] = {
    "task_kind": "train",
    "train_step": "forward in training mode (batch norm on batch statistics), cross-entropy on random "
                  "integer labels, backward (weight gradients), SGD momentum update",
    "train_optimizer": f"SGD lr {LR:g} momentum {MOMENTUM:g}, no weight decay",
}  # fmt: skip
"""The columns every training-step row carries, whatever ran it."""


def _keras_loss(outputs: Any, labels: Any) -> Any:
    import keras

    return sum(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, y))
               for y in keras.tree.flatten(outputs))  # fmt: skip


def _classes(model: Any) -> int:
    shape = model.outputs[0].shape if getattr(model, "outputs", None) else model.compute_output_shape((1,))
    return int(shape[-1])


def keras_train_step(model: Any, config: LatencyConfig, backend: str) -> Compiled:
    """The compiled training step of a built Keras model on ``backend`` (the active one)."""
    if config.freeze_weights:
        raise UsageError("freeze_weights bakes the weights into the program: a training step changes them")
    if not model.trainable_variables:
        raise UsageError(f"{model.name!r} has no trainable weights: there is no training step to time")
    shape = input_batch_shape(model, config)
    return {"jax": _jax_step, "tensorflow": _tf_step, "torch": _torch_keras_step}[backend](model, config, shape)


def _jax_step(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> Compiled:
    import jax

    notes: list[str] = []
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    where = gpus[0] if _want_gpu(config, len(gpus), notes) else jax.devices("cpu")[0]
    key_x, key_y = jax.random.split(jax.random.key(config.seed))
    x = jax.device_put(jax.random.uniform(key_x, shape, dtype="float32"), where)
    y = jax.device_put(jax.random.randint(key_y, (shape[0],), 0, _classes(model)), where)

    def loss(trainable: Any, frozen: Any, t: Any, labels: Any) -> Any:
        out, frozen = model.stateless_call(trainable, frozen, t, training=True)
        return _keras_loss(out, labels), frozen

    grad = jax.value_and_grad(loss, has_aux=True)

    def step(state: Any, t: Any, labels: Any) -> Any:
        trainable, frozen, velocity = state
        (value, frozen), grads = grad(trainable, frozen, t, labels)
        # keras.optimizers.SGD's momentum: v <- momentum * v - lr * g; w <- w + v
        velocity = [MOMENTUM * v - LR * g for v, g in zip(velocity, grads, strict=True)]
        trainable = [w + v for w, v in zip(trainable, velocity, strict=True)]
        return (trainable, frozen, velocity), value

    jitted = jax.jit(step, donate_argnums=0)
    trainable = jax.device_put([v.value for v in model.trainable_variables], where)
    state = [trainable, jax.device_put([v.value for v in model.non_trainable_variables], where),
             [jax.numpy.zeros_like(w) for w in trainable]]  # fmt: skip

    def fn() -> Any:
        state[:], value = jitted(tuple(state), x, y)
        return value, state[0]

    def sync(out: Any) -> Any:
        return jax.block_until_ready(out)

    def locate(out: Any) -> tuple[str, int]:
        dev = next(iter(out[0].devices()))
        return ("gpu" if dev.platform in ("gpu", "cuda", "rocm") else dev.platform), dev.id

    compiled = Compiled(fn, sync, "jax.jit(train step, state donated)", locate, notes, x)
    compiled.state = state  # type: ignore[attr-defined]  # the weights as the steps leave them
    return compiled


def _tf_step(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> Compiled:
    import keras
    import tensorflow as tf

    notes: list[str] = []
    on_gpu = _want_gpu(config, len(tf.config.list_logical_devices("GPU")), notes)
    placement = "/GPU:0" if on_gpu else "/CPU:0"
    with tf.device(placement):
        x = tf.random.stateless_uniform(shape, seed=(config.seed, 0), dtype=tf.float32)
        y = tf.random.stateless_uniform((shape[0],), seed=(config.seed, 1), maxval=_classes(model), dtype=tf.int32)
        optimizer = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM)
        optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=bool(config.jit))
    def step(t: Any, labels: Any) -> Any:
        with tf.device(placement):
            with tf.GradientTape() as tape:
                value = _keras_loss(model(t, training=True), labels)
            grads = tape.gradient(value, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return value

    def fn() -> Any:
        return step(x, y)

    def sync(out: Any) -> None:
        out.numpy()  # the update runs in the same function, which returns once all of it ran

    def locate(out: Any) -> tuple[str, int]:
        spec = tf.DeviceSpec.from_string(out.device)
        return ("gpu" if spec.device_type == "GPU" else "cpu"), spec.device_index or 0

    path = "tf.function+xla(train step)" if config.jit else "tf.function(train step)"
    return Compiled(fn, sync, path, locate, notes, x)


def torch_train_step(
    forward: Callable[[Any], Any],
    parameters: list[Any],
    x: Any,
    labels: Any,
    *,
    loss: Callable[[Any, Any], Any],
    compile_mode: str | None,
    notes: list[str],
    autocast: Callable[[], Any] = contextlib.nullcontext,
) -> Compiled:
    """A torch training step: ``forward`` and ``loss`` (compiled unless ``compile_mode == "eager"``;
    ``None`` is torch.compile's default mode), backward, and ``torch.optim.SGD`` with momentum on
    ``parameters``. Where compiling fails the step runs eager, and the notes and the path say so."""
    import torch

    optimizer = torch.optim.SGD(parameters, lr=LR, momentum=MOMENTUM)
    where = x.device

    def forward_loss(t: Any, y: Any) -> Any:
        with autocast():
            return loss(forward(t), y)

    eager = compile_mode == "eager"
    call = forward_loss if eager else torch.compile(forward_loss, mode=compile_mode)

    def fn() -> Any:
        nonlocal call
        optimizer.zero_grad(set_to_none=True)
        try:
            value = call(x, labels)
        except Exception as exc:
            if call is forward_loss or is_oom(exc):
                raise
            notes.append(f"torch.compile failed ({short_message(exc, 200)}); timed eager")
            call, compiled.path = forward_loss, "torch eager(train step)"
            value = call(x, labels)
        value.backward()
        optimizer.step()
        return value

    def sync(out: Any) -> None:
        if where.type == "cuda":
            torch.cuda.synchronize(where)

    def locate(out: Any) -> tuple[str, int]:
        return ("gpu" if where.type == "cuda" else "cpu"), where.index or 0

    mode = f"(mode={compile_mode})" if compile_mode else ""
    path = "torch eager(train step)" if eager else f"torch.compile{mode}(train step, SGD eager)"
    compiled = Compiled(fn, sync, path, locate, notes, x)
    return compiled


def _torch_keras_step(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> Compiled:
    import torch

    weights = model.trainable_variables
    where = weights[0].value.device
    notes: list[str] = []
    if _want_gpu(config, torch.cuda.device_count(), notes) != (where.type == "cuda"):
        raise UsageError(f"the model's weights are on {where} but device={config.device!r} was asked: "
                         "build it under keras.device(...) (build_model does)")
    generator = torch.Generator(device=where).manual_seed(config.seed)
    x = torch.rand(shape, generator=generator, device=where, dtype=torch.float32)
    y = torch.randint(0, _classes(model), (shape[0],), generator=generator, device=where)
    return torch_train_step(lambda t: model(t, training=True), [v.value for v in weights], x, y, loss=_keras_loss,
                            compile_mode=config.compile_mode if config.jit else "eager", notes=notes)
