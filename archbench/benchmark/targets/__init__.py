"""Ways of running a model, as targets of the one latency pipeline.

A :class:`Way` names how a model runs (``keras`` on a backend, a ``torchvision`` peer in a mode, the
model ``exported`` to a runtime) and which ``step`` is timed (``inference`` or ``train``); it is what
crosses the process boundary. Its :class:`Target` class answers, in the process that plans the
measurement and without importing a framework, why the way does not apply (:meth:`Target.skip_reason`:
no counterpart, not installed, a precision the runtime does not offer, a GPU-only way on a CPU), which
jobs must run before it can be timed (:meth:`Target.stages`: an export, a conversion, archbench's count
of the model, each in a measuring process of the one launcher) and the columns its rows carry before
anything ran (:meth:`Target.describe`). Inside the measuring process :func:`make_target` makes the
target, which builds the model, prepares a compiled zero-argument call with its synchronisation, and
describes itself in the row; everything else — the timer and its stop rule, load and ``noisy``, memory,
energy, the row schema — is the pipeline's (:func:`archbench.benchmark.sweeps.sweep`,
:func:`archbench.benchmark.processes.measure_way`), the same for every way.

Adding a way is a module here with a :class:`Target` subclass and an entry in :data:`TARGETS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..caches import process_env
from ..config import LatencyConfig, configured_backend
from ..launcher import ProcessKind

TARGETS = {
    "keras": "archbench.benchmark.targets.keras:KerasTarget",
    "torchvision": "archbench.benchmark.targets.torchvision:TorchvisionTarget",
    "exported": "archbench.benchmark.targets.exported:ExportedTarget",
    "probes": "archbench.benchmark.targets.probes:ProbesTarget",
}

STEPS = ("inference", "train")
"""What a way times: compiled inference, or one training step (:mod:`archbench.benchmark.train_step`)."""


@dataclass(frozen=True)
class Way:
    """One way of running a model: ``kind`` (a key of :data:`TARGETS`), the framework ``backend`` that
    computes (``tensorflow``/``jax``/``torch``), a ``mode`` (Keras: the variant; torchvision: eager,
    compile, reduce-overhead; exported: the runtime), the ``step`` it times (:data:`STEPS`) and target
    options (JSON values)."""

    kind: str
    backend: str
    mode: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    step: str = "inference"

    def __post_init__(self) -> None:
        if self.step not in STEPS:
            raise ValueError(f"unknown step {self.step!r}; choose from {', '.join(STEPS)}")

    @property
    def train(self) -> bool:
        return self.step == "train"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "backend": self.backend, "mode": self.mode, "options": dict(self.options),
                "step": self.step}

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Way:
        return cls(d["kind"], d["backend"], d.get("mode", ""), dict(d.get("options") or {}),
                   d.get("step", "inference"))

    def process_kind(self, config: LatencyConfig) -> ProcessKind:
        """The measuring process: its environment and what its pre-imported worker imports."""
        env = [("KERAS_BACKEND", self.backend if self.kind == "keras" else "tensorflow")]
        env += list(process_env(config.compile_cache))
        env += [(str(k), str(v)) for k, v in dict(self.options.get("env") or {}).items()]
        name = f"{self.kind}-{self.backend}-{self.mode}".rstrip("-")
        return ProcessKind(name, tuple(env), target_class(self).preload(self))


@dataclass(frozen=True)
class Stage:
    """A job that must run before a way can be timed, in a measuring process of ``kind``: its ``job``
    goes to :meth:`Target.run_stage` of the way's target class, whose answer (``ok``, ``error`` or
    figures) the pipeline keeps in the way's ``staged`` option."""

    name: str
    kind: ProcessKind
    job: Mapping[str, Any] = field(default_factory=dict)


class TargetFailed(Exception):
    """A target that cannot be timed for a reason of its own: the row's ``status`` is ``failed`` (an
    exported model whose outputs differ from Keras') or ``skipped`` (a GPU-only way on a CPU),
    ``reason`` names it, ``columns`` go into the row."""

    def __init__(self, reason: str, message: str, columns: Mapping[str, Any] | None = None,
                 status: str = "failed") -> None:
        super().__init__(message)
        self.reason = reason
        self.columns = dict(columns or {})
        self.status = status


