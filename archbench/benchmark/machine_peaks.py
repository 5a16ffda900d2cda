"""Measured peaks of this machine: the attainable FLOP/s and memory bandwidth per device and dtype.

What is timed (through the active Keras backend's framework, on the device asked for):

- **Arithmetic**, two compute-bound probes in the compute dtype; the peak (``flops_per_s``) is the
  higher of the two, both figures are kept (``matmul_flops_per_s``, ``conv_flops_per_s``) and
  ``peak_probe`` / ``method`` say which one gave it:

  - *matmul*: an ``n × n @ n × n`` matrix product, compiled (``jax.jit`` / ``tf.function``), for each
    ``n`` of :data:`MATMUL_SIZES`; FLOPs = 2 n³;
  - *conv*: a 3×3, stride-1, ``SAME`` convolution ``N×H×W×C -> K`` (NHWC input, HWIO filter) for each
    shape of :data:`CONV_SHAPES` (VGG's and ResNet's 56×56×256 and 28×28×512 layers), compiled the way
    archbench's latency timer compiles models (``jax.jit`` / ``tf.function(jit_compile=True)``, XLA);
    FLOPs = 2 × the direct count of MACs, ``N·H·W·9·C·K`` (the project's convention: padding taps
    counted, no Winograd or FFT saving assumed).

  For each shape one untimed call compiles, one more warms up, then the median of :data:`REPEATS`
  timed calls, with the device synchronised inside the timed region; each probe keeps its best shape.
  A model's convolutions run through the conv path, not the matrix product's kernel, so where that path
  is the faster one a peak from the matrix product alone would sit below what conv nets can reach.
- **Bandwidth**: ``y += x`` in place on two float32 arrays of :data:`STREAM_BYTES` each (far above
  the caches), compiled the same way (JAX donates ``y``; TensorFlow ``Variable.assign_add``); bytes =
  3 × the array size (``x`` read, ``y`` read and written), the median of :data:`REPEATS` timed calls.

What the probes found on the 2-core AMD EPYC machine (TensorFlow 2.21, 2026-12-04): the conv probe
is not faster than the matmul probe there (conv / matmul median 0.98 over 28 measurements taken while
other jobs shared the cores). The committed reference rows of that machine
(``results/reference/cpu-amd-epyc-2c``, 2026-12-01) still exceed the peak: they do 250-345 GFLOP/s of
direct-count work, against the quiet 190 GFLOP/s matmul figure. They also exceed the cores' own limit. The
host reports CPUID family 25 model 17 (Zen 4: 32 float32 FLOPs a cycle per core), and an AVX-512 FMA
loop in C reaches 118 GFLOP/s on one core (3.7 GHz), so about 236 GFLOP/s on both. The convolutions are
direct: XLA's output is bit-identical to TensorFlow's Eigen convolution, not Winograd. VGG-16 re-timed on
this host runs below the probes. ONNX Runtime ran VGG-16 at ~450 GFLOP/s on the same day
(``results/runtimes_cpu.csv``). So those rows were most likely measured on a host with about twice the
float32 throughput per core (full-width AVX-512 FMA) under the same masked model name (``AMD EPYC``),
and a VM kernel build of its own. Their ``fraction_of_peak`` above 1 compares two machines, and is no
sign of a faster kernel the probes miss. The cache key holds the CPUID family/model/stepping so that a
peak is not reused across such hosts. A latency row records only the model name, so
:func:`peaks_for_row` cannot tell them apart.

The framework runs with its default threads (every core of the process's affinity mask). Float32
products on a GPU run as the framework runs them by default (TF32 tensor cores on Ampere and newer),
which is also how models run, so the measured float32 peak can exceed the datasheet's FP32 figure.

Results are cached per machine and versions in ``<cache dir>/peaks-<hash>.json`` (the cache dir of
:func:`archbench.catalog.default_cache_dir`): the hash covers the device type and name, the CPU model,
the CPUID family/model/stepping, the core count, the backend, the Keras, framework and numpy versions,
``XLA_FLAGS`` and ``TF_ENABLE_ONEDNN_OPTS``; each file holds one entry per dtype. Measuring again
(``refresh``) keeps the higher of each figure, since other work sharing the machine only ever lowers
them (``runs`` counts the measurements); a measurement taken
while the machine was busy (load or steal stamped around it, :mod:`archbench.benchmark.load`) is
returned with ``busy`` set and not cached. :func:`machine_peaks` measures this machine (``archbench doctor
--peaks``); :func:`peaks_for_row` gives the peak of a latency row's device and dtype, measuring it
in a fresh process when the cache lacks it (so the caller's thread settings cannot change it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import UsageError
from ..roofline import Peak, compute_dtype
from .load import LoadMonitor
from .peaks import peak_for

__all__ = [
    "CONV_SHAPES",
    "DEFAULT_DTYPES",
    "MATMUL_SIZES",
    "REPEATS",
    "STREAM_BYTES",
    "cache_key",
    "cache_path",
    "conv_flops",
    "machine_peaks",
    "measure_peak",
    "peaks_for_row",
]

CACHE_FORMAT = "archbench.peaks/2"
MATMUL_SIZES = {"cpu": (1024, 2048), "gpu": (4096, 8192, 16384)}
CONV_SHAPES = {
    "cpu": ((1, 56, 256, 256), (1, 28, 512, 512)),
    "gpu": ((64, 56, 256, 256), (64, 28, 512, 512)),
}
"""``(N, H=W, C, K)`` of the 3×3 stride-1 ``SAME`` convolutions of the conv probe, per device type."""
CONV_KERNEL = 3
STREAM_BYTES = {"cpu": 256 * 2**20, "gpu": 2 * 2**30}
REPEATS = 5
DEFAULT_DTYPES = {"cpu": ("float32",), "gpu": ("float32", "bfloat16", "float16")}
MEASURABLE_DTYPES = ("float32", "bfloat16", "float16")
BACKENDS = ("tensorflow", "jax")
CHILD_TIMEOUT_S = 600


# --------------------------------------------------------------------------------------------------
# Timing through one framework.


def _median_s(call: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Median wall time of ``call`` (which synchronises the device) after a compiling and a warm call."""
    call()
    call()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples))


