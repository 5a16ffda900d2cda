"""The sweep: models × tasks × units, each unit measured once, recorded durably, failures isolated.

``run()`` builds each model at most once (shared by its in-process tasks), measures every unit not
already in the output folder, appends one row per unit to the store as soon as it is measured, and
records a failing unit (build error, out of memory, timeout, any exception) as a row with status
``error``/``oom``/``timeout`` before going on. Ctrl-C stops at once: a unit measuring in a process of
its own is stopped (its process group killed) and not recorded, nothing of it counts as a failure; a
unit running in this process (params, macs) ends first, a second Ctrl-C aborts it. Every finished unit
is kept, the exit code is 130 and rerunning the same command resumes. Nothing measured is ever lost.

Two rules shape a sweep:

- **Out of memory ends a model's sweep.** For a task with a ``sweep_axis`` (latency: the batch size),
  the first unit that runs out of memory is recorded and the model's larger values on that axis are
  not measured (they would run out as well). In a sweep of several values this ends the sweep; it is
  not counted as a failure.
- **A noisy unit is measured once more, at the end.** A row that says ``noisy`` (measured on a busy
  machine, or with an imprecise median) is measured again once every other unit is done, when the
  machine may be quieter. The new row carries ``remeasured: true``; the first one stays in the log,
  flagged ``superseded`` (:meth:`~archbench.store.ResultStore.supersede`). Should the new measurement
  fail, the first one stays in effect and the failed one is the row flagged. Noisy rows left by an
  earlier, interrupted run of the same grid are measured again the same way.
"""

from __future__ import annotations

import datetime as _dt
import gc
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .benchmark.oom import is_oom
from .errors import UsageError
from .registry import get_spec
from .store import ResultStore, machine_of, measurement_key
from .tasks import RunSettings, Task, TaskContext


class MeasurementTimeout(Exception):
    """Raised inside a unit that ran past ``--timeout``."""


@dataclass
class Unit:
    model: str
    task: Task
    settings: dict[str, Any]

    @property
    def key(self) -> str:
        return measurement_key(self.model, self.task.name, self.settings)

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.settings.items() if v is not None)
        return f"{self.model}:{self.task.name}" + (f"[{extra}]" if extra else "")


@dataclass
class RunSummary:
    """What a run did: units measured, skipped (already there), failed, re-measured because their
    first measurement was noisy, and the sweeps that out of memory ended (``stopped_by_oom``: the
    units that ran out; ``not_measured``: the units left out after them), and the units whose row says
    why they cannot be measured here (``not_applicable``: status ``skipped``, e.g. a model without a
    peer counterpart, a runtime not installed; measured again on a rerun)."""

    run_id: str
    out: str
    measured: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    remeasured: int = 0
    stopped_by_oom: list[str] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)
    interrupted: bool = False
    remaining: int = 0
    csv_path: str | None = None


def plan(models: list[str], tasks: list[Task], settings: RunSettings, shard: tuple[int, int] | None = None) -> list[Unit]:
    """Every unit of the grid, in model order; ``shard=(i, n)`` keeps a deterministic 1/n of them."""
    units = [Unit(m, t, dict(u)) for m in models for t in tasks for u in t.units(settings)]
    if shard is not None:
        i, n = shard
        if not (1 <= i <= n):
            raise UsageError(f"--shard must be I/N with 1 <= I <= N, got {i}/{n}")
        units = [u for u in units if int(u.key, 16) % n == i - 1]
    return units


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like 1/4, got {text!r}") from None
    if not (1 <= i <= n):
        raise UsageError(f"--shard must be I/N with 1 <= I <= N, got {text!r}")
    return i, n


class _StopFlag:
    def __init__(self) -> None:
        self.requested = False