class Target:
    """How one way plans, builds, prepares and describes a model.

    In the planning process (class methods, no framework imported): :meth:`skip_reason`,
    :meth:`stages`, :meth:`describe`, :meth:`preload`. In a stage's process: :meth:`run_stage`. In the
    measuring process the pipeline calls :meth:`resolve` on each config, :meth:`build` once per
    :meth:`build_key` (with the memory probe's baseline before and its ``built`` stamp after), then
    :meth:`prepare` inside the probe's inference window, times the prepared call, and asks
    :meth:`analytic` and :meth:`columns` for the row. :meth:`release` drops what was built.
    """

    backend: str = ""
    environment_backend: str | None = None
    """The framework :func:`archbench.environment.environment` asks about devices (``None``: Keras'
    active backend); a target that runs without Keras names its own, and one that never imports a
    framework for the environment, ``numpy``."""

    def __init__(self, way: Way) -> None:
        self.way = way
        self.staged: dict[str, Any] = dict(way.options.get("staged") or {})

    # -- in the planning process --------------------------------------------------------------------

    @classmethod
    def skip_reason(cls, way: Way, model: str, config: LatencyConfig) -> tuple[str, str] | None:
        """``(reason, message)`` where the way does not apply to ``model`` under ``config`` (the row is
        ``skipped``, nothing runs), else ``None``. Bad arguments raise :class:`UsageError`."""
        return None

    @classmethod
    def stages(cls, way: Way, model: str, config: LatencyConfig, work: str) -> list[Stage]:
        """The jobs to run, in order, before the way is timed (``work``: a folder they share)."""
        return []

    @classmethod
    def describe(cls, way: Way) -> dict[str, Any]:
        """The columns a row of this way carries whether or not it was timed (framework, runtime, mode)."""
        return {}

    @classmethod
    def preload(cls, way: Way) -> tuple[str, ...]:
        """The modules the way's pre-imported worker imports before it forks a measuring process."""
        return ()

    # -- in a stage's process -----------------------------------------------------------------------

    @classmethod
    def run_stage(cls, job: Mapping[str, Any]) -> dict[str, Any]:
        """One stage (``job["stage"]``) in this process: ``{"ok": True, figures...}`` or ``{"ok": False,
        "error": one line}``. The ``count`` stage is every target's (:func:`count_stage`)."""
        if job["stage"] != "count":
            raise ValueError(f"{cls.__name__} has no stage {job['stage']!r}")
        return _counted(job)

    # -- in the measuring process -------------------------------------------------------------------

    def resolve(self, config: LatencyConfig) -> LatencyConfig:
        return config if config.backend else config.replace(backend=self.backend)

    def build_key(self, config: LatencyConfig) -> tuple:
        return (config.dtype, config.input_size, config.device, config.batch_size)

    def build(self, model: str, config: LatencyConfig) -> Any:
        raise NotImplementedError

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        """A :class:`archbench.benchmark.measure.PreparedInference` (may raise :class:`TargetFailed`)."""
        raise NotImplementedError

    def analytic(self, built: Any, config: LatencyConfig, input_shape: tuple[int, ...]) -> Any:
        """MACs, activation and parameter bytes; by default archbench's count from the ``count`` stage."""
        from ..measure import Analytic

        s = self.staged
        return Analytic(s.get("macs"), s.get("activation_bytes_per_image"), s.get("params_bytes"))

    def macs_source(self, model: str) -> str:
        """What the row's ``macs`` are: archbench's count (of the training step, for a train way)."""
        return f"archbench {'count_training' if self.way.train else 'count'} of {model}"

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        """``framework``, ``framework_version``, ``runtime``, ``runtime_version``, ``mode`` and the
        way's own columns (``result``: the timed result, when there is one)."""
        raise NotImplementedError

    def memory_probe(self, config: LatencyConfig) -> Any:
        """The probe of measured memory: the GPU allocator where a GPU computes, else resident memory."""
        from ..measure import memory_probe

        return memory_probe(config, self.backend)

    def release(self) -> None:
        pass


def count_stage(way: Way, model: str, config: LatencyConfig) -> Stage:
    """archbench's count of ``model`` (MACs and activation bytes per image, weight bytes), in a Keras
    measuring process: what a way whose own process cannot count (a torchvision peer, an exported
    runtime) reports as its analytic figures."""
    keras_way = Way("keras", configured_backend())
    job = {"model": model, "config": config.replace(backend=None, device="cpu").as_dict(), "train": way.train}
    return Stage("count", keras_way.process_kind(config), job)


def _counted(job: Mapping[str, Any]) -> dict[str, Any]:
    import keras

    from ..config import active_backend
    from ..measure import Analytic, build_model
    from ..result import short_message

    config = LatencyConfig.from_dict(job["config"]).replace(backend=active_backend())
    try:
        model = build_model(job["model"], config)
        a = Analytic.of(model, keras.DTypePolicy(config.dtype).compute_dtype, train=bool(job["train"]))
    except Exception as exc:  # no count is a row without a roofline, not a row without a timing
        return {"ok": True, "macs": None, "count_error": short_message(exc)}
    return {"ok": True, "macs": a.macs, "activation_bytes_per_image": a.activation_bytes_per_image,
            "params_bytes": a.params_bytes}


def target_class(way: Way | Mapping[str, Any]) -> type[Target]:
    """The :class:`Target` class of a way (imports its module, which imports no framework)."""
    kind = way.kind if isinstance(way, Way) else way["kind"]
    module, _, cls = TARGETS[kind].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_target(way: Way | Mapping[str, Any]) -> Target:
    """The :class:`Target` of a way (imports the framework behind it)."""
    way = way if isinstance(way, Way) else Way.of(way)
    return target_class(way)(way)


def missing_module(*modules: str) -> str | None:
    """The first of ``modules`` that is not installed, else ``None`` (nothing is imported)."""
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)