class _Jax:
    kernel = "jax.jit"
    conv_kernel = "jax.jit"

    def __init__(self, device_type: str) -> None:
        import jax

        try:
            self.device = jax.devices("gpu" if device_type == "gpu" else "cpu")[0]
        except RuntimeError:
            raise UsageError(f"jax sees no {device_type} device") from None
        self.jax = jax

    def matmul(self, n: int, dtype: str) -> Callable[[], Any]:
        jax, jnp = self.jax, self.jax.numpy
        with jax.default_device(self.device):
            a, b = (jax.random.uniform(jax.random.PRNGKey(i), (n, n), dtype=dtype) for i in (1, 2))
        f = jax.jit(jnp.matmul)
        return lambda: f(a, b).block_until_ready()

    def conv(self, shape: tuple[int, int, int, int], dtype: str) -> Callable[[], Any]:
        jax = self.jax
        n, size, c, k = shape
        with jax.default_device(self.device):
            x = jax.random.uniform(jax.random.PRNGKey(4), (n, size, size, c), dtype=dtype)
            w = jax.random.uniform(jax.random.PRNGKey(5), (CONV_KERNEL, CONV_KERNEL, c, k), dtype=dtype)
        f = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))  # fmt: skip
        return lambda: f(x, w).block_until_ready()

    def stream(self, count: int) -> Callable[[], Any]:
        jax, jnp = self.jax, self.jax.numpy
        with jax.default_device(self.device):
            x = jax.random.uniform(jax.random.PRNGKey(3), (count,), dtype=jnp.float32)
            state = {"y": jnp.zeros((count,), jnp.float32)}
        add = jax.jit(lambda x, y: y + x, donate_argnums=1)

        def call() -> None:
            state["y"] = add(x, state["y"])
            state["y"].block_until_ready()

        return call


