"""One training step as a compiled zero-argument call, for the targets of the one latency pipeline.

A way whose ``step`` is ``train`` (:class:`~archbench.benchmark.targets.Way`) times this step instead of
inference, with everything else of the pipeline unchanged (timer and stop rule, load/``noisy``, memory,
energy, the row). The step of a Keras model is :mod:`archbench.step`'s, the one
:func:`archbench.count_training` counts: forward in training mode (batch norm on the batch's statistics,
dropout on), sparse categorical cross-entropy on random integer labels (the mean over the batch, summed
over several outputs), the weight gradients, SGD with momentum (:data:`~archbench.step.LR`,
:data:`~archbench.step.MOMENTUM`, no weight decay), the weights changed in place or carried to the next
call. torchvision's build takes the same step in torch: ``cross_entropy`` on its logits and
``torch.optim.SGD`` with the same rate and momentum.

The input batch and labels are random, generated once on the device. Per backend: JAX ``jax.jit`` of
:func:`archbench.step.jax_step`, its state (weights, batch-norm statistics, the optimizer's variables)
donated and the updated state kept for the next call; TensorFlow a ``tf.function`` (XLA when ``jit``)
of :func:`archbench.step.tf_step`; torch (the Keras model on the torch backend, and torchvision's build)
``torch.compile`` of the forward and the loss (AOTAutograd compiles the backward; ``torch.optim.SGD``
updates eagerly) or all eager. Each call synchronises on the loss and the new weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from .. import step as keras_step
from ..errors import UsageError
from .compilers import Compiled, _want_gpu, input_batch_shape
from .config import LatencyConfig
from .oom import is_oom
from .result import short_message

COLUMNS: Mapping[str, str] = {
    "task_kind": "train",
    "train_step": "forward in training mode (batch norm on batch statistics), cross-entropy on random "
                  "integer labels, backward (weight gradients), SGD momentum update",
    "train_optimizer": keras_step.OPTIMIZER,
}  # fmt: skip
"""The columns every training-step row carries, whatever ran it."""


def _keras_loss(outputs: Any, labels: Any) -> Any:
    return keras_step.loss_value(keras_step.loss_function(), labels, outputs)


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
    optimizer = keras_step.optimizer()
    optimizer.build(model.trainable_variables)
    jitted = jax.jit(keras_step.jax_step(model, keras_step.loss_function(), optimizer), donate_argnums=0)
    state = jax.device_put([[v.value for v in model.trainable_variables],
                            [v.value for v in model.non_trainable_variables],
                            [v.value for v in optimizer.variables]], where)  # fmt: skip

    def fn() -> Any:
        state[:], value = jitted(tuple(state), [x], y)
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
    import tensorflow as tf

    notes: list[str] = []
    on_gpu = _want_gpu(config, len(tf.config.list_logical_devices("GPU")), notes)
    placement = "/GPU:0" if on_gpu else "/CPU:0"
    with tf.device(placement):
        x = tf.random.stateless_uniform(shape, seed=(config.seed, 0), dtype=tf.float32)
        y = tf.random.stateless_uniform((shape[0],), seed=(config.seed, 1), maxval=_classes(model), dtype=tf.int32)
        optimizer = keras_step.optimizer()
        optimizer.build(model.trainable_variables)
    run = keras_step.tf_step(model, keras_step.loss_function(), optimizer)

    @tf.function(jit_compile=bool(config.jit))
    def step(t: Any, labels: Any) -> Any:
        with tf.device(placement):
            return run([t], labels)

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

    optimizer = torch.optim.SGD(parameters, lr=keras_step.LR, momentum=keras_step.MOMENTUM)
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
