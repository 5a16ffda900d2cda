"""The one out-of-memory classifier, used by the latency harness and by the runner.

A measurement that runs out of device or host memory is recorded with ``status="oom"`` rather than
raised, so a sweep over batch sizes or models goes on. Frameworks say so in different words:

- TensorFlow: ``ResourceExhaustedError`` with ``OOM when allocating tensor with shape[...]``;
- XLA (TensorFlow's ``jit_compile``, JAX): ``RESOURCE_EXHAUSTED: Out of memory while trying to
  allocate ...``, raised by JAX as ``XlaRuntimeError``;
- torch on GPU: ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``), ``CUDA out of memory``;
- torch on CPU: a ``RuntimeError`` from ``DefaultCPUAllocator: can't allocate memory: you tried to
  allocate ...`` (``not enough memory`` on Windows).
"""

from __future__ import annotations

OOM_TYPES = frozenset({"ResourceExhaustedError", "OutOfMemoryError"})
OOM_MARKERS = (
    "RESOURCE_EXHAUSTED",
    "ResourceExhausted",
    "OutOfMemoryError",
    "out of memory",
    "OOM when allocating",
    "DefaultCPUAllocator: can't allocate memory",
    "DefaultCPUAllocator: not enough memory",
)


def is_oom(error: BaseException | str) -> bool:
    """Whether an exception (or its message) means the device or host ran out of memory.

    An exception counts by the name of its class or of any base class (:data:`OOM_TYPES`), or by a
    marker of :data:`OOM_MARKERS` in ``"TypeName: message"``; a message alone by its markers. Markers
    are matched without regard to case.
    """
    if isinstance(error, BaseException):
        if OOM_TYPES & {cls.__name__ for cls in type(error).__mro__}:
            return True
        text = f"{type(error).__name__}: {error}"
    else:
        text = str(error)
    text = text.lower()
    return any(marker.lower() in text for marker in OOM_MARKERS)
