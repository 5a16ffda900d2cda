"""The Keras model compiled by its backend: ``tf.function`` + XLA, ``jax.jit``, ``torch.compile``.

Besides each backend's default compiled path, a way may be a **variant** (:data:`VARIANTS`, the way's
``mode``; ``archbench run --keras-modes``):

- ``command-buffers`` (JAX on a GPU): ``jax.jit`` with XLA's command buffers (CUDA graphs captured by
  XLA) including convolutions, which current jaxlib leaves out unless asked:
  ``XLA_FLAGS=--xla_gpu_enable_command_buffer=+CONVOLUTION --xla_gpu_graph_min_graph_size=1``
  (openxla/xla ``debug_options_flags.cc``; the default set is FUSION, CUBLAS, CUBLASLT, CUSTOM_CALL,
  CUDNN with a minimum graph size of 5). XLA reads the flags when its backend starts, so the way has
  measuring processes of its own with the flags set; the row's ``env_xla_flags`` records them. On a CPU
  the row is ``skipped`` (command buffers are a GPU feature); a jaxlib that rejects a flag gives a
  ``skipped`` row with XLA's words.
- ``reduce-overhead`` (torch backend): ``torch.compile(mode="reduce-overhead")``, CUDA graphs on a GPU
  (on a CPU the default compiled code; the row notes it).

A way whose ``step`` is ``train`` times one compiled training step (:mod:`archbench.benchmark.train_step`)
instead of inference (mode ``<backend> <how> train step``), any variant alike.

A variant's row carries its conformance to the Keras model's eager call on the same input
(``max_abs_diff``, ``max_rel_diff``, ``conformance_reference``). On the torch backend the row also says
how often Dynamo broke the graph (``graph_breaks``) and whether the compiled call was slower than eager
(``eager_median_ms``, ``slower_than_eager``): a slow or broken compile is measured and flagged, never a
silent default.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import LatencyConfig, active_backend
from ..train_step import COLUMNS as TRAIN_COLUMNS
from . import Target, TargetFailed, Way

_MODES = {"tf.function+xla": "xla", "tf.function": "graph", "torch.compile": "compile", "torch eager": "eager"}
_EAGER_CALLS = 5


@dataclass(frozen=True)
class Variant:
    """A way of compiling the Keras model beyond its backend's default."""

    backends: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    compile_mode: str | None = None
    gpu_only: bool = False
    description: str = ""


COMMAND_BUFFER_FLAGS = "--xla_gpu_enable_command_buffer=+CONVOLUTION --xla_gpu_graph_min_graph_size=1"

VARIANTS: dict[str, Variant] = {
    "default": Variant(("tensorflow", "jax", "torch"), description="the backend's default compiled path"),
    "command-buffers": Variant(("jax",), {"XLA_FLAGS": COMMAND_BUFFER_FLAGS}, gpu_only=True,
                               description="jax.jit with XLA command buffers including convolutions (GPU)"),
    "reduce-overhead": Variant(("torch",), compile_mode="reduce-overhead",
                               description="torch.compile(mode='reduce-overhead'): CUDA graphs on a GPU"),
}


def variant_env(variant: str) -> dict[str, str]:
    """The environment a variant's measuring process needs (XLA flags added to any already set)."""
    env = dict(VARIANTS[variant].env)
    if "XLA_FLAGS" in env and os.environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = f"{os.environ['XLA_FLAGS']} {env['XLA_FLAGS']}"
    return env


def keras_mode(backend: str, path: Any, variant: str = "default") -> str:
    """``<backend> <how the Keras model was compiled>``: ``tensorflow xla``, ``jax jit``, ``torch compile``,
    with a variant in brackets (``jax jit (command-buffers)``)."""
    path = str(path or "")
    how = "jit" if path.startswith("jax.jit") else _MODES.get(path.split("(")[0], path)
    mode = f"{backend} {how}".strip()
    return mode if variant in ("", "default") else f"{mode} ({variant})"


def _gpu_only(variant: str, gpu_here: bool) -> tuple[str, str] | None:
    """The skip of a GPU-only variant where no GPU computes."""
    spec = VARIANTS[variant or "default"]
    if not spec.gpu_only or gpu_here:
        return None
    return "gpu only", f"{variant} ({spec.description}) is a GPU way: no GPU here, not measured"


