"""Where one latency row stands against its device's limits: effective FLOP/s, the fraction of the peak,
the arithmetic intensity and the bound it implies (compute, memory or per-call overhead).

Pure arithmetic on a row's columns; nothing here imports a framework. The peak comes from
:mod:`archbench.benchmark.machine_peaks` as a :class:`Peak`: measured on this machine by the peak probes
where it can be, else the datasheet figure of :mod:`archbench.benchmark.peaks`. A row has one set of
peak columns whichever it is: ``peak_flops_per_s``, ``peak_bandwidth_bytes_per_s``, ``peak_source``
(``measured (matmul probe)``, ``measured (conv probe)`` or ``datasheet: <device>``) and ``peak_method``.

Conventions
-----------
- FLOPs = 2 × ``macs`` × ``batch_size`` (``macs`` is per image; 1 MAC = one multiply-add = 2 FLOPs).
  ``flops_per_s`` = FLOPs / ``median_ms``; ``fraction_of_peak`` = ``flops_per_s`` / the peak FLOP/s of
  the row's device and compute dtype. The FLOPs are the direct count: a kernel that multiplies less
  (Winograd, FFT convolutions) can exceed a fraction of 1.
- Bytes moved = weights read once per batch + activations written once and read once:
  ``mem_params_mb`` × 1e6 + 2 × ``mem_activations_mb`` × 1e6, from the analytic memory columns (the
  weights' bytes; the counter's peak of live activations at the row's batch size). It is the least
  traffic a forward pass needs, so ``arithmetic_intensity`` = FLOPs / bytes is an upper bound.
- ``compute_time_ms`` = FLOPs / peak FLOP/s, ``traffic_time_ms`` = bytes / peak bandwidth: the times
  the two roofs allow. ``bound`` is ``overhead`` when ``median_ms`` is more than
  :data:`OVERHEAD_FACTOR` times the larger of the two (the row reaches under 1/10 of its roof:
  dispatch, launches and small kernels dominate), else ``compute`` when ``compute_time_ms`` ≥
  ``traffic_time_ms``, else ``memory``.
- A figure that cannot be computed (a failed row, a missing column, no peak for the device and dtype)
  is ``None`` and ``roofline_reason`` says why; nothing is estimated in its place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .errors import UsageError

__all__ = ["COLUMNS", "MB", "OVERHEAD_FACTOR", "Peak", "compute_dtype", "roofline_columns"]

OVERHEAD_FACTOR = 10.0
"""A row more than this many times slower than its roof (max of compute and traffic time) is overhead-bound."""

MB = 1e6
COLUMNS = (
    "flops_per_s",
    "peak_flops_per_s",
    "peak_bandwidth_bytes_per_s",
    "peak_source",
    "peak_method",
    "fraction_of_peak",
    "arithmetic_intensity",
    "compute_time_ms",
    "traffic_time_ms",
    "bound",
    "roofline_reason",
)
"""The columns :func:`roofline_columns` returns, in order."""


@dataclass(frozen=True)
class Peak:
    """The limits of one device for one compute dtype.

    ``flops_per_s`` is the attainable arithmetic rate, ``bandwidth_bytes_per_s`` the memory bandwidth;
    ``peak_source`` is ``measured (<probe> probe)`` (timed on this machine, ``method`` says how) or
    ``datasheet: <device>`` (the figure of :mod:`archbench.benchmark.peaks`, ``method`` its source; no
    bandwidth). A measured ``flops_per_s`` is the higher of two probes, ``matmul_flops_per_s`` (a matrix product of ``matmul_n``) and ``conv_flops_per_s``
    (a 3×3 convolution of ``conv_shape``); ``peak_probe`` names the one that gave it. ``spec_flops_per_s`` is the
    datasheet figure beside a measured one, where known. ``load_before``/``load_after`` are the 1-minute
    load averages around a measurement and ``busy`` whether the machine counted as busy then
    (:mod:`archbench.benchmark.load`); ``runs`` how many measurements the figures are the highest of.
    ``reason`` says why a figure is ``None``.
    """

    device: str
    device_type: str
    device_name: str
    dtype: str
    flops_per_s: float | None
    bandwidth_bytes_per_s: float | None
    peak_source: str
    method: str = ""
    backend: str = ""
    spec_flops_per_s: float | None = None
    spec_source: str | None = None
    matmul_n: int | None = None
    matmul_flops_per_s: float | None = None
    conv_flops_per_s: float | None = None
    conv_shape: str | None = None
    peak_probe: str | None = None
    measured_at: str = ""
    load_before: float | None = None
    load_after: float | None = None
    busy: bool | None = None
    runs: int = 1
    cached: bool = False
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Peak:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def compute_dtype(dtype: Any) -> str | None:
    """The compute dtype of a row's ``dtype`` (a Keras dtype policy): ``mixed_bfloat16`` -> ``bfloat16``."""
    if _missing(dtype):
        return None
    return str(dtype).strip().removeprefix("mixed_") or None


