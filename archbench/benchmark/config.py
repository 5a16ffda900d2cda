"""The one list of backends, aliases, devices and dtypes, and the latency configuration built on it.

Every caller (the command line's ``run`` and ``bench``, the tasks, the benchmark scripts) names a
backend through :func:`normalize_backend`, so an alias accepted in one place is accepted everywhere
and an unknown name is refused with the same one-line message.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_ALIASES = {
    "tf": "tensorflow",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch": "torch",
    "pytorch": "torch",
}
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKEND_PACKAGES = {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}
DEVICES = ("auto", "cpu", "gpu")
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")
DEFAULT_MAX_TIME_S = 8.0


def max_time_for(min_time_s: float, max_time_s: float | None = None) -> float:
    """The time cap to use: ``max_time_s`` when given, else the default, raised to ``min_time_s``."""
    return max_time_s if max_time_s is not None else max(DEFAULT_MAX_TIME_S, min_time_s)


def normalize_backend(name: str) -> str:
    """``"tf"`` -> ``"tensorflow"``, ``"pytorch"`` -> ``"torch"``; unknown names raise :class:`UsageError`
    (``unknown backend 'foo'; choose from tensorflow, jax, torch (aliases: tf, pytorch)``)."""
    key = name.strip().lower()
    if key not in BACKEND_ALIASES:
        aliases = ", ".join(k for k, v in BACKEND_ALIASES.items() if k != v)
        raise UsageError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} (aliases: {aliases})")
    return BACKEND_ALIASES[key]


def backend_installed(backend: str) -> bool:
    """Whether the framework of a (normalised) backend can be imported, without importing it."""
    return importlib.util.find_spec(BACKEND_MODULES[backend]) is not None


def not_installed_message(backend: str) -> str:
    """The one message for a backend whose framework is missing, with the package to install."""
    return f"backend {backend} is not installed (pip install {BACKEND_PACKAGES[backend]})"


def active_backend() -> str:
    """The backend Keras runs in this process (importing Keras fixes it)."""
    import keras

    return keras.backend.backend()


def configured_backend() -> str:
    """The active backend if Keras is imported, else the one ``KERAS_BACKEND`` will select."""
    if "keras" in sys.modules:
        return active_backend()
    return normalize_backend(os.environ.get("KERAS_BACKEND", "tensorflow"))


@dataclass(frozen=True)
class LatencyConfig:
    """How to time one model; every field is repeated in each result row.

    ``backend=None`` means the active Keras backend. ``device`` is what is asked for (``auto`` = GPU if
    one is visible); the row's ``device`` column says what was used. ``dtype`` is a Keras dtype policy.
    ``input_size=None`` keeps the model's (or registry spec's) input size. ``jit=None`` picks the
    fastest path measured for the backend and device (:func:`default_jit`): XLA for TensorFlow,
    ``torch.compile`` for torch; JAX always compiles.
    ``freeze_weights=None`` picks :func:`default_freeze`: on JAX, for models with batch norm, the
    weights become constants of the compiled program (inference only, like ``torch.compile``'s
    freezing); TF and torch pass them as variables. ``threads=None`` leaves the
    framework's thread pools at their defaults (all cores).

    The stop rule (:mod:`archbench.benchmark.timing`): after the first call, ``warmup`` calls (and
    ``warmup_s`` seconds) and at least ``min_iterations`` samples over ``min_time_s`` seconds,
    sampling goes on until the median's 95 % interval is within ``±ci_target`` of it, or
    ``max_time_s`` seconds of sampling, or ``max_iterations`` samples. The minimums come first:
    ``max_iterations`` caps the samples taken *after* ``min_time_s`` has passed and never cuts it
    short, so a minimum time asked for is honoured on the fastest model (at 60 µs a call, 9 s is
    150,000 samples), and ``max_time_s`` may not be below it. The defaults keep the zoo's quick run
    (28 models at batch 1) within minutes on two CPU cores: a unit samples for 1 to 8 s.

    ``compile_mode`` is ``torch.compile``'s mode on the torch backend (``None``: its default;
    ``"reduce-overhead"``: CUDA graphs on a GPU). ``compile_cache`` keeps compiled programs in archbench's persistent cache folder
    (:mod:`archbench.benchmark.caches`; JAX and TorchInductor).
    """

    backend: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    batch_size: int = 1
    input_size: int | None = None
    jit: bool | None = None
    freeze_weights: bool | None = None
    threads: int | None = None
    warmup: int = 3
    warmup_s: float = 0.0
    min_iterations: int = 10
    min_time_s: float = 1.0
    max_iterations: int = 10_000
    ci_target: float = 0.02
    max_time_s: float = DEFAULT_MAX_TIME_S
    seed: int = 0
    compile_cache: bool = True
    compile_mode: str | None = None

    def __post_init__(self) -> None:
        if self.backend is not None:
            object.__setattr__(self, "backend", normalize_backend(self.backend))
        if self.device not in DEVICES:
            raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("batch_size", "min_iterations", "max_iterations"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_iterations < self.min_iterations:
            raise UsageError("max_iterations must be at least min_iterations")
        if self.warmup < 0 or self.warmup_s < 0 or self.min_time_s < 0:
            raise UsageError("warmup, warmup_s and min_time_s must not be negative")
        if not self.ci_target > 0:
            raise UsageError(f"ci_target must be positive, got {self.ci_target}")
        if self.max_time_s < self.min_time_s:
            raise UsageError(
                f"max_time_s ({self.max_time_s:g}) must be at least min_time_s ({self.min_time_s:g})"
            )
        if self.input_size is not None and self.input_size < 1:
            raise UsageError(f"input_size must be positive, got {self.input_size}")
        if self.compile_mode not in (None, "default", "reduce-overhead", "max-autotune"):
            raise UsageError(f"compile_mode must be default, reduce-overhead or max-autotune, got {self.compile_mode!r}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"threads must be at least 1, got {self.threads}")

    def replace(self, **changes: Any) -> LatencyConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyConfig:
        """The config of :meth:`as_dict` (fields it does not know are refused by the constructor)."""
        return dataclasses.replace(DEFAULT, **d)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT = LatencyConfig()
"""The default settings; every other config is made from it (:meth:`LatencyConfig.replace`)."""
