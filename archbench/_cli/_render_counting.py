"""Rendering of a model's count for ``archbench summary``: the per-layer table (layer walker) or the
per-scope table (traced program) as text, CSV, JSON or Markdown, the totals, what was not counted,
and the gaps to the registry's MAC references; with ``--training``, the training step's four figures
per layer, under the column names of ``results.csv``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from ..cost import ModelCount, TrainingCount, count, count_training
from ..cost.training import COLUMNS, RULE_OF_THUMB, STATUS_COLUMN
from ..counting import Complexity, RefGap, reference_gap
from ..errors import UsageError
from ..registry import get_spec
from ..units import si

__all__ = ["FORMATS", "format_complexity", "format_training", "summarize_model"]

FORMATS = ("table", "csv", "json", "markdown")


def _as_count(c: Complexity | ModelCount) -> ModelCount:
    return c if isinstance(c, ModelCount) else ModelCount.of(c)


def _or_reason(value: Any, reason: str) -> str:
    return str(value) if value is not None else f"not available ({reason})"


def _totals_lines(mc: ModelCount, gaps: Iterable[RefGap]) -> list[str]:
    c = mc.chosen
    other = ", ".join(f"{k} {si(v, '.3f')}" for k, v in c.ops_other.items()) or "none"
    shapes = "; ".join(" x ".join(map(str, s)) for s in c.input_shapes)
    method = (
        "layer walker" if mc.method == "walker" else f"traced program ({c.backend} backend)"
    ) + (f": {mc.reason}" if mc.reason else "")
    lines = [
        f"model {c.model_name}: input {shapes}, batch {c.batch_size}, {c.dtype}",
        f"counted by: {method}",
        f"MACs (multiply-adds, per sample): {c.macs:,} ({si(c.macs, '.3f')}); FLOPs = 2 x MACs = {c.flops:,}",
        f"other operations: {c.ops_other_total:,} ({other})",
        f"params: total {c.params.total:,}, trainable {c.params.trainable:,}, "
        f"non-trainable {c.params.non_trainable:,}, paper {c.params.paper:,}",
        f"depth (weight {'layers' if mc.method == 'walker' else 'operations'} on the longest path): "
        f"{_or_reason(mc.depth, mc.depth_reason)}; keras depth (layers with weights): {mc.keras_depth}",
        f"receptive field: {_or_reason(mc.receptive_field, mc.rf_reason)}",
    ]
    if mc.method == "walker":
        lines.append(
            f"activation memory: peak {si(c.activation_bytes_peak, '.3f')}B, "
            f"total {si(c.activation_bytes_total, '.3f')}B"
        )
    else:
        lines += [f"note: {n}" for n in c.notes]
    lines += [str(g) for g in gaps]
    if mc.uncounted:
        lines.append(
            f"PARTIAL: these figures leave out {len(mc.uncounted)} uncounted part(s): "
            + "; ".join(mc.uncounted)
        )
    return lines


def format_complexity(
    c: Complexity | ModelCount, fmt: str = "table", gaps: Iterable[RefGap] = ()
) -> str:
    """Render the per-layer (or per-scope) table and totals as ``table`` (text), ``csv``, ``json`` or
    ``markdown``; a partial count says what it leaves out."""
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    mc = _as_count(c)
    gaps = tuple(gaps)
    rows = mc.rows()
    if fmt == "json":
        return json.dumps(
            {
                "totals": {**mc.totals(), "status": mc.status},
                "ops_other": dict(mc.chosen.ops_other),
                "layers": rows,
                "references": [str(g) for g in gaps],
                "not_counted": list(mc.uncounted),
            },
            indent=2,
        )
    if fmt == "csv":
        return _csv(rows)
    head = ["name", "type", "output shape", "params", "MACs", "% MACs", "other ops", "RF"]
    body = [
        [
            r["name"] + ("" if r["counted"] else " (!)"),
            r["type"],
            r["output_shape"],
            "" if r["params"] is None else f"{r['params']:,}",
            f"{r['macs']:,}",
            f"{r['macs_pct']:.1f}",
            f"{r['ops_other']:,}",
            "" if r["receptive_field"] is None else str(r["receptive_field"]),
        ]
        for r in rows
    ]
    return _table(head, body, {3, 4, 5, 6, 7}, fmt, _totals_lines(mc, gaps))


def _table(head: list[str], body: list[list[str]], right: set[int], fmt: str, notes: list[str]) -> str:
    """A text or Markdown table (columns in ``right`` right-aligned) followed by the ``notes``."""
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines + [""] + [f"- {line}" for line in notes])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            s.rjust(w) if i in right else s.ljust(w)
            for i, (s, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "-" * sum(widths + [2] * (len(widths) - 1))
    return "\n".join([line(head), rule, *(line(r) for r in body), rule, *notes])


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().rstrip("\n")


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def format_training(t: TrainingCount, fmt: str = "table") -> str:
    """Render a training step's count (:func:`archbench.count_training`): per layer the four figures
    under the columns of ``results.csv`` (:data:`archbench.cost.training.COLUMNS`), beside the rule of
    thumb of 3; a partial count keeps its figures and says what it leaves out."""
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    rows = t.rows()
    if fmt == "json":
        return json.dumps(
            {"totals": t.totals(), "forward_ops": dict(t.forward_ops), "backward_ops": dict(t.backward_ops),
             "optimizer_ops": dict(t.optimizer_ops), "layers": rows, "uncounted": list(t.uncounted)},
            indent=2,
        )  # fmt: skip
    if fmt == "csv":
        return _csv(rows)

    def ops(d: Any) -> str:
        return f"{sum(d.values()):,} (" + (", ".join(f"{k} {si(v, '.3f')}" for k, v in d.items()) or "none") + ")"

    total, forward, backward, ratio = COLUMNS
    shapes = "; ".join(" x ".join(map(str, s)) for s in t.input_shapes)
    notes = [
        f"model {t.model_name}: one training step per sample, input {shapes}, loss {t.loss}, optimizer "
        f"{t.optimizer} (traced gradient program, {t.backend} backend)",
        f"{forward} (forward pass): {t.forward_macs:,} ({si(t.forward_macs, '.3f')})",
        f"{backward} (backward pass: weight gradients, and input gradients of every layer but the first): "
        f"{t.backward_macs:,} ({si(t.backward_macs, '.3f')})",
        f"{total} (forward + backward): {t.macs:,} ({si(t.macs, '.3f')}); FLOPs = 2 x MACs = {t.flops:,}",
        f"{ratio}: {_ratio(t.ratio)} x forward (rule of thumb: {RULE_OF_THUMB} x)",
        f"other operations per sample: forward {ops(t.forward_ops)}; backward {ops(t.backward_ops)}",
        f"optimizer update, per step (not per sample): {ops(t.optimizer_ops)}",
        f"{STATUS_COLUMN}: {t.describe()}",
    ]
    if t.uncounted:
        notes.append(
            f"PARTIAL: these figures leave out {len(t.uncounted)} uncounted part(s): " + "; ".join(t.uncounted)
        )
    head = ["name", forward, backward, total, ratio]
    body = [
        [r["name"], f"{r[forward]:,}", f"{r[backward]:,}", f"{r[total]:,}", _ratio(r[ratio])]
        for r in rows
    ]
    return _table(head, body, {1, 2, 3, 4}, fmt, notes)


def summarize_model(
    name: str,
    *,
    input_size: int | None = None,
    batch_size: int = 1,
    dtype: str = "float32",
    include_top: bool = True,
    fmt: str = "table",
    training: bool = False,
    optimizer: str | None = None,
) -> str:
    """Build a registered model (at ``input_size`` x ``input_size`` if given), count it
    (:func:`archbench.count`: the layer walker, or the traced program when the walker
    cannot count it all), and render the table, the totals, what was not counted and the gaps to the
    spec's MAC references (budgets included). With ``training``, count one training step with
    ``optimizer`` instead (:func:`archbench.count_training`) and render :func:`format_training`."""
    from ..keras_internals import functional_graph

    spec = get_spec(name)
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    kwargs: dict[str, Any] = {}
    shape = tuple(spec.input_shape)
    if input_size is not None:
        shape = kwargs["input_shape"] = (input_size, input_size, spec.input_shape[-1])
    if not include_top:
        kwargs.update(include_top=False, pooling="avg")
    model = spec.build(**kwargs)
    if training:
        given = None if functional_graph(model) is not None else shape
        return format_training(count_training(model, optimizer, given, dtype=dtype), fmt)
    mc = count(
        model, None if functional_graph(model) is not None else shape, batch_size=batch_size, dtype=dtype
    )
    at_reference = include_top and mc.complete and tuple(mc.input_shapes[0]) == tuple(spec.input_shape)
    return format_complexity(mc, fmt, reference_gap(spec, mc) if at_reference else ())
