"""Datasheet peak throughput of accelerators, each with its source: the figure a row's
``fraction_of_peak`` is taken against where no measured peak is at hand (``peak_source`` =
``datasheet: <device>``; :mod:`archbench.benchmark.machine_peaks`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePeak:
    """Dense peak throughput of one accelerator, in TFLOP/s by compute dtype, with its source."""

    match: str
    tflops: Mapping[str, float]
    source: str
    name: str = ""
    """The device as its datasheet names it (a row's ``peak_source`` is ``datasheet: <name>``)."""


_HOPPER_SOURCE = (
    "NVIDIA {} SXM datasheet via REFERENCES.md: dense (no sparsity) BF16/FP16 989 TFLOP/s, FP32 67 "
    "TFLOP/s; float32 matmuls that run as TF32 on tensor cores (the JAX/TF default) can exceed the FP32 figure"
)
PEAKS: tuple[DevicePeak, ...] = (
    DevicePeak(
        "H200",
        {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
        _HOPPER_SOURCE.format("H200"),
        "NVIDIA H200 SXM",
    ),
    DevicePeak(
        "H100 80GB HBM3",
        {"bfloat16": 989.0, "float16": 989.0, "float32": 67.0},
        _HOPPER_SOURCE.format("H100"),
        "NVIDIA H100 SXM",
    ),
)


def datasheet_peak(device_name: str, compute_dtype: str) -> DevicePeak | None:
    """The datasheet entry of a GPU name as the framework reports it, where it has ``compute_dtype``."""
    for peak in PEAKS:
        if peak.match.lower() in device_name.lower() and compute_dtype in peak.tflops:
            return peak
    return None


def peak_for(device_name: str, compute_dtype: str) -> tuple[float | None, str | None]:
    """``(peak TFLOP/s, source)`` for a GPU name as the framework reports it, or ``(None, None)``."""
    peak = datasheet_peak(device_name, compute_dtype)
    return (None, None) if peak is None else (peak.tflops[compute_dtype], peak.source)
