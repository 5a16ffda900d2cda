"""Measure a zoo model in a runtime: export, convert and run, each stage in a guarded child process."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from .base import (
    CONFORMANCE_DRAWS,
    PRECISION_OF_DTYPE,
    ROW_FIELDS,
    Route,
    missing_requirement,
    normalize_runtime,
    parse_runtimes,
    route_for,
)
from .guard import run_guarded

__all__ = ["DEFAULT_MEMORY_LIMIT_MB", "measure_runtime", "runtime_rows"]

DEFAULT_MEMORY_LIMIT_MB = 16 * 1024
"""Resident-memory limit of each stage (16 GB: two thirds of the 24 GB development machine)."""

_CHILD = "import sys; from archbench.runtimes.child import main; sys.exit(main(sys.argv[1:]))"
_CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def _precisions(runtime: str) -> tuple[str, ...]:
    from . import litert, onnx, openvino

    return {"onnxruntime": onnx.PRECISIONS, "openvino": openvino.PRECISIONS, "litert": litert.PRECISIONS}[
        runtime
    ]


def _config(dtype: str, batch: int, input_size: int | None, threads: int | None, **timer: Any) -> Any:
    """The timer's settings, validated by :class:`archbench.benchmark.LatencyConfig` (UsageError)."""
    from ..benchmark import LatencyConfig

    return LatencyConfig(dtype=dtype, batch_size=batch, input_size=input_size, threads=threads, **timer)


def measure_runtime(
    model_name: str,
    runtime: str,
    *,
    batch: int = 1,
    input_size: int | None = None,
    dtype: str = "float32",
    threads: int | None = None,
    route: str | None = None,
    warmup: int = 3,
    min_iterations: int = 10,
    min_time_s: float = 1.0,
    max_iterations: int = 10_000,
    timeout_s: float = 900.0,
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB,
    seed: int = 0,
    python: str = sys.executable,
) -> dict[str, Any]:
    """One row: ``model_name`` exported to ``runtime``, checked against Keras and timed.

    ``runtime="keras"`` times the Keras model itself through :func:`archbench.benchmark.latency_rows`
    (the backend of ``KERAS_BACKEND``, TensorFlow by default; XLA-compiled). Other runtimes go through
    their ``route`` (:data:`archbench.runtimes.ROUTES`; ``None`` is the default one) in up to three
    child processes, export, convert and run, each killed above ``memory_limit_mb`` resident or after
    ``timeout_s``. ``threads=None`` is the runtime's default thread count (LiteRT: every core).

    The row has the columns of :data:`archbench.runtimes.ROW_FIELDS`; ``status`` is ``"ok"``,
    ``"failed"`` (``reason``: ``conformance``, ``precision``, ``memory``, ``timeout``, ``export``,
    ``convert`` or ``run``; ``error``: one line) or ``"skipped"`` (``reason``: ``not installed`` or
    ``dtype``). Bad arguments (unknown model, runtime or route, a bad setting) raise UsageError.
    """
    from ..registry import get_spec

    runtime = normalize_runtime(runtime)
    get_spec(model_name)
    timer = {
        "warmup": warmup,
        "min_iterations": min_iterations,
        "min_time_s": min_time_s,
        "max_iterations": max_iterations,
    }
    _config(dtype, batch, input_size, threads, **timer)
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row.update(
        model=model_name,
        runtime=runtime,
        dtype=dtype,
        threads=threads,
        batch_size=batch,
        memory_limit_mb=memory_limit_mb,
        **timer,
    )
    if runtime == "keras":
        return _keras_row(row, input_size=input_size, timeout_s=timeout_s)
    chosen = route_for(runtime, route)
    row.update(export_format=chosen.export_format, export_route=chosen.description)
    missing = missing_requirement(chosen)
    precision = PRECISION_OF_DTYPE[dtype]
    if missing:
        return {**row, "status": "skipped", "reason": "not installed", "error": missing}
    if precision not in _precisions(runtime):
        return {
            **row,
            "status": "skipped",
            "reason": "dtype",
            "error": f"{runtime} is measured in float32 only",
        }

    job = {
        "model": model_name,
        "runtime": runtime,
        "route": chosen.name,
        "batch_size": batch,
        "input_size": input_size,
        "dtype": dtype,
        "precision": precision,
        "threads": threads,
        "seed": seed,
        "draws": CONFORMANCE_DRAWS,
        **timer,
    }
    return _run_stages(row, job, chosen, python=python, memory_limit_mb=memory_limit_mb, timeout_s=timeout_s)


