"""Compiled inference per backend, and the thread settings that must precede it.

Each ``_compile_<backend>`` turns a built Keras model into a zero-argument function on its device, with
the synchronisation that goes inside each timed region and a way to read which device computed an
output (see the package docstring for the timer's contract).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .config import LatencyConfig
from .oom import is_oom
from .result import short_message


def default_jit(backend: str, device_type: str = "cpu") -> bool:
    """The compiled path timed when ``jit=None``: the fastest measured, per backend and device.

    TensorFlow: XLA (``jit_compile=True``). On the shared 2-core development CPU (ResNet-50, batch 1,
    alternating runs, ``TF_ENABLE_ONEDNN_OPTS=0``) XLA's best times were 8 % below plain
    ``tf.function``'s (50-52 vs 55-57 ms) and its medians 6 % below when the machine was quiet; it
    compiles longer (2-3 s vs 0.6-1 s) and its medians suffered more whenever other jobs shared the
    cores. On GPU XLA also fuses the elementwise work that costs kernel launches (not measured by
    archbench: the lent GPU machines have no TensorFlow). torch: ``torch.compile`` (falling back to
    eager, with a note, where compiling a Keras model fails). JAX always compiles.
    """
    return True


def default_freeze(backend: str, model: Any) -> bool:
    """Whether ``freeze_weights=None`` bakes the weights into the compiled program as constants.

    Only on JAX, and only for models with batch norm: XLA then folds the normalisation into the
    convolutions (ResNet-50 on CPU, alternating runs: 109-112 ms vs 128-136 ms). Without batch norm
    there is nothing to fold and constants only cost compile time (VGG-16: 6 s instead of 0.7 s).
    """
    if backend != "jax":
        return False
    import keras

    from ..params import iter_layers

    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in iter_layers(model))


@dataclass
class Compiled:
    """A zero-argument inference function on its device, with its sync and a description."""

    fn: Callable[[], Any]
    sync: Callable[[Any], Any]
    path: str
    locate: Callable[[Any], tuple[str, int]]
    notes: list[str]
    inputs: Any = None  # the batch the timed call feeds (for conformance checks between ways)


_THREADS_APPLIED: int | None = None


def apply_threads(backend: str, threads: int | None) -> None:
    """Set ``threads`` in this running process where the framework still allows it (TF before its
    runtime starts, torch at any time); JAX cannot, and :func:`limit_threads_before_start` is the way."""
    if threads is None or threads == _THREADS_APPLIED:
        return
    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError as exc:
            raise UsageError(
                f"threads={threads} cannot be set: TensorFlow is already initialised in this process "
                "(use measure_in_subprocess, which sets it before start-up)"
            ) from exc
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        raise UsageError(
            f"threads={threads} cannot be set for {backend} in a running process "
            "(use measure_in_subprocess, which limits the process before start-up)"
        )


def _want_gpu(config: LatencyConfig, gpus_visible: int, notes: list[str]) -> bool:
    if config.device == "gpu" and not gpus_visible:
        notes.append("gpu requested, none visible: ran on cpu")
        return False
    return config.device == "gpu" or (config.device == "auto" and gpus_visible > 0)


def gpu_missing(notes: Sequence[str]) -> bool:
    """Whether the notes say a GPU was asked for and none was visible."""
    return any(n.startswith("gpu requested, none visible") for n in notes)


def input_batch_shape(model: Any, config: LatencyConfig) -> tuple[int, ...]:
    """``(batch, height, width, channels)`` of the input timed: the model's size or ``input_size``.

    A subclassed model has no inputs of its own: the shape it was built with is used (registered
    models are built at the registration's ``input_shape`` or at ``input_size``).
    """
    from ..keras_internals import model_input_shape

    own = model_input_shape(model)
    if own is None:
        raise UsageError(
            f"the input shape of {getattr(model, 'name', 'the model')!r} is unknown (a subclassed model "
            "not built yet): build it by calling it once, or give input_shape to its builder"
        )
    shape = tuple(own[1:]) if not isinstance(own, list) else None
    if shape is None or len(shape) != 3:
        raise UsageError(f"latency needs a model with one image input, got input_shape {own}")
    h, w, c = shape
    if config.input_size is not None:
        if h is not None and h != config.input_size:
            raise UsageError(
                f"the model was built for {h}x{w} inputs but input_size={config.input_size} was asked: "
                "build it at that size (build_model does)"
            )
        h = w = config.input_size
    if h is None or w is None:
        raise UsageError("the model's input size is not fixed: set LatencyConfig.input_size")
    return (config.batch_size, int(h), int(w), int(c))


def _compile_tensorflow(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> Compiled:
    import tensorflow as tf

    notes: list[str] = []
    on_gpu = _want_gpu(config, len(tf.config.list_logical_devices("GPU")), notes)
    if config.freeze_weights:
        raise UsageError("freeze_weights is only implemented for the JAX backend")
    placement = "/GPU:0" if on_gpu else "/CPU:0"
    with tf.device(placement):
        x = tf.random.stateless_uniform(shape, seed=(config.seed, 0), dtype=tf.float32)

    # The device scope is traced into the graph, so no Python context manager runs per timed call.
    @tf.function(jit_compile=bool(config.jit))
    def infer(t: Any) -> Any:
        with tf.device(placement):
            return model(t, training=False)

    def fn() -> Any:
        return infer(x)

    def sync(out: Any) -> None:
        try:
            out.numpy()
        except AttributeError:  # several outputs
            for t in tf.nest.flatten(out):
                t.numpy()

    def locate(out: Any) -> tuple[str, int]:
        spec = tf.DeviceSpec.from_string(tf.nest.flatten(out)[0].device)
        return ("gpu" if spec.device_type == "GPU" else "cpu"), spec.device_index or 0

    return Compiled(fn, sync, "tf.function+xla" if config.jit else "tf.function", locate, notes, x)


def _compile_jax(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> Compiled:
    import jax

    notes: list[str] = []
    if config.jit is False:
        raise UsageError("the JAX backend always compiles with XLA (jax.jit); jit=False is not timed")
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    target = gpus[0] if _want_gpu(config, len(gpus), notes) else jax.devices("cpu")[0]
    trainable = jax.device_put([v.value for v in model.trainable_variables], target)
    non_trainable = jax.device_put([v.value for v in model.non_trainable_variables], target)
    x = jax.device_put(jax.random.uniform(jax.random.key(config.seed), shape, dtype="float32"), target)

    from ..keras_internals import inference_flags

    flags = inference_flags(model)

    def infer(tv: Any, ntv: Any, t: Any) -> Any:
        return model.stateless_call(tv, ntv, t, **flags)[0]

    if config.freeze_weights:
        frozen = jax.jit(lambda t: infer(trainable, non_trainable, t))

        def fn() -> Any:
            return frozen(x)

        path = "jax.jit(frozen weights)"
    else:
        jitted = jax.jit(infer)

        def fn() -> Any:
            return jitted(trainable, non_trainable, x)

        path = "jax.jit"

    def locate(out: Any) -> tuple[str, int]:
        dev = next(iter(jax.tree_util.tree_leaves(out)[0].devices()))
        return ("gpu" if dev.platform in ("gpu", "cuda", "rocm") else dev.platform), dev.id

    def sync(out: Any) -> Any:
        try:
            return out.block_until_ready()
        except AttributeError:  # several outputs
            return jax.block_until_ready(out)

    return Compiled(fn, sync, path, locate, notes, x)


def _compile_torch(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> Compiled:
    import torch

    notes: list[str] = []
    if config.freeze_weights:
        raise UsageError("freeze_weights is only implemented for the JAX backend")
    weights = model.weights
    where = weights[0].value.device if weights else torch.device("cpu")
    on_gpu = _want_gpu(config, torch.cuda.device_count(), notes)
    if on_gpu != (where.type == "cuda"):
        raise UsageError(
            f"the model's weights are on {where} but device={config.device!r} was asked: "
            "build it under keras.device(...) (build_model does)"
        )
    generator = torch.Generator(device=where).manual_seed(config.seed)
    x = torch.rand(shape, generator=generator, device=where, dtype=torch.float32)

    def eager(t: Any) -> Any:
        return model(t, training=False)

    def sync(out: Any) -> None:
        if where.type == "cuda":
            torch.cuda.synchronize(where)

    def locate(out: Any) -> tuple[str, int]:
        t = out[0] if isinstance(out, list | tuple) else out
        return ("gpu" if t.device.type == "cuda" else "cpu"), t.device.index or 0

    compiled = Compiled(eager, sync, "torch eager", locate, notes, x)
    call = eager
    if config.jit and hasattr(torch, "compile"):
        call = torch.compile(eager, mode=config.compile_mode)
        compiled.path = "torch.compile" + (f"(mode={config.compile_mode})" if config.compile_mode else "")
    elif config.jit:
        notes.append(f"torch {torch.__version__} has no torch.compile; timed eager")

    def fn() -> Any:
        nonlocal call
        with torch.no_grad():
            try:
                return call(x)
            except Exception as exc:
                if call is eager or is_oom(exc):
                    raise
                # Recorded in the row's notes and path: compiling a Keras model can fail where eager works.
                notes.append(f"torch.compile failed ({short_message(exc, 200)}); timed eager")
                call, compiled.path = eager, "torch eager"
                return eager(x)

    compiled.fn = fn
    return compiled


COMPILERS = {"tensorflow": _compile_tensorflow, "jax": _compile_jax, "torch": _compile_torch}


def limit_threads_before_start(backend: str, threads: int | None) -> None:
    """Limit this fresh process to ``threads`` cores before any framework starts its thread pools:
    CPU affinity (which TF, XLA and OpenMP size their pools by), the thread variables, and TF's own
    setting (only possible before its runtime starts)."""
    global _THREADS_APPLIED
    if threads is None:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(min(threads, 2))
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cpus[:threads])
    except (AttributeError, OSError):
        pass
    if backend in ("tensorflow", "torch"):
        apply_threads(backend, threads)
    _THREADS_APPLIED = threads
