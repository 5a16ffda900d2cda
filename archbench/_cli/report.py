"""``archbench report [FOLDER]``: figures, a Markdown summary and an offline HTML page from a results folder."""

from __future__ import annotations

import os

import click

from ..errors import UsageError
from ._options import DEFAULT_OUT


@click.command("report")
@click.argument("folder", required=False)
@click.option(
    "--results",
    "results_dir",
    default=None,
    help=f"Results folder written by `archbench run` (holds results.csv and models.csv; default {DEFAULT_OUT}); "
    "the same as FOLDER.",
)
@click.option("--out", "out_dir", default=None, help="Report folder (default: RESULTS/report).")
def command(folder: str | None, results_dir: str | None, out_dir: str | None) -> None:
    """Write every figure (PNG + SVG), summary.md and a self-contained report.html of FOLDER."""
    from ..report import write_report

    if folder and results_dir and os.path.abspath(folder) != os.path.abspath(results_dir):
        raise UsageError(f"two results folders given: {folder} and --results {results_dir}")
    results_dir = folder or results_dir or DEFAULT_OUT
    paths = write_report(results_dir, out_dir or os.path.join(results_dir, "report"))
    figures = sorted(k for k in paths if k.endswith(".png"))
    click.echo(
        f"figures: {len(figures)} (PNG + SVG) in {os.path.dirname(paths[figures[0]]) if figures else '-'}"
    )
    click.echo(f"summary: {paths['markdown']}")
    click.echo(f"report: {paths['html']}")
