"""Measuring in processes of their own, through the one launcher, for every way of running a model.

:func:`measure_way` is the one call for a model under a config through any way (the Keras model,
a torchvision peer, an exported runtime; inference or a training step): the way's target says why it
does not apply (a ``skipped`` row) and which stages run first (export, conversion, archbench's count),
then the model is timed. :func:`measure_in_subprocess` times models under configs through a :class:`~archbench.benchmark.targets.Way`
(default: the Keras model on each config's backend) in measuring processes started by
:class:`~archbench.benchmark.launcher.Launcher` and reads their rows back as they arrive (the line
format is :mod:`archbench.benchmark.protocol`); :func:`latency_rows` does that for several backends and
batch sizes; :func:`bench` is one detailed run, in this process when it can be.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError, UsageError
from .config import (
    LatencyConfig,
    backend_installed,
    configured_backend,
    not_installed_message,
)
from .launcher import Launched, Launcher, launcher_for
from .protocol import OUT_OF_MEMORY, Failure, Record
from .result import LatencyResult
from .sweeps import sweep
from .targets import Way, target_class

MEMORY_CONTEXT = "own process, baseline after the framework's import and before the build"


def error_record(model: str, config: LatencyConfig, message: str, *, oom: bool = False, backend: str = "",
                 status: str = "error") -> Record:
    """A failure the parent saw itself (not installed, crash, timeout, a process killed for memory): an
    untyped ``error`` row (or ``status``), or an ``oom`` row when ``oom``."""
    failure = Failure(OUT_OF_MEMORY, message) if oom else None
    result = LatencyResult(
        model=model,
        config=config,
        status="oom" if oom else status,
        message=message,
        backend=backend or config.backend or "",
        failure=failure,
    )
    return Record(result.as_row(), failure)


def measure_way(
    model: str,
    config: LatencyConfig,
    way: Way | None = None,
    timeout_s: float = 900.0,
    *,
    macs: int | None = None,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    python: str = sys.executable,
    model_files: Sequence[str] = (),
    launcher: Launcher | None = None,
) -> dict[str, Any]:
    """One row: ``model`` under ``config`` (a :class:`LatencyConfig`, passed whole) through ``way``
    (default: the Keras model on the config's backend), its memory measured in a process of its own.

    The way's target class answers first (:meth:`~archbench.benchmark.targets.Target.skip_reason`):
    where the way does not apply the row is ``skipped`` with its ``reason`` and nothing runs. Then its
    stages (:meth:`~archbench.benchmark.targets.Target.stages`) run in order, each in a measuring process
    of the launcher, sharing a temporary folder; one killed above the memory limit or after
    ``timeout_s`` gives a ``failed`` row (``reason`` ``memory`` or ``timeout``), one that failed by
    itself a ``failed`` row whose ``reason`` is the stage. Their figures reach the target in the way's
    ``staged`` option, and the model is timed (:func:`measure_in_subprocess`). ``macs`` (per image)
    replace the target's own count (the training step's, counted by the caller). Bad arguments raise
    :class:`UsageError`.
    """
    way = way or Way("keras", config.backend or configured_backend())
    cls = target_class(way)
    config = config.replace(backend=way.backend)
    launcher = launcher or launcher_for(python)

    def row_of(message: str, status: str, reason: str, stage_way: Way, **extra: Any) -> dict[str, Any]:
        row = {**error_record(model, config, message, status=status).row, **cls.describe(stage_way),
               "reason": reason, **extra}
        if on_row:
            on_row(row)
        return row

    skip = cls.skip_reason(way, model, config)
    if skip:
        return row_of(skip[1], "skipped", skip[0], way)
    with tempfile.TemporaryDirectory(prefix="archbench-way-") as work:
        staged: dict[str, Any] = {}
        for stage in cls.stages(way, model, config, work):
            got = launcher.run(stage.kind, {**stage.job, "stage": stage.name, "way": way.as_dict()},
                               timeout_s=timeout_s)  # fmt: skip
            result = dict(got.records[0].row) if got.records else {}
            staged.update({k: v for k, v in result.items() if k not in ("ok", "error")},
                          **{f"{stage.name}_peak_rss_mb": got.peak_rss_mb})
            if got.stopped or not result.get("ok"):
                reason = got.reason if got.reason in ("memory", "timeout") else stage.name
                error = f"{stage.name} failed: {result['error']}" if result.get("error") else f"{stage.name} {got.stopped}"
                failed = dataclasses.replace(way, options={**way.options, "staged": staged})
                return row_of(error, "failed", reason, failed, memory_limit_mb=launcher.memory_limit_mb)
        if staged:
            way = dataclasses.replace(way, options={**way.options, "work": work, "staged": staged})
        (row,) = measure_in_subprocess(model, config, timeout_s, way=way, macs=macs, samples=samples,
                                       on_row=on_row, memory=True, model_files=model_files, launcher=launcher)
    if staged:
        row["memory_limit_mb"] = launcher.memory_limit_mb
    return row


def _absolute_model(model: str) -> str:
    where, sep, attr = model.rpartition(":")
    if sep and where.endswith(".py"):
        return f"{os.path.abspath(where)}:{attr}"
    return model


def measure_in_subprocess(
    model: str | Sequence[str],
    configs: LatencyConfig | Sequence[LatencyConfig],
    timeout_s: float = 900.0,
    *,
    way: Way | None = None,
    macs: int | Mapping[str, int] | None = None,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    python: str = sys.executable,
    memory: bool = True,
    model_files: Sequence[str] = (),
    launcher: Launcher | None = None,
) -> list[dict[str, Any]]:
    """Time ``model`` under each config in measuring processes (one per way and thread setting, and
    per model with ``memory``).

    ``model`` is a registered name, ``module:function`` or ``file.py:function``, or a list of them.
    ``way`` is how the model runs (default: the Keras model on each config's backend, the configured
    one when a config names none). Returns one flat row per (model, config), models first, configs in
    the given order: :meth:`LatencyResult.as_row` merged over the process's
    :func:`archbench.environment.environment`, with ``isolation`` saying how the process was started.
    ``on_row(row)`` is called as each row arrives.

    A backend that is not installed, a crash or a model that runs past ``timeout_s`` without a result
    gives ``status="error"`` rows with the reason for that model; rows already finished are kept and a
    new process goes on with the next model. A process killed by ``SIGKILL`` that archbench did not send
    (the kernel's out-of-memory killer) or above the launcher's memory limit gives an ``oom`` row for
    the config it was measuring.

    ``memory`` measures each model's memory (:func:`~archbench.benchmark.sweeps.sweep`) in a process
    of its own, started for that model alone, so that its baseline holds nothing of another model;
    the configs of one model share it, in the given order (the row's ``mem_method`` says so).
    ``model_files`` are loaded by the process before it builds anything. ``launcher`` (default: this
    process's, :func:`~archbench.benchmark.launcher.shared_launcher`; one of its own for another
    ``python``) starts the processes.
    """
    records = _measure_records(
        model,
        configs,
        timeout_s,
        way=way,
        macs=macs,
        samples=samples,
        on_row=on_row,
        python=python,
        memory=memory,
        model_files=model_files,
        launcher=launcher,
    )
    return [r.row for r in records]


@dataclass(frozen=True)
class _Children:
    """How the processes of one call are run: see :func:`measure_in_subprocess` for each field."""

    timeout_s: float
    macs: Mapping[str, int]
    samples: bool
    on_row: Callable[[dict[str, Any]], Any] | None
    memory: bool
    model_files: tuple[str, ...]
    launcher: Launcher

    def emit(self, record: Record) -> Record:
        if self.on_row:
            self.on_row(record.row)
        return record


def _measure_records(
    model: str | Sequence[str],
    configs: LatencyConfig | Sequence[LatencyConfig],
    timeout_s: float,
    *,
    way: Way | None = None,
    macs: int | Mapping[str, int] | None,
    samples: bool,
    on_row: Callable[[dict[str, Any]], Any] | None,
    python: str = sys.executable,
    memory: bool = False,
    model_files: Sequence[str] = (),
    launcher: Launcher | None = None,
) -> list[Record]:
    """:func:`measure_in_subprocess`, keeping each row's :class:`~archbench.benchmark.protocol.Failure`."""
    models = [model] if isinstance(model, str) else list(model)
    models = [_absolute_model(m) for m in models]
    configs = [configs] if isinstance(configs, LatencyConfig) else list(configs)
    if way is None:
        default_backend = configured_backend()
        configs = [c if c.backend else c.replace(backend=default_backend) for c in configs]
    else:
        configs = [c.replace(backend=way.backend) for c in configs]
    if macs is None or isinstance(macs, Mapping):
        macs_by_model = dict(macs or {})
    elif len(models) == 1:
        macs_by_model = {models[0]: int(macs)}
    else:
        raise UsageError("give macs as a mapping model -> MACs when timing several models")
    launcher = launcher or launcher_for(python)
    children = _Children(timeout_s, macs_by_model, samples, on_row, memory,
                         tuple(os.path.abspath(f) for f in model_files), launcher)
    table: dict[tuple[int, int], Record] = {}
    groups: dict[tuple[str, int | None], list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault((c.backend, c.threads), []).append(i)
    for (backend, _threads), indices in groups.items():
        group = [configs[i] for i in indices]
        group_way = way or Way("keras", backend)
        if backend_installed(backend):
            got = _run_way(models, group_way, group, children)
        else:
            msg = not_installed_message(backend)
            got = [children.emit(error_record(m, c, msg)) for m in models for c in group]
        for k, record in enumerate(got):
            table[(k // len(group), indices[k % len(group)])] = record
    return [table[key] for key in sorted(table)]


def _run_way(models: list[str], way: Way, configs: list[LatencyConfig], children: _Children) -> list[Record]:
    """All records of one way, starting a new process after a model that crashed or timed out (and
    for every model, with ``memory``)."""
    records: list[Record] = []
    pending = list(models)
    kind = way.process_kind(configs[0])
    while pending:
        batch = pending[:1] if children.memory else pending
        job = {
            "way": way.as_dict(),
            "models": batch,
            "configs": [c.as_dict() for c in configs],
            "macs": dict(children.macs),
            "samples": children.samples,
            "memory": MEMORY_CONTEXT if children.memory else None,
            "model_files": list(children.model_files),
            "isolation": children.launcher.isolation_of(kind),
        }
        got = children.launcher.run(kind, job, timeout_s=children.timeout_s,
                                    on_record=children.emit)
        records += got.records
        finished, partial = divmod(len(got.records), len(configs))
        if finished < len(batch):
            current = pending[finished]
            records += [children.emit(r) for r in _unfinished(current, configs[partial:], got, way)]
            finished += 1
        pending = pending[finished:]
    return records


def _unfinished(model: str, configs: list[LatencyConfig], got: Launched, way: Way) -> list[Record]:
    """Rows for the configs a process did not finish: ``oom`` for the one it was killed in for memory,
    ``error`` (with why) for the others; ``skipped`` for all when XLA refused a flag the way sets (this
    jaxlib does not know it)."""
    killed = got.reason in ("oom-killer", "memory")
    backend = way.backend
    flags = dict(way.options.get("env") or {}).get("XLA_FLAGS")
    if flags and "Unknown flag" in (got.stopped or ""):
        message = f"this jaxlib rejects an XLA flag of the way ({flags}): {got.stopped}"
        return [error_record(model, c, message, backend=backend, status="skipped") for c in configs]
    out = []
    for k, c in enumerate(configs):
        if killed and k == 0:
            out.append(error_record(model, c, got.stopped or "", oom=True, backend=backend))
        elif killed:
            message = f"not measured: the process was killed at batch {configs[0].batch_size}"
            out.append(error_record(model, c, message, backend=backend))
        else:
            out.append(error_record(model, c, got.stopped or "subprocess returned no result", backend=backend))
    return out


def latency_rows(
    model_name: str | Sequence[str],
    config: LatencyConfig,
    *,
    backends: Sequence[str] | None = None,
    batches: Sequence[int] | None = None,
    spec: Any = None,
    macs: int | Mapping[str, int] | None = None,
    timeout_s: float = 900.0,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    memory: bool = True,
    model_files: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows of the ``latency`` task for the Keras model: one per model, backend and batch size (in that
    order), ``config`` with each backend and batch size, timed in measuring processes
    (:func:`measure_in_subprocess`).

    ``backends=None`` is the config's backend (or the configured one); ``batches=None`` its batch size.
    ``spec`` (a :class:`~archbench.registry.ModelSpec`, single model only) fills ``input_size`` when the
    config has none. With ``memory`` (the default) each model has a process of its own, so that its
    measured memory is its own.
    """
    if config.input_size is None and spec is not None and isinstance(model_name, str):
        config = config.replace(input_size=spec.input_shape[0])
    configs = [
        config.replace(backend=b, batch_size=int(n))
        for b in (backends or [config.backend or configured_backend()])
        for n in (batches or [config.batch_size])
    ]
    return measure_in_subprocess(model_name, configs, timeout_s, macs=macs, samples=samples, on_row=on_row,
                                 memory=memory, model_files=model_files)


def bench(model: str, config: LatencyConfig, *, timeout_s: float = 1800.0) -> dict[str, Any]:
    """One detailed run for ``archbench bench``: a row with its ``samples_ms``.

    Runs in this process when the config's backend is the active one, else in a measuring process. A
    user error (unknown model, input too small, bad weights, a config the model cannot honour) is
    raised with its own type and message, wherever it happened; any other failure as an
    :class:`~archbench.errors.ArchbenchError` naming the model. Out of memory is a row, not an error.
    """
    active = configured_backend()
    backend = config.backend or active
    if backend != active:
        if not backend_installed(backend):
            raise UsageError(not_installed_message(backend))
        record = _measure_records(model, config.replace(backend=backend), timeout_s, macs=None, samples=True,
                                  on_row=None, memory=True)[0]
    else:
        from ..environment import environment

        result = sweep(_absolute_model(model), [config.replace(backend=backend)],
                       memory="this process, baseline before the build")[0]
        record = Record({**environment(), **result.as_row(samples=True), "isolation": "this process"},
                        result.failure)
    row = record.row
    if row["status"] == "error":
        if record.failure is not None:
            record.failure.raise_usage_error()
        raise ArchbenchError(f"{model}: {row['message']}")
    return row
