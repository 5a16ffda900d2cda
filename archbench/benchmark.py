"""Latency and throughput of compiled inference, measured the same way on every Keras backend.

The timer's contract
--------------------
- What is timed is compiled inference, never ``model.predict`` (about 60 ms of overhead per call on a
  2-core CPU) and never op-by-op eager execution: TensorFlow runs ``tf.function(jit_compile=...)``,
  JAX ``jax.jit`` of ``model.stateless_call(..., training=False)``, torch ``torch.compile`` (or eager
  when asked, or when compiling fails; the row's ``path`` says which ran).
- The input is one batch of uniform random numbers in [0, 1), generated on the device before timing
  and reused (never zeros: some kernels take shortcuts on zeros).
- The first call (tracing + compilation + one run) is timed on its own (``first_call_ms``) and kept out
  of the statistics, as are ``warmup`` more calls (and more until ``warmup_s`` seconds have passed).
- One timed iteration is ``t0 = clock(); out = fn(); sync(out); t1 = clock()``: the device is
  synchronised *inside* the timed region (TF: ``.numpy()`` of the output; JAX: ``block_until_ready``;
  torch on GPU: ``torch.cuda.synchronize()``), so asynchronous dispatch cannot hide work.
- Iterations go on until both ``min_iterations`` and ``min_time_s`` of measuring are reached (the
  MLPerf rule of a minimum duration rather than only a count), or ``max_iterations``.
- Every per-iteration sample is kept; ``median_ms`` is the headline, with p90, p99, min, mean and IQR.
  Percentiles interpolate linearly (numpy's default).
- ``images_per_s = batch_size / median``. ``gflops_per_s = 2 * macs * batch_size / median / 1e9``:
  FLOPs are counted as 2 × MACs, with MACs per image from :mod:`archbench.counting` (convolutions and
  dense layers). ``mfu`` is that rate over the device's peak for the compute dtype, on GPU only, with
  the peak's source in ``peak_source``; on CPU both are ``None``.
- The device recorded is the one the output was computed on, as the framework reports it. A run that
  asks for a GPU where none is visible runs on the CPU, says ``cpu`` and notes it; CPU numbers are never
  labelled GPU.
- Out of memory (TF ``ResourceExhaustedError``, XLA ``RESOURCE_EXHAUSTED``, torch OOM) gives a result
  with ``status="oom"`` and the message instead of an exception, so a batch sweep goes on.

Keras fixes its backend at import, so comparing backends means one process per backend:
:func:`measure_in_subprocess` runs ``python -m archbench.benchmark`` with ``KERAS_BACKEND`` set and
reads its rows back; :func:`latency_rows` does that for several backends and batch sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ArchbenchError, UsageError

__all__ = [
    "BACKENDS",
    "DTYPES",
    "PEAKS",
    "DevicePeak",
    "LatencyConfig",
    "LatencyResult",
    "PreparedInference",
    "Timing",
    "bench",
    "build_model",
    "default_freeze",
    "default_jit",
    "format_report",
    "is_oom",
    "latency_rows",
    "measure",
    "measure_function",
    "measure_in_subprocess",
    "peak_for",
    "prepare",
    "summarize",
    "sweep",
    "text_histogram",
    "time_function",
]

BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_ALIASES = {
    "tf": "tensorflow",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch": "torch",
    "pytorch": "torch",
}
_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
DEVICES = ("auto", "cpu", "gpu")
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")
_SUBPROCESS_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def normalize_backend(name: str) -> str:
    """``"tf"`` -> ``"tensorflow"``; unknown names raise :class:`UsageError`."""
    key = name.strip().lower()
    if key not in BACKEND_ALIASES:
        raise UsageError(f"unknown backend {name!r}; choose from tf, jax, torch")
    return BACKEND_ALIASES[key]


@dataclass(frozen=True)
class LatencyConfig:
    """How to time one model; every field is repeated in each result row.

    ``backend=None`` means the active Keras backend. ``device`` is what is asked for (``auto`` = GPU if
    one is visible); the row's ``device`` column says what was used. ``dtype`` is a Keras dtype policy.
    ``input_size=None`` keeps the model's (or registry spec's) input size. ``jit=None`` picks the
    fastest path measured for the backend and device (:func:`default_jit`): XLA for TensorFlow,
    ``torch.compile`` for torch; JAX always compiles.
    ``freeze_weights=None`` picks :func:`default_freeze`: on JAX, for models with batch norm, the
    weights become constants of the compiled program (inference only, like ``torch.compile``'s
    freezing); TF and torch pass them as variables. ``threads=None`` leaves the
    framework's thread pools at their defaults (all cores).
    """

    backend: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int = 1
    input_size: int | None = None
    jit: bool | None = None
    freeze_weights: bool | None = None
    threads: int | None = None
    warmup: int = 3
    warmup_s: float = 0.0
    min_iterations: int = 10
    min_time_s: float = 1.0
    max_iterations: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend is not None:
            object.__setattr__(self, "backend", normalize_backend(self.backend))
        if self.device not in DEVICES:
            raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("batch_size", "min_iterations", "max_iterations"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_iterations < self.min_iterations:
            raise UsageError("max_iterations must be at least min_iterations")
        if self.warmup < 0 or self.warmup_s < 0 or self.min_time_s < 0:
            raise UsageError("warmup, warmup_s and min_time_s must not be negative")
        if self.input_size is not None and self.input_size < 1:
            raise UsageError(f"input_size must be positive, got {self.input_size}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"threads must be at least 1, got {self.threads}")

    def replace(self, **changes: Any) -> LatencyConfig:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

    from .params import iter_layers

    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in iter_layers(model))


@dataclass(frozen=True)
class DevicePeak:
    """Dense peak throughput of one accelerator, in TFLOP/s by compute dtype, with its source."""

    match: str
    tflops: Mapping[str, float]
    source: str


_HOPPER_SOURCE = (
    "NVIDIA {} SXM datasheet via REFERENCES.md: dense (no sparsity) BF16/FP16 989 TFLOP/s, FP32 67 "
    "TFLOP/s; float32 matmuls that run as TF32 on tensor cores (the JAX/TF default) can exceed the FP32 figure"
)
PEAKS: tuple[DevicePeak, ...] = (
    DevicePeak("H200", {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0}, _HOPPER_SOURCE.format("H200")),
    DevicePeak(
        "H100 80GB HBM3",
        {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
        _HOPPER_SOURCE.format("H100"),
    ),
)


def peak_for(device_name: str, compute_dtype: str) -> tuple[float | None, str | None]:
    """``(peak TFLOP/s, source)`` for a GPU name as the framework reports it, or ``(None, None)``."""
    for peak in PEAKS:
        if peak.match.lower() in device_name.lower() and compute_dtype in peak.tflops:
            return peak.tflops[compute_dtype], peak.source
    return None, None


# -- statistics and the timing loop ------------------------------------------------------------------


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default ``method="linear"``)."""
    n = len(sorted_values)
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Median, p90, p99, min, max, mean, standard deviation and IQR of per-iteration samples (ms)."""
    keys = ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "std_ms", "iqr_ms")
    if not samples_ms:
        return {"iterations": 0, **dict.fromkeys(keys)}
    s = sorted(samples_ms)
    n = len(s)
    mean = sum(s) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / (n - 1)) if n > 1 else 0.0
    return {
        "iterations": n,
        "median_ms": _percentile(s, 50),
        "p90_ms": _percentile(s, 90),
        "p99_ms": _percentile(s, 99),
        "min_ms": s[0],
        "max_ms": s[-1],
        "mean_ms": mean,
        "std_ms": std,
        "iqr_ms": _percentile(s, 75) - _percentile(s, 25),
    }


@dataclass(frozen=True)
class Timing:
    """What :func:`time_function` measured, in seconds."""

    first_call_s: float
    warmup_iterations: int
    samples_s: tuple[float, ...]


def time_function(
    fn: Callable[[], Any],
    config: LatencyConfig,
    *,
    sync: Callable[[Any], Any],
    clock: Callable[[], float] = time.perf_counter,
    first_sync: Callable[[Any], Any] | None = None,
) -> Timing:
    """Time ``fn()`` under the contract of the module docstring; ``sync(out)`` runs inside each timed
    region. ``first_sync`` (default ``sync``) replaces it for the first, compiling call only (the
    harness reads the device off that output), so the timed regions hold nothing but ``fn`` and ``sync``.
    """
    t0 = clock()
    (first_sync or sync)(fn())
    t1 = clock()
    first = t1 - t0

    warm, now = 0, t1
    while warm < config.warmup or now - t1 < config.warmup_s:
        sync(fn())
        warm += 1
        now = clock()

    samples: list[float] = []
    start = None
    while True:
        t0 = clock()
        out = fn()
        sync(out)
        t1 = clock()
        samples.append(t1 - t0)
        if start is None:
            start = t0
        n = len(samples)
        if n >= config.max_iterations or (n >= config.min_iterations and t1 - start >= config.min_time_s):
            break
    return Timing(first, warm, tuple(samples))


# -- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyResult:
    """One timed configuration: the settings, what was actually used, the samples and derived figures.

    ``status`` is ``"ok"``, ``"oom"`` (out of memory; ``message`` has the framework's words) or
    ``"error"``. ``device`` is ``type:index (name)`` of the device that computed the output. ``macs`` is
    per image. ``notes`` record anything a reader must know (a GPU asked for but absent, a fallback).
    """

    model: str
    config: LatencyConfig
    status: str = "ok"
    message: str = ""
    backend: str = ""
    path: str = ""
    device: str = ""
    device_type: str = ""
    device_name: str = ""
    dtype_policy: str = ""
    input_shape: tuple[int, ...] = ()
    first_call_ms: float | None = None
    warmup_iterations: int = 0
    samples_ms: tuple[float, ...] = ()
    macs: int | None = None
    peak_tflops: float | None = None
    peak_source: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def stats(self) -> dict[str, float | int | None]:
        return summarize(self.samples_ms)

    @property
    def median_ms(self) -> float | None:
        return self.stats["median_ms"]

    @property
    def images_per_s(self) -> float | None:
        m = self.median_ms
        return self.config.batch_size / (m / 1e3) if m else None

    @property
    def gflops_per_s(self) -> float | None:
        """Achieved GFLOP/s, counting FLOPs as 2 × MACs."""
        m = self.median_ms
        if not m or self.macs is None:
            return None
        return 2.0 * self.macs * self.config.batch_size / (m / 1e3) / 1e9

    @property
    def mfu(self) -> float | None:
        """Achieved FLOP/s over the device's peak for the compute dtype (GPU only)."""
        g = self.gflops_per_s
        if g is None or self.peak_tflops is None or self.device_type != "gpu":
            return None
        return g / (self.peak_tflops * 1e3)

    def as_row(self, *, samples: bool = False) -> dict[str, Any]:
        """A flat dict: the config fields (``device_requested`` for the asked device), what was used,
        the statistics and derived figures; ``samples_ms`` (a list) only when ``samples=True``."""
        cfg = self.config.as_dict()
        row: dict[str, Any] = {"model": self.model, "status": self.status, "message": self.message}
        row["backend"] = self.backend or cfg["backend"]
        row["device_requested"] = cfg.pop("device")
        cfg.pop("backend")
        row.update(
            {
                "device": self.device,
                "device_type": self.device_type,
                "device_name": self.device_name,
                "path": self.path,
                "dtype_policy": self.dtype_policy,
                "input_shape": "x".join(str(d) for d in self.input_shape),
            }
        )
        row.update(cfg)
        row.update(
            {
                "first_call_ms": self.first_call_ms,
                "warmup_iterations": self.warmup_iterations,
                "measured_s": sum(self.samples_ms) / 1e3,
            }
        )
        row.update(self.stats)
        row.update(
            {
                "images_per_s": self.images_per_s,
                "macs": self.macs,
                "gflops_per_s": self.gflops_per_s,
                "peak_tflops": self.peak_tflops,
                "peak_source": self.peak_source,
                "mfu": self.mfu,
                "notes": "; ".join(self.notes),
            }
        )
        if samples:
            row["samples_ms"] = list(self.samples_ms)
        return row


_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "OutOfMemoryError", "out of memory", "OOM when allocating")


