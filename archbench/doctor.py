"""``archbench doctor``: what this machine offers archbench, and the known slow paths to avoid."""

from __future__ import annotations

import os
from typing import Any

from .environment import environment


def diagnose() -> tuple[dict[str, Any], list[str]]:
    """The environment dict and a list of warnings (empty when nothing looks wrong)."""
    env = environment()
    warnings = []
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


def installed_backends(env: dict[str, Any]) -> dict[str, str | None]:
    return {b: env.get(f"{b}_version") for b in ("tensorflow", "jax", "torch")}
