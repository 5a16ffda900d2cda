"""Ways of running a model, as targets of the one latency pipeline.

A :class:`Way` names how a model runs (``keras`` on a backend, a ``torchvision`` peer in a mode, the
model ``exported`` to a runtime) and is what crosses the process boundary. Inside the measuring
process :func:`make_target` turns it into a :class:`Target`, which builds the model, prepares a
compiled zero-argument call with its synchronisation, and describes itself in the row; everything
else — the timer and its stop rule, load and ``noisy``, memory, energy, the row schema — is the
pipeline's (:func:`archbench.benchmark.sweeps.sweep`), the same for every way.

Adding a way is a module here with a :class:`Target` subclass and an entry in :data:`TARGETS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..caches import process_env
from ..config import LatencyConfig
from ..launcher import ProcessKind

TARGETS = {
    "keras": "archbench.benchmark.targets.keras:KerasTarget",
    "torchvision": "archbench.benchmark.targets.torchvision:TorchvisionTarget",
    "exported": "archbench.benchmark.targets.exported:ExportedTarget",
    "probes": "archbench.benchmark.targets.probes:ProbesTarget",
}

_PRELOAD = {
    "keras": ("keras", "archbench.benchmark.targets.keras", "archbench.registry", "archbench.models"),
    "torchvision": ("torch", "torchvision", "archbench.benchmark.targets.torchvision"),
    "probes": ("archbench.benchmark.targets.probes",),
}


@dataclass(frozen=True)
class Way:
    """One way of running a model: ``kind`` (a key of :data:`TARGETS`), the framework ``backend`` that
    computes (``tensorflow``/``jax``/``torch``), a ``mode`` (torchvision: eager, compile,
    reduce-overhead; exported: the runtime) and target options (JSON values)."""

    kind: str
    backend: str
    mode: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "backend": self.backend, "mode": self.mode, "options": dict(self.options)}

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Way:
        return cls(d["kind"], d["backend"], d.get("mode", ""), dict(d.get("options") or {}))

    def process_kind(self, config: LatencyConfig) -> ProcessKind:
        """The measuring process: its environment and what its pre-imported worker imports."""
        env = [("KERAS_BACKEND", self.backend if self.kind == "keras" else "tensorflow")]
        env += list(process_env(config.compile_cache))
        env += [(str(k), str(v)) for k, v in dict(self.options.get("env") or {}).items()]
        if self.kind == "exported":
            preload = tuple(self.options.get("preload") or ())
        else:
            preload = _PRELOAD[self.kind]
        name = f"{self.kind}-{self.backend}-{self.mode}".rstrip("-")
        return ProcessKind(name, tuple(env), preload, fork=bool(self.options.get("fork", True)))


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
    """How one way builds, prepares and describes a model, in the measuring process.

    The pipeline calls :meth:`resolve` on each config, :meth:`build` once per :meth:`build_key` (with
    the memory probe's baseline before and its ``built`` stamp after), then :meth:`prepare` inside the
    probe's inference window, times the prepared call, and asks :meth:`analytic` and :meth:`columns`
    for the row. :meth:`release` drops what was built.
    """

    backend: str = ""
    environment_backend: str | None = None
    """The framework :func:`archbench.environment.environment` asks about devices (``None``: Keras'
    active backend); a target that runs without Keras names its own, and one that never imports a
    framework for the environment, ``numpy``."""

    def __init__(self, way: Way) -> None:
        self.way = way

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
        from ..measure import Analytic

        return Analytic(None, None, None)

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


def make_target(way: Way | Mapping[str, Any]) -> Target:
    """The :class:`Target` of a way (imports the framework behind it)."""
    way = way if isinstance(way, Way) else Way.of(way)
    module, _, cls = TARGETS[way.kind].partition(":")
    return getattr(importlib.import_module(module), cls)(way)


def missing_module(*modules: str) -> str | None:
    """The first of ``modules`` that is not installed, else ``None`` (nothing is imported)."""
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)
