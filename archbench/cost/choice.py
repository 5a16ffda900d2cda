"""Which count a model gets: the layer walker's, or the traced program's when the walker cannot see it all.

The walker (:func:`archbench.counting.count`) stays the default for functional and Sequential models:
it gives the per-layer table, the receptive field and the activation memory. When it leaves
anything uncounted (a subclassed model, a custom layer without a rule, a recurrent layer, one that
calls ``keras.ops`` in ``call``, a layer whose output size only the run knows), the traced count
(:func:`archbench.tracing.trace_count`) is used instead, if it traced everything. When neither
covers the whole model the count is *partial*: its figures leave something out, and
:attr:`ModelCount.uncounted` says what. A partial count is never presented as the model's cost
(its ``status`` is ``partial``, never ``ok``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import keras_internals
from ..counting import Complexity, CountRecord, ReceptiveField
from ..counting.records import CountStatus
from ..counting.walker import UnknownDimension, keras_depth
from ..counting.walker import count as walk
from ..errors import UsageError
from ..params import ParamCounts
from ..tracing import TracedCount, trace_count

__all__ = ["ModelCount", "count"]

WALKER, TRACED = "walker", "traced"


@dataclass(frozen=True)
class ModelCount(CountStatus):
    """The count chosen for a model (:func:`count`): its figures are those of :attr:`chosen`, one
    :class:`~archbench.counting.CountRecord` (the walker's :class:`~archbench.counting.Complexity` or
    the tracer's :class:`~archbench.tracing.TracedCount`), with ``method`` (``"walker"`` or
    ``"traced"``), why (``reason``) and what it leaves out (``uncounted``).

    ``walked`` and ``traced`` hold the counts that ran (the walker's is None for a subclassed model,
    the trace's None when the walker's was complete). ``depth_reason`` and ``rf_reason`` say why
    :attr:`depth` or :attr:`receptive_field` is None.
    """

    method: str
    reason: str
    uncounted: tuple[str, ...]
    walked: Complexity | None
    traced: TracedCount | None
    keras_depth: int

    @property
    def chosen(self) -> CountRecord:
        return self.traced if self.method == TRACED else self.walked

    @property
    def not_counted(self) -> tuple[str, ...]:
        """Another name of :attr:`uncounted`."""
        return self.uncounted

    @property
    def macs(self) -> int:
        return self.chosen.macs

    @property
    def ops_other(self) -> Mapping[str, int]:
        return self.chosen.ops_other

    @property
    def ops_other_total(self) -> int:
        return self.chosen.ops_other_total

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

    def by_layer(self) -> dict[str, int]:
        """Per-sample MACs by layer (by name scope for a traced count)."""
        return self.chosen.by_layer()

    def by_operator(self) -> dict[str, int]:
        """Per-sample MACs by layer class (walker) or by primitive (trace)."""
        return self.chosen.by_operator()

    def totals(self) -> dict[str, Any]:
        """The ``macs`` row: the chosen count's totals, ``count_method`` and ``count_reason``, and the
        reasons for a missing depth or receptive field (``depth_reason``, ``rf_reason``)."""
        if self.method == WALKER:
            row = self.walked.totals()
        else:
            row = {k: v for k, v in self.traced.totals().items() if k != "backend"}
            row.update(keras_depth=self.keras_depth, activation_bytes_peak=None, activation_bytes_total=None)
        row["uncounted"] = ";".join(self.uncounted)
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

    @classmethod
    def of(cls, walked: Complexity) -> ModelCount:
        """The walker's count, as chosen."""
        return cls(WALKER, "", walked.uncounted, walked, None, walked.keras_depth)


def _listed(entries: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def count(model: Any, input_shape: Any = None, *, batch_size: int = 1, dtype: str = "float32") -> ModelCount:
    """Count ``model``: with the layer walker, or from its traced program when the walker cannot count
    all of it (see the module docstring and :mod:`archbench.counting` for the conventions).

    ``input_shape`` (per sample, no batch axis; a list for several inputs) counts a model built with
    ``None`` sizes at that size; a subclassed model, which has no inputs of its own, needs it. The
    trace runs on the active Keras backend (TensorFlow or JAX); where it cannot run, its error is in
    ``reason`` and the walker's partial count is kept.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise UsageError(f"count() needs a built keras.Model, got {type(model).__name__}")
    depth = keras_depth(model)
    walked = None
    functional = keras_internals.functional_graph(model) is not None
    if functional:
        try:
            walked = walk(model, input_shape, batch_size=batch_size, dtype=dtype)
        except UnknownDimension as exc:
            why = f"layer walker: {str(exc).split(': pass input_shape')[0]}"
        else:
            if not walked.uncounted:
                return ModelCount.of(walked)
            why = f"layer walker left {_listed(walked.uncounted)} uncounted"
    else:
        why = f"subclassed model ({type(model).__name__}): no functional graph for the layer walker"
    try:
        traced = trace_count(model, input_shape, batch_size=batch_size, dtype=dtype)
    except UsageError:
        raise
    except Exception as exc:
        text = (str(exc).strip().splitlines() or [""])[0]
        reason = f"{why}; tracing failed ({type(exc).__name__}: {text})"
        if walked is None:
            if functional:
                raise UsageError(f"cannot count {model.name!r}: {reason}") from exc
            walked = walk(model, batch_size=batch_size, dtype=dtype)
        return ModelCount(WALKER, reason, walked.uncounted, walked, None, depth)
    if traced.complete:
        return ModelCount(TRACED, why, (), walked, traced, depth)
    reason = f"{why}; the trace left {_listed(traced.uncounted)} uncounted"
    return ModelCount(TRACED, reason, traced.uncounted, walked, traced, depth)

