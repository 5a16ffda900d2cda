"""Which count a model gets: the layer walker's, or the traced program's when the walker cannot see it all.

The walker (:func:`archbench.counting.count`) stays the default for functional and Sequential models:
it gives the per-layer table, the receptive field and the activation memory. When it leaves
anything uncounted (a subclassed model, a custom layer without a rule, one that calls ``keras.ops``
in ``call``), the traced count (:func:`archbench.tracing.trace_count`) is used instead, if it traced
everything. When neither covers the whole model the count is *partial*: its figures leave something
out, and :attr:`ModelCount.not_counted` says what. A partial count is never presented as the
model's cost (the ``macs`` task gives it the status ``partial``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import keras_internals
from ..errors import UsageError
from ..params import ParamCounts
from .records import Complexity, ReceptiveField

__all__ = ["ModelCount", "count_model"]

WALKER, TRACED = "walker", "traced"


@dataclass(frozen=True)
class ModelCount:
    """The count chosen for a model, with why (``reason``) and what it leaves out (``not_counted``).

    ``method`` is ``"walker"`` or ``"traced"``; ``walked`` and ``traced`` hold the counts that ran
    (the walker's is None for a subclassed model, the trace's None when the walker's was complete).
    ``depth_reason`` and ``rf_reason`` say why :attr:`depth` or :attr:`receptive_field` is None.
    """

    method: str
    reason: str
    not_counted: tuple[str, ...]
    walked: Complexity | None
    traced: Any
    keras_depth: int

    @property
    def chosen(self) -> Any:
        return self.traced if self.method == TRACED else self.walked

    @property
    def complete(self) -> bool:
        return not self.not_counted

    @property
    def status(self) -> str:
        """``ok`` for a complete count, else ``partial``."""
        return "ok" if self.complete else "partial"

    @property
    def macs(self) -> int:
        return self.chosen.macs

    @property
    def params(self) -> ParamCounts:
        return self.chosen.params

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.chosen.input_shapes

    @property
    def depth(self) -> int | None:
        return self.chosen.depth

    @property
    def depth_reason(self) -> str:
        if self.depth is not None:
            return ""
        if self.method == TRACED:
            return self.traced.depth_note or "unknown"
        return "no call graph: the layer walker cannot follow a subclassed model"

    @property
    def receptive_field(self) -> ReceptiveField | None:
        return self.chosen.receptive_field

    @property
    def rf_reason(self) -> str:
        if self.receptive_field is not None:
            return ""
        if self.method == TRACED:
            return self.traced.rf_note or "no spatial feature map"
        if self.walked is not None and self.walked.depth is None:
            return "no call graph: the layer walker cannot follow a subclassed model"
        return "no spatial feature map, or a layer whose spatial arithmetic the walker does not know"

    def totals(self) -> dict[str, Any]:
        """The ``macs`` row: the chosen count's totals, ``count_method`` and ``count_reason``, and the
        reasons for a missing depth or receptive field (``depth_reason``, ``rf_reason``)."""
        if self.method == WALKER:
            row = self.walked.totals()
        else:
            row = {k: v for k, v in self.traced.totals().items() if k not in ("backend", "untraced")}
            row.update(keras_depth=self.keras_depth, activation_bytes_peak=None, activation_bytes_total=None)
        row["uncounted"] = ";".join(self.not_counted)
        row.update(
            count_method=self.method,
            count_reason=self.reason,
            depth_reason=self.depth_reason,
            rf_reason=self.rf_reason,
        )
        return row

    def rows(self) -> list[dict[str, Any]]:
        """The per-layer table (walker) or per-scope table (trace) of the chosen count."""
        return self.chosen.rows()


def _listed(entries: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def count_model(
    model: Any, input_shape: Any = None, *, batch_size: int = 1, dtype: str = "float32"
) -> ModelCount:
    """Count ``model`` with the layer walker, or trace it when the walker cannot count all of it.

    ``input_shape`` (per sample, no batch axis) is as for :func:`count`; a subclassed model, which
    has no inputs of its own, needs it: give the registration's shape or the size asked for. The
    trace runs on the active Keras backend (TensorFlow or JAX); where it cannot run, its error is in
    ``reason`` and the walker's partial count is kept.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise UsageError(f"count_model() needs a built keras.Model, got {type(model).__name__}")
    from .walker import count, keras_depth

    depth = keras_depth(model)
    functional = keras_internals.functional_graph(model) is not None
    walked = None
    if functional:
        walked = count(model, input_shape, batch_size=batch_size, dtype=dtype)
        if not walked.uncounted:
            return ModelCount(WALKER, "", (), walked, None, depth)
        why = f"layer walker left {_listed(walked.uncounted)} uncounted"
    else:
        why = f"subclassed model ({type(model).__name__}): no functional graph for the layer walker"
    from ..tracing import trace_count

    try:
        traced = trace_count(model, input_shape, batch_size=batch_size, dtype=dtype)
    except UsageError:
        raise
    except Exception as exc:
        text = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{why}; tracing failed ({type(exc).__name__}: {text})"
        if walked is None:
            walked = count(model, batch_size=batch_size, dtype=dtype)
        return ModelCount(WALKER, reason, walked.uncounted, walked, None, depth)
    if traced.complete:
        return ModelCount(TRACED, why, (), walked, traced, depth)
    reason = f"{why}; the trace left {_listed(traced.untraced)} uncounted"
    return ModelCount(TRACED, reason, traced.untraced, walked, traced, depth)
