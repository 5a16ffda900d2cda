"""Measured peak memory of a model: stamps before it is built, after, and the peak during inference.

:class:`MemoryProbe` takes three stamps in the measuring process:

1. ``baseline`` (:meth:`~MemoryProbe.mark_baseline`), before the model is built;
2. ``built`` (:meth:`~MemoryProbe.mark_built`), once it is built (weights allocated), with the peak
   reached while building;
3. ``peak``, the highest use while the ``with probe.inference():`` block ran (compilation, the input,
   activations, workspace).

What is measured, by ``device`` (the method is named in every record):

- ``cpu``: the process's resident memory, from ``/proc/self/status``. ``VmRSS`` is the current
  resident set and ``VmHWM`` its high-water mark; writing ``5`` to ``/proc/self/clear_refs`` resets
  the mark to the current RSS (Linux >= 4.0), so each stage's peak is its own: method
  ``"rss-hwm (clear_refs)"``. Where the mark cannot be reset, the peak is ``getrusage``'s
  ``ru_maxrss``, the process's lifetime peak: method ``"ru_maxrss (lifetime peak, not reset)"``; a
  stage's peak is then exact only if it rose above every earlier one (``peak_exact`` says whether).
  Linux keeps ``ru_maxrss`` across ``exec``, so a child process started by a large parent (Keras and
  TensorFlow loaded) begins with the parent's peak and ``peak_exact`` is false unless it rises above
  it; ``VmHWM`` belongs to the process's own address space and has no such inheritance.
- ``gpu``: the framework allocator's peak, which excludes the framework's own context (CUDA
  libraries, preallocated pools): ``torch.cuda.max_memory_allocated`` (reset per stage),
  TensorFlow's ``get_memory_info('GPU:0')['peak']`` (reset per stage) or JAX's
  ``device.memory_stats()['peak_bytes_in_use']`` (JAX cannot reset it: a lifetime peak).

A :class:`MemoryRecord` holds bytes. Its figures are differences to the baseline: ``model_bytes``
(built - baseline: the weights and what building left behind) and ``peak_above_baseline_bytes``
(the inference peak - baseline: the measuring process's peak above its baseline);
:meth:`MemoryRecord.as_row` gives a latency row's ``mem_*`` columns in MB (10^6 bytes).
"""

from __future__ import annotations

import contextlib
import re
import resource
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import UsageError

__all__ = ["GpuAllocator", "MemoryProbe", "MemoryRecord", "gpu_allocator"]

_KIB = 1024


@dataclass(frozen=True)
class MemoryRecord:
    """The stamps of one probe, in bytes; ``None`` for a stamp that was not taken."""

    device: str
    method: str
    baseline_bytes: int | None = None
    built_bytes: int | None = None
    build_peak_bytes: int | None = None
    peak_bytes: int | None = None
    peak_exact: bool = True  # the inference peak is the window's own, not an earlier, higher one

    @property
    def model_bytes(self) -> int | None:
        if self.built_bytes is None or self.baseline_bytes is None:
            return None
        return self.built_bytes - self.baseline_bytes

    @property
    def peak_above_baseline_bytes(self) -> int | None:
        if self.peak_bytes is None or self.baseline_bytes is None:
            return None
        return self.peak_bytes - self.baseline_bytes

    def as_row(self) -> dict[str, Any]:
        """The memory columns of a latency row, in MB (10^6 bytes)."""
        return {
            "mem_method": self.method,
            "mem_baseline_mb": _mb(self.baseline_bytes),
            "mem_model_mb": _mb(self.model_bytes),
            "mem_peak_mb": _mb(self.peak_above_baseline_bytes),
            "mem_peak_exact": self.peak_exact,
        }


def _mb(n: int | None) -> float | None:
    return None if n is None else n / 1e6


class _ProcessMemory:
    """Resident memory of this process, with a resettable high-water mark where Linux allows it."""

    def __init__(self, proc: str = "/proc/self") -> None:
        self.status_path = f"{proc}/status"
        self.clear_refs_path = f"{proc}/clear_refs"
        self.resettable = self._status() is not None and self._try_reset()
        self.method = "rss-hwm (clear_refs)" if self.resettable else "ru_maxrss (lifetime peak, not reset)"

    def _status(self) -> dict[str, int] | None:
        try:
            with open(self.status_path, encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError:
            return None
        found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)\s+kB", text, re.MULTILINE))
        return {k: int(v) * _KIB for k, v in found.items()} if len(found) == 2 else None

    def _try_reset(self) -> bool:
        try:
            with open(self.clear_refs_path, "w", encoding="ascii") as f:
                f.write("5")
        except OSError:
            return False
        return True

    def current(self) -> int:
        status = self._status()
        return status["VmRSS"] if status else self.lifetime_peak()

    def lifetime_peak(self) -> int:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * _KIB  # bytes on macOS, KiB on Linux

    def reset_peak(self) -> None:
        if self.resettable and not self._try_reset():
            raise UsageError(f"cannot reset the memory high-water mark any more ({self.clear_refs_path})")

    def peak(self) -> int:
        if self.resettable:
            status = self._status()
            if status is not None:
                return status["VmHWM"]
        return self.lifetime_peak()


class GpuAllocator(Protocol):
    """A framework's GPU allocator statistics; ``reset_peak()`` does nothing where ``resettable`` is false."""

    method: str
    resettable: bool

    def current(self) -> int: ...

    def peak(self) -> int: ...

    def reset_peak(self) -> None: ...


