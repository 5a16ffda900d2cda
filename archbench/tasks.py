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

from .benchmark.config import DEFAULT, LatencyConfig
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
    each latency row. ``latency`` is the one :class:`archbench.benchmark.LatencyConfig` of the run (the
    stop rule, device, dtype, threads, compile cache), made once from the command line and passed whole
    to every way of running a model; each unit only sets its backend, batch and input size. ``runtimes`` are the ways archbench runs its models
    (``keras``: the backends' compiled paths; ``onnxruntime``, ``openvino``, ``litert``: exported, see
    :mod:`archbench.runtimes`); ``peers`` the frameworks whose own builds are timed beside them
    (``torchvision``, :mod:`archbench.peers`), in ``peer_modes`` (``None``: the device's default
    modes). ``timeout_s`` bounds each child process of a unit.
    """

    input_size: int | None = None
    backends: tuple[str, ...] = ("tensorflow",)
    batches: tuple[int, ...] = PROFILES["quick"]
    profile: str = "quick"
    latency: LatencyConfig = DEFAULT
    runtimes: tuple[str, ...] = ("keras",)
    keras_modes: tuple[str, ...] = ("default",)
    peers: tuple[str, ...] = ()
    peer_modes: tuple[str, ...] | None = None
    timeout_s: float | None = None
    dataset: str = "digits"
    data_dir: str | None = None
    weights: str | None = None
    train_epochs: int = 0

    @property
    def device(self) -> str:
        return self.latency.device

    @property
    def dtype(self) -> str:
        return self.latency.dtype


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
    (:func:`archbench.count`; ``count_method`` and ``count_reason`` say which and why).
    A count that still leaves something out has the status ``partial``, never ``ok``.
    """
    import time

    from .cost import count as count_model
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


