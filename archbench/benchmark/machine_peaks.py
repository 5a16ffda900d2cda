"""Measured peaks of this machine: the attainable FLOP/s and memory bandwidth per device and dtype, cached,
and the peak a latency row is set against.

The figures come from the peak probes (:mod:`archbench.benchmark.targets.probes`: matrix products, 3×3
convolutions, an in-place add), timed as a way of the one pipeline: started by the one launcher
(:func:`archbench.benchmark.processes.measure_in_subprocess`, a fresh process with the framework's
default threads, so the caller's thread settings cannot change them) and timed by the one timer under
:data:`PROBE_TIMING`. The arithmetic peak (``flops_per_s``) is the higher of the best matrix product and
the best convolution (FLOPs = 2 × the direct count of MACs), both kept (``matmul_flops_per_s``,
``conv_flops_per_s``; ``peak_probe`` names the one that gave it); the bandwidth is the in-place add's
bytes over its median time. A peak's ``peak_source`` is ``measured (<probe> probe)`` and ``method``
says exactly what was timed; a GPU that cannot be measured gets its datasheet figure
(:mod:`archbench.benchmark.peaks`: ``peak_source`` = ``datasheet: <device>``, no bandwidth).

The cache key holds the CPUID family/model/stepping as well as the CPU's model name: a virtual machine's
masked name (``AMD EPYC``) has stood for cores of twice the float32 throughput (README, "How close to the
machine's limit"). A latency row records only the model name, so :func:`peaks_for_row` cannot tell such
hosts apart.

Results are cached per machine and versions in ``<cache dir>/peaks-<hash>.json`` (the cache dir of
:func:`archbench.catalog.default_cache_dir`): the hash covers the device type and name, the CPU model,
the CPUID family/model/stepping, the core count, the backend, the Keras, framework and numpy versions,
``XLA_FLAGS`` and ``TF_ENABLE_ONEDNN_OPTS``; each file holds one entry per dtype, one measurement at a
time per file (a lock). Measuring again (``refresh``) keeps the higher of each figure, since other work
sharing the machine only ever lowers them (``runs`` counts the measurements); a measurement taken while
the machine was busy (load or steal stamped around a probe, :mod:`archbench.benchmark.load`) is returned
with ``busy`` set and not cached. :func:`machine_peaks` gives this machine's peaks (``archbench doctor
--peaks``); :func:`peaks_for_row` the peak of a latency row's device and dtype, measuring it when the
cache lacks it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import ArchbenchError, UsageError
from ..roofline import Peak, compute_dtype
from .config import LatencyConfig, configured_backend
from .load import LoadStamps
from .peaks import datasheet_peak
from .targets.probes import MATMUL_SIZES, Probe, probes_for

__all__ = [
    "DEFAULT_DTYPES",
    "PROBE_TIMING",
    "cache_key",
    "cache_path",
    "machine_peaks",
    "measure_peak",
    "peak_of_rows",
    "peaks_for_row",
]

CACHE_FORMAT = "archbench.peaks/3"
PROBE_TIMING = {"warmup": 1, "min_iterations": 10, "min_time_s": 0.3, "max_time_s": 3.0, "ci_target": 0.02,
                "compile_cache": False}  # fmt: skip
"""The timer's settings for a probe (:class:`~archbench.benchmark.config.LatencyConfig` fields): one
compiling call, one warm-up, then at least 10 samples over 0.3 s until the median's 95 % interval is
within ±2 %, or 3 s of sampling."""
DEFAULT_DTYPES = {"cpu": ("float32",), "gpu": ("float32", "bfloat16", "float16")}
MEASURABLE_DTYPES = ("float32", "bfloat16", "float16")
BACKENDS = ("tensorflow", "jax")
CHILD_TIMEOUT_S = 600
_POLICY = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def _check(device_type: str, dtype: str) -> None:
    if device_type not in MATMUL_SIZES:
        raise UsageError(f"device type must be cpu or gpu, got {device_type!r}")
    if dtype not in MEASURABLE_DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(MEASURABLE_DTYPES)}, got {dtype!r}")


def _backend(backend: str | None) -> str:
    backend = backend or configured_backend()
    if backend not in BACKENDS:
        raise UsageError(f"peaks are measured through tensorflow or jax, not {backend!r}")
    return backend


def measure_peak(device_type: str, dtype: str = "float32", *, backend: str | None = None) -> Peak:
    """Time the probes of ``device_type`` in ``dtype`` through the launcher (no cache): :func:`peak_of_rows`
    of their rows."""
    from .processes import measure_in_subprocess
    from .targets import Way

    _check(device_type, dtype)
    backend = _backend(backend)
    config = LatencyConfig(backend=backend, device=device_type, dtype=_POLICY[dtype], **PROBE_TIMING)
    way = Way(
        "probes",
        backend,
        options={"env": {"KERAS_BACKEND": backend, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}},
    )
    rows = measure_in_subprocess([p.name for p in probes_for(device_type)], config, CHILD_TIMEOUT_S, way=way,
                                 memory=False)  # fmt: skip
    return peak_of_rows(rows, device_type, dtype, backend)


def _rate(row: Mapping[str, Any], probe: Probe) -> float:
    """FLOP/s (2 × MACs per call) or, for the stream, bytes/s of a probe's row."""
    work = probe.bytes_moved if probe.kind == "stream" else 2 * probe.macs
    return work / (float(row["median_ms"]) / 1e3)


