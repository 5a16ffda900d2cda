"""The software and hardware a measurement ran on, stamped into every result row.

:func:`environment` returns a flat dict with snake_case keys (all values are ``str``, ``int`` or
``None``, so a row stays JSON/CSV friendly):

======================  ==============================================================================
``backend``             the active Keras backend (``tensorflow``, ``jax``, ``torch``, ``numpy``)
``device``              the device the backend computes on by default, as ``type:index (name)``,
                        e.g. ``cpu:0 (AMD EPYC)`` or ``gpu:0 (NVIDIA H100 80GB HBM3)``
``device_type``         ``cpu`` or ``gpu``
``device_name``         the CPU model (from /proc/cpuinfo) or the GPU name the framework reports
``gpus_visible``        how many GPUs the active backend can see (``None`` if it cannot say)
``keras_version`` ...   ``tensorflow_version``, ``jax_version``, ``jaxlib_version``, ``torch_version``,
                        ``torchvision_version``, ``numpy_version``: installed versions (``None`` when
                        not installed), read from package metadata without importing the package
``python_version``      e.g. ``3.11.7``
``platform``            ``platform.platform()``
``cpu_model``           model name from /proc/cpuinfo (``platform.processor()`` elsewhere)
``cpu_id``              ``vendor family model stepping`` from /proc/cpuinfo, e.g. ``GenuineIntel 6 207 2``
                        (a virtual machine's masked model name can stand for different cores; empty elsewhere)
``cpu_count``           logical cores this process may run on (its affinity mask)
``intra_op_threads``    the framework's intra-op thread setting (``0`` or ``None`` = its default)
``inter_op_threads``    the framework's inter-op thread setting (TensorFlow only)
``omp_num_threads``     the ``OMP_NUM_THREADS`` variable, if set
``xla_flags``           the ``XLA_FLAGS`` variable, if set
``tf_enable_onednn_opts`` the ``TF_ENABLE_ONEDNN_OPTS`` variable, if set (``0`` = oneDNN kernels off)
======================  ==============================================================================

Nothing here imports a framework that is not already imported (importing torch or jax only to
read a version costs seconds); only Keras itself, which decides the backend, is imported.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import sys
from typing import Any

__all__ = ["cpu_count", "cpu_id", "cpu_model", "describe_device", "device", "environment", "gpu_names", "versions"]

_DISTRIBUTIONS = {
    "keras": ("keras",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-macos"),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "numpy": ("numpy",),
}


ENV_KEYS = (
    "backend", "device", "device_type", "device_name", "gpus_visible",
    *(f"{k}_version" for k in _DISTRIBUTIONS),
    "python_version", "platform", "cpu_model", "cpu_id", "cpu_count", "intra_op_threads", "inter_op_threads",
    "omp_num_threads", "xla_flags", "tf_enable_onednn_opts",
)  # fmt: skip
"""The keys of :func:`environment`, in order."""


def versions() -> dict[str, str | None]:
    """Installed versions of Keras, the backends and numpy (``None`` when a package is missing)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, dists in _DISTRIBUTIONS.items():
        found = None
        for dist in dists:
            try:
                found = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        out[f"{key}_version"] = found
    return out


@functools.cache
def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo states it (``platform.processor()`` where it is absent)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


@functools.cache
def cpu_id() -> str:
    """``vendor family model stepping`` of the first CPU in /proc/cpuinfo (empty where unreadable): a
    virtual machine's masked model name (``AMD EPYC``, ``Intel(R) Xeon(R) Processor``) can stand for cores
    of different throughput, the CPUID numbers cannot."""
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
    if "vendor_id" not in fields:
        return ""
    return " ".join(fields.get(k, "?") for k in ("vendor_id", "cpu family", "model", "stepping"))


def cpu_count() -> int:
    """Logical cores this process may run on (its affinity mask; ``os.cpu_count()`` where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _backend() -> str:
    import keras

    return keras.backend.backend()


def gpu_names(backend: str | None = None) -> list[str] | None:
    """Names of the GPUs a backend (default: the active one) sees, in its order; ``None`` if it cannot say."""
    backend = backend or _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return names
    if backend == "jax":
        import jax

        try:
            return [d.device_kind for d in jax.devices("gpu")]
        except RuntimeError:
            return []
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if backend == "numpy":
        return []
    return None


def describe_device(device_type: str, index: int = 0, *, backend: str | None = None) -> str:
    """``"cpu:0 (AMD EPYC)"`` / ``"gpu:0 (NVIDIA H200)"``: a device with its name as reported."""
    return f"{device_type}:{index} ({_device_name(device_type, index, backend or _backend())})"


def _device_name(device_type: str, index: int, backend: str) -> str:
    if device_type == "cpu":
        return cpu_model()
    names = gpu_names(backend) or []
    return names[index] if index < len(names) else "unknown gpu"


def _default_device(backend: str) -> tuple[str, int]:
    """The device type and index the backend computes on when nothing is asked for."""
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        return ("gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform), d.id
    if backend == "torch":
        import torch

        # Keras' torch backend puts its variables on CUDA whenever torch can see a GPU.
        return ("gpu" if torch.cuda.is_available() else "cpu"), 0
    gpus = gpu_names(backend)
    return ("gpu" if gpus else "cpu"), 0


def device() -> str:
    """The device the active backend computes on by default, e.g. ``"cpu:0 (AMD EPYC)"``."""
    backend = _backend()
    kind, index = _default_device(backend)
    return f"{kind}:{index} ({_device_name(kind, index, backend)})"


def _threads(backend: str) -> tuple[int | None, int | None]:
    if backend == "tensorflow" and "tensorflow" in sys.modules:
        import tensorflow as tf

        return (
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
    if backend == "torch" and "torch" in sys.modules:
        import torch

        return torch.get_num_threads(), None
    return None, None


def environment(backend: str | None = None) -> dict[str, Any]:
    """The flat description of this process's software and hardware (keys in the module docstring).

    ``backend`` names the framework that computes when it is not Keras' (``torch`` for a torchvision
    model: Keras is then not imported at all)."""
    backend = backend or _backend()
    kind, index = _default_device(backend)
    gpus = gpu_names(backend)
    intra, inter = _threads(backend)
    env: dict[str, Any] = {
        "backend": backend,
        "device": f"{kind}:{index} ({_device_name(kind, index, backend)})",
        "device_type": kind,
        "device_name": _device_name(kind, index, backend),
        "gpus_visible": None if gpus is None else len(gpus),
    }
    env.update(versions())
    env.update(
        {
            "python_version": platform.python_version(),
            "platform": platform.platform(),
            "cpu_model": cpu_model(),
            "cpu_id": cpu_id(),
            "cpu_count": cpu_count(),
            "intra_op_threads": intra,
            "inter_op_threads": inter,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "xla_flags": os.environ.get("XLA_FLAGS"),
            "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        }
    )
    return env
