"""The Keras model compiled by its backend: ``tf.function`` + XLA, ``jax.jit``, ``torch.compile``."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from ..config import LatencyConfig, active_backend
from . import Target

_MODES = {"tf.function+xla": "xla", "tf.function": "graph", "torch.compile": "compile", "torch eager": "eager"}


def keras_mode(backend: str, path: Any) -> str:
    """``<backend> <how the Keras model was compiled>``: ``tensorflow xla``, ``jax jit``, ``torch compile``."""
    path = str(path or "")
    how = "jit" if path.startswith("jax.jit") else _MODES.get(path, path)
    return f"{backend} {how}".strip()


class KerasTarget(Target):
    """A registered (or user) Keras model on the active backend (the way's ``backend``)."""

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        self.backend = active_backend()

    def resolve(self, config: LatencyConfig) -> LatencyConfig:
        from ..measure import resolve

        return resolve(config, self.backend)

    def build_key(self, config: LatencyConfig) -> tuple:
        return (config.dtype, config.input_size, config.device)

    def build(self, model: str, config: LatencyConfig) -> Any:
        from ..measure import build_model

        self.release()
        return build_model(model, config)

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        from ...keras_internals import model_input_shape
        from ..measure import prepare

        own = model_input_shape(built)
        if config.input_size is None and isinstance(own, tuple) and own[1] is not None:
            config = config.replace(input_size=int(own[1]))
        return prepare(built, config, name=name)

    def analytic(self, built: Any, config: LatencyConfig, input_shape: tuple[int, ...]) -> Any:
        import keras

        from ..measure import Analytic

        compute = keras.DTypePolicy(config.dtype).compute_dtype
        return Analytic.of(built, compute, input_shape=tuple(input_shape) or None)

    def columns(self, prepared: Any) -> dict[str, Any]:
        from ...environment import versions

        v = versions()
        return {
            "framework": "archbench",
            "framework_version": importlib.metadata.version("keras"),
            "runtime": "keras",
            "runtime_version": f"{self.backend} {v.get(f'{self.backend}_version')}",
            "mode": keras_mode(self.backend, prepared.compiled.path if prepared is not None else ""),
        }

    def release(self) -> None:
        import keras

        keras.utils.clear_session()
