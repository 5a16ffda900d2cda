"""Tasks: what ``archbench run --tasks ...`` can measure, as plug-ins of the runner.

A :class:`Task` expands the run settings into measurement *units* (latency: one per backend and batch
size; params: one per model) and measures one unit for one model, returning a flat ``result`` dict (or
several). The runner stores each unit's rows with the unit's settings, so a rerun can skip units
already measured with the same settings. Add a task with :func:`register_task`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError
from .registry import ModelSpec


@dataclass(frozen=True)
class RunSettings:
    """Options of one ``archbench run``; each task picks the ones that define its measurement."""

    input_size: int | None = None
    backends: tuple[str, ...] = ("tensorflow",)
    batches: tuple[int, ...] = (1,)
    device: str = "auto"
    dtype: str = "float32"
    min_time_s: float = 1.0
    dataset: str = "digits"
    data_dir: str | None = None
    weights: str | None = None
    train_epochs: int = 0


@dataclass
class TaskContext:
    """What a task sees for one unit: the spec, a lazily built model, the unit and the run settings."""

    spec: ModelSpec
    unit: dict[str, Any]
    settings: RunSettings
    _model_factory: Callable[[], Any] = field(repr=False)
    out_dir: str | None = None

    def model(self) -> Any:
        return self._model_factory()

    def build_kwargs(self) -> dict[str, Any]:
        """keras.applications kwargs for the run's input size (default: the spec's)."""
        if self.settings.input_size is None:
            return {}
        h = self.settings.input_size
        return {"input_shape": (h, h, self.spec.input_shape[2])}


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    measure: Callable[[TaskContext], dict[str, Any] | list[dict[str, Any]]]
    units: Callable[[RunSettings], list[dict[str, Any]]] = lambda s: [{"input_size": s.input_size}]


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in TASKS:
        raise UsageError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def resolve_tasks(names: str | list[str]) -> list[Task]:
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    items = [n for n in items if n]
    if not items:
        raise UsageError("no task given")
    unknown = [n for n in items if n not in TASKS]
    if unknown:
        raise UsageError(f"unknown task {unknown[0]!r}; available: {', '.join(TASKS)}")
    return [TASKS[n] for n in dict.fromkeys(items)]


def _params(ctx: TaskContext) -> dict[str, Any]:
    from .params import count_params

    model = ctx.model()
    counts = count_params(model)
    return {"input_shape": tuple(int(d) for d in model.input_shape[1:]), **_prefixed("params", counts.as_dict())}


def _prefixed(prefix: str, d: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in d.items()}


register_task(Task("params", "parameter counts: total, trainable, non-trainable, paper-equivalent", _params))


def _macs(ctx: TaskContext) -> dict[str, Any]:
    """Totals into the row; the per-layer table into ``<out>/layers/<model>.csv`` for the report."""
    import time

    from .counting import count
    from .store import write_csv_atomic

    start = time.perf_counter()
    complexity = count(ctx.model())
    row = {**complexity.totals(), "count_seconds": round(time.perf_counter() - start, 4)}
    row.pop("model", None)
    if ctx.out_dir is not None:
        folder = os.path.join(ctx.out_dir, "layers")
        os.makedirs(folder, exist_ok=True)
        write_csv_atomic(os.path.join(folder, ctx.spec.name.replace("/", "__") + ".csv"), complexity.rows())
    return row


register_task(Task("macs", "multiply-adds (MACs), FLOPs = 2 x MACs, other ops, depth, receptive field", _macs))


def _accuracy_units(s: RunSettings) -> list[dict[str, Any]]:
    return [{"dataset": s.dataset, "data_dir": s.data_dir, "weights": s.weights,
             "train_epochs": s.train_epochs, "input_size": s.input_size}]


def _accuracy(ctx: TaskContext) -> list[dict[str, Any]]:
    from .evaluate import accuracy_rows

    u = ctx.unit
    rows = accuracy_rows(ctx.spec.name, ctx.spec, dataset=u["dataset"], data_dir=u["data_dir"],
                         weights=u["weights"], train_epochs=u["train_epochs"], image_size=u["input_size"])
    for row in rows:
        row.pop("model", None)
    return rows


register_task(Task("accuracy", "top-1/top-5 on a local dataset (trains first with --train-epochs)", _accuracy,
                   units=_accuracy_units))


def _latency_units(s: RunSettings) -> list[dict[str, Any]]:
    return [{"backend": b, "batch_size": n, "dtype": s.dtype, "device": s.device, "input_size": s.input_size,
             "min_time_s": s.min_time_s} for b in s.backends for n in s.batches]


def _latency(ctx: TaskContext) -> list[dict[str, Any]]:
    """Compiled inference latency. The runner's own backend is timed in this process on the model the
    other tasks already built; any other backend in a subprocess of its own (Keras fixes the backend at
    import), through :func:`archbench.benchmark.latency_rows`."""
    import keras

    from .benchmark import LatencyConfig, latency_rows, measure, normalize_backend
    from .environment import environment

    u = ctx.unit
    backend = normalize_backend(u["backend"])
    if backend == keras.backend.backend():
        from .counting import count

        model = ctx.model()
        config = LatencyConfig(backend=backend, device=u["device"], dtype=u["dtype"], batch_size=u["batch_size"],
                               min_time_s=u["min_time_s"])
        row = measure(model, config, name=ctx.spec.name, macs=count(model).macs).as_row()
        env = environment()
    else:
        row = latency_rows(ctx.spec.name, ctx.spec, backends=(backend,), batches=(u["batch_size"],),
                           dtype=u["dtype"], device=u["device"], input_size=u["input_size"],
                           min_time_s=u["min_time_s"])[0]
        keys = set(environment())
        env = {k: row[k] for k in keys if k in row}
        row = {k: v for k, v in row.items() if k not in keys or k in ("backend", "device", "device_type", "device_name")}
    row.pop("model", None)
    row["error"] = row.pop("message", "")
    row["env"] = env
    return [row]


register_task(Task("latency", "compiled inference latency per backend and batch size (never eager/predict)",
                   _latency, units=_latency_units))
