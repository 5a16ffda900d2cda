"""Rendering of :func:`archbench.counting.count`'s result for ``archbench summary``: the per-layer table
as text, CSV, JSON or Markdown, the totals, and the gaps to the registry's MAC references."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from ..counting import Complexity, RefGap, count, reference_gap
from ..errors import UsageError
from ..registry import get_spec
from ..units import si

__all__ = ["FORMATS", "format_complexity", "summarize_model"]

FORMATS = ("table", "csv", "json", "markdown")


def _totals_lines(c: Complexity, gaps: Iterable[RefGap]) -> list[str]:
    other = ", ".join(f"{k} {si(v, '.3f')}" for k, v in c.ops_other.items()) or "none"
    lines = [
        f"model {c.model_name}: input {' x '.join(map(str, c.input_shape))}, batch {c.batch_size}, {c.dtype}",
        f"MACs (multiply-adds, per sample): {c.macs:,} ({si(c.macs, '.3f')}); FLOPs = 2 x MACs = {c.flops:,}",
        f"other operations: {c.ops_other_total:,} ({other})",
        f"params: total {c.params.total:,}, trainable {c.params.trainable:,}, "
        f"non-trainable {c.params.non_trainable:,}, paper {c.params.paper:,}",
        f"depth (weight layers on the longest path): {c.depth}; keras depth (layers with weights): {c.keras_depth}",
        f"receptive field: {c.receptive_field if c.receptive_field else '-'}",
        f"activation memory: peak {si(c.activation_bytes_peak, '.3f')}B, "
        f"total {si(c.activation_bytes_total, '.3f')}B",
    ]
    lines += [str(g) for g in gaps]
    if c.uncounted:
        lines.append(f"UNCOUNTED ({len(c.uncounted)}): " + "; ".join(c.uncounted))
    return lines


def format_complexity(c: Complexity, fmt: str = "table", gaps: Iterable[RefGap] = ()) -> str:
    """Render the per-layer table and totals as ``table`` (text), ``csv``, ``json`` or ``markdown``."""
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    gaps = tuple(gaps)
    rows = c.rows()
    if fmt == "json":
        return json.dumps(
            {
                "totals": c.totals(),
                "ops_other": dict(c.ops_other),
                "layers": rows,
                "references": [str(g) for g in gaps],
            },
            indent=2,
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    head = ["name", "type", "output shape", "params", "MACs", "% MACs", "other ops", "RF"]
    body = [
        [
            r["name"] + ("" if r["counted"] else " (!)"),
            r["type"],
            r["output_shape"],
            f"{r['params']:,}",
            f"{r['macs']:,}",
            f"{r['macs_pct']:.1f}",
            f"{r['ops_other']:,}",
            "" if r["receptive_field"] is None else str(r["receptive_field"]),
        ]
        for r in rows
    ]
    right = {3, 4, 5, 6, 7}
    if fmt == "markdown":
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines + [""] + [f"- {line}" for line in _totals_lines(c, gaps)])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            s.rjust(w) if i in right else s.ljust(w)
            for i, (s, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-" * len(line(head))
    return "\n".join([line(head), rule, *(line(r) for r in body), rule, *_totals_lines(c, gaps)])


def summarize_model(
    name: str,
    *,
    input_size: int | None = None,
    batch_size: int = 1,
    dtype: str = "float32",
    include_top: bool = True,
    fmt: str = "table",
) -> str:
    """Build a registered model (at ``input_size`` x ``input_size`` if given), count it, and render the
    per-layer table, the totals and the gaps to the spec's MAC references (budgets included)."""
    spec = get_spec(name)
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    kwargs: dict[str, Any] = {}
    if input_size is not None:
        kwargs["input_shape"] = (input_size, input_size, spec.input_shape[-1])
    if not include_top:
        kwargs.update(include_top=False, pooling="avg")
    model = spec.build(**kwargs)
    c = count(model, batch_size=batch_size, dtype=dtype)
    at_reference = include_top and tuple(c.input_shape) == tuple(spec.input_shape)
    return format_complexity(c, fmt, reference_gap(spec, c) if at_reference else ())