def roofline_columns(row: Mapping[str, Any], peaks: Peak | Mapping[str, Any] | None) -> dict[str, Any]:
    """The roofline columns (:data:`COLUMNS`) of one latency row, against ``peaks`` (its device's
    :class:`Peak`, a dict of the same fields, or ``None``). See the module docstring for the conventions."""
    if not isinstance(row, Mapping):
        raise UsageError(f"roofline_columns: row must map column names to values, got {type(row).__name__}")
    if isinstance(peaks, Mapping):
        peaks = Peak.from_dict(peaks)
    elif peaks is not None and not isinstance(peaks, Peak):
        raise UsageError(
            f"roofline_columns: peaks must be a Peak, a dict of its fields or None, got {type(peaks).__name__}"
        )
    out: dict[str, Any] = dict.fromkeys(COLUMNS)
    reasons: list[str] = []
    if row.get("status") != "ok":
        out["roofline_reason"] = f"status {row.get('status')!r}, not ok"
        return out
    numeric = ("macs", "batch_size", "median_ms", "mem_params_mb", "mem_activations_mb")
    reasons += [
        f"{c} {row[c]!r} is not a number"
        for c in numeric
        if not _missing(row.get(c)) and _number(row, c) is None
    ]
    macs, batch, ms = (_number(row, c) for c in ("macs", "batch_size", "median_ms"))
    flops = None
    if macs is None or batch is None or ms is None:
        reasons.append("no " + "/".join(c for c, v in (("macs", macs), ("batch_size", batch), ("median_ms", ms))
                                        if v is None))  # fmt: skip
    elif ms <= 0:
        reasons.append(f"median_ms {ms} is not positive")
    else:
        flops = 2.0 * macs * batch
        out["flops_per_s"] = flops / (ms / 1e3)
    params_mb, act_mb = _number(row, "mem_params_mb"), _number(row, "mem_activations_mb")
    moved = None if params_mb is None or act_mb is None else (params_mb + 2.0 * act_mb) * MB
    if moved is None:
        reasons.append("no mem_params_mb/mem_activations_mb (bytes moved unknown)")
    elif flops is not None and moved > 0:
        out["arithmetic_intensity"] = flops / moved
    peak_flops = bandwidth = None
    if peaks is None:
        reasons.append(
            f"no peak known for {row.get('device_type')} {row.get('device_name')} {row.get('dtype')}"
        )
    else:
        peak_flops, bandwidth = _positive(peaks.flops_per_s), _positive(peaks.bandwidth_bytes_per_s)
        out.update(peak_flops_per_s=peak_flops, peak_bandwidth_bytes_per_s=bandwidth,
                   peak_source=peaks.peak_source or None, peak_method=peaks.method or None)  # fmt: skip
        if peaks.reason:
            reasons.append(peaks.reason)
        elif peak_flops is None or bandwidth is None:
            reasons.append(f"no {'peak FLOP/s' if peak_flops is None else 'bandwidth'} for this device")
    if flops is not None and peak_flops is not None:
        out["fraction_of_peak"] = out["flops_per_s"] / peak_flops
        out["compute_time_ms"] = flops / peak_flops * 1e3
    if moved is not None and bandwidth is not None:
        out["traffic_time_ms"] = moved / bandwidth * 1e3
    compute, traffic = out["compute_time_ms"], out["traffic_time_ms"]
    if compute is not None and traffic is not None and ms is not None:
        roof = max(compute, traffic)
        out["bound"] = (
            "overhead" if ms > OVERHEAD_FACTOR * roof else "compute" if compute >= traffic else "memory"
        )
    out["roofline_reason"] = "; ".join(reasons)
    return out


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "none")


def _number(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    if _missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    if _missing(value):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None
