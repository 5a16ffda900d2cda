"""How a measurement and its failure cross the process boundary.

Keras fixes its backend at import, so another backend is timed in a child process
(:mod:`archbench.benchmark.processes`). The child appends one JSON line per (model, config) to a file
that the parent reads as it grows::

    {"row": {...}, "failure": null}
    {"row": {...}, "failure": {"type": "InputTooSmallError", "message": "input 8x8 is smaller than ..."}}

``row`` is :meth:`LatencyResult.as_row` merged over the child's environment (what
:func:`measure_in_subprocess` returns). ``failure`` says which exception made an ``oom`` or ``error``
row, by a name from the fixed table :data:`ERROR_TYPES`, with the exception's own message, so the
parent raises the same type with the same words (``archbench bench`` exits 2 with a one-line message
for a user error) without reading types back out of the row's text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InputTooSmallError, UnknownModelError, UsageError, WeightsError
from .oom import is_oom

USAGE_ERRORS: dict[str, type[UsageError]] = {
    cls.__name__: cls for cls in (UsageError, UnknownModelError, InputTooSmallError, WeightsError)
}
OUT_OF_MEMORY = "OutOfMemory"
OTHER = "Error"
ERROR_TYPES = (*USAGE_ERRORS, OUT_OF_MEMORY, OTHER)


@dataclass(frozen=True)
class Failure:
    """Why a measurement failed: a type from :data:`ERROR_TYPES` and the exception's message.

    ``OutOfMemory`` is any exception :func:`~archbench.benchmark.oom.is_oom` recognises; a user error
    (:class:`~archbench.errors.UsageError` or a subclass of it in the table) keeps its class name; any
    other exception is ``Error``.
    """

    type: str
    message: str

    def __post_init__(self) -> None:
        if self.type not in ERROR_TYPES:
            raise ValueError(f"unknown failure type {self.type!r}; expected one of {', '.join(ERROR_TYPES)}")

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        message = str(exc).strip()
        if is_oom(exc):
            return cls(OUT_OF_MEMORY, message)
        for klass in type(exc).__mro__:
            if USAGE_ERRORS.get(klass.__name__) is klass:
                return cls(klass.__name__, message)
        return cls(OTHER, message)

    @property
    def status(self) -> str:
        """The row status this failure gives: ``"oom"`` or ``"error"``."""
        return "oom" if self.type == OUT_OF_MEMORY else "error"

    def raise_usage_error(self) -> None:
        """Raise the user error this failure stands for (same class, same message); else return."""
        cls = USAGE_ERRORS.get(self.type)
        if cls is not None:
            raise cls(self.message)

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True)
class Record:
    """One line of the protocol: a result row and, for a failed measurement, its :class:`Failure`."""

    row: dict[str, Any]
    failure: Failure | None = None


def encode(record: Record) -> str:
    """One JSON line (without its newline)."""
    failure = record.failure.as_dict() if record.failure else None
    return json.dumps({"row": record.row, "failure": failure})


def decode(line: str) -> Record:
    """The :class:`Record` of one line; a failure type outside the table is read as ``Error``."""
    data = json.loads(line)
    failure = data.get("failure")
    if failure is None:
        return Record(data["row"])
    kind = failure.get("type")
    return Record(
        data["row"], Failure(kind if kind in ERROR_TYPES else OTHER, str(failure.get("message", "")))
    )
