"""Machines side by side as files: :func:`write_compare` writes ``compare.csv``, ``compare.md`` and a
self-contained ``compare.html`` for several results folders (``archbench compare``), and
:func:`reference_comparison` sets a folder beside the committed reference machines for its report."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

import pandas as pd

from . import analysis, report_html
from .analysis.compare import compare_markdown, formatted
from .analysis.hover import inline_svg
from .errors import ResultsFileError, UsageError

__all__ = ["REFERENCE_INTRO", "Beside", "reference_comparison", "write_compare"]

REFERENCE_INTRO = (
    "This folder beside the committed measurements of the reference machines (results/reference/<machine>/, "
    "next to the default output folder), as `archbench compare` sets them: the speed-ups are against this folder."
)


@dataclass
class Beside:
    """Machines side by side: the comparison, its cells as text, its chart inlined."""

    comparison: analysis.Comparison
    cells: pd.DataFrame
    svg: str


def _compared(results: dict[str, pd.DataFrame], prefix: str) -> Beside:
    """Compare the folders' rows (raises :class:`ResultsFileError` when fewer than two have latency)."""
    comp = analysis.compare_results(results)
    try:
        svg = inline_svg(analysis.compare_figure(comp), prefix)
    except ResultsFileError:
        svg = ""
    return Beside(comp, formatted(comp), svg)


def reference_comparison(results_dir: str, results: pd.DataFrame) -> Beside | None:
    """This folder beside every ``reference/<machine>/results.csv`` next to ``results_dir`` (for a folder
    that is itself in ``reference/``, the other machines there); None when there is nothing to compare."""
    parent = os.path.dirname(os.path.abspath(results_dir))
    root = parent if os.path.basename(parent) == "reference" else os.path.join(parent, "reference")
    here = os.path.basename(os.path.abspath(results_dir))
    folders = {here: results}
    for label in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        folder = os.path.join(root, label)
        if os.path.isfile(os.path.join(folder, "results.csv")) and not os.path.samefile(folder, results_dir):
            try:
                folders[label if label != here else f"reference/{label}"] = analysis.load_results(folder)
            except ResultsFileError:
                continue
    if len(folders) < 2:
        return None
    try:
        return _compared(folders, "ref-")
    except ResultsFileError:
        return None


def write_compare(folders: list[str | os.PathLike], out_dir: str | os.PathLike) -> dict[str, str]:
    """Set the latency of several results folders side by side (the first the baseline of the speed-ups):
    write ``compare.csv``, ``compare.md`` and ``compare.html`` into ``out_dir``; returns their paths.

    Raises :class:`ResultsFileError` (exit code 2) when a folder has no readable ``results.csv``, or
    fewer than two have latency rows."""
    if len(folders) < 2:
        raise UsageError("compare needs two results folders or more")
    results: dict[str, pd.DataFrame] = {}
    for folder in map(os.fspath, folders):
        label = os.path.basename(os.path.abspath(folder))
        label = label if label not in results else f"{label} ({len(results) + 1})"
        results[label] = analysis.load_results(folder)
    beside = _compared(results, "cmp-")
    out_dir = os.fspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create folder {out_dir}: {exc.strerror}") from exc
    paths = {k: os.path.join(out_dir, f"compare.{k}") for k in ("csv", "md", "html")}
    beside.comparison.table.to_csv(paths["csv"], index=False)
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(compare_markdown(beside.comparison, beside.cells))
    sources = ", ".join(os.fspath(f) for f in folders)
    with open(paths["html"], "w", encoding="utf-8") as f:
        f.write(report_html.page("archbench: machines side by side",
                                 ["<h1>Machines side by side</h1>", f"<p>From {html.escape(sources)}.</p>",
                                  *report_html.comparison(beside.comparison, beside.cells, beside.svg)]))  # fmt: skip
    return paths
