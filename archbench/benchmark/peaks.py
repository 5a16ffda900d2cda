"""Dense peak throughput of the accelerators archbench reports MFU for, each with its source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
