"""OpenVINO on the CPU, with its inference precision pinned and read back.

On CPUs with bfloat16 support (AVX-512 BF16, AMX) OpenVINO's CPU plugin computes in bfloat16 unless
told otherwise (``INFERENCE_PRECISION_HINT`` defaults to ``bf16`` there), which is not the float32 the
other runtimes compute: the hint is always set, and the precision the compiled model reports is the
row's ``precision``.
"""

from __future__ import annotations

from typing import Any

from .base import Loaded

__all__ = ["PRECISIONS", "load"]

PRECISIONS = ("float32", "bfloat16", "float16")
_HINTS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}
_NAMES = {v: k for k, v in _HINTS.items()}


def load(path: str, *, precision: str = "float32", threads: int | None = None) -> Loaded:
    """Compile an OpenVINO IR (``.xml`` + ``.bin``) for the CPU with ``PERFORMANCE_HINT=LATENCY``,
    ``INFERENCE_PRECISION_HINT`` for ``precision`` and ``INFERENCE_NUM_THREADS=threads`` when given."""
    import openvino as ov

    if precision not in _HINTS:
        raise ValueError(f"no OpenVINO precision hint for {precision}")
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _HINTS[precision]}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    compiled = ov.Core().compile_model(path, "CPU", config)
    used = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    threads_used = int(compiled.get_property("INFERENCE_NUM_THREADS"))
    request = compiled.create_infer_request()

    def run(x: Any) -> Any:
        request.infer({0: x}, share_inputs=True)
        return request.get_output_tensor(0).data

    settings = ", ".join(f"{k}={v}" for k, v in config.items())
    return Loaded(
        run, f"openvino {ov.__version__.split('-')[0]}", _NAMES.get(used, used), threads_used, settings
    )
