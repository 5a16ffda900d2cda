"""Timing in this process, on the active Keras backend: compile, measure, build, sweep.

:func:`measure` times a built model; :func:`prepare` compiles it once for repeated timing;
:func:`measure_function` times any compiled zero-argument function; :func:`build_model` builds a
registered (or user) model for a config; :func:`sweep` goes through several configs of one model,
recording out-of-memory and other failures as results. Other backends are timed in a subprocess
(:mod:`archbench.benchmark.processes`).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .compilers import (
    COMPILERS,
    Compiled,
    apply_threads,
    default_freeze,
    default_jit,
    gpu_missing,
    input_batch_shape,
)
from .config import DEFAULT, LatencyConfig, active_backend
from .load import LoadMonitor
from .oom import is_oom
from .protocol import Failure
from .result import LatencyResult, short_message
from .timing import time_function

EnergyFactory = Callable[[str, int, Callable[[], float]], Any]


def resolve(config: LatencyConfig, backend: str) -> LatencyConfig:
    """The config with the backend and the compiled path (``jit=None``: :func:`default_jit`) filled in."""
    changes: dict[str, Any] = {}
    if config.backend is None:
        changes["backend"] = backend
    if config.jit is None:
        from ..environment import gpu_names

        on_gpu = config.device != "cpu" and bool(gpu_names(backend))
        changes["jit"] = default_jit(backend, "gpu" if on_gpu else "cpu")
    return config.replace(**changes) if changes else config


def measure(
    model: Any,
    config: LatencyConfig | None = None,
    *,
    name: str | None = None,
    **timing: Any,
) -> LatencyResult:
    """Time compiled inference of a built Keras model on the active backend.

    ``timing`` are :meth:`PreparedInference.measure`'s keyword arguments (``sync``, ``clock``,
    ``macs``, ``load``, ``energy``). Out of memory gives a result with ``status="oom"``; other errors
    propagate. Same as ``prepare(model, config).measure(**timing)``.
    """
    try:
        prepared = prepare(model, config, name=name)
    except UsageError:
        raise
    except Exception as exc:
        if not is_oom(exc):
            raise
        config = resolve(config or DEFAULT, active_backend())
        return LatencyResult(
            model=name or getattr(model, "name", "model"),
            config=config,
            status="oom",
            message=short_message(exc),
            backend=active_backend(),
            failure=Failure.of(exc),
        )
    return prepared.measure(**timing)


@dataclass
class PreparedInference:
    """A model compiled for one config, ready to be timed, possibly several times.

    Timing the same compiled function repeatedly is what interleaved comparisons need (A B B A rounds
    without recompiling); from the second :meth:`measure` on, ``first_call_ms`` is an ordinary call.
    """

    config: LatencyConfig
    context: dict[str, Any]
    compiled: Compiled

    def measure(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sync: Callable[[Any], Any] | None = None,
        macs: int | None = None,
        load: LoadMonitor | None = None,
        energy: EnergyFactory | None = None,
    ) -> LatencyResult:
        """Time the prepared call. ``sync`` replaces the compiled path's synchronisation (it must
        still wait for the device); ``clock`` replaces ``time.perf_counter`` (tests pass fake ones);
        ``macs`` is per image; ``load`` and ``energy`` are as for :func:`measure_function`."""
        from ..environment import describe_device

        compiled, config, backend = self.compiled, self.config, self.context["backend"]

        def describe(out: Any) -> dict[str, Any]:
            kind, index = compiled.locate(out)
            if config.device in ("cpu", "gpu") and kind != config.device and not gpu_missing(compiled.notes):
                compiled.notes.append(f"{config.device} requested, the output was computed on {kind}")
            full = describe_device(kind, index, backend=backend)
            return {"device": full, "device_type": kind, "device_name": full.split(" (", 1)[1][:-1]}

        return measure_function(
            compiled.fn,
            config,
            sync=sync or compiled.sync,
            clock=clock,
            macs=macs,
            describe=describe,
            path=lambda: compiled.path,
            notes=compiled.notes,
            load=load,
            energy=energy,
            **self.context,
        )


def prepare(
    model: Any, config: LatencyConfig | None = None, *, name: str | None = None, train: bool = False
) -> PreparedInference:
    """Validate ``config`` against the model and compile its inference for the active backend (with
    ``train``, its training step: :mod:`archbench.benchmark.train_step`; weights are never frozen).

    Raises :class:`UsageError` for a config the model or process cannot honour (another backend, a
    dtype policy the model was not built with, threads that can no longer be set); compilation errors
    (out of memory included) propagate.
    """
    backend = active_backend()
    config = config or DEFAULT
    if config.backend is not None and config.backend != backend:
        raise UsageError(
            f"config asks for backend {config.backend!r} but this process runs {backend!r} "
            "(Keras fixes its backend at import; use measure_in_subprocess)"
        )
    if backend not in COMPILERS:
        raise UsageError(f"latency is not measured on the {backend!r} backend")
    config = resolve(config, backend)
    if config.freeze_weights is None:
        config = config.replace(freeze_weights=False if train else default_freeze(backend, model))
    policy = model.dtype_policy.name if hasattr(model, "dtype_policy") else "float32"
    if policy != config.dtype:
        raise UsageError(
            f"the model was built with dtype policy {policy!r} but dtype={config.dtype!r} was asked: "
            "build it under that policy (build_model does)"
        )
    apply_threads(backend, config.threads)
    shape = input_batch_shape(model, config)
    context: dict[str, Any] = {
        "model": name or getattr(model, "name", "model"),
        "backend": backend,
        "dtype_policy": policy,
        "input_shape": shape[1:],
    }
    if train:
        from .train_step import keras_train_step

        return PreparedInference(config, context, keras_train_step(model, config, backend))
    return PreparedInference(config, context, COMPILERS[backend](model, config, shape))


def measure_function(
    fn: Callable[[], Any],
    config: LatencyConfig,
    *,
    sync: Callable[[Any], Any],
    clock: Callable[[], float] = time.perf_counter,
    macs: int | None = None,
    model: str = "model",
    backend: str = "",
    describe: Callable[[Any], Mapping[str, Any]] | None = None,
    path: str | Callable[[], str] = "",
    notes: Sequence[str] = (),
    load: LoadMonitor | None = None,
    energy: EnergyFactory | None = None,
    **fields: Any,
) -> LatencyResult:
    """Time an already compiled zero-argument ``fn`` and build the result; out of memory -> ``"oom"``.

    ``describe(output)`` returns ``device``, ``device_type`` and ``device_name`` of the device that
    computed the output (defaults: the CPU). ``notes`` may still grow while ``fn`` runs (fallbacks).

    ``load`` stamps the load average and CPU steal before the first call and after the last timed
    one (default: a monitor started here, so ``steal_before`` is unknown). ``energy(device_type,
    index, clock)`` returns the :class:`archbench.energy.EnergyMeter` whose window is the timed
    samples (default: RAPL on the CPU, NVML on a GPU); its reading counts ``batch_size`` images per
    sample.
    """
    from ..environment import cpu_model

    seen: dict[str, Any] = {}
    meters: list[Any] = []

    def first_sync(out: Any) -> Any:
        seen.update(describe(out) if describe else {})
        return sync(out)

    def window() -> Any:
        kind = seen.get("device_type", "cpu")
        index = _device_index(seen.get("device", ""))
        meters.append((energy or default_energy_meter)(kind, index, clock))
        return meters[-1]

    monitor = load if load is not None else LoadMonitor()
    base = {"model": model, "config": config, "backend": backend, **fields}
    try:
        monitor.before()
        timing = time_function(fn, config, sync=sync, clock=clock, first_sync=first_sync, window=window)
        stamps = monitor.after()
    except Exception as exc:
        if not is_oom(exc):
            raise
        return LatencyResult(
            status="oom",
            message=short_message(exc),
            notes=tuple(notes),
            failure=Failure.of(exc),
            **base,
            **seen,
        )
    device = {"device": f"cpu:0 ({cpu_model()})", "device_type": "cpu", "device_name": cpu_model()}
    device.update(seen)
    return LatencyResult(
        path=path() if callable(path) else path,
        first_call_ms=timing.first_call_s * 1e3,
        warmup_iterations=timing.warmup_iterations,
        warmup_ms=timing.warmup_s * 1e3,
        samples_ms=tuple(s * 1e3 for s in timing.samples_s),
        macs=macs,
        notes=tuple(notes),
        stop_reason=timing.stop_reason,
        load=stamps,
        energy=meters[0].reading(images=config.batch_size * len(timing.samples_s)) if meters else None,
        **base,
        **device,
    )


def default_energy_meter(device_type: str, index: int, clock: Callable[[], float]) -> Any:
    """RAPL for a CPU, NVML for GPU ``index`` (:class:`archbench.energy.EnergyMeter`)."""
    from ..energy import EnergyMeter

    return EnergyMeter("gpu" if device_type == "gpu" else "cpu", gpu_index=index, clock=clock)


def _device_index(device: str) -> int:
    """``0`` of ``"gpu:0 (name)"``; 0 when the string says nothing."""
    head = device.split(" ", 1)[0]
    _, _, index = head.partition(":")
    return int(index) if index.isdigit() else 0


# -- building models and sweeping (in the active backend) --------------------------------------------


def _factory(model: str) -> tuple[Callable[..., Any], int, tuple[int, int, int] | None]:
    """``(builder, channels, default input shape)`` for a registered name, ``module:function`` or
    ``path/to/file.py:function``."""
    if ":" in model:
        where, _, attr = model.rpartition(":")
        if where.endswith(".py"):
            spec = importlib.util.spec_from_file_location(f"_archbench_user_{abs(hash(where))}", where)
            if spec is None or spec.loader is None:
                raise UsageError(f"cannot load model file {where!r}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        if not hasattr(module, attr):
            raise UsageError(f"{where!r} has no function {attr!r}")
        return getattr(module, attr), 3, None
    from ..registry import get_spec

    spec = get_spec(model)
    return spec.build, spec.input_shape[2], spec.input_shape


def build_model(model: str, config: LatencyConfig, **kwargs: Any) -> Any:
    """Build a registered model (or ``module:function`` / ``file.py:function``) for ``config``.

    The dtype policy and device of the config are in force while the builder runs; ``input_size``
    becomes ``input_shape=(size, size, channels)``.
    """
    import keras

    from ..environment import gpu_names

    builder, channels, _ = _factory(model)
    if config.input_size is not None:
        kwargs.setdefault("input_shape", (config.input_size, config.input_size, channels))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.dtype)
    try:
        scope = None
        if config.device == "cpu":
            scope = "cpu:0"
        elif config.device == "gpu" and gpu_names(active_backend()):
            scope = "gpu:0"
        if scope is None:
            return builder(**kwargs)
        with keras.device(scope):
            return builder(**kwargs)
    finally:
        keras.config.set_dtype_policy(previous)


def model_macs(model: Any) -> int | None:
    """MACs per image from :func:`archbench.counting.count`, or ``None`` where it is unavailable."""
    return Analytic.of(model).macs


@dataclass(frozen=True)
class Analytic:
    """What the counter says of a built model: MACs and live activation bytes per image (the
    inference peak, else the total), and the bytes of its weights as stored."""

    macs: int | None
    activation_bytes_per_image: int | None
    params_bytes: int

    @classmethod
    def of(cls, model: Any, compute_dtype: str = "float32", input_shape: Any = None, *,
           train: bool = False) -> Analytic:
        """``compute_dtype`` is the activations' dtype (the dtype policy's compute dtype);
        ``input_shape`` (per image) is what a subclassed model is traced at. A partial count
        (:func:`archbench.count`) gives no MACs: a rate from it would be wrong. For a
        training step (``train``) the activations are all of them (the backward pass reads every one)
        and the MACs are not the inference count (the training step's come from
        :func:`archbench.count_training`)."""
        import numpy as np

        params_bytes = sum(int(np.prod(w.shape)) * _itemsize(w.dtype) for w in model.weights)
        try:
            from ..cost import count as count_model

            c = count_model(model, input_shape, dtype=compute_dtype)
        except Exception:  # the counter is optional here: latency rows are still worth having without it
            return cls(None, None, params_bytes)
        walked = c.walked if c.method == "walker" else None
        activations = None
        if walked is not None:
            peak = walked.activation_bytes_peak
            activations = peak if peak is not None and not train else walked.activation_bytes_total
        return cls(int(c.macs) if c.complete and not train else None, activations, params_bytes)


def _itemsize(dtype: Any) -> int:
    import numpy as np

    name = str(dtype)
    return 2 if name == "bfloat16" else np.dtype(name).itemsize


def memory_probe(config: LatencyConfig, backend: str) -> Any:
    """A :class:`archbench.memory.MemoryProbe` for where ``config`` runs: the framework's GPU allocator
    when a GPU will compute, else this process's resident memory."""
    from ..environment import gpu_names
    from ..memory import MemoryProbe

    if config.device != "cpu" and gpu_names(backend):
        return MemoryProbe("gpu", framework=backend)
    return MemoryProbe("cpu")
