"""What counting returns: :class:`CountRecord`, the one record both counters fill (the layer walker's
:class:`Complexity`, the tracer's :class:`archbench.tracing.TracedCount`), per-layer records, the
receptive field, and the gap between our MACs and a registry reference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..params import ParamCounts
from .rules import Shape

__all__ = ["Complexity", "CountRecord", "CountStatus", "LayerRecord", "ReceptiveField", "RefGap", "reference_gap"]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a feature map, one entry per spatial axis (see the package docstring)."""

    size: tuple[int | float, ...]
    jump: tuple[int | float, ...]
    start: tuple[int | float, ...]

    def _fmt(self, values: tuple[int | float, ...]) -> int | float | str:
        if len(set(values)) == 1:
            return values[0]
        return "x".join(str(v) for v in values)

    def as_dict(self) -> dict[str, int | float | str]:
        """``{"rf_size", "rf_jump", "rf_start"}``: a number when isotropic, else ``"h x w"`` joined by ``x``."""
        return {
            "rf_size": self._fmt(self.size),
            "rf_jump": self._fmt(self.jump),
            "rf_start": self._fmt(self.start),
        }

    def __str__(self) -> str:
        d = self.as_dict()
        return f"{d['rf_size']} (jump {d['rf_jump']}, start {d['rf_start']})"


@dataclass(frozen=True)
class LayerRecord:
    """One layer call: nested models are expanded, names of their layers prefixed ``model/layer``."""

    name: str
    class_name: str
    output_shapes: tuple[Shape, ...]
    params: int
    macs: int
    other: Mapping[str, int]
    receptive_field: ReceptiveField | None
    weight_layer: bool
    depth: int | None
    counted: bool = True

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[0] if self.output_shapes else ()

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def ops_other(self) -> int:
        return sum(self.other.values())


class CountStatus:
    """What every count says of itself from its ``macs`` and ``uncounted``: FLOPs, complete, status."""

    macs: int
    uncounted: tuple[str, ...]

    @property
    def flops(self) -> int:
        """``2 * macs``: one multiply-add is two floating-point operations."""
        return 2 * self.macs

    @property
    def complete(self) -> bool:
        """Whether nothing was left uncounted."""
        return not self.uncounted

    @property
    def status(self) -> str:
        """``ok`` for a complete count, else ``partial`` (never ``ok`` with something left out)."""
        return "ok" if self.complete else "partial"


@dataclass(frozen=True, kw_only=True)
class CountRecord(CountStatus):
    """A model's count, whichever counter made it: per-sample MACs and other operations, params, depth,
    receptive field and what was left out (``uncounted``: a count that leaves something out is
    partial, never ``ok``). :meth:`rows` is the per-layer table (the walker's layers, the tracer's
    name scopes), :meth:`by_layer` and :meth:`by_operator` the MACs grouped both ways (fvcore's
    ``by_module`` and ``by_operator``)."""

    model_name: str
    input_shapes: tuple[Shape, ...]
    batch_size: int
    dtype: str
    macs: int
    ops_other: Mapping[str, int]
    params: ParamCounts
    depth: int | None
    receptive_field: ReceptiveField | None = None
    uncounted: tuple[str, ...] = ()

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0]

    @property
    def ops_other_total(self) -> int:
        return sum(self.ops_other.values())

    def rows(self) -> list[dict[str, Any]]:
        """The per-layer table: name, type, output shape, params, MACs, % of MACs, other ops, field,
        depth, counted."""
        raise NotImplementedError

    def by_layer(self) -> dict[str, int]:
        """Per-sample MACs by layer (the tracer: by name scope), in program order."""
        out: dict[str, int] = {}
        for row in self.rows():
            out[row["name"]] = out.get(row["name"], 0) + row["macs"]
        return out

    def by_operator(self) -> dict[str, int]:
        """Per-sample MACs by operator: the layer class (walker) or the primitive (tracer)."""
        raise NotImplementedError

    def totals(self) -> dict[str, Any]:
        """The model-level figures as a flat, JSON-friendly dict."""
        row: dict[str, Any] = {
            "input_shape": ";".join("x".join(str(d) for d in s) for s in self.input_shapes),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "macs": self.macs,
            "flops": self.flops,
            "ops_other": self.ops_other_total,
            "depth": self.depth,
            **self._depths(),
        }
        row.update({f"params_{k}": v for k, v in self.params.as_dict().items()})
        rf = self.receptive_field
        row.update(rf.as_dict() if rf else dict.fromkeys(("rf_size", "rf_jump", "rf_start")))
        row.update(self._extras())
        row["uncounted"] = ";".join(self.uncounted)
        return row

    def _depths(self) -> dict[str, Any]:
        return {}

    def _extras(self) -> dict[str, Any]:
        return {}

    def _macs_pct(self, macs: int) -> float:
        return round(100.0 * macs / self.macs, 3) if self.macs else 0.0