def _run_stages(
    row: dict[str, Any],
    job: dict[str, Any],
    route: Route,
    *,
    python: str,
    memory_limit_mb: float,
    timeout_s: float,
) -> dict[str, Any]:
    """Export, convert (when the route has a converter) and run, each in a guarded child process
    sharing one temporary work directory; the first failure ends the row."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    for key, value in _CHILD_ENV.items():
        env.setdefault(key, value)
    stages = ["export"] + (["convert"] if route.convert else []) + ["run"]
    with tempfile.TemporaryDirectory(prefix="archbench-runtime-") as work:
        with open(os.path.join(work, "job.json"), "w", encoding="utf-8") as f:
            json.dump(job, f)
        for stage in stages:
            guarded = run_guarded(
                [python, "-c", _CHILD, "--stage", stage, "--work", work],
                memory_limit_mb=memory_limit_mb,
                timeout_s=timeout_s,
                env={**env, **route.convert_env} if stage == "convert" else env,
            )
            result = _read(os.path.join(work, f"{stage}.json"))
            if stage == "run":
                row["run_peak_rss_mb"] = guarded.peak_rss_mb
            elif guarded.peak_rss_mb is not None:
                row["export_peak_rss_mb"] = max(row["export_peak_rss_mb"] or 0.0, guarded.peak_rss_mb)
            for key in ("export_s", "convert_s"):
                if key in result:
                    row["export_s"] = (row["export_s"] or 0.0) + result.pop(key)
            if guarded.failure is not None:
                if guarded.reason == "exit" and result.get("error"):
                    error = f"{stage} failed: {result['error']}"
                else:
                    error = f"{stage} {guarded.failure}"
                reason = guarded.reason if guarded.reason in ("memory", "timeout") else stage
                return {**row, "status": "failed", "reason": reason, "error": error}
            row.update(result)
    return row


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return {}


def _keras_row(row: dict[str, Any], *, input_size: int | None, timeout_s: float) -> dict[str, Any]:
    """The Keras model itself, timed by archbench's latency path in its own process."""
    from ..benchmark import latency_rows

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    got = latency_rows(
        row["model"],
        backends=(backend,),
        batches=(row["batch_size"],),
        dtype=row["dtype"],
        input_size=input_size,
        threads=row["threads"],
        warmup=row["warmup"],
        min_iterations=row["min_iterations"],
        min_time_s=row["min_time_s"],
        max_iterations=row["max_iterations"],
        timeout_s=timeout_s,
    )[0]
    backend = got.get("backend") or backend
    versions = f"keras {got.get('keras_version')}, {backend} {got.get(f'{backend}_version')}"
    ok = got.get("status") == "ok"
    out = {
        **row,
        "status": "ok" if ok else "failed",
        "reason": "" if ok else {"oom": "memory"}.get(got.get("status"), "run"),
        "error": got.get("message") or "",
        "runtime_version": versions,
        "export_route": f"none: the Keras model ({got.get('path') or backend}), timed by archbench.benchmark",
        "precision": PRECISION_OF_DTYPE[row["dtype"]],
        "threads_used": got.get("intra_op_threads") or None,
        "input_shape": got.get("input_shape"),
    }
    for key in ROW_FIELDS:
        if key in ("first_call_ms", "warmup_iterations", "measured_s", "iterations", "images_per_s") or (
            key.endswith("_ms") and key in got
        ):
            out[key] = got.get(key)
    return out


def runtime_rows(
    models: str | Iterable[str],
    runtimes: str | Iterable[str],
    *,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    **settings: Any,
) -> list[dict[str, Any]]:
    """:func:`measure_runtime` for every model (a name, a comma-separated list, globs, ``all``) and
    runtime, models first; ``settings`` are its keyword arguments; ``on_row`` sees each row."""
    from ..registry import resolve

    names = resolve(models) if isinstance(models, str) else list(models)
    chosen = parse_runtimes(runtimes)
    rows = []
    for name in names:
        for runtime in chosen:
            row = measure_runtime(name, runtime, **settings)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows
