"""``archbench report``: figures, a Markdown summary and an offline HTML page from a results folder."""

from __future__ import annotations

import os

import click

from ..cli import DEFAULT_OUT


@click.command("report")
@click.option(
    "--results",
    "results_dir",
    default=DEFAULT_OUT,
    show_default=True,
    help="Results folder written by `archbench run` (holds results.csv and models.csv).",
)
@click.option("--out", "out_dir", default=None, help="Report folder (default: RESULTS/report).")
def command(results_dir: str, out_dir: str | None) -> None:
    """Write every figure (PNG + SVG), summary.md and a self-contained report.html."""
    from ..report import write_report

    paths = write_report(results_dir, out_dir or os.path.join(results_dir, "report"))
    figures = sorted(k for k in paths if k.endswith(".png"))
    click.echo(
        f"figures: {len(figures)} (PNG + SVG) in {os.path.dirname(paths[figures[0]]) if figures else '-'}"
    )
    click.echo(f"summary: {paths['markdown']}")
    click.echo(f"report: {paths['html']}")
