"""The terminal report of ``archbench bench``: the statistics table and a text histogram of one row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..benchmark.timing import percentile


def text_histogram(samples_ms: Sequence[float], *, bins: int = 12, width: int = 40) -> str:
    """Per-iteration latencies as text bars, one line per bin: ``  52.10 -  52.35 ms | ###### 14``.

    With 20 samples or more the bins span min..p99 and slower outliers are counted on a last line.
    """
    if not samples_ms:
        return "(no samples)"
    s = sorted(samples_ms)
    lo, hi = s[0], s[-1]
    if len(s) >= 20:
        hi = percentile(s, 99)
    if hi == lo:
        return f"{lo:9.3f} ms | {'#' * width} {len(s)}"
    bins = max(1, min(bins, len(s)))
    step = (hi - lo) / bins
    counts = [0] * bins
    over = 0
    for v in s:
        if v > hi:
            over += 1
        else:
            counts[min(int((v - lo) / step), bins - 1)] += 1
    top = max(counts)
    lines = []
    for i, c in enumerate(counts):
        bar = "#" * (max(1, round(width * c / top)) if c else 0)
        lines.append(f"{lo + i * step:9.3f} - {lo + (i + 1) * step:9.3f} ms | {bar} {c}")
    if over:
        lines.append(f"{'':>9}   {'> ' + format(hi, '.3f'):>9} ms | {over} slower (up to {s[-1]:.3f} ms)")
    return "\n".join(lines)


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def format_report(row: Mapping[str, Any]) -> str:
    """The stats table and histogram of one row from :func:`archbench.benchmark.bench` (for the terminal)."""
    head = [
        ("model", row.get("model")),
        ("status", row.get("status") + (f" ({row['message']})" if row.get("message") else "")),
        ("backend / path", f"{row.get('backend')} / {row.get('path') or '-'}"),
        ("device", f"{row.get('device') or '-'} (requested: {row.get('device_requested')})"),
        ("dtype policy", row.get("dtype_policy") or row.get("dtype")),
        ("input", f"{row.get('batch_size')} x {row.get('input_shape') or row.get('input_size')}"),
        ("first call (trace+compile)", f"{_fmt(row.get('first_call_ms'), '.1f')} ms"),
        (
            "warm-up / measured",
            f"{row.get('warmup_iterations')} / {row.get('iterations')} iterations, "
            f"{_fmt(row.get('measured_s'), '.2f')} s",
        ),
    ]
    stats = [
        (k.removesuffix("_ms"), _fmt(row.get(k)) + " ms")
        for k in ("median_ms", "mean_ms", "min_ms", "p90_ms", "p99_ms", "max_ms", "iqr_ms", "std_ms")
    ]
    derived = [
        ("images/s", _fmt(row.get("images_per_s"), ".1f")),
        ("MACs / image", _fmt(row.get("macs"))),
        ("GFLOP/s (2 x MACs)", _fmt(row.get("gflops_per_s"), ".1f")),
        ("fraction of peak", _fraction_of_peak(row)),
        ("notes", row.get("notes") or "-"),
    ]
    width = max(len(k) for k, _ in head + stats + derived)
    lines = [f"{k:<{width}}  {v}" for k, v in head + stats + derived]
    if row.get("samples_ms"):
        lines += ["", "per-iteration latency:", text_histogram(row["samples_ms"])]
    return "\n".join(lines)


def _fraction_of_peak(row: Mapping[str, Any]) -> str:
    """``fraction_of_peak`` against the peak this machine has cached for the row's device and dtype (or
    its datasheet figure), with the peak's source; nothing is measured here."""
    from ..benchmark.machine_peaks import peaks_for_row
    from ..roofline import roofline_columns

    if row.get("status") != "ok":
        return "-"
    roof = roofline_columns(row, peaks_for_row(row, measure=False))
    if roof["fraction_of_peak"] is None:
        return f"- ({roof['roofline_reason']})"
    return f"{roof['fraction_of_peak']:.3%}  (of {roof['peak_flops_per_s'] / 1e9:,.1f} GFLOP/s, {roof['peak_source']})"
