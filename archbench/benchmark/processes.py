"""One process per backend: Keras fixes its backend at import, so comparing backends takes a fresh
process for each.

:func:`measure_in_subprocess` runs :func:`child_main` (``python -m archbench.benchmark``) with
``KERAS_BACKEND`` set and reads its results back as they arrive (the line format is
:mod:`archbench.benchmark.protocol`); :func:`latency_rows` does that for several backends and batch
sizes; :func:`bench` is one detailed run, in this process when it can be.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArchbenchError, UsageError
from .compilers import limit_threads_before_start
from .config import (
    LatencyConfig,
    backend_installed,
    configured_backend,
    max_time_for,
    normalize_backend,
    not_installed_message,
)
from .load import LoadMonitor
from .measure import sweep
from .protocol import OUT_OF_MEMORY, Failure, Record, decode, encode
from .result import LatencyResult

_SUBPROCESS_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}

# ``-c`` rather than ``-m archbench.benchmark``: the module then exists once, not also as __main__.
_CHILD = "import sys; from archbench.benchmark.processes import child_main; sys.exit(child_main())"

MEMORY_CONTEXT = "own process, baseline after the framework's import and before the build"
# The kernel's out-of-memory killer picks the process with the highest score: the measuring child
# rather than the sweep that started it or another user's work.
_CHILD_OOM_SCORE_ADJ = "500"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _error_record(model: str, config: LatencyConfig, message: str, *, oom: bool = False) -> Record:
    """A failure the parent saw itself (not installed, crash, timeout, a child killed for memory): an
    untyped ``error`` row, or an ``oom`` row when ``oom``."""
    failure = Failure(OUT_OF_MEMORY, message) if oom else None
    result = LatencyResult(
        model=model,
        config=config,
        status="oom" if oom else "error",
        message=message,
        backend=config.backend or "",
        failure=failure,
    )
    return Record(result.as_row(), failure)


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
    macs: int | Mapping[str, int] | None = None,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    python: str = sys.executable,
    memory: bool = True,
    model_files: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Time one or more models under each config, in a fresh process per backend and thread setting
    (and per model, with ``memory``).

    ``model`` is a registered name, ``module:function`` or ``file.py:function``, or a list of them.
    Returns one flat row per (model, config), models first, configs in the given order:
    :meth:`LatencyResult.as_row` merged over the child's :func:`archbench.environment.environment`.
    ``on_row(row)`` is called as each row arrives (for progress bars and incremental stores).

    The child runs :func:`child_main` with ``KERAS_BACKEND`` set (and ``TF_CPP_MIN_LOG_LEVEL=3``,
    ``TF_ENABLE_ONEDNN_OPTS=0`` unless already set). A backend that is not installed, a crash or a
    model that runs past ``timeout_s`` gives ``status="error"`` rows with the reason for that model;
    rows already finished are kept and a new child goes on with the next model. A child killed by
    ``SIGKILL`` that archbench did not send (on Linux, the kernel's out-of-memory killer) gives an
    ``oom`` row for the config it was measuring.

    ``memory`` measures each model's memory (:func:`~archbench.benchmark.measure.sweep`) in a process
    of its own, started for that model alone, so that its baseline holds nothing of another model;
    the configs of one model share it, in the given order (the row's ``mem_method`` says so).
    ``model_files`` are loaded by the child before it builds anything (models a user's file registers,
    :func:`archbench.registry.load_model_file`).
    """
    records = _measure_records(
        model,
        configs,
        timeout_s,
        macs=macs,
        samples=samples,
        on_row=on_row,
        python=python,
        memory=memory,
        model_files=model_files,
    )
    return [r.row for r in records]


@dataclass(frozen=True)
class _Children:
    """How the children of one call are run: see :func:`measure_in_subprocess` for each field."""

    timeout_s: float
    macs: Mapping[str, int]
    samples: bool
    python: str
    on_row: Callable[[dict[str, Any]], Any] | None
    memory: bool
    model_files: tuple[str, ...]

    def emit(self, record: Record) -> Record:
        if self.on_row:
            self.on_row(record.row)
        return record


