"""Measure a zoo model in a runtime: export and convert, each stage in a measuring process of its own,
then time the loaded artifact through the latency pipeline (the ``exported`` target)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from .base import CONFORMANCE_DRAWS, PRECISION_OF_DTYPE, normalize_runtime, parse_runtimes, route_for

__all__ = ["measure_runtime", "runtime_rows"]

# Modules each runtime's measuring process imports before it forks (what loading the artifact needs).
_PRELOAD = {"onnxruntime": ("onnxruntime",), "openvino": ("openvino",), "litert": ("ai_edge_litert.interpreter",)}
_EXPORT_PRELOAD = ("keras", "archbench.runtimes.exporting", "archbench.registry", "archbench.models")


def _precisions(runtime: str) -> tuple[str, ...]:
    from . import litert, onnx, openvino

    return {"onnxruntime": onnx.PRECISIONS, "openvino": openvino.PRECISIONS, "litert": litert.PRECISIONS}[
        runtime
    ]


def measure_runtime(
    model_name: str,
    runtime: str,
    config: Any,
    *,
    route: str | None = None,
    timeout_s: float = 900.0,
    launcher: Any = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """One row: ``model_name`` exported to ``runtime``, checked against Keras and timed under ``config``
    (a :class:`~archbench.benchmark.LatencyConfig`, passed whole: the stop rule, threads, batch size,
    input size and dtype are its).

    The export (and the route's conversion) run each in a measuring process of the one launcher, killed
    above its memory limit (``reason="memory"``) or after ``timeout_s`` (``"timeout"``); then the artifact
    is loaded, checked and timed in a third one (:mod:`archbench.benchmark.targets.exported`). The row
    has the columns of every latency row plus the export's (``export_format``, ``export_route``,
    ``export_s``, ``export_peak_rss_mb``, ``precision``, ``threads_used``, ``runtime_settings``,
    ``load_s``, the conformance figures); ``status`` is ``ok``, ``failed`` (``reason``: ``conformance``,
    ``precision``, ``memory``, ``timeout``, ``export``, ``convert``) or ``skipped`` (``reason``: ``not
    installed`` or ``dtype``). Bad arguments raise UsageError.
    """
    from ..benchmark.launcher import ProcessKind, launcher_for
    from ..benchmark.processes import error_record, measure_in_subprocess
    from ..benchmark.targets import Way
    from ..registry import get_spec
    from .base import missing_requirement

    runtime = normalize_runtime(runtime)
    spec = get_spec(model_name)
    chosen = route_for(runtime, route)
    config = config.replace(backend="tensorflow")
    base = {"framework": "archbench", "runtime": runtime, "mode": chosen.name, "export_format": chosen.export_format,
            "export_route": chosen.description}
    missing = missing_requirement(chosen)
    precision = PRECISION_OF_DTYPE[config.dtype]
    if missing:
        return {**error_record(spec.name, config, missing, status="skipped").row, **base, "reason": "not installed"}
    if precision not in _precisions(runtime):
        why = f"{runtime} is measured in float32 only"
        return {**error_record(spec.name, config, why, status="skipped").row, **base, "reason": "dtype"}
    launcher = launcher or launcher_for(python)
    with tempfile.TemporaryDirectory(prefix="archbench-runtime-") as work:
        job = {"model": spec.name, "runtime": runtime, "route": chosen.name, "batch_size": config.batch_size,
               "input_size": config.input_size, "seed": config.seed, "draws": CONFORMANCE_DRAWS, "work": work}
        figures: dict[str, Any] = {"export_s": 0.0, "export_peak_rss_mb": None}
        stages = [("export", ProcessKind("runtime-export", (("KERAS_BACKEND", "tensorflow"),), _EXPORT_PRELOAD))]
        if chosen.convert:
            stages.append(("convert", ProcessKind("runtime-convert", tuple(chosen.convert_env.items()), fork=False)))
        for stage, kind in stages:
            got = launcher.run(kind, {**job, "stage": stage}, timeout_s=timeout_s)
            result = got.records[0].row if got.records else {}
            figures["export_peak_rss_mb"] = max(figures["export_peak_rss_mb"] or 0.0, got.peak_rss_mb or 0.0)
            figures["export_s"] += result.get("export_s", 0.0) + result.get("convert_s", 0.0)
            if "input_shape" in result:
                figures["input_shape"] = result["input_shape"]
            if got.stopped or not result.get("ok"):
                reason = got.reason if got.reason in ("memory", "timeout") else stage
                error = f"{stage} failed: {result['error']}" if result.get("error") else f"{stage} {got.stopped}"
                row = error_record(spec.name, config, error, status="failed").row
                return {**row, **base, **figures, "reason": reason, "memory_limit_mb": launcher.memory_limit_mb}
        way = Way("exported", "tensorflow", runtime, {
            **base, **figures, "work": work, "route": chosen.name, "artifact": chosen.artifact,
            "preload": list(_PRELOAD[runtime]), "env": {},
        })
        (row,) = measure_in_subprocess(spec.name, config, timeout_s, way=way, memory=True, launcher=launcher)
    row["memory_limit_mb"] = launcher.memory_limit_mb
    return row


def runtime_rows(
    models: str | Iterable[str],
    runtimes: str | Iterable[str],
    config: Any,
    *,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    **settings: Any,
) -> list[dict[str, Any]]:
    """:func:`measure_runtime` for every model (a name, a comma-separated list, globs, ``all``) and
    runtime, models first; ``settings`` are its keyword arguments; ``on_row`` sees each row."""
    from ..registry import resolve

    names = resolve(models) if isinstance(models, str) else list(models)
    rows = []
    for name in names:
        for runtime in parse_runtimes(runtimes):
            row = measure_runtime(name, runtime, config, **settings)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows
