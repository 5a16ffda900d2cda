"""``archbench list [PATTERN]``: the registered models, from the registry and the golden counts (nothing built)."""

from __future__ import annotations

import click

from ..errors import UsageError


@click.command("list")
@click.argument("pattern", required=False, default="*")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              help="table: fits 120 columns (long sources cut with '…'); csv, json: every field whole.")
@click.option("--model-file", "model_files", multiple=True, help="Python file registering extra models.")
@click.option("--sets", "show_sets", is_flag=True, help="List the named sets of models instead (usable as PATTERN "
              "and in --models).")
def command(pattern: str, fmt: str, model_files: tuple[str, ...], show_sets: bool) -> None:
    """List registered models matching PATTERN (glob; 'keras/*' for keras.applications; or a set's name:
    lecture (= all), canziani2016, canziani2018, everything)."""
    from ..catalog import cached_catalog, render
    from ..registry import MODEL_SETS, load_model_file, model_set

    if show_sets:
        for name, entry in MODEL_SETS.items():
            alias = " (= all)" if name == "lecture" else ""
            click.echo(f"{name}{alias}: {len(model_set(name))} models; {entry.description}"
                       + (f" [{entry.source}]" if entry.source else ""))
        return
    for path in model_files:
        load_model_file(path)
    rows = cached_catalog(pattern)
    if not rows:
        raise UsageError(f"pattern {pattern!r} matches no registered model")
    click.echo(render(rows, fmt))