def is_oom(exc: BaseException) -> bool:
    """Whether an exception means the device ran out of memory (TF, XLA/JAX or torch)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"ResourceExhaustedError", "OutOfMemoryError"}:
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(marker.lower() in text.lower() for marker in _OOM_MARKERS)


def _short(exc: BaseException, limit: int = 500) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- compiling per backend ---------------------------------------------------------------------------


@dataclass
class _Compiled:
    """A zero-argument inference function on its device, with its sync and a description."""

    fn: Callable[[], Any]
    sync: Callable[[Any], Any]
    path: str
    locate: Callable[[Any], tuple[str, int]]
    notes: list[str]


_THREADS_APPLIED: int | None = None


def _apply_threads_in_process(backend: str, threads: int | None) -> None:
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


def _gpu_missing(notes: Sequence[str]) -> bool:
    return any(n.startswith("gpu requested, none visible") for n in notes)


def _input_shape(model: Any, config: LatencyConfig) -> tuple[int, ...]:
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if shape is None or len(shape) != 3:
        raise UsageError(f"latency needs a model with one image input, got input_shape {model.input_shape}")
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


def _compile_tensorflow(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> _Compiled:
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

    return _Compiled(fn, sync, "tf.function+xla" if config.jit else "tf.function", locate, notes)


def _compile_jax(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> _Compiled:
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

    def infer(tv: Any, ntv: Any, t: Any) -> Any:
        return model.stateless_call(tv, ntv, t, training=False)[0]

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

    return _Compiled(fn, sync, path, locate, notes)


def _compile_torch(model: Any, config: LatencyConfig, shape: tuple[int, ...]) -> _Compiled:
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

    compiled = _Compiled(eager, sync, "torch eager", locate, notes)
    call = eager
    if config.jit and hasattr(torch, "compile"):
        call = torch.compile(eager)
        compiled.path = "torch.compile"
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
                notes.append(f"torch.compile failed ({_short(exc, 200)}); timed eager")
                call, compiled.path = eager, "torch eager"
                return eager(x)

    compiled.fn = fn
    return compiled


_COMPILERS = {"tensorflow": _compile_tensorflow, "jax": _compile_jax, "torch": _compile_torch}


def _active_backend() -> str:
    import keras

    return keras.backend.backend()


def _resolve(config: LatencyConfig, backend: str) -> LatencyConfig:
    changes: dict[str, Any] = {}
    if config.backend is None:
        changes["backend"] = backend
    if config.jit is None:
        from .environment import gpu_names

        on_gpu = config.device != "cpu" and bool(gpu_names(backend))
        changes["jit"] = default_jit(backend, "gpu" if on_gpu else "cpu")
    return config.replace(**changes) if changes else config


def measure(
    model: Any,
    config: LatencyConfig | None = None,
    *,
    name: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[Any], Any] | None = None,
    macs: int | None = None,
) -> LatencyResult:
    """Time compiled inference of a built Keras model on the active backend.

    ``sync`` replaces the backend's synchronisation (it must still wait for the device); ``clock``
    replaces ``time.perf_counter`` (tests pass fake ones). ``macs`` is per image. Out of memory gives a
    result with ``status="oom"``; other errors propagate. Same as ``prepare(model, config).measure()``.
    """
    try:
        prepared = prepare(model, config, name=name)
    except UsageError:
        raise
    except Exception as exc:
        if not is_oom(exc):
            raise
        config = _resolve(config or LatencyConfig(), _active_backend())
        return LatencyResult(
            model=name or getattr(model, "name", "model"),
            config=config,
            status="oom",
            message=_short(exc),
            backend=_active_backend(),
        )
    return prepared.measure(clock=clock, sync=sync, macs=macs)


@dataclass
class PreparedInference:
    """A model compiled for one config, ready to be timed, possibly several times.

    Timing the same compiled function repeatedly is what interleaved comparisons need (A B B A rounds
    without recompiling); from the second :meth:`measure` on, ``first_call_ms`` is an ordinary call.
    """

    config: LatencyConfig
    context: dict[str, Any]
    compiled: _Compiled

    def measure(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sync: Callable[[Any], Any] | None = None,
        macs: int | None = None,
    ) -> LatencyResult:
        from .environment import describe_device

        compiled, config, backend = self.compiled, self.config, self.context["backend"]

        def describe(out: Any) -> dict[str, Any]:
            kind, index = compiled.locate(out)
            if config.device in ("cpu", "gpu") and kind != config.device and not _gpu_missing(compiled.notes):
                compiled.notes.append(f"{config.device} requested, the output was computed on {kind}")
            full = describe_device(kind, index, backend=backend)
            return {"device": full, "device_type": kind, "device_name": full.split(" (", 1)[1][:-1]}

        return measure_function(
            compiled.fn,
            config,
            sync=sync or compiled.sync,
            clock=clock,
            macs=macs,
            describe=describe,
            path=lambda: compiled.path,
            notes=compiled.notes,
            **self.context,
        )


def prepare(model: Any, config: LatencyConfig | None = None, *, name: str | None = None) -> PreparedInference:
    """Validate ``config`` against the model and compile its inference for the active backend.

    Raises :class:`UsageError` for a config the model or process cannot honour (another backend, a
    dtype policy the model was not built with, threads that can no longer be set); compilation errors
    (out of memory included) propagate.
    """
    backend = _active_backend()
    config = config or LatencyConfig()
    if config.backend is not None and config.backend != backend:
        raise UsageError(
            f"config asks for backend {config.backend!r} but this process runs {backend!r} "
            "(Keras fixes its backend at import; use measure_in_subprocess)"
        )
    if backend not in _COMPILERS:
        raise UsageError(f"latency is not measured on the {backend!r} backend")
    config = _resolve(config, backend)
    if config.freeze_weights is None:
        config = config.replace(freeze_weights=default_freeze(backend, model))
    policy = model.dtype_policy.name if hasattr(model, "dtype_policy") else "float32"
    if policy != config.dtype:
        raise UsageError(
            f"the model was built with dtype policy {policy!r} but dtype={config.dtype!r} was asked: "
            "build it under that policy (build_model does)"
        )
    _apply_threads_in_process(backend, config.threads)
    shape = _input_shape(model, config)
    context: dict[str, Any] = {
        "model": name or getattr(model, "name", "model"),
        "backend": backend,
        "dtype_policy": policy,
        "input_shape": shape[1:],
    }
    return PreparedInference(config, context, _COMPILERS[backend](model, config, shape))


def measure_function(
    fn: Callable[[], Any],
    config: LatencyConfig,
    *,
    sync: Callable[[Any], Any],
    clock: Callable[[], float] = time.perf_counter,
    macs: int | None = None,
    model: str = "model",
    backend: str = "",
    describe: Callable[[Any], Mapping[str, Any]] | None = None,
    path: str | Callable[[], str] = "",
    notes: Sequence[str] = (),
    **fields: Any,
) -> LatencyResult:
    """Time an already compiled zero-argument ``fn`` and build the result; out of memory -> ``"oom"``.

    ``describe(output)`` returns ``device``, ``device_type`` and ``device_name`` of the device that
    computed the output (defaults: the CPU). ``notes`` may still grow while ``fn`` runs (fallbacks).
    """
    from .environment import cpu_model

    seen: dict[str, Any] = {}

    def first_sync(out: Any) -> Any:
        seen.update(describe(out) if describe else {})
        return sync(out)

    base = {"model": model, "config": config, "backend": backend, **fields}
    try:
        timing = time_function(fn, config, sync=sync, clock=clock, first_sync=first_sync)
    except Exception as exc:
        if not is_oom(exc):
            raise
        return LatencyResult(status="oom", message=_short(exc), notes=tuple(notes), **base, **seen)
    device = {"device": f"cpu:0 ({cpu_model()})", "device_type": "cpu", "device_name": cpu_model()}
    device.update(seen)
    peak, source = (None, None)
    if device["device_type"] == "gpu":
        import keras

        compute = keras.DTypePolicy(config.dtype).compute_dtype
        peak, source = peak_for(device["device_name"], compute)
    return LatencyResult(
        path=path() if callable(path) else path,
        first_call_ms=timing.first_call_s * 1e3,
        warmup_iterations=timing.warmup_iterations,
        samples_ms=tuple(s * 1e3 for s in timing.samples_s),
        macs=macs,
        peak_tflops=peak,
        peak_source=source,
        notes=tuple(notes),
        **base,
        **device,
    )


# -- building models and sweeping (in the active backend) --------------------------------------------


def _factory(model: str) -> tuple[Callable[..., Any], int, tuple[int, int, int] | None]:
    """``(builder, channels, default input shape)`` for a registered name, ``module:function`` or
    ``path/to/file.py:function``."""
    if ":" in model:
        where, _, attr = model.rpartition(":")
        if where.endswith(".py"):
            spec = importlib.util.spec_from_file_location(f"_archbench_user_{abs(hash(where))}", where)
            if spec is None or spec.loader is None:
                raise UsageError(f"cannot load model file {where!r}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        if not hasattr(module, attr):
            raise UsageError(f"{where!r} has no function {attr!r}")
        return getattr(module, attr), 3, None
    from .registry import get_spec

    spec = get_spec(model)
    return spec.build, spec.input_shape[2], spec.input_shape


def build_model(model: str, config: LatencyConfig, **kwargs: Any) -> Any:
    """Build a registered model (or ``module:function`` / ``file.py:function``) for ``config``.

    The dtype policy and device of the config are in force while the builder runs; ``input_size``
    becomes ``input_shape=(size, size, channels)``.
    """
    import keras

    from .environment import gpu_names

    builder, channels, _ = _factory(model)
    if config.input_size is not None:
        kwargs.setdefault("input_shape", (config.input_size, config.input_size, channels))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.dtype)
    try:
        scope = None
        if config.device == "cpu":
            scope = "cpu:0"
        elif config.device == "gpu" and gpu_names(_active_backend()):
            scope = "gpu:0"
        if scope is None:
            return builder(**kwargs)
        with keras.device(scope):
            return builder(**kwargs)
    finally:
        keras.config.set_dtype_policy(previous)


def model_macs(model: Any) -> int | None:
    """MACs per image from :func:`archbench.counting.count`, or ``None`` where it is unavailable."""
    try:
        from . import counting

        count = getattr(counting, "count", None)
        return None if count is None else int(count(model).macs)
    except Exception:  # the counter is optional here: latency rows are still worth having without it
        return None


def sweep(
    model: str,
    configs: Iterable[LatencyConfig],
    *,
    macs: int | None = None,
    on_result: Callable[[LatencyResult], Any] | None = None,
) -> list[LatencyResult]:
    """Time one model under several configs in this process (the active backend), going on after
    an out-of-memory or other failure, which is recorded in that config's result.

    The model is built once per (dtype, input size, device) and reused across batch sizes.
    ``macs`` (per image) is counted with :mod:`archbench.counting` when not given.
    """
    import keras

    backend = _active_backend()
    results: list[LatencyResult] = []
    built_key, built, built_macs = None, None, None
    for config in configs:
        resolved = _resolve(config, backend)
        try:
            if resolved.backend != backend:
                raise UsageError(
                    f"backend {resolved.backend!r} is not the active one ({backend!r}); "
                    "use measure_in_subprocess"
                )
            key = (resolved.dtype, resolved.input_size, resolved.device)
            if key != built_key:
                built = None
                keras.utils.clear_session()
                built = build_model(model, resolved)
                built_key = key
                built_macs = macs if macs is not None else model_macs(built)
            if resolved.input_size is None and built.input_shape[1] is not None:
                resolved = resolved.replace(input_size=int(built.input_shape[1]))
            result = measure(built, resolved, name=model, macs=built_macs)
        except Exception as exc:
            status = "oom" if is_oom(exc) else "error"
            if status == "oom":
                built_key, built = None, None
            result = LatencyResult(
                model=model, config=resolved, status=status, message=_short(exc), backend=backend
            )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# -- one process per backend -------------------------------------------------------------------------


def _backend_installed(backend: str) -> bool:
    return importlib.util.find_spec(_BACKEND_MODULES[backend]) is not None


def _configured_backend() -> str:
    if "keras" in sys.modules:
        return _active_backend()
    return normalize_backend(os.environ.get("KERAS_BACKEND", "tensorflow"))


def _error_row(model: str, config: LatencyConfig, message: str) -> dict[str, Any]:
    return LatencyResult(
        model=model, config=config, status="error", message=message, backend=config.backend or ""
    ).as_row()


def _absolute_model(model: str) -> str:
    where, sep, attr = model.rpartition(":")
    if sep and where.endswith(".py"):
        return f"{os.path.abspath(where)}:{attr}"
    return model


def measure_in_subprocess(
    model: str | Sequence[str],
    configs: LatencyConfig | Sequence[LatencyConfig],
    timeout_s: float = 900.0,
    *,
    macs: int | Mapping[str, int] | None = None,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    python: str = sys.executable,
) -> list[dict[str, Any]]:
    """Time one or more models under each config, in a fresh process per backend and thread setting.

    ``model`` is a registered name, ``module:function`` or ``file.py:function``, or a list of them.
    Returns one flat row per (model, config), models first, configs in the given order:
    :meth:`LatencyResult.as_row` merged over the child's :func:`archbench.environment.environment`.
    ``on_row(row)`` is called as each row arrives (for progress bars and incremental stores).

    The child runs ``archbench.benchmark``'s entry function with ``KERAS_BACKEND`` set (and
    ``TF_CPP_MIN_LOG_LEVEL=3``, ``TF_ENABLE_ONEDNN_OPTS=0`` unless already set). A backend that is not
    installed, a crash or a model that runs past ``timeout_s`` gives ``status="error"`` rows with the
    reason for that model; rows already finished are kept and a new child goes on with the next model.
    """
    models = [model] if isinstance(model, str) else list(model)
    models = [_absolute_model(m) for m in models]
    configs = [configs] if isinstance(configs, LatencyConfig) else list(configs)
    default_backend = _configured_backend()
    configs = [c if c.backend else c.replace(backend=default_backend) for c in configs]
    if macs is None or isinstance(macs, Mapping):
        macs_by_model = dict(macs or {})
    elif len(models) == 1:
        macs_by_model = {models[0]: int(macs)}
    else:
        raise UsageError("give macs as a mapping model -> MACs when timing several models")
    table: dict[tuple[int, int], dict[str, Any]] = {}
    groups: dict[tuple[str, int | None], list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault((c.backend, c.threads), []).append(i)
    for (backend, _threads), indices in groups.items():
        group = [configs[i] for i in indices]
        if _backend_installed(backend):
            got = _run_backend(models, group, timeout_s, macs_by_model, samples, python, on_row)
        else:
            hint = {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}[backend]
            msg = f"backend {backend} is not installed (pip install {hint})"
            got = [_error_row(m, c, msg) for m in models for c in group]
            for row in got if on_row else ():
                on_row(row)
        for k, row in enumerate(got):
            table[(k // len(group), indices[k % len(group)])] = row
    return [table[key] for key in sorted(table)]


# ``-c`` rather than ``-m archbench.benchmark``: the module then exists once, not also as __main__.
_CHILD = "import sys; from archbench.benchmark import _child_main; sys.exit(_child_main())"


def _run_backend(
    models: list[str],
    configs: list[LatencyConfig],
    timeout_s: float,
    macs: Mapping[str, int],
    samples: bool,
    python: str,
    on_row: Callable[[dict[str, Any]], Any] | None,
) -> list[dict[str, Any]]:
    """All rows of one backend, restarting the child after a model that crashed or timed out."""
    rows: list[dict[str, Any]] = []
    pending = list(models)
    while pending:
        got, failure = _spawn(pending, configs, timeout_s, macs, samples, python, on_row)
        rows += got
        finished, partial = divmod(len(got), len(configs))
        if finished >= len(pending):
            break
        current = pending[finished]
        for c in configs[partial:]:
            row = _error_row(current, c, failure or "subprocess returned no result")
            rows.append(row)
            if on_row:
                on_row(row)
        pending = pending[finished + 1 :]
    return rows


def _spawn(
    models: list[str],
    configs: list[LatencyConfig],
    timeout_s: float,
    macs: Mapping[str, int],
    samples: bool,
    python: str,
    on_row: Callable[[dict[str, Any]], Any] | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Run one child over ``models``; returns the rows it finished and why it stopped early (or None)."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = configs[0].backend or "tensorflow"
    for k, v in _SUBPROCESS_ENV.items():
        env.setdefault(k, v)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="archbench-") as tmp:
        job = os.path.join(tmp, "job.json")
        out_path = os.path.join(tmp, "rows.jsonl")
        err_path = os.path.join(tmp, "stderr.txt")
        with open(job, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "models": models,
                    "configs": [c.as_dict() for c in configs],
                    "macs": dict(macs),
                    "samples": samples,
                },
                f,
            )
        open(out_path, "w").close()
        failure = None
        with open(err_path, "w", encoding="utf-8") as err, open(out_path, encoding="utf-8") as out:
            proc = subprocess.Popen(
                [python, "-c", _CHILD, "--job", job, "--out", out_path],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            deadline = time.monotonic() + timeout_s
            buffer = ""
            while True:
                code = proc.poll()
                buffer += out.read()
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    if line.strip():
                        rows.append(json.loads(line))
                        if on_row:
                            on_row(rows[-1])
                        if len(rows) % len(configs) == 0:
                            deadline = time.monotonic() + timeout_s
                if code is not None:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    failure = f"timed out after {timeout_s:g} s"
                    break
                time.sleep(0.05)
        if failure is None and proc.returncode != 0:
            with open(err_path, encoding="utf-8", errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-3:])
            failure = f"subprocess exited with code {proc.returncode}: {tail}"
    return rows, failure


def _limit_threads_before_start(backend: str, threads: int | None) -> None:
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
        _apply_threads_in_process(backend, threads)
    _THREADS_APPLIED = threads


def _child_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archbench.benchmark", description="Time models in this process (the child)."
    )
    parser.add_argument("--job", required=True, help="JSON file: models, configs, macs, samples")
    parser.add_argument("--out", required=True, help="JSON-lines file the rows are appended to")
    args = parser.parse_args(argv)
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    configs = [LatencyConfig(**d) for d in job["configs"]]
    if configs:
        _limit_threads_before_start(os.environ.get("KERAS_BACKEND", "tensorflow"), configs[0].threads)

    from .environment import environment

    env = environment()
    with open(args.out, "a", encoding="utf-8") as out:

        def write(result: LatencyResult) -> None:
            out.write(json.dumps({**env, **result.as_row(samples=job.get("samples", False))}) + "\n")
            out.flush()

        for model in job["models"]:
            sweep(model, configs, macs=job.get("macs", {}).get(model), on_result=write)
    return 0


def latency_rows(
    model_name: str | Sequence[str],
    spec: Any = None,
    *,
    backends: Sequence[str] = ("tensorflow",),
    batches: Sequence[int] = (1,),
    dtype: str = "float32",
    device: str = "auto",
    input_size: int | None = None,
    jit: bool | None = None,
    threads: int | None = None,
    warmup: int = 3,
    warmup_s: float = 0.0,
    min_iterations: int = 10,
    min_time_s: float = 1.0,
    max_iterations: int = 10_000,
    macs: int | Mapping[str, int] | None = None,
    timeout_s: float = 900.0,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the ``latency`` task: one per model, backend and batch size (in that order), timed in
    one subprocess per backend (see :func:`measure_in_subprocess`).

    ``model_name`` may be a list: all models then share one process per backend, which saves the
    start-up (seconds per process) in a sweep over the zoo. ``spec`` (a
    :class:`~archbench.registry.ModelSpec`, single model only) fills ``input_size`` when it is ``None``;
    otherwise the child records the size it built. Each row has every :class:`LatencyConfig` field
    (``device_requested`` for the asked device), what was used (``backend``, ``device``, ``path``), the
    statistics, derived figures and the child's environment; failures are rows with ``status``
    ``"oom"`` or ``"error"``. ``timeout_s`` bounds each model; ``on_row`` sees each row as it arrives.
    """
    if input_size is None and spec is not None and isinstance(model_name, str):
        input_size = spec.input_shape[0]
    configs = [
        LatencyConfig(
            backend=normalize_backend(b),
            device=device,
            dtype=dtype,
            batch_size=int(n),
            input_size=input_size,
            jit=jit,
            threads=threads,
            warmup=warmup,
            warmup_s=warmup_s,
            min_iterations=min_iterations,
            min_time_s=min_time_s,
            max_iterations=max_iterations,
        )
        for b in backends
        for n in batches
    ]
    return measure_in_subprocess(model_name, configs, timeout_s, macs=macs, samples=samples, on_row=on_row)