@dataclass(frozen=True, kw_only=True)
class Complexity(CountRecord):
    """What the layer walker (:func:`archbench.counting.count`) measured. MACs and operations are per
    sample; memory is at ``batch_size``."""

    layers: tuple[LayerRecord, ...]
    keras_depth: int
    activation_bytes_peak: int | None
    activation_bytes_total: int

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for r in self.layers:
            rf = r.receptive_field.as_dict()["rf_size"] if r.receptive_field else None
            out.append(
                {
                    "name": r.name,
                    "type": r.class_name,
                    "output_shape": " x ".join(str(d) for d in r.output_shape),
                    "params": r.params,
                    "macs": r.macs,
                    "macs_pct": self._macs_pct(r.macs),
                    "ops_other": r.ops_other,
                    "receptive_field": rf,
                    "depth": r.depth,
                    "counted": r.counted,
                }
            )
        return out

    def by_operator(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.layers:
            out[r.class_name] = out.get(r.class_name, 0) + r.macs
        return out

    def totals(self) -> dict[str, Any]:
        """The ``complexity_row`` columns: input shape, batch, dtype, macs, flops, ops_other, depth,
        keras_depth, params_*, rf_*, activation bytes, uncounted."""
        row = super().totals()
        row["input_shape"] = "x".join(str(d) for d in self.input_shape)
        return row

    def _depths(self) -> dict[str, Any]:
        return {"keras_depth": self.keras_depth}

    def _extras(self) -> dict[str, Any]:
        return {
            "activation_bytes_peak": self.activation_bytes_peak,
            "activation_bytes_total": self.activation_bytes_total,
        }


@dataclass(frozen=True)
class RefGap:
    """Our MACs against one registry reference (``Ref``): relative gap and whether it is as expected.

    A reference whose scope mentions a "budget" is an upper bound (GoogLeNet's 1.5 G multiply-adds):
    it is met when ``measured <= value * (1 + rtol)``. Otherwise ``|gap| <= rtol`` (exact when 0).
    """

    ref: Any
    measured: int
    gap: float
    ok: bool
    budget: bool

    def __str__(self) -> str:
        r = self.ref
        scope = f"; {r.scope}" if r.scope else ""
        tol = f", tolerance {100 * r.rtol:.1f} %" if r.rtol else ""
        note = f" ({r.note})" if r.note else ""
        head = f"{r.value / 1e9:.3f} G MACs ({r.source}{scope}): ours {self.measured / 1e9:.3f} G"
        if self.budget:
            side = "within" if self.gap <= 0 else f"{100 * self.gap:.1f} % over"
            verdict = "" if self.ok else ", beyond the tolerance"
            return f"budget {head}: {side} the budget{tol}{verdict}{note}"
        verdict = "as expected" if self.ok else "UNEXPECTED"
        return f"reference {head}, {100 * self.gap:+.1f} %{tol}: {verdict}{note}"


def reference_gap(spec: Any, complexity: Complexity) -> tuple[RefGap, ...]:
    """Compare ``complexity.macs`` with every ``spec.macs_refs`` entry."""
    gaps = []
    for ref in spec.macs_refs:
        budget = "budget" in (ref.scope or "").lower()
        gap = complexity.macs / ref.value - 1 if ref.value else float("inf")
        if budget:
            ok = complexity.macs <= ref.value * (1 + ref.rtol)
        elif ref.rtol == 0:
            ok = complexity.macs == ref.value
        else:
            ok = abs(gap) <= ref.rtol
        gaps.append(RefGap(ref=ref, measured=complexity.macs, gap=gap, ok=ok, budget=budget))
    return tuple(gaps)