@contextmanager
def _graceful_interrupt(flag: _StopFlag, notify: Callable[[str], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    from .benchmark.launcher import clear_stop, request_stop

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        request_stop()
        notify("\ninterrupt: stopping now: a unit measuring in its own process is stopped and not recorded, "
               "one in this process ends first (Ctrl-C again to abort it)")

    clear_stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise MeasurementTimeout(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _status_of(exc: BaseException) -> str:
    """``timeout``, ``oom`` (by the one classifier, :func:`archbench.benchmark.is_oom`) or ``error``."""
    if isinstance(exc, MeasurementTimeout):
        return "timeout"
    return "oom" if is_oom(exc) else "error"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _environment() -> dict[str, Any]:
    from .environment import environment

    return environment()


def run(
    models: list[str],
    tasks: list[Task],
    settings: RunSettings,
    out: str,
    *,
    force: bool = False,
    timeout_s: float | None = None,
    shard: tuple[int, int] | None = None,
    progress: Callable[[Unit, str], None] | None = None,
    notify: Callable[[str], None] = print,
) -> RunSummary:
    """Measure the grid into ``out`` (resuming), returning what was measured, skipped and failed.

    ``progress(unit, status)`` is called after each unit of the grid (status ``ok``/``skipped``/
    ``not measured`` (after an out-of-memory unit of its sweep)/an error status); re-measuring noisy
    units at the end is announced through ``notify``.
    """
    units = plan(models, tasks, settings, shard)
    run_id = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    summary = RunSummary(run_id=run_id, out=out)
    flag = _StopFlag()
    env = _environment()
    sweep_sizes: dict[tuple, int] = {}
    for unit in units:
        group = _sweep_group(unit)
        if group is not None:
            sweep_sizes[group] = sweep_sizes.get(group, 0) + 1
    with ResultStore(out) as store, _graceful_interrupt(flag, notify):
        machine = machine_of({"env": env})
        done = set() if force else store.done_keys(machine)
        cache: dict[str, Any] = {}
        ended: dict[tuple, Any] = {}
        for index, unit in enumerate(units):
            if flag.requested:
                summary.interrupted = True
                summary.remaining = len(units) - index
                break
            summary.remaining = len(units) - index
            group = _sweep_group(unit)
            if unit.key in done:
                summary.skipped += 1
                if progress:
                    progress(unit, "skipped")
                continue
            if group in ended and unit.settings[unit.task.sweep_axis] > ended[group]:
                summary.not_measured.append(unit.label)
                if progress:
                    progress(unit, "not measured")
                continue
            try:
                status = _measure_unit(unit, settings, store, run_id, env, cache, timeout_s)
            except KeyboardInterrupt:
                summary.interrupted = True
                break
            if status == "ok":
                summary.measured += 1
            elif status == "skipped":
                summary.not_applicable.append(unit.label)
            elif status == "oom" and group is not None and sweep_sizes[group] > 1:
                value = unit.settings[unit.task.sweep_axis]
                ended[group] = min(value, ended.get(group, value))
                summary.stopped_by_oom.append(unit.label)
            else:
                summary.failed.append(unit.label)
            if progress:
                progress(unit, status)
            next_model = units[index + 1].model if index + 1 < len(units) else None
            if next_model != unit.model:
                cache.clear()
                gc.collect()
        if not summary.interrupted:
            try:
                _remeasure_noisy(units, settings, store, run_id, env, timeout_s, machine, flag, summary, notify)
            except KeyboardInterrupt:
                summary.interrupted = True
        if not summary.interrupted:
            from .baselines import record_baselines  # logistic regression beside accuracy rows

            record_baselines(units, store, run_id=run_id, env=env, done=done)
        summary.csv_path = store.write_csv()
        store.write_models(_known_models(store))
    return summary


def _sweep_group(unit: Unit) -> tuple | None:
    """The sweep a unit belongs to: its model, task and settings but the task's sweep axis."""
    axis = unit.task.sweep_axis
    if axis is None or axis not in unit.settings:
        return None
    rest = tuple(sorted((k, repr(v)) for k, v in unit.settings.items() if k != axis))
    return (unit.model, unit.task.name, rest)


def _is_noisy(row: dict[str, Any]) -> bool:
    return row.get("status") == "ok" and bool((row.get("result") or {}).get("noisy"))


def _remeasure_noisy(units, settings, store, run_id, env, timeout_s, machine, flag, summary, notify) -> None:
    """Measure once more every unit of the grid whose row in effect is noisy and not itself a
    re-measurement (see the module docstring)."""
    current = store.in_effect(machine)
    pending = [(u, current[u.key]) for u in units
               if u.key in current and _is_noisy(current[u.key]) and not current[u.key].get("remeasured")]
    if not pending:
        return
    notify(f"re-measuring {len(pending)} noisy unit(s) once, now that the sweep is done")
    for index, (unit, first) in enumerate(pending):
        summary.remaining = len(pending) - index
        if flag.requested:
            summary.interrupted = True
            return
        status = _measure_unit(unit, settings, store, run_id, env, {}, timeout_s, remeasured=True)
        if status == "ok":
            store.supersede(unit.key, first.get("run_id", ""), remeasured=bool(first.get("remeasured")))
        else:
            store.supersede(unit.key, run_id, remeasured=True)
        summary.remeasured += 1
        gc.collect()


def _known_models(store: ResultStore) -> list[str]:
    from .errors import UnknownModelError

    names = []
    for name in dict.fromkeys(r["model"] for r in store.rows() if "model" in r):
        try:
            names.append(get_spec(name).name)
        except UnknownModelError:
            continue
    return names


def _measure_unit(unit, settings, store, run_id, env, cache, timeout_s, remeasured: bool = False) -> str:
    spec = get_spec(unit.model)

    def model_factory():
        kwargs = ctx.build_kwargs()
        key = repr(sorted(kwargs.items()))
        if key not in cache:
            if "error" in cache:
                raise cache["error"]
            try:
                cache[key] = spec.build(**kwargs)
            except Exception as exc:
                cache["error"] = exc
                raise
        return cache[key]

    ctx = TaskContext(spec=spec, unit=unit.settings, settings=settings, _model_factory=model_factory,
                      out_dir=store.folder)
    row: dict[str, Any] = {
        "model": unit.model,
        "task": unit.task.name,
        "run_id": run_id,
        "key": unit.key,
        "settings": unit.settings,
    }
    started = time.perf_counter()
    try:
        with _time_limit(timeout_s):
            results = unit.task.measure(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        status = _status_of(exc)
        stamp = {"remeasured": True} if remeasured else {}
        store.append({**row, "status": status, "error": _one_line(exc), "timestamp": _now(),
                      "elapsed_s": time.perf_counter() - started, **stamp, "env": env})
        return status
    results = [results] if isinstance(results, dict) else list(results)
    status = "ok"
    for result in results:
        result = dict(result)
        r_status = result.pop("status", "ok")
        error = result.pop("error", "")
        r_env = result.pop("env", None) or env
        if r_status != "ok":
            status = r_status
        stamp = {"remeasured": remeasured} if remeasured or "noisy" in result else {}
        store.append({**row, "status": r_status, "error": error, "timestamp": _now(),
                      "elapsed_s": time.perf_counter() - started, **stamp, "result": result, "env": r_env})
    return status


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
