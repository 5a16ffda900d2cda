"""``archbench list [PATTERN]``: the registered models, from the registry and the golden counts (nothing built)."""

from __future__ import annotations

import click

from ..errors import UsageError


@click.command("list")
@click.argument("pattern", required=False, default="*")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              help="table: fits 120 columns (long sources cut with '…'); csv, json: every field whole.")
@click.option("--model-file", "model_files", multiple=True, help="Python file registering extra models.")
def command(pattern: str, fmt: str, model_files: tuple[str, ...]) -> None:
    """List registered models matching PATTERN (glob; 'keras/*' for keras.applications)."""
    from ..catalog import cached_catalog, render
    from ..registry import load_model_file

    for path in model_files:
        load_model_file(path)
    rows = cached_catalog(pattern)
    if not rows:
        raise UsageError(f"pattern {pattern!r} matches no registered model")
    click.echo(render(rows, fmt))