class KerasTarget(Target):
    """A registered (or user) Keras model on the active backend (the way's ``backend``); it counts its
    own MACs and activations (no stage)."""

    @classmethod
    def skip_reason(cls, way: Way, model: str, config: LatencyConfig) -> tuple[str, str] | None:
        """A GPU-only variant asked on the CPU (``device="cpu"``); where the device is left to the
        machine, the measuring process decides by the GPUs its backend sees."""
        return _gpu_only(way.mode, config.device != "cpu")

    @classmethod
    def describe(cls, way: Way) -> dict[str, Any]:
        variant = way.mode or "default"
        return {"framework": "archbench", "runtime": "keras", "mode": keras_mode(way.backend, "", variant),
                "variant": variant}

    @classmethod
    def preload(cls, way: Way) -> tuple[str, ...]:
        return ("keras", "archbench.benchmark.targets.keras", "archbench.registry", "archbench.models")

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        self.backend = active_backend()
        self.variant = way.mode or "default"
        self.spec = VARIANTS[self.variant]
        self.train = way.train
        self.built: Any = None

    def resolve(self, config: LatencyConfig) -> LatencyConfig:
        from ..measure import resolve

        config = resolve(config, self.backend)
        if self.spec.compile_mode and config.compile_mode is None:
            config = config.replace(compile_mode=self.spec.compile_mode)
        return config

    def build_key(self, config: LatencyConfig) -> tuple:
        return (config.dtype, config.input_size, config.device)

    def build(self, model: str, config: LatencyConfig) -> Any:
        from ...environment import gpu_names
        from ..measure import build_model

        skip = _gpu_only(self.variant, config.device != "cpu" and bool(gpu_names(self.backend)))
        if skip:
            raise TargetFailed(*skip, status="skipped")
        if self.built is not None:  # a fresh measuring process has nothing to clear (clear_session: ~0.3 s)
            self.release()
        self.built = build_model(model, config)
        return self.built

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        from ...keras_internals import model_input_shape
        from ..measure import prepare

        own = model_input_shape(built)
        if config.input_size is None and isinstance(own, tuple) and own[1] is not None:
            config = config.replace(input_size=int(own[1]))
        return prepare(built, config, name=name, train=self.train)

    def analytic(self, built: Any, config: LatencyConfig, input_shape: tuple[int, ...]) -> Any:
        import keras

        from ..measure import Analytic

        compute = keras.DTypePolicy(config.dtype).compute_dtype
        return Analytic.of(built, compute, input_shape=tuple(input_shape) or None, train=self.train)

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        from ...environment import versions

        v = versions()
        out: dict[str, Any] = {
            **self.describe(self.way),
            "framework_version": importlib.metadata.version("keras"),
            "runtime_version": f"{self.backend} {v.get(f'{self.backend}_version')}",
            "mode": keras_mode(self.backend, prepared.compiled.path if prepared is not None else "", self.variant),
        }
        if self.train:
            out["mode"] += " train step"
            return {**out, **TRAIN_COLUMNS}
        if prepared is not None and result is not None and result.status == "ok":
            if self.variant != "default" or self.backend == "torch":
                out.update(self._conformance(prepared))
            if self.backend == "torch":
                out.update(self._against_eager(prepared, result))
        return out

    def _conformance(self, prepared: Any) -> dict[str, Any]:
        """The compiled call's output against the Keras model's eager call on the same batch."""
        import keras
        import numpy as np

        from ...runtimes.base import compare_outputs

        compiled = prepared.compiled
        if compiled.inputs is None:
            return {}
        out = compiled.fn()
        compiled.sync(out)
        ref = self.built(compiled.inputs, training=False)
        got = np.asarray(keras.ops.convert_to_numpy(_first(out)), dtype=np.float64)
        want = np.asarray(keras.ops.convert_to_numpy(_first(ref)), dtype=np.float64)
        max_abs, max_rel = compare_outputs(got, want)
        return {"max_abs_diff": max_abs, "max_rel_diff": max_rel, "conformance_reference": "keras eager call"}

    def _against_eager(self, prepared: Any, result: Any) -> dict[str, Any]:
        """Dynamo's graph breaks, and the eager call's median over a few calls beside the compiled one."""
        import statistics
        import time

        import torch

        breaks = None
        try:
            from torch._dynamo.utils import counters

            breaks = int(sum(counters["graph_break"].values()))
        except (ImportError, AttributeError):
            pass
        x = prepared.compiled.inputs
        times = []
        with torch.no_grad():
            for _ in range(_EAGER_CALLS + 1):
                t0 = time.perf_counter()
                out = self.built(x, training=False)
                prepared.compiled.sync(out)
                times.append(time.perf_counter() - t0)
        eager_ms = statistics.median(times[1:]) * 1e3
        slower = prepared.compiled.path.startswith("torch.compile") and (result.median_ms or 0) > eager_ms
        if slower:
            prepared.compiled.notes.append(
                f"torch.compile ran slower than eager ({result.median_ms:.3g} vs {eager_ms:.3g} ms)")
        if breaks:
            prepared.compiled.notes.append(f"Dynamo broke the graph {breaks} time(s)")
        return {"graph_breaks": breaks, "eager_median_ms": eager_ms, "slower_than_eager": slower,
                "notes": "; ".join(prepared.compiled.notes)}

    def release(self) -> None:
        import keras

        self.built = None
        keras.utils.clear_session()


def _first(y: Any) -> Any:
    return y[0] if isinstance(y, list | tuple) else y