def _latency_units(s: RunSettings, runtimes: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """One unit per way of running a model and batch size: the Keras runtime once per backend, each
    exported runtime once (``runtimes``: the run's unless given; the training step has the Keras runtime
    only), each peer framework once per mode (:func:`archbench.peers.default_modes`);
    a Keras variant (``--keras-modes``, :data:`archbench.benchmark.targets.keras.VARIANTS`) once per
    backend it applies to, its ``variant`` in the unit.
    ``framework``, ``runtime`` and ``mode`` are settings of the unit, hence part of its key, with the
    stop rule that defines the measurement."""
    from .peers import default_modes

    c = s.latency

    def timed(n: int) -> dict[str, Any]:
        return {"batch_size": n, "dtype": c.dtype, "device": c.device, "input_size": s.input_size,
                "min_time_s": c.min_time_s, "max_time_s": c.max_time_s, "ci_target": c.ci_target}

    from .benchmark.targets.keras import VARIANTS

    units = []
    for runtime in s.runtimes if runtimes is None else runtimes:
        ways = [{"backend": b, **({"variant": v} if v != "default" else {})}
                for b in s.backends for v in s.keras_modes if b in VARIANTS[v].backends] if runtime == "keras" else [{}]
        units += [{"framework": "archbench", "runtime": runtime, **way, **timed(n)} for way in ways for n in s.batches]
    for peer in s.peers:
        units += [{"framework": peer, "runtime": PEER_RUNTIME, "mode": mode, **timed(n)}
                  for mode in s.peer_modes or default_modes(c.device) for n in s.batches]
    return units


def _latency(ctx: TaskContext, train: bool = False) -> list[dict[str, Any]]:
    """Compiled inference latency, with measured memory and energy, of one way of running the model
    (:func:`_way`: the Keras model on its backend or a variant, an exported runtime, a peer framework's
    build; with ``train``, one training step of it, :func:`_train`), through the one pipeline
    (:func:`archbench.benchmark.measure_way`): the run's :class:`~archbench.benchmark.LatencyConfig`
    with this unit's batch and input size, the way's stages first, then a measuring process of its own
    (forked from a pre-imported worker: its memory baseline holds nothing of another model)."""
    from .benchmark import measure_way

    u = ctx.unit
    config = ctx.settings.latency.replace(batch_size=u["batch_size"],
                                          input_size=u["input_size"] or ctx.spec.input_shape[0])
    count = _train_count(ctx) if train else {}
    row = measure_way(ctx.spec.name, config, _way(u, train), ctx.settings.timeout_s or 3600.0,
                      macs=count.get("train_macs"), model_files=_model_files(ctx.spec))
    row.update(count)
    return [_finish_latency(ctx, row)]


def _way(unit: dict[str, Any], train: bool) -> Any:
    """The :class:`~archbench.benchmark.targets.Way` of a latency unit: its framework, runtime, backend
    or mode, and the step."""
    from .benchmark import normalize_backend
    from .benchmark.targets import Way
    from .benchmark.targets.keras import variant_env

    step = "train" if train else "inference"
    if unit.get("framework", "archbench") != "archbench":
        return Way(unit["framework"], PEER_RUNTIME, unit["mode"], step=step)
    if unit.get("runtime", "keras") != "keras":
        return Way("exported", "tensorflow", unit["runtime"], step=step)
    variant = unit.get("variant", "default")
    return Way("keras", normalize_backend(unit["backend"]), variant, {"env": variant_env(variant)}, step=step)


_TRAIN_COUNTS: dict[tuple, dict[str, Any]] = {}


def _train_count(ctx: TaskContext) -> dict[str, Any]:
    """The counted training step per image of the unit's model (:func:`archbench.count_training` on
    this process's backend: the timed step, :mod:`archbench.step`), as row columns: its four figures
    (:data:`archbench.cost.training.COLUMNS`: ``train_macs``, its forward/backward split and
    ``train_mac_ratio``) and ``train_count`` beside them, ``ok`` or ``partial`` with what was left out
    (a partial count keeps its figures), or why there is no count. Counted once per model and input shape."""
    key = (ctx.spec.name, ctx.input_shape())
    if key not in _TRAIN_COUNTS:
        _TRAIN_COUNTS[key] = _count_training(ctx)
    return _TRAIN_COUNTS[key]


def _count_training(ctx: TaskContext) -> dict[str, Any]:
    from .cost import count_training
    from .cost.training import COLUMNS, STATUS_COLUMN

    try:
        count = count_training(ctx.model(), input_shape=ctx.input_shape())
    except Exception as exc:  # a row without the count is still a measured training step; it says why
        return {**dict.fromkeys(COLUMNS),
                STATUS_COLUMN: f"not counted: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}  # fmt: skip
    return {**count.columns(), STATUS_COLUMN: f"{count.describe()}, archbench's build of the model"}


def _train(ctx: TaskContext) -> list[dict[str, Any]]:
    """One training step timed as :func:`_latency` times inference, through the same pipeline and row:
    forward in training mode (batch norm on batch statistics), cross-entropy on random labels,
    backward, SGD with momentum (:mod:`archbench.benchmark.train_step`); archbench's model on each
    backend (its ``macs`` are the counted training step's, so ``gflops_per_s`` is the step's) and each
    peer mode, at each batch size; every row carries :func:`_train_count`'s columns."""
    return _latency(ctx, train=True)


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
    """What every latency row carries whatever ran it: the measuring process's environment apart (the
    runner stores it as the row's ``env``), the profile, where its sweep stopped, and where it stands
    against this machine's measured peaks (:func:`archbench.roofline.roofline_columns`)."""
    from .benchmark.machine_peaks import peaks_for_row
    from .environment import ENV_KEYS
    from .roofline import roofline_columns

    kept = ("backend", "device", "device_type", "device_name")
    env = {k: row[k] for k in ENV_KEYS if k in row}
    row = {k: v for k, v in row.items() if k not in ENV_KEYS or k in kept}
    row.pop("model", None)
    row["error"] = row.pop("message", "")
    if row.get("reason") and row["error"] and not row["error"].startswith(row["reason"]):
        row["error"] = f"{row['reason']}: {row['error']}"
    row["profile"] = ctx.settings.profile
    row["sweep_stopped"] = _sweep_stopped(row["status"], ctx.unit["batch_size"], ctx.settings.batches)
    row.update(roofline_columns(row, peaks_for_row(row) if row["status"] == "ok" else None))
    if env:
        row["env"] = env
    return row


PEER_RUNTIME = "torch"
"""The ``runtime`` of a torchvision peer's rows: PyTorch runs the peer's own build."""


register_task(Task("latency", "compiled inference latency, memory and energy per backend, runtime or peer and "
                   "batch size (Keras: never eager/predict)", _latency, units=_latency_units, sweep_axis="batch_size"))
register_task(Task("train", "one compiled training step (forward, loss, backward, SGD momentum), timed as latency "
                   "per backend or peer and batch size, with its counted MACs", _train,
                   units=lambda s: _latency_units(s, runtimes=("keras",)), sweep_axis="batch_size"))