class _TensorFlow:
    kernel = "tf.function"
    conv_kernel = "tf.function(jit_compile=True)"

    def __init__(self, device_type: str) -> None:
        import tensorflow as tf

        if device_type == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise UsageError("tensorflow sees no gpu device")
        self.tf = tf
        self.name = "/GPU:0" if device_type == "gpu" else "/CPU:0"

    def matmul(self, n: int, dtype: str) -> Callable[[], Any]:
        tf = self.tf
        with tf.device(self.name):
            a, b = (tf.cast(tf.random.uniform((n, n), seed=i), dtype) for i in (1, 2))
        f = tf.function(tf.linalg.matmul)

        def call() -> None:
            with tf.device(self.name):
                f(a, b)[0, 0].numpy()

        return call

    def conv(self, shape: tuple[int, int, int, int], dtype: str) -> Callable[[], Any]:
        tf = self.tf
        n, size, c, k = shape
        with tf.device(self.name):
            x = tf.cast(tf.random.uniform((n, size, size, c), seed=4), dtype)
            w = tf.cast(tf.random.uniform((CONV_KERNEL, CONV_KERNEL, c, k), seed=5), dtype)
        f = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"), jit_compile=True)

        def call() -> None:
            with tf.device(self.name):
                f(x, w)[0, 0, 0, 0].numpy()

        return call

    def stream(self, count: int) -> Callable[[], Any]:
        tf = self.tf
        with tf.device(self.name):
            x = tf.Variable(tf.random.uniform((count,), seed=3))
            y = tf.Variable(tf.zeros((count,)))
        add = tf.function(lambda: y.assign_add(x))
        return lambda: add()[0].numpy()


def _framework(backend: str, device_type: str) -> _Jax | _TensorFlow:
    if backend == "jax":
        return _Jax(device_type)
    if backend == "tensorflow":
        return _TensorFlow(device_type)
    raise UsageError(f"peaks are measured through tensorflow or jax, not {backend!r}")


def _check(device_type: str, dtype: str) -> None:
    if device_type not in MATMUL_SIZES:
        raise UsageError(f"device type must be cpu or gpu, got {device_type!r}")
    if dtype not in MEASURABLE_DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(MEASURABLE_DTYPES)}, got {dtype!r}")


def conv_flops(shape: tuple[int, int, int, int]) -> int:
    """FLOPs of one conv-probe call: 2 × the direct count of MACs, ``N·H·W·k²·C·K`` (``SAME``, stride 1)."""
    n, size, c, k = shape
    return 2 * n * size * size * CONV_KERNEL**2 * c * k


def _shape_text(shape: tuple[int, int, int, int]) -> str:
    n, size, c, k = shape
    return f"{n}×{size}×{size}×{c} -> {k}"


def measure_peak(device_type: str, dtype: str = "float32", *, backend: str | None = None) -> Peak:
    """Time the matrix products, the convolutions and the in-place add on ``device_type`` in this
    process (no cache); the peak is the higher of the matmul and the conv probe."""
    _check(device_type, dtype)
    backend = backend or _active_backend()
    fw = _framework(backend, device_type)
    monitor = LoadMonitor()
    monitor.before()
    best_n, matmul = 0, 0.0
    for n in MATMUL_SIZES[device_type]:
        rate = 2.0 * n**3 / _median_s(fw.matmul(n, dtype))
        if rate > matmul:
            best_n, matmul = n, rate
    best_shape, conv = CONV_SHAPES[device_type][0], 0.0
    for shape in CONV_SHAPES[device_type]:
        rate = conv_flops(shape) / _median_s(fw.conv(shape, dtype))
        if rate > conv:
            best_shape, conv = shape, rate
    count = STREAM_BYTES[device_type] // 4
    bandwidth = 3 * count * 4 / _median_s(fw.stream(count))
    load = monitor.after()
    probe = "conv" if conv > matmul else "matmul"
    sizes = ", ".join(map(str, MATMUL_SIZES[device_type]))
    shapes = ", ".join(map(_shape_text, CONV_SHAPES[device_type]))
    method = (
        f"{backend}; peak = the {probe} probe ({max(matmul, conv) / 1e9:,.1f} GFLOP/s), the higher of: "
        f"matmul, {fw.kernel} n×n @ n×n {dtype} for n in ({sizes}), FLOPs = 2n³, best n = {best_n} kept "
        f"({matmul / 1e9:,.1f} GFLOP/s); conv, {fw.conv_kernel} {CONV_KERNEL}×{CONV_KERNEL} stride-1 SAME "
        f"{dtype} convolution NHWC N×H×W×C -> K for ({shapes}), FLOPs = 2 × N·H·W·9·C·K (direct count), "
        f"best {_shape_text(best_shape)} kept ({conv / 1e9:,.1f} GFLOP/s); each the median of {REPEATS} "
        f"timed calls after a compiling and a warm call, device synchronised in the timed region; "
        f"bandwidth: y += x in place on two {count * 4 / 1e6:.0f} MB float32 arrays, bytes = 3 × array "
        f"size, median of {REPEATS}; framework default threads"
    )
    name = _device_name(backend, device_type)
    spec, spec_source = peak_for(name, dtype) if device_type == "gpu" else (None, None)
    return Peak(
        device=f"{device_type}:0 ({name})", device_type=device_type, device_name=name, dtype=dtype,
        flops_per_s=max(matmul, conv), bandwidth_bytes_per_s=bandwidth, peak_source="measured", method=method,
        backend=backend, spec_flops_per_s=None if spec is None else spec * 1e12, spec_source=spec_source,
        matmul_n=best_n, matmul_flops_per_s=matmul, conv_flops_per_s=conv, conv_shape=_shape_text(best_shape),
        peak_probe=probe, measured_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        load_before=load.load_before, load_after=load.load_after, busy=load.busy,
    )  # fmt: skip


def _active_backend() -> str:
    from ..environment import _backend

    return _backend()


def _device_name(backend: str, device_type: str) -> str:
    from ..environment import cpu_model, gpu_names

    if device_type == "cpu":
        return cpu_model()
    names = gpu_names(backend) or []
    return names[0] if names else "unknown gpu"


# --------------------------------------------------------------------------------------------------
# The cache.


def cache_key(device_type: str, device_name: str, backend: str) -> dict[str, Any]:
    """What a cached peak depends on: device, CPU model, CPUID and cores, backend, versions, ``XLA_FLAGS``
    and (TensorFlow) ``TF_ENABLE_ONEDNN_OPTS``."""
    from ..environment import cpu_count, cpu_model, versions

    v = versions()
    frameworks = ("tensorflow",) if backend == "tensorflow" else ("jax", "jaxlib")
    key = {"format": CACHE_FORMAT, "device_type": device_type, "device_name": device_name,
           "cpu_model": cpu_model(), "cpu_id": _cpu_id(), "cpu_count": cpu_count(), "backend": backend,
           "keras_version": v["keras_version"], "numpy_version": v["numpy_version"],
           "xla_flags": os.environ.get("XLA_FLAGS")}  # fmt: skip
    key.update({f"{f}_version": v[f"{f}_version"] for f in frameworks})
    if backend == "tensorflow":
        key["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return key


def _cpu_id() -> str:
    """``vendor family model stepping`` of the first CPU in /proc/cpuinfo (empty where unreadable): a
    virtual machine's masked model name (``AMD EPYC``) can stand for cores of different throughput."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
    except OSError:
        return ""
    return " ".join(fields.get(k, "?") for k in ("vendor_id", "cpu family", "model", "stepping"))


def cache_path(key: Mapping[str, Any], cache_dir: str | None = None) -> str:
    """``<cache dir>/peaks-<hash of key>.json``."""
    from ..catalog import default_cache_dir

    digest = hashlib.sha256(json.dumps(dict(key), sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(cache_dir or default_cache_dir(), f"peaks-{digest}.json")


def _read_cache(path: str, key: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{dtype: peak dict}`` of a cache file; empty when it is missing, unreadable or of another key."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("key") != dict(key) or not isinstance(data.get("peaks"), dict):
        return {}
    return data["peaks"]


def _write_cache(path: str, key: Mapping[str, Any], peaks: Mapping[str, Mapping[str, Any]]) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".peaks-", suffix=".json", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"key": dict(key), "peaks": dict(peaks)}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """One measurement at a time per cache file (two at once would share the cores and both be low)."""
    import fcntl

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cached_or_measured(
    device_type: str, dtype: str, backend: str, *, refresh: bool, cache_dir: str | None
) -> Peak:
    key = cache_key(device_type, _device_name(backend, device_type), backend)
    path = cache_path(key, cache_dir)
    with _locked(path):
        entries = _read_cache(path, key)
        if dtype in entries and not refresh:
            return Peak.from_dict({**entries[dtype], "cached": True})
        peak = measure_peak(device_type, dtype, backend=backend)
        if peak.busy:
            return peak
        peak = _highest(entries.get(dtype), peak)
        entries[dtype] = peak.as_dict()
        _write_cache(path, key, entries)
    return peak


def _highest(old: Mapping[str, Any] | None, new: Peak) -> Peak:
    """The higher of each figure of a cached and a new measurement (other work sharing the machine only
    ever lowers them), with the count of measurements they are the highest of. The arithmetic figures
    (peak, both probes, ``method``) come together from the measurement with the higher peak."""
    if not old:
        return new
    before = Peak.from_dict(old)
    best = before if (before.flops_per_s or 0.0) > (new.flops_per_s or 0.0) else new
    bandwidth = max(before.bandwidth_bytes_per_s or 0.0, new.bandwidth_bytes_per_s or 0.0)
    return dataclasses.replace(best, bandwidth_bytes_per_s=bandwidth, runs=before.runs + 1, cached=False)


def machine_peaks(
    dtypes: Sequence[str] | None = None,
    *,
    device_types: Sequence[str] | None = None,
    refresh: bool = False,
    backend: str | None = None,
    cache_dir: str | None = None,
) -> list[Peak]:
    """The peaks of this machine's devices (the CPU, and the first GPU where the backend sees one), each
    dtype (default :data:`DEFAULT_DTYPES`), from the cache unless ``refresh``; measured in this process."""
    backend = backend or _active_backend()
    if backend not in BACKENDS:
        raise UsageError(f"peaks are measured through tensorflow or jax; the active backend is {backend!r}")
    if device_types is None:
        from ..environment import gpu_names

        device_types = ("cpu", "gpu") if gpu_names(backend) else ("cpu",)
    for t in device_types:
        for d in dtypes or DEFAULT_DTYPES.get(t, ()):
            _check(t, d)
    return [
        _cached_or_measured(t, d, backend, refresh=refresh, cache_dir=cache_dir)
        for t in device_types
        for d in dtypes or DEFAULT_DTYPES[t]
    ]


# --------------------------------------------------------------------------------------------------
# The peak of one latency row.


_MEASURED_HERE: dict[tuple, Any] = {}


def peaks_for_row(row: Mapping[str, Any], *, cache_dir: str | None = None, measure: bool = True) -> Peak:
    """:func:`_peaks_for_row`, measured at most once per process for a device, dtype and backend (a busy
    machine's measurement is not cached on disk, but a sweep must not pay it for every row)."""
    key = (row.get("device_type"), row.get("device_name"), row.get("dtype"), row.get("backend"), cache_dir, measure)
    if key not in _MEASURED_HERE:
        _MEASURED_HERE[key] = _peaks_for_row(row, cache_dir=cache_dir, measure=measure)
    return _MEASURED_HERE[key]


def _peaks_for_row(row: Mapping[str, Any], *, cache_dir: str | None = None, measure: bool = True) -> Peak:
    """The peak of a latency row's device (``device_type``, ``device_name``) and compute dtype
    (``dtype``), for :func:`archbench.roofline.roofline_columns`.

    Read from this machine's cache; when absent (and ``measure``), measured in a fresh Python process
    through the row's Keras backend (tensorflow or jax; the active one for other runtimes) and cached.
    A row of another machine, or one that cannot be measured, gets the datasheet figure where
    :mod:`~archbench.benchmark.peaks` knows one (``peak_source="spec"``, no bandwidth), else no figure;
    ``reason`` says which and why.
    """
    from ..environment import cpu_model

    device_type, name = str(row.get("device_type") or ""), str(row.get("device_name") or "")
    dtype = compute_dtype(row.get("dtype"))
    base = {"device": str(row.get("device") or f"{device_type}:0 ({name})"), "device_type": device_type,
            "device_name": name, "dtype": dtype or "", "flops_per_s": None, "bandwidth_bytes_per_s": None,
            "peak_source": ""}  # fmt: skip
    if device_type not in MATMUL_SIZES or dtype not in MEASURABLE_DTYPES:
        return _spec_or(base, f"no measured peak for device type {device_type!r} and dtype {dtype!r}")
    if device_type == "cpu" and name != cpu_model():
        return _spec_or(base, f"measured on another machine ({name}; this one is {cpu_model()})")
    backend = str(row.get("backend") or "")
    backend = backend if backend in BACKENDS else _active_backend()
    if backend not in BACKENDS:
        return _spec_or(base, f"peaks are measured through tensorflow or jax, not {backend!r}")
    key = cache_key(device_type, name, backend)
    path = cache_path(key, cache_dir)
    entries = _read_cache(path, key)
    if dtype in entries:
        return Peak.from_dict({**entries[dtype], "cached": True})
    if not measure:
        return _spec_or(base, f"not measured yet: `archbench doctor --peaks` ({path})")
    try:
        peak = _measure_in_child(device_type, dtype, backend, cache_dir)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        return _spec_or(base, f"measuring the peak failed: {last}")
    if peak.device_name != name:
        return _spec_or(base, f"measured on another machine ({name}; this one has {peak.device_name})")
    return peak


def _spec_or(base: dict[str, Any], reason: str) -> Peak:
    spec, source = (
        peak_for(base["device_name"], base["dtype"]) if base["device_type"] == "gpu" else (None, None)
    )
    if spec is None:
        return Peak(**base, reason=reason)
    return Peak(**{**base, "flops_per_s": spec * 1e12, "peak_source": "spec", "spec_flops_per_s": spec * 1e12,
                   "spec_source": source, "method": source}, reason=f"{reason}; datasheet FLOP/s, no bandwidth")  # fmt: skip


def _measure_in_child(device_type: str, dtype: str, backend: str, cache_dir: str | None) -> Peak:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # fmt: skip
    cmd = [
        sys.executable,
        "-m",
        "archbench.benchmark.machine_peaks",
        "--device-type",
        device_type,
        "--dtype",
        dtype,
    ]
    if cache_dir:
        cmd += ["--cache-dir", cache_dir]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or f"exit code {done.returncode}")
    return Peak.from_dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m archbench.benchmark.machine_peaks --device-type cpu --dtype float32``: measure (or
    read from the cache) one peak and print it as one line of JSON."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m archbench.benchmark.machine_peaks")
    parser.add_argument("--device-type", required=True, choices=sorted(MATMUL_SIZES))
    parser.add_argument("--dtype", required=True, choices=MEASURABLE_DTYPES)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    try:
        (peak,) = machine_peaks([args.dtype], device_types=[args.device_type], refresh=args.refresh,
                                cache_dir=args.cache_dir)  # fmt: skip
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(peak.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
