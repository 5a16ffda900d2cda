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
- Sampling stops on precision, not on a count: once both ``min_iterations`` and ``min_time_s`` of
  measuring are reached (the MLPerf rule of a minimum duration), it goes on until the median's
  distribution-free 95 % confidence interval is within ``±ci_target`` (2 %) of the median, or
  ``max_time_s`` of measuring (8 s), or ``max_iterations``; ``stop_reason`` says which.
- Every per-iteration sample is kept; ``median_ms`` is the headline, with its interval
  (``ci_low_ms``, ``ci_high_ms``, ``ci_rel``), p90, p99, min, mean and IQR. Percentiles interpolate
  linearly (numpy's default).
- The 1-minute load average and the CPU steal are stamped before the first call and after the last
  timed one; a unit measured on a busy machine or with an interval wider than ±5 % is ``noisy``.
- Memory (:mod:`archbench.memory`: the process's resident memory, or the GPU allocator's) is stamped
  before the model is built, after, and at its peak while it is compiled and timed; energy
  (:mod:`archbench.energy`: RAPL, NVML) over the timed window, or "not available" with the reason.
- ``images_per_s = batch_size / median``. ``gflops_per_s = 2 * macs * batch_size / median / 1e9``:
  FLOPs are counted as 2 × MACs, with MACs per image from :mod:`archbench.counting` (convolutions and
  dense layers). Where that rate stands against the device's peak (``fraction_of_peak``, the peak's
  origin in ``peak_source``) is :mod:`archbench.roofline`'s, against :mod:`~archbench.benchmark.machine_peaks`.
- The device recorded is the one the output was computed on, as the framework reports it. A run that
  asks for a GPU where none is visible runs on the CPU, says ``cpu`` and notes it; CPU numbers are never
  labelled GPU.
- Out of memory (TF ``ResourceExhaustedError``, XLA ``RESOURCE_EXHAUSTED``, torch OOM) gives a result
  with ``status="oom"`` and the message instead of an exception, so a batch sweep goes on.

One pipeline for every way of running a model. A way (:class:`~archbench.benchmark.targets.Way`: the
Keras model on a backend, a variant of it, a torchvision peer, an exported runtime) is a *target*
(:mod:`~archbench.benchmark.targets`) that builds the model and prepares a compiled call with its
synchronisation; :func:`~archbench.benchmark.sweeps.sweep` times any target with the one
:class:`LatencyConfig`, passed whole, and gives the one row schema. Each unit is measured in a process
of its own: :func:`measure_way` (the one call for any way: its skip reason, its stages, then the
timing) and :func:`measure_in_subprocess` hand jobs to the one launcher
(:mod:`~archbench.benchmark.launcher`: pre-imported workers that fork each unit's process, memory
limit, out-of-memory-killer detection, process-group kill, parent binding, timeout), whose processes
all run :mod:`~archbench.benchmark.worker`; :func:`latency_rows` does that for several backends and
batch sizes.

The package, one job per module: :mod:`~archbench.benchmark.config` (the one list of backends,
aliases, devices and dtypes; :class:`LatencyConfig`), :mod:`~archbench.benchmark.timing` (the loop and
its statistics), :mod:`~archbench.benchmark.oom` (the one out-of-memory classifier),
:mod:`~archbench.benchmark.compilers` (compiled inference per backend, thread settings),
:mod:`~archbench.benchmark.train_step` (the compiled training step), :mod:`~archbench.benchmark.caches`
(persistent compilation caches), :mod:`~archbench.benchmark.peaks` (datasheet peaks),
:mod:`~archbench.benchmark.machine_peaks` (this machine's peaks, measured by the probes target, cached),
:mod:`~archbench.benchmark.result` (:class:`LatencyResult` and its row), :mod:`~archbench.benchmark.load`
(load average and steal stamps), :mod:`~archbench.benchmark.measure` (timing in this process),
:mod:`~archbench.benchmark.targets` (the ways), :mod:`~archbench.benchmark.protocol` (what crosses the
process boundary: rows and typed failures), :mod:`~archbench.benchmark.launcher`,
:mod:`~archbench.benchmark.worker` and :mod:`~archbench.benchmark.processes` (measuring in processes of
their own). The terminal report of ``archbench bench`` lives with the command line
(:mod:`archbench._cli._render_bench`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .compilers import default_freeze, default_jit
from .config import (
    BACKEND_ALIASES,
    BACKENDS,
    DEFAULT_MAX_TIME_S,
    DEVICES,
    DTYPES,
    LatencyConfig,
    backend_installed,
    max_time_for,
    normalize_backend,
    not_installed_message,
)
from .load import LoadMonitor, LoadStamps
from .measure import PreparedInference, build_model, measure, measure_function, model_macs, prepare
from .oom import is_oom
from .peaks import PEAKS, DevicePeak, peak_for
from .processes import bench, latency_rows, measure_in_subprocess, measure_way
from .result import LatencyResult
from .sweeps import sweep
from .timing import Timing, median_ci, median_ci_ranks, summarize, time_function

__all__ = [
    "BACKENDS",
    "BACKEND_ALIASES",
    "DEFAULT_MAX_TIME_S",
    "DEVICES",
    "DTYPES",
    "PEAKS",
    "DevicePeak",
    "LatencyConfig",
    "LatencyResult",
    "LoadMonitor",
    "LoadStamps",
    "PreparedInference",
    "Timing",
    "backend_installed",
    "bench",
    "build_model",
    "default_freeze",
    "default_jit",
    "format_report",
    "is_oom",
    "latency_rows",
    "max_time_for",
    "measure",
    "measure_function",
    "measure_in_subprocess",
    "measure_way",
    "median_ci",
    "median_ci_ranks",
    "model_macs",
    "normalize_backend",
    "not_installed_message",
    "peak_for",
    "prepare",
    "summarize",
    "sweep",
    "text_histogram",
    "time_function",
]

_RENDERING = {"format_report", "text_histogram"}


def __getattr__(name: str) -> Any:
    """``format_report`` and ``text_histogram`` stay importable from here for existing callers; they
    are terminal output and live with the command line, imported only when asked for."""
    if name in _RENDERING:
        return getattr(import_module("archbench._cli._render_bench"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