def bench(model: str, config: LatencyConfig, *, timeout_s: float = 1800.0) -> dict[str, Any]:
    """One detailed run for ``archbench bench``: a row with its ``samples_ms``.

    Runs in this process when the config's backend is the active one, else in a subprocess.
    """
    backend = config.backend or _configured_backend()
    if backend != _configured_backend():
        if not _backend_installed(backend):
            raise UsageError(f"backend {backend} is not installed")
        row = measure_in_subprocess(model, config.replace(backend=backend), timeout_s, samples=True)[0]
    else:
        from .environment import environment

        result = sweep(_absolute_model(model), [config.replace(backend=backend)])[0]
        row = {**environment(), **result.as_row(samples=True)}
    if row["status"] == "error":
        kind, _, text = row["message"].partition(": ")
        if kind in ("UsageError", "UnknownModelError", "InputTooSmallError", "WeightsError"):
            raise UsageError(text)
        raise ArchbenchError(f"{model}: {row['message']}")
    return row


# -- terminal output ---------------------------------------------------------------------------------


def text_histogram(samples_ms: Sequence[float], *, bins: int = 12, width: int = 40) -> str:
    """Per-iteration latencies as text bars, one line per bin: ``  52.10 -  52.35 ms | ###### 14``.

    With 20 samples or more the bins span min..p99 and slower outliers are counted on a last line.
    """
    if not samples_ms:
        return "(no samples)"
    s = sorted(samples_ms)
    lo, hi = s[0], s[-1]
    if len(s) >= 20:
        hi = _percentile(s, 99)
    if hi == lo:
        return f"{lo:9.3f} ms | {'#' * width} {len(s)}"
    bins = max(1, min(bins, len(s)))
    step = (hi - lo) / bins
    counts = [0] * bins
    over = 0
    for v in s:
        if v > hi:
            over += 1
        else:
            counts[min(int((v - lo) / step), bins - 1)] += 1
    top = max(counts)
    lines = []
    for i, c in enumerate(counts):
        bar = "#" * (max(1, round(width * c / top)) if c else 0)
        lines.append(f"{lo + i * step:9.3f} - {lo + (i + 1) * step:9.3f} ms | {bar} {c}")
    if over:
        lines.append(f"{'':>9}   {'> ' + format(hi, '.3f'):>9} ms | {over} slower (up to {s[-1]:.3f} ms)")
    return "\n".join(lines)


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def format_report(row: Mapping[str, Any]) -> str:
    """The stats table and histogram of one row from :func:`bench` (for the terminal)."""
    head = [
        ("model", row.get("model")),
        ("status", row.get("status") + (f" ({row['message']})" if row.get("message") else "")),
        ("backend / path", f"{row.get('backend')} / {row.get('path') or '-'}"),
        ("device", f"{row.get('device') or '-'} (requested: {row.get('device_requested')})"),
        ("dtype policy", row.get("dtype_policy") or row.get("dtype")),
        ("input", f"{row.get('batch_size')} x {row.get('input_shape') or row.get('input_size')}"),
        ("first call (trace+compile)", f"{_fmt(row.get('first_call_ms'), '.1f')} ms"),
        (
            "warm-up / measured",
            f"{row.get('warmup_iterations')} / {row.get('iterations')} iterations, "
            f"{_fmt(row.get('measured_s'), '.2f')} s",
        ),
    ]
    stats = [
        (k.removesuffix("_ms"), _fmt(row.get(k)) + " ms")
        for k in ("median_ms", "mean_ms", "min_ms", "p90_ms", "p99_ms", "max_ms", "iqr_ms", "std_ms")
    ]
    derived = [
        ("images/s", _fmt(row.get("images_per_s"), ".1f")),
        ("MACs / image", _fmt(row.get("macs"))),
        ("GFLOP/s (2 x MACs)", _fmt(row.get("gflops_per_s"), ".1f")),
        (
            "MFU",
            _fmt(row.get("mfu"), ".3%")
            + (f"  (peak {row['peak_tflops']} TFLOP/s)" if row.get("peak_tflops") else ""),
        ),
        ("notes", row.get("notes") or "-"),
    ]
    width = max(len(k) for k, _ in head + stats + derived)
    lines = [f"{k:<{width}}  {v}" for k, v in head + stats + derived]
    if row.get("samples_ms"):
        lines += ["", "per-iteration latency:", text_histogram(row["samples_ms"])]
    return "\n".join(lines)


if __name__ == "__main__":
    from archbench.benchmark import _child_main as _main

    sys.exit(_main())
