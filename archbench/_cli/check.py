"""``archbench check``: rebuild the zoo and compare its counts with ``results/golden/`` (exit 1 on drift)."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError


@click.command("check")
@click.option("--models", "-m", default=None, help="Check only these (names/globs); default: the whole zoo.")
@click.option("--update", is_flag=True, help="Rewrite the golden files from the current builders.")
@click.option("--golden-dir", default=None, help="Folder of the golden files (default: results/golden).")
def command(models, update, golden_dir) -> None:
    """Rebuild every model and compare its counts with results/golden/; exit 1 on any drift."""
    from .. import golden, registry

    folder = golden_dir or golden.GOLDEN_DIR
    names = registry.resolve(models) if models else golden.default_models()
    rows = []
    with click.progressbar(names, label="counting", item_show_func=lambda s: s or "", file=sys.stderr) as bar:
        for name in bar:
            rows.append(golden.measure(name))
    if update:
        if models:
            raise UsageError("--update rewrites the whole golden table: run it without --models")
        for path in golden.write(rows, folder):
            click.echo(f"wrote {path}")
        return
    drifts = golden.diff(rows, golden.read(folder), complete=models is None)
    if not drifts:
        click.echo(f"ok: {len(rows)} models match {folder}")
        return
    from ..catalog import format_table

    table = [[d.file, d.model, d.column, str(d.golden), str(d.current), d.delta] for d in drifts]
    click.echo(format_table(["file", "model", "column", "golden", "current", "delta"], table))
    click.echo(f"\n{len(drifts)} differences from {folder}: fix the builder, or run "
               "`archbench check --update` and commit the new golden files if the change is intended", err=True)
    sys.exit(1)
