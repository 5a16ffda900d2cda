"""Tasks: what ``archbench run --tasks ...`` can measure, as plug-ins of the runner.

A :class:`Task` expands the run settings into measurement *units* (latency: one per backend and batch
size; params: one per model) and measures one unit for one model, returning a flat ``result`` dict (or
several). The runner stores each unit's rows with the unit's settings, so a rerun can skip units
already measured with the same settings. Add a task with :func:`register_task`.

A task whose units form a sweep along one setting (latency: the batch size) names it in
``sweep_axis``: the runner then stops a model's sweep at its first out-of-memory unit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .benchmark.config import DEFAULT_MAX_TIME_S
from .errors import UsageError
from .registry import ModelSpec

# The latency batch sizes of each profile: ``quick`` measures batch 1; ``full`` sweeps the batch
# sizes of Canziani, Paszke & Culurciello 2016 (arXiv 1605.07678, figures 3 and 4: 1 to 64), each
# model's sweep stopping at its first out-of-memory batch.
PROFILES: dict[str, tuple[int, ...]] = {"quick": (1,), "full": (1, 2, 4, 8, 16, 32, 64)}


@dataclass(frozen=True)
class RunSettings:
    """Options of one ``archbench run``; each task picks the ones that define its measurement.

    ``batches`` are the latency batch sizes (the profile's unless given); ``profile`` is recorded in
    each latency row. ``min_time_s``, ``max_time_s`` and ``ci_target`` are the latency stop rule
    (:class:`archbench.benchmark.LatencyConfig`). ``runtimes`` are the ways archbench runs its models
    (``keras``: the backends' compiled paths; ``onnxruntime``, ``openvino``, ``litert``: exported, see
    :mod:`archbench.runtimes`); ``peers`` the frameworks whose own builds are timed beside them
    (``torchvision``, :mod:`archbench.peers`), in ``peer_modes`` (``None``: the device's default
    modes). ``timeout_s`` bounds each child process of a unit.
    """

    input_size: int | None = None
    backends: tuple[str, ...] = ("tensorflow",)
    batches: tuple[int, ...] = PROFILES["quick"]
    profile: str = "quick"
    device: str = "auto"
    dtype: str = "float32"
    min_time_s: float = 1.0
    max_time_s: float = DEFAULT_MAX_TIME_S
    ci_target: float = 0.02
    runtimes: tuple[str, ...] = ("keras",)
    peers: tuple[str, ...] = ()
    peer_modes: tuple[str, ...] | None = None
    timeout_s: float | None = None
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

    def input_shape(self) -> tuple[int, ...]:
        """The per-sample input shape asked for: ``--input-size`` with the registration's channels,
        else the registration's ``input_shape`` (how a subclassed model, with no inputs of its own,
        is measured)."""
        return tuple(self.build_kwargs().get("input_shape", self.spec.input_shape))


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    measure: Callable[[TaskContext], dict[str, Any] | list[dict[str, Any]]]
    units: Callable[[RunSettings], list[dict[str, Any]]] = lambda s: [{"input_size": s.input_size}]
    sweep_axis: str | None = None


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
    from .keras_internals import model_input_shape
    from .params import count_params

    model = ctx.model()
    counts = count_params(model)
    own = model_input_shape(model)
    known = isinstance(own, tuple) and all(d is not None for d in own[1:])
    shape = tuple(int(d) for d in own[1:]) if known else ctx.input_shape()
    return {"input_shape": shape, **_prefixed("params", counts.as_dict())}


def _prefixed(prefix: str, d: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{k}": v for k, v in d.items()}


register_task(Task("params", "parameter counts: total, trainable, non-trainable, paper-equivalent", _params))


def _macs(ctx: TaskContext) -> dict[str, Any]:
    """Totals into the row; the per-layer table into ``<out>/layers/<model>.csv`` for the report.

    The layer walker counts functional models; a model it cannot count whole is traced
    (:func:`archbench.counting.count_model`; ``count_method`` and ``count_reason`` say which and why).
    A count that still leaves something out has the status ``partial``, never ``ok``.
    """
    import time

    from .counting import count_model
    from .keras_internals import functional_graph
    from .store import write_csv_atomic

    start = time.perf_counter()
    model = ctx.model()
    complexity = count_model(model, None if functional_graph(model) is not None else ctx.input_shape())
    row = {**complexity.totals(), "count_seconds": round(time.perf_counter() - start, 4)}
    row.pop("model", None)
    if not complexity.complete:
        row["status"] = complexity.status
        row["error"] = "not counted: " + "; ".join(complexity.not_counted)
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
    """One unit per way of running a model and batch size: the Keras runtime once per backend, each
    exported runtime once, each peer framework once per mode (:func:`archbench.peers.default_modes`).
    ``framework``, ``runtime`` and ``mode`` are settings of the unit, hence part of its key."""
    from .peers import default_modes

    def timed(n: int) -> dict[str, Any]:
        return {"batch_size": n, "dtype": s.dtype, "device": s.device, "input_size": s.input_size,
                "min_time_s": s.min_time_s, "max_time_s": s.max_time_s, "ci_target": s.ci_target}

    units = []
    for runtime in s.runtimes:
        ways = [{"backend": b} for b in s.backends] if runtime == "keras" else [{}]
        units += [{"framework": "archbench", "runtime": runtime, **way, **timed(n)} for way in ways for n in s.batches]
    for peer in s.peers:
        units += [{"framework": peer, "runtime": PEER_RUNTIME, "mode": mode, **timed(n)}
                  for mode in s.peer_modes or default_modes(s.device) for n in s.batches]
    return units


def _latency(ctx: TaskContext) -> list[dict[str, Any]]:
    """Compiled inference latency, with measured memory and energy, through
    :func:`archbench.benchmark.latency_rows`: each unit in a process of its own, whatever the backend.

    Memory is why: this process has built the model already (and the models before it, whose freed
    memory it keeps), so no stamp taken here is a baseline "before the model is built". A fresh
    process gives one, at the cost of its start-up (seconds). A unit of an exported runtime or of a peer
    framework goes to :func:`_runtime_latency` or :func:`_peer_latency`, also in processes of their own.
    """
    from .benchmark import latency_rows, normalize_backend
    from .environment import environment

    u = ctx.unit
    if u.get("framework", "archbench") != "archbench":
        return [_finish_latency(ctx, _peer_latency(ctx))]
    if u.get("runtime", "keras") != "keras":
        return [_finish_latency(ctx, _runtime_latency(ctx))]
    row = latency_rows(ctx.spec.name, ctx.spec, backends=(normalize_backend(u["backend"]),),
                       batches=(u["batch_size"],), dtype=u["dtype"], device=u["device"],
                       input_size=u["input_size"], min_time_s=u["min_time_s"], max_time_s=u["max_time_s"],
                       ci_target=u["ci_target"], timeout_s=ctx.settings.timeout_s or 3600.0,
                       model_files=_model_files(ctx.spec))[0]
    keys = set(environment())
    env = {k: row[k] for k in keys if k in row}
    row = {k: v for k, v in row.items() if k not in keys or k in ("backend", "device", "device_type", "device_name")}
    row["error"] = row.pop("message", "")
    backend = str(row.get("backend") or u["backend"])
    row.update(framework="archbench", framework_version=env.get("keras_version"), runtime="keras",
               runtime_version=f"{backend} {env.get(f'{backend}_version')}", mode=_keras_mode(backend, row.get("path")))
    row["env"] = env
    return [_finish_latency(ctx, row)]


def _model_files(spec: ModelSpec) -> tuple[str, ...]:
    """The file that registered a model from outside any importable module (``--model-file``), which
    the measuring process must load too; ``()`` for the zoo's and installed packages' models."""
    import importlib.util
    import inspect

    module = getattr(spec.builder, "__module__", None) or ""
    try:
        importable = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        importable = False
    if importable:
        return ()
    path = inspect.getsourcefile(spec.builder)
    return (path,) if path else ()


def _sweep_stopped(status: str, batch: int, batches: tuple[int, ...]) -> str:
    """``"oom"`` on the batch that ran out of memory, ``"cap"`` on the largest batch of a sweep of
    several that fitted, else ``""``."""
    if status == "oom":
        return "oom"
    if status == "ok" and len(batches) > 1 and batch == max(batches):
        return "cap"
    return ""


def _finish_latency(ctx: TaskContext, row: dict[str, Any]) -> dict[str, Any]:
    """What every latency row carries whatever ran it: the profile and where its sweep stopped."""
    row.pop("model", None)
    row["profile"] = ctx.settings.profile
    row["sweep_stopped"] = _sweep_stopped(row["status"], ctx.unit["batch_size"], ctx.settings.batches)
    return row


_KERAS_MODES = {"tf.function+xla": "xla", "tf.function": "graph", "torch.compile": "compile", "torch eager": "eager"}

PEER_RUNTIME = "torch"
"""The ``runtime`` of a torchvision peer's rows: PyTorch runs the peer's own build."""


def _keras_mode(backend: str, path: Any) -> str:
    """``<backend> <how the Keras model was compiled>``: ``tensorflow xla``, ``jax jit``, ``torch compile``."""
    path = str(path or "")
    how = "jit" if path.startswith("jax.jit") else _KERAS_MODES.get(path, path)
    return f"{backend} {how}".strip()


def _peer_latency(ctx: TaskContext) -> dict[str, Any]:
    """The peer framework's own build of the model in the unit's mode, timed in a process of its own
    (:func:`archbench.peers.peer_rows`); a model without a counterpart gives a ``skipped`` row saying why."""
    from .peers import peer_rows

    u = ctx.unit
    row = peer_rows([ctx.spec.name], device=u["device"], batch=u["batch_size"], dtype=u["dtype"],
                    modes=(u["mode"],), input_size=u["input_size"], min_time_s=u["min_time_s"],
                    max_time_s=u["max_time_s"], ci_target=u["ci_target"],
                    timeout_s=ctx.settings.timeout_s or 900.0)[0]
    row["error"] = row.pop("message", "")
    torch = row.get("torch_version")
    row.update(runtime=PEER_RUNTIME, runtime_version=f"torch {torch}" if torch else None, mode=u["mode"])
    return row


def _runtime_latency(ctx: TaskContext) -> dict[str, Any]:
    """The model exported to another runtime, checked against the Keras model on random inputs and
    timed on the CPU (:func:`archbench.runtimes.measure_runtime`). A row above the tolerance is
    ``failed`` (``reason`` says why, the differences are in the row); a runtime that is not installed
    gives a ``skipped`` row with the ``pip install`` line."""
    import importlib.metadata

    from .environment import cpu_model
    from .runtimes import measure_runtime

    u = ctx.unit
    row = measure_runtime(ctx.spec.name, u["runtime"], batch=u["batch_size"], input_size=u["input_size"],
                          dtype=u["dtype"], min_time_s=u["min_time_s"], timeout_s=ctx.settings.timeout_s or 900.0)
    reason, error = row.get("reason") or "", row.get("error") or ""
    cpu = cpu_model()
    row.update(framework="archbench", framework_version=importlib.metadata.version("keras"), backend="tensorflow",
               device=f"cpu:0 ({cpu})", device_type="cpu", device_name=cpu, device_requested=u["device"],
               error=f"{reason}: {error}" if reason and error else error or reason)
    if u["device"] == "gpu":
        row["notes"] = "the runtimes run on the cpu: gpu requested, cpu measured"
    return row


register_task(Task("latency", "compiled inference latency, memory and energy per backend, runtime or peer and "
                   "batch size (Keras: never eager/predict)", _latency, units=_latency_units, sweep_axis="batch_size"))
