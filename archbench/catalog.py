"""Plain-text views of the registry and of results files, for the command line."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from .registry import get_spec, list_models


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """A fixed-width text table; numeric-looking cells are right-aligned."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        out = []
        for i, c in enumerate(row):
            numeric = c.replace(",", "").replace(".", "", 1).replace("-", "", 1).replace("%", "").isdigit()
            out.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)


def _golden_params() -> dict[str, str]:
    from .golden import GOLDEN_DIR

    path = os.path.join(GOLDEN_DIR, "params.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["model"]: r.get("params_paper", "") for r in csv.DictReader(f)}


def catalog(pattern: str = "*") -> list[dict[str, Any]]:
    """One row per registered model: name, year, family, our parameter count, reference top-1."""
    golden = _golden_params()
    rows = []
    for name in list_models(pattern):
        spec = get_spec(name)
        ref = spec.reference_top1()
        params = golden.get(name)
        rows.append(
            {
                "name": name,
                "display_name": spec.display_name,
                "year": spec.year,
                "family": spec.family,
                "input": "x".join(str(d) for d in spec.input_shape),
                "params": int(params) if params else None,
                "params_source": "archbench (results/golden/params.csv)" if params else "",
                "top1_ref": ref.top1 if ref else None,
                "top1_source": ref.source if ref else "",
                "implementation": spec.implementation,
            }
        )
    return rows


def spec_rows(names: list[str]) -> list[dict[str, Any]]:
    """Registry metadata of models as flat rows (``models.csv``): reference figures with their sources."""
    rows = []
    for name in names:
        spec = get_spec(name)
        acc = spec.reference_top1()
        params_ref = spec.params_refs[0] if spec.params_refs else None
        macs_ref = spec.macs_refs[0] if spec.macs_refs else None
        il = spec.ilsvrc
        rows.append(
            {
                "model": name,
                "display_name": spec.display_name,
                "family": spec.family,
                "year": spec.year,
                "implementation": spec.implementation,
                "default_input_shape": "x".join(str(d) for d in spec.input_shape),
                "paper_title": spec.paper.title,
                "paper_url": spec.paper.url,
                "depth_paper": spec.depth_paper,
                "top1_ref": acc.top1 if acc else None,
                "top5_ref": acc.top5 if acc else None,
                "accuracy_ref_source": acc.source if acc else "",
                "accuracy_ref_scope": acc.scope if acc else "",
                "params_ref": params_ref.value if params_ref else None,
                "params_ref_source": params_ref.source if params_ref else "",
                "macs_ref": macs_ref.value if macs_ref else None,
                "macs_ref_scope": macs_ref.scope if macs_ref else "",
                "macs_ref_source": macs_ref.source if macs_ref else "",
                "ilsvrc_year": il.year if il else None,
                "ilsvrc_team": il.team if il else "",
                "ilsvrc_place": il.place if il else None,
                "ilsvrc_top5_error": il.top5_error if il else None,
                "ilsvrc_source": il.source if il else "",
                "deviations": " | ".join(f"{d.what} ({d.why})" for d in spec.deviations),
            }
        )
    return rows


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    table = [
        [
            r["name"],
            r["year"],
            r["family"],
            f"{r['params']:,}" if r["params"] is not None else "-",
            f"{r['top1_ref']:.1f}" if r["top1_ref"] is not None else "-",
            r["top1_source"],
        ]
        for r in rows
    ]
    text = format_table(["model", "year", "family", "params", "top-1 (ref)", "top-1 source"], table)
    return text + "\n\nparams: counted by archbench (paper convention); top-1: reference figures, not measured here"


RUN_COLUMNS = ("model", "params", "G-MACs", "depth", "latency (ms)", "latency setting", "ImageNet top-1 (%)",
               "top-1 is")


def results_table(csv_path: str | None) -> str:
    """The end-of-run view of a results.csv: the report's summary table (one row per model), as text."""
    from .analysis import failures, load_results, summary_table

    if not csv_path or not os.path.exists(csv_path):
        return "(no results)"
    results = load_results(csv_path)
    table = summary_table(results)
    columns = [c for c in RUN_COLUMNS if c in table.columns and (table[c].astype(str) != "").any()]
    failed = failures(results)
    rows = []
    for record in table.to_dict("records"):
        mine = failed[failed["model"] == record["model"]]
        note = "; ".join(f"{t}: {st}" for t, st in zip(mine["task"], mine["status"], strict=True))
        rows.append([record[c] for c in columns] + [note])
    return format_table([*columns, "failures"], rows)