class _TorchAllocator:
    resettable = True
    method = "torch.cuda.max_memory_allocated"

    def __init__(self, index: int) -> None:
        import torch

        if not torch.cuda.is_available():
            raise UsageError("GPU memory asked for, but torch sees no GPU")
        self.torch, self.index = torch, index

    def current(self) -> int:
        return int(self.torch.cuda.memory_allocated(self.index))

    def peak(self) -> int:
        return int(self.torch.cuda.max_memory_allocated(self.index))

    def reset_peak(self) -> None:
        self.torch.cuda.reset_peak_memory_stats(self.index)


class _TensorFlowAllocator:
    resettable = True
    method = "tf get_memory_info peak"

    def __init__(self, index: int) -> None:
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            raise UsageError("GPU memory asked for, but TensorFlow sees no GPU")
        self.tf, self.name = tf, f"GPU:{index}"

    def current(self) -> int:
        return int(self.tf.config.experimental.get_memory_info(self.name)["current"])

    def peak(self) -> int:
        return int(self.tf.config.experimental.get_memory_info(self.name)["peak"])

    def reset_peak(self) -> None:
        self.tf.config.experimental.reset_memory_stats(self.name)


class _JaxAllocator:
    method = "jax memory_stats peak_bytes_in_use (lifetime peak, not reset)"
    resettable = False

    def __init__(self, index: int) -> None:
        import jax

        try:
            self.device = jax.devices("gpu")[index]
        except (RuntimeError, IndexError) as exc:
            raise UsageError(f"GPU memory asked for, but JAX sees no GPU {index}") from exc

    def _stats(self) -> dict[str, int]:
        stats = self.device.memory_stats()
        if not stats:
            raise UsageError(f"JAX reports no memory statistics for {self.device}")
        return stats

    def current(self) -> int:
        return int(self._stats()["bytes_in_use"])

    def peak(self) -> int:
        return int(self._stats()["peak_bytes_in_use"])

    def reset_peak(self) -> None:
        pass


_ALLOCATORS = {"torch": _TorchAllocator, "tensorflow": _TensorFlowAllocator, "jax": _JaxAllocator}


def gpu_allocator(framework: str, index: int = 0) -> GpuAllocator:
    """The allocator statistics of ``framework`` (``torch``, ``tensorflow`` or ``jax``) for GPU ``index``."""
    if framework not in _ALLOCATORS:
        raise UsageError(f"GPU memory is measured for {', '.join(_ALLOCATORS)}, not {framework!r}")
    return _ALLOCATORS[framework](index)


class MemoryProbe:
    """Stamps of measured memory around building and running one model (see the module docstring).

    ``MemoryProbe()`` measures this process's resident memory; ``MemoryProbe("gpu", framework="jax")``
    the framework's GPU allocator (or pass ``allocator=``, any :class:`GpuAllocator`). ``proc`` is
    where ``status`` and ``clear_refs`` are read (tests point it elsewhere).

        probe = MemoryProbe()
        probe.mark_baseline()
        model = build()
        probe.mark_built()
        with probe.inference():
            run(model)
        probe.record().as_row()
    """

    def __init__(
        self,
        device: str = "cpu",
        *,
        framework: str | None = None,
        gpu_index: int = 0,
        allocator: GpuAllocator | None = None,
        proc: str = "/proc/self",
    ) -> None:
        if device not in ("cpu", "gpu"):
            raise UsageError(f"memory is measured on cpu or gpu, got {device!r}")
        self.device = device
        if device == "cpu":
            self._source: Any = _ProcessMemory(proc)
        elif allocator is not None:
            self._source = allocator
        elif framework is None:
            raise UsageError("GPU memory needs the framework that allocates it (torch, tensorflow or jax)")
        else:
            self._source = gpu_allocator(framework, gpu_index)
        self.method = self._source.method
        self._stamps: dict[str, int] = {}
        self._exact = True

    def _open_stage(self) -> int:
        """Reset the peak where possible; returns the lifetime peak before the stage (for exactness)."""
        self._source.reset_peak()
        return self._source.peak()

    def _close_stage(self, before: int) -> tuple[int, bool]:
        """The stage's peak, and whether it is the stage's own (reset, or above every earlier peak)."""
        peak = self._source.peak()
        return peak, self._source.resettable or peak > before

    def mark_baseline(self) -> int:
        """Current use before anything of the model exists; opens the build stage."""
        self._stamps["baseline"] = self._source.current()
        self._stamps["_before_build"] = self._open_stage()
        return self._stamps["baseline"]

    def mark_built(self) -> int:
        """Current use once the model is built; also closes the build stage's peak."""
        if "baseline" not in self._stamps:
            raise UsageError("mark_baseline() comes before mark_built()")
        self._stamps["build_peak"], _ = self._close_stage(self._stamps["_before_build"])
        self._stamps["built"] = self._source.current()
        return self._stamps["built"]

    @contextlib.contextmanager
    def inference(self) -> Iterator[MemoryProbe]:
        """The block whose peak is the inference peak."""
        before = self._open_stage()
        try:
            yield self
        finally:
            self._stamps["peak"], self._exact = self._close_stage(before)

    def record(self) -> MemoryRecord:
        return MemoryRecord(
            device=self.device,
            method=self.method,
            baseline_bytes=self._stamps.get("baseline"),
            built_bytes=self._stamps.get("built"),
            build_peak_bytes=self._stamps.get("build_peak"),
            peak_bytes=self._stamps.get("peak"),
            peak_exact=self._exact,
        )
