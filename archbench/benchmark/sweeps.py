"""The sweep: one model under several configs, through one way of running it (a target), in this process.

Every way of running a model is timed here the same way (:mod:`archbench.benchmark.targets`): the
target builds, prepares and describes; this module stamps memory around the build and the timed
window, times the prepared call (:meth:`~archbench.benchmark.measure.PreparedInference.measure`), adds
the analytic figures and the compile cache's state, and records any failure as the config's result.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import UsageError
from . import caches
from .config import LatencyConfig, active_backend
from .load import LoadMonitor
from .protocol import Failure
from .result import LatencyResult, short_message
from .targets import TargetFailed, Way, make_target

__all__ = ["sweep"]


def sweep(
    model: str,
    configs: Iterable[LatencyConfig],
    *,
    target: Any = None,
    macs: int | None = None,
    on_result: Callable[[LatencyResult], Any] | None = None,
    load: LoadMonitor | None = None,
    memory: str | None = None,
) -> list[LatencyResult]:
    """Time one model under several configs in this process through one ``target`` (a
    :class:`archbench.benchmark.targets.Target`; default: the Keras model on the active backend),
    going on after an out-of-memory or other failure, which is recorded in that config's result.

    The target builds the model once per :meth:`~archbench.benchmark.targets.Target.build_key` (the
    Keras model: per dtype, input size and device, reused across batch sizes). ``macs`` (per image)
    is counted with :mod:`archbench.counting` when not given and the target can (Keras), as are the
    analytic parameter and activation bytes. Every result carries the target's columns (framework,
    runtime, mode, versions and its own).

    ``memory`` (a description of the process, e.g. ``"fresh process per unit"``) turns on measured
    memory: a :func:`memory_probe` stamps the process before each build, after it, and its peak
    while each config is compiled and timed. Its baseline is honest only if nothing of an earlier
    model is still held, so callers ask for it in a process of their own.
    """
    if target is None:
        target = make_target(Way("keras", active_backend()))
    monitor = load if load is not None else LoadMonitor()
    results: list[LatencyResult] = []
    built_key, built, analytic, probe, windows = None, None, None, None, 0
    for config in configs:
        resolved = target.resolve(config)
        prepared = None
        try:
            if resolved.backend != target.backend:
                raise UsageError(
                    f"backend {resolved.backend!r} is not the active one ({target.backend!r}); "
                    "use measure_in_subprocess"
                )
            key = target.build_key(resolved)
            if key != built_key:
                built, analytic, built_key = None, None, None
                probe, windows = (target.memory_probe(resolved) if memory else None), 0
                if probe is not None:
                    probe.mark_baseline()
                built = target.build(model, resolved)
                if probe is not None:
                    probe.mark_built()
                built_key = key
            entries = caches.count_entries(target.backend, resolved.compile_cache)
            with probe.inference() if probe is not None else contextlib.nullcontext():
                prepared = target.prepare(built, resolved, model)
                result = prepared.measure(macs=macs, load=monitor)
            after = caches.count_entries(target.backend, resolved.compile_cache)
            context = memory or ""
            if windows:
                context += f"; after {windows} earlier config(s) of this model in the same process"
            windows += 1
            if analytic is None:
                analytic = target.analytic(built, prepared.config, tuple(result.input_shape))
            per_image = analytic.activation_bytes_per_image
            counted = macs if macs is not None else analytic.macs
            result = dataclasses.replace(
                result,
                macs=counted,
                memory=probe.record() if probe is not None else None,
                memory_context=context,
                params_bytes=analytic.params_bytes,
                activation_bytes=None if per_image is None else per_image * resolved.batch_size,
                columns={
                    **target.columns(prepared, result),
                    "compile_cache": caches.row_value(target.backend, resolved.compile_cache),
                    "compile_cache_warm": None if entries is None else after == entries,
                    "macs_source": None if counted is None else target.macs_source(model),
                },
            )
        except Exception as exc:
            failure = Failure.of(exc)
            if failure.status == "oom":
                built_key, built = None, None
            failed = isinstance(exc, TargetFailed)
            result = LatencyResult(
                model=model,
                config=resolved,
                status=exc.status if failed else failure.status,
                message=str(exc) if failed else short_message(exc),
                backend=target.backend,
                failure=None if failed else failure,
                columns={**_safe_columns(target, prepared), **(exc.columns if failed else {}),
                         **({"reason": exc.reason} if failed else {})},
            )
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _safe_columns(target: Any, prepared: Any) -> dict[str, Any]:
    """The target's columns for a failed row (what it can say before it failed)."""
    try:
        return target.columns(prepared)
    except Exception:  # a failed build leaves the target unable to describe itself: the row still says why
        return {}