def peak_of_rows(rows: Sequence[Mapping[str, Any]], device_type: str, dtype: str, backend: str) -> Peak:
    """The :class:`Peak` of the probes' rows: per kind the best ok row, the arithmetic peak the higher of the
    matmul and the conv probe. Raises :class:`ArchbenchError` when a kind has no ok row."""
    best: dict[str, tuple[float, Probe, Mapping[str, Any]]] = {}
    for row in rows:
        probe = Probe.parse(str(row["model"]))
        if row.get("status") == "ok" and (probe.kind not in best or _rate(row, probe) > best[probe.kind][0]):
            best[probe.kind] = (_rate(row, probe), probe, row)
    missing = [k for k in ("matmul", "conv", "stream") if k not in best]
    if missing:
        failed = [r for r in rows if Probe.parse(str(r["model"])).kind == missing[0]]
        why = failed[-1].get("message") if failed else "no row"
        raise ArchbenchError(
            f"the {missing[0]} peak probe on {device_type} {dtype} ({backend}) failed: {why}"
        )
    (matmul, n, mm_row), (conv, shape, conv_row), (bandwidth, stream, _) = (
        best[k] for k in ("matmul", "conv", "stream")
    )
    probe = "conv" if conv > matmul else "matmul"
    sizes = ", ".join(p.text for p in probes_for(device_type) if p.kind == "matmul")
    shapes = ", ".join(p.text for p in probes_for(device_type) if p.kind == "conv")
    stops = ", ".join(sorted({str(r.get("stop_reason")) for r in rows}))
    method = (
        f"{backend}; peak = the {probe} probe ({max(matmul, conv) / 1e9:,.1f} GFLOP/s), the higher of: "
        f"matmul, {mm_row.get('path')} n×n @ n×n {dtype} for n in ({sizes}), FLOPs = 2n³, best n = {n.text} kept "
        f"({matmul / 1e9:,.1f} GFLOP/s); conv, {conv_row.get('path')} 3×3 stride-1 SAME {dtype} convolution NHWC "
        f"N×H×W×C -> K for ({shapes}), FLOPs = 2 × N·H·W·9·C·K (direct count), best {shape.text} kept "
        f"({conv / 1e9:,.1f} GFLOP/s); bandwidth: y += x in place on two {stream.text} float32 arrays, bytes = "
        f"3 × array size; each the median of the latency timer's samples (first call apart, "
        f"{PROBE_TIMING['warmup']} warm-up, at least {PROBE_TIMING['min_iterations']} samples and "
        f"{PROBE_TIMING['min_time_s']} s, until the median's 95 % interval is within ±{PROBE_TIMING['ci_target']:.0%} "
        f"or {PROBE_TIMING['max_time_s']} s; stopped by {stops}), device synchronised in the timed region; "
        "one process from the launcher, framework default threads"
    )  # fmt: skip
    stamps = [LoadStamps(*(r.get(k) for k in ("load_before", "load_after", "steal_before", "steal_after")),
                         cpu_count=int(r.get("cpu_count") or os.cpu_count() or 1)) for r in rows]  # fmt: skip
    name = str(mm_row.get("device_name") or "")
    sheet = datasheet_peak(name, dtype) if device_type == "gpu" else None
    return Peak(
        device=str(mm_row.get("device") or f"{device_type}:0 ({name})"), device_type=device_type, device_name=name,
        dtype=dtype, flops_per_s=max(matmul, conv), bandwidth_bytes_per_s=bandwidth,
        peak_source=f"measured ({probe} probe)", method=method, backend=backend,
        spec_flops_per_s=None if sheet is None else sheet.tflops[dtype] * 1e12,
        spec_source=None if sheet is None else sheet.source, matmul_n=n.shape[0], matmul_flops_per_s=matmul,
        conv_flops_per_s=conv, conv_shape=shape.text, peak_probe=probe,
        measured_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        load_before=stamps[0].load_before, load_after=stamps[-1].load_after, busy=any(s.busy for s in stamps),
    )  # fmt: skip


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
    from ..environment import cpu_count, cpu_id, cpu_model, versions

    v = versions()
    frameworks = ("tensorflow",) if backend == "tensorflow" else ("jax", "jaxlib")
    key = {"format": CACHE_FORMAT, "device_type": device_type, "device_name": device_name,
           "cpu_model": cpu_model(), "cpu_id": cpu_id(), "cpu_count": cpu_count(), "backend": backend,
           "keras_version": v["keras_version"], "numpy_version": v["numpy_version"],
           "xla_flags": os.environ.get("XLA_FLAGS")}  # fmt: skip
    key.update({f"{f}_version": v[f"{f}_version"] for f in frameworks})
    if backend == "tensorflow":
        key["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return key


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
    device_type: str, dtype: str, backend: str, name: str, *, refresh: bool, cache_dir: str | None
) -> Peak:
    key = cache_key(device_type, name, backend)
    path = cache_path(key, cache_dir)
    with _locked(path):
        entries = _read_cache(path, key)
        if dtype in entries and not refresh:
            return Peak.from_dict({**entries[dtype], "cached": True})
        peak = measure_peak(device_type, dtype, backend=backend)
        if peak.busy or peak.device_name != name:
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
    dtype (default :data:`DEFAULT_DTYPES`), from the cache unless ``refresh``."""
    backend = _backend(backend)
    if device_types is None:
        from ..environment import gpu_names

        device_types = ("cpu", "gpu") if gpu_names(backend) else ("cpu",)
    for t in device_types:
        for d in dtypes or DEFAULT_DTYPES.get(t, ()):
            _check(t, d)
    return [
        _cached_or_measured(t, d, backend, _device_name(backend, t), refresh=refresh, cache_dir=cache_dir)
        for t in device_types
        for d in dtypes or DEFAULT_DTYPES[t]
    ]


# --------------------------------------------------------------------------------------------------
# The peak of one latency row.


_MEASURED_HERE: dict[tuple, Any] = {}


def peaks_for_row(row: Mapping[str, Any], *, cache_dir: str | None = None, measure: bool = True) -> Peak:
    """:func:`_peaks_for_row`, measured at most once per process for a device, dtype and backend (a busy
    machine's measurement is not cached on disk, but a sweep must not pay it for every row)."""
    key = (
        row.get("device_type"),
        row.get("device_name"),
        row.get("dtype"),
        row.get("backend"),
        cache_dir,
        measure,
    )
    if key not in _MEASURED_HERE:
        _MEASURED_HERE[key] = _peaks_for_row(row, cache_dir=cache_dir, measure=measure)
    return _MEASURED_HERE[key]


def _peaks_for_row(row: Mapping[str, Any], *, cache_dir: str | None = None, measure: bool = True) -> Peak:
    """The peak of a latency row's device (``device_type``, ``device_name``) and compute dtype
    (``dtype``), for :func:`archbench.roofline.roofline_columns`: the measured one where there is one,
    else the datasheet figure.

    Read from this machine's cache; when absent (and ``measure``), measured through the row's backend
    (tensorflow or jax; the configured one for other runtimes) and cached. A row of another machine, or
    one that cannot be measured, gets the datasheet figure where :mod:`~archbench.benchmark.peaks` knows
    one (no bandwidth), else no figure; ``reason`` says which and why.
    """
    from ..environment import cpu_model

    device_type, name = str(row.get("device_type") or ""), str(row.get("device_name") or "")
    dtype = compute_dtype(row.get("dtype"))
    base = {"device": str(row.get("device") or f"{device_type}:0 ({name})"), "device_type": device_type,
            "device_name": name, "dtype": dtype or "", "flops_per_s": None, "bandwidth_bytes_per_s": None,
            "peak_source": ""}  # fmt: skip
    if device_type not in MATMUL_SIZES or dtype not in MEASURABLE_DTYPES:
        return _datasheet_or(base, f"no measured peak for device type {device_type!r} and dtype {dtype!r}")
    if device_type == "cpu" and name != cpu_model():
        return _datasheet_or(base, f"measured on another machine ({name}; this one is {cpu_model()})")
    backend = str(row.get("backend") or "")
    backend = backend if backend in BACKENDS else configured_backend()
    if backend not in BACKENDS:
        return _datasheet_or(base, f"peaks are measured through tensorflow or jax, not {backend!r}")
    key = cache_key(device_type, name, backend)
    path = cache_path(key, cache_dir)
    entries = _read_cache(path, key)
    if dtype in entries:
        return Peak.from_dict({**entries[dtype], "cached": True})
    if not measure:
        return _datasheet_or(base, f"not measured yet: `archbench doctor --peaks` ({path})")
    try:
        peak = _cached_or_measured(device_type, dtype, backend, name, refresh=False, cache_dir=cache_dir)
    except ArchbenchError as exc:
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        return _datasheet_or(base, f"measuring the peak failed: {last}")
    if peak.device_name != name:
        return _datasheet_or(base, f"measured on another machine ({name}; this one has {peak.device_name})")
    return peak


def _datasheet_or(base: dict[str, Any], reason: str) -> Peak:
    sheet = datasheet_peak(base["device_name"], base["dtype"]) if base["device_type"] == "gpu" else None
    if sheet is None:
        return Peak(**base, reason=reason)
    flops = sheet.tflops[base["dtype"]] * 1e12
    return Peak(**{**base, "flops_per_s": flops, "peak_source": f"datasheet: {sheet.name}", "spec_flops_per_s": flops,
                   "spec_source": sheet.source, "method": sheet.source}, reason=f"{reason}; datasheet FLOP/s, no bandwidth")  # fmt: skip