def _measure_records(
    model: str | Sequence[str],
    configs: LatencyConfig | Sequence[LatencyConfig],
    timeout_s: float,
    *,
    macs: int | Mapping[str, int] | None,
    samples: bool,
    on_row: Callable[[dict[str, Any]], Any] | None,
    python: str = sys.executable,
    memory: bool = False,
    model_files: Sequence[str] = (),
) -> list[Record]:
    """:func:`measure_in_subprocess`, keeping each row's :class:`~archbench.benchmark.protocol.Failure`."""
    models = [model] if isinstance(model, str) else list(model)
    models = [_absolute_model(m) for m in models]
    configs = [configs] if isinstance(configs, LatencyConfig) else list(configs)
    default_backend = configured_backend()
    configs = [c if c.backend else c.replace(backend=default_backend) for c in configs]
    if macs is None or isinstance(macs, Mapping):
        macs_by_model = dict(macs or {})
    elif len(models) == 1:
        macs_by_model = {models[0]: int(macs)}
    else:
        raise UsageError("give macs as a mapping model -> MACs when timing several models")
    children = _Children(
        timeout_s,
        macs_by_model,
        samples,
        python,
        on_row,
        memory,
        tuple(os.path.abspath(f) for f in model_files),
    )
    table: dict[tuple[int, int], Record] = {}
    groups: dict[tuple[str, int | None], list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault((c.backend, c.threads), []).append(i)
    for (backend, _threads), indices in groups.items():
        group = [configs[i] for i in indices]
        if backend_installed(backend):
            got = _run_backend(models, group, children)
        else:
            msg = not_installed_message(backend)
            got = [children.emit(_error_record(m, c, msg)) for m in models for c in group]
        for k, record in enumerate(got):
            table[(k // len(group), indices[k % len(group)])] = record
    return [table[key] for key in sorted(table)]


def _run_backend(models: list[str], configs: list[LatencyConfig], children: _Children) -> list[Record]:
    """All records of one backend, restarting the child after a model that crashed or timed out (and
    for every model, with ``memory``)."""
    records: list[Record] = []
    pending = list(models)
    while pending:
        batch = pending[:1] if children.memory else pending
        got, stopped, killed = _spawn(batch, configs, children)
        records += got
        finished, partial = divmod(len(got), len(configs))
        if finished < len(batch):
            current = pending[finished]
            for k, c in enumerate(configs[partial:]):
                if killed and k == 0:
                    record = _error_record(current, c, stopped or "", oom=True)
                elif killed:
                    at = configs[partial].batch_size
                    record = _error_record(current, c, f"not measured: the process was killed at batch {at}")
                else:
                    record = _error_record(current, c, stopped or "subprocess returned no result")
                records.append(children.emit(record))
            finished += 1
        pending = pending[finished:]
    return records


def _spawn(
    models: list[str], configs: list[LatencyConfig], children: _Children
) -> tuple[list[Record], str | None, bool]:
    """Run one child over ``models``; returns the records it finished, why it stopped early (or None)
    and whether it was killed by a ``SIGKILL`` that archbench did not send.

    The child ignores Ctrl-C (:func:`_bind_to_parent`), so that the sweep, which stops after the
    measurement in progress, decides; any exception here, a second Ctrl-C or the sweep's own time
    limit included, kills the child before it propagates, and on Linux the child dies with this
    process however it dies.
    """
    env = dict(os.environ)
    env["KERAS_BACKEND"] = configs[0].backend or "tensorflow"
    for k, v in _SUBPROCESS_ENV.items():
        env.setdefault(k, v)
    records: list[Record] = []
    with tempfile.TemporaryDirectory(prefix="archbench-") as tmp:
        job = os.path.join(tmp, "job.json")
        out_path = os.path.join(tmp, "rows.jsonl")
        err_path = os.path.join(tmp, "stderr.txt")
        with open(job, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "models": models,
                    "configs": [c.as_dict() for c in configs],
                    "macs": dict(children.macs),
                    "samples": children.samples,
                    "memory": MEMORY_CONTEXT if children.memory else None,
                    "model_files": list(children.model_files),
                    "parent": os.getpid(),
                },
                f,
            )
        open(out_path, "w").close()
        stopped, rss_mb = None, 0.0
        with open(err_path, "w", encoding="utf-8") as err, open(out_path, encoding="utf-8") as out:
            proc = subprocess.Popen(
                [children.python, "-c", _CHILD, "--job", job, "--out", out_path],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                deadline = time.monotonic() + children.timeout_s
                buffer = ""
                while True:
                    code = proc.poll()
                    buffer += out.read()
                    *lines, buffer = buffer.split("\n")
                    for line in lines:
                        if line.strip():
                            records.append(children.emit(decode(line)))
                            if len(records) % len(configs) == 0:
                                deadline = time.monotonic() + children.timeout_s
                    if code is not None:
                        break
                    if time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        stopped = f"timed out after {children.timeout_s:g} s"
                        break
                    rss_mb = max(rss_mb, _resident_mb(proc.pid))
                    time.sleep(0.05)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        killed = stopped is None and proc.returncode == -signal.SIGKILL
        if killed:
            stopped = (
                f"the measuring process was killed by SIGKILL, which archbench did not send, with "
                f"{rss_mb:.0f} MB resident when last seen: out of memory (the kernel's OOM killer)"
            )
        elif stopped is None and proc.returncode != 0:
            with open(err_path, encoding="utf-8", errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-3:])
            stopped = f"subprocess exited with code {proc.returncode}: {tail}"
    return records, stopped, killed


def _resident_mb(pid: int) -> float:
    """A process's resident memory in MB (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def child_main(argv: Sequence[str] | None = None) -> int:
    """The child: time the job's models under its configs in this process, one protocol line each."""
    parser = argparse.ArgumentParser(
        prog="python -m archbench.benchmark", description="Time models in this process (the child)."
    )
    parser.add_argument("--job", required=True, help="JSON file: models, configs, macs, samples")
    parser.add_argument("--out", required=True, help="JSON-lines file the records are appended to")
    args = parser.parse_args(argv)
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    configs = [LatencyConfig(**d) for d in job["configs"]]
    monitor = LoadMonitor()
    _bind_to_parent(job.get("parent"))
    _volunteer_for_the_oom_killer()
    if configs:
        limit_threads_before_start(os.environ.get("KERAS_BACKEND", "tensorflow"), configs[0].threads)

    from ..environment import environment
    from ..registry import load_model_file

    for path in job.get("model_files", ()):
        load_model_file(path)
    env = environment()
    with open(args.out, "a", encoding="utf-8") as out:

        def write(result: LatencyResult) -> None:
            row = {**env, **result.as_row(samples=job.get("samples", False))}
            out.write(encode(Record(row, result.failure)) + "\n")
            out.flush()

        for model in job["models"]:
            sweep(
                model,
                configs,
                macs=job.get("macs", {}).get(model),
                on_result=write,
                load=monitor,
                memory=job.get("memory"),
            )
    return 0


def _bind_to_parent(parent: int | None) -> None:
    """Ignore Ctrl-C (the terminal sends it to the whole process group; the sweep that started this
    process stops after the measurement in progress, and kills this process on a second one) and,
    on Linux, receive SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``), so that no
    measurement outlives its sweep. A parent already gone ends this process at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _volunteer_for_the_oom_killer() -> None:
    """Raise this process's out-of-memory score (allowed to any process on Linux; elsewhere a no-op)."""
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as f:
            f.write(_CHILD_OOM_SCORE_ADJ)
    except OSError:
        pass


def latency_rows(
    model_name: str | Sequence[str],
    spec: Any = None,
    *,
    backends: Sequence[str] = ("tensorflow",),
    batches: Sequence[int] = (1,),
    dtype: str = "float32",
    device: str = "auto",
    input_size: int | None = None,
    jit: bool | None = None,
    threads: int | None = None,
    warmup: int = 3,
    warmup_s: float = 0.0,
    min_iterations: int = 10,
    min_time_s: float = 1.0,
    max_iterations: int = 10_000,
    ci_target: float = 0.02,
    max_time_s: float | None = None,
    macs: int | Mapping[str, int] | None = None,
    timeout_s: float = 900.0,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    memory: bool = True,
    model_files: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows of the ``latency`` task: one per model, backend and batch size (in that order), timed in
    one subprocess per backend (see :func:`measure_in_subprocess`).

    ``model_name`` may be a list: with ``memory=False`` all models then share one process per
    backend, which saves the start-up (seconds per process) in a sweep over the zoo; with ``memory``
    (the default) each model has a process of its own, so that its measured memory is its own. ``spec`` (a
    :class:`~archbench.registry.ModelSpec`, single model only) fills ``input_size`` when it is ``None``;
    otherwise the child records the size it built. Each row has every :class:`LatencyConfig` field
    (``device_requested`` for the asked device), what was used (``backend``, ``device``, ``path``), the
    statistics, derived figures and the child's environment; failures are rows with ``status``
    ``"oom"`` or ``"error"``. ``timeout_s`` bounds each model; ``on_row`` sees each row as it arrives.
    ``max_time_s=None`` is the default cap (:func:`~archbench.benchmark.config.max_time_for`);
    ``memory`` and ``model_files`` are as for :func:`measure_in_subprocess`.
    """
    if input_size is None and spec is not None and isinstance(model_name, str):
        input_size = spec.input_shape[0]
    configs = [
        LatencyConfig(
            backend=normalize_backend(b),
            device=device,
            dtype=dtype,
            batch_size=int(n),
            input_size=input_size,
            jit=jit,
            threads=threads,
            warmup=warmup,
            warmup_s=warmup_s,
            min_iterations=min_iterations,
            min_time_s=min_time_s,
            max_iterations=max_iterations,
            ci_target=ci_target,
            max_time_s=max_time_for(min_time_s, max_time_s),
        )
        for b in backends
        for n in batches
    ]
    return measure_in_subprocess(
        model_name,
        configs,
        timeout_s,
        macs=macs,
        samples=samples,
        on_row=on_row,
        memory=memory,
        model_files=model_files,
    )


def bench(model: str, config: LatencyConfig, *, timeout_s: float = 1800.0) -> dict[str, Any]:
    """One detailed run for ``archbench bench``: a row with its ``samples_ms``.

    Runs in this process when the config's backend is the active one, else in a subprocess. A user
    error (unknown model, input too small, bad weights, a config the model cannot honour) is raised
    with its own type and message, wherever it happened; any other failure as an
    :class:`~archbench.errors.ArchbenchError` naming the model. Out of memory is a row, not an error.
    """
    active = configured_backend()
    backend = config.backend or active
    if backend != active:
        if not backend_installed(backend):
            raise UsageError(not_installed_message(backend))
        record = _measure_records(
            model,
            config.replace(backend=backend),
            timeout_s,
            macs=None,
            samples=True,
            on_row=None,
            memory=True,
        )[0]
    else:
        from ..environment import environment

        result = sweep(
            _absolute_model(model),
            [config.replace(backend=backend)],
            memory="this process, baseline before the build",
        )[0]
        record = Record({**environment(), **result.as_row(samples=True)}, result.failure)
    row = record.row
    if row["status"] == "error":
        if record.failure is not None:
            record.failure.raise_usage_error()
        raise ArchbenchError(f"{model}: {row['message']}")
    return row
