"""``archbench doctor``: what this machine offers archbench, and the known slow paths to avoid.

It also states the installed Keras against the range archbench is tested with
(:data:`archbench.keras_internals.TESTED_KERAS`) and warns when a private Keras name archbench reads
is missing (:func:`archbench.keras_internals.check_internals`).
"""

from __future__ import annotations

import os
from typing import Any

from . import keras_internals
from .environment import environment

TESTED = ",".join(keras_internals.TESTED_KERAS)


def keras_status(version: str | None = None) -> str:
    """``keras 3.15.1 (tested: >=3.3,<4)``: the installed Keras and the range archbench is tested with."""
    return f"keras {version or keras_internals.keras_version() or '-'} (tested: {TESTED})"


def keras_warnings(version: str | None, missing: list[str]) -> list[str]:
    """Warnings for a Keras outside the tested range or lacking private names archbench reads."""
    out = []
    if version is None:
        out.append("keras is not installed")
    elif not keras_internals.version_in_range(version):
        out.append(f"keras {version} is outside the tested range {TESTED}: counts and training may break")
    if missing:
        out.append(
            f"keras {version} lacks internals archbench reads ({', '.join(missing)}): "
            "counting, weight conversion or data-parallel clipping may fail"
        )
    return out


def diagnose() -> tuple[dict[str, Any], list[str]]:
    """The environment dict (with ``keras_tested``, the tested Keras range, after ``keras_version``)
    and a list of warnings (empty when nothing looks wrong)."""
    env = _with_tested_range(environment())
    warnings = keras_warnings(env.get("keras_version"), keras_internals.check_internals())
    backend = env.get("backend")
    installed = {b: env.get(f"{b}_version") for b in ("tensorflow", "jax", "torch")}
    if backend == "torch":
        warnings.append(
            "Keras on the torch backend runs layer by layer (measured about 20x slower than JAX on an H200 "
            "for ResNet-50 at batch 1): use it to compare backends, not as a default"
        )
    if backend == "numpy":
        warnings.append("the numpy backend cannot train and is slow: set KERAS_BACKEND=tensorflow or jax")
    if not installed.get(backend if backend != "tensorflow" else "tensorflow"):
        warnings.append(f"the active backend {backend!r} is not installed")
    if env.get("device_type") == "cpu" and (env.get("gpus_visible") or 0) == 0:
        warnings.append("no GPU visible: latency runs will measure the CPU (and say so)")
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" and backend == "tensorflow":
        warnings.append(
            "TF_ENABLE_ONEDNN_OPTS=0 (archbench's default, so in-process and subprocess timings use the same "
            "kernels): set it to 1 to time TensorFlow with oneDNN's graph rewrites"
        )
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        warnings.append("CUDA_VISIBLE_DEVICES is empty: GPUs are hidden")
    return env, warnings


def _with_tested_range(env: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        out[key] = value
        if key == "keras_version":
            out["keras_tested"] = TESTED
    return out


def installed_backends(env: dict[str, Any]) -> dict[str, str | None]:
    return {b: env.get(f"{b}_version") for b in ("tensorflow", "jax", "torch")}
