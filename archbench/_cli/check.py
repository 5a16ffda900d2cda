"""``archbench check``: rebuild the zoo and compare its counts with ``results/golden/`` (exit 1 on drift);
with ``--completeness``, walk every model through params, count and count_training on the active backend
(:mod:`archbench.completeness`) and exit 1 unless every count is ``ok``."""

from __future__ import annotations

import sys

import click

from ..errors import UsageError


@click.command("check")
@click.option("--models", "-m", default=None, help="Check only these (names/globs); default: the whole zoo.")
@click.option("--update", is_flag=True, help="Rewrite the golden files from the current builders.")
@click.option("--golden-dir", default=None, help="Folder of the golden files (default: results/golden).")
@click.option("--completeness", is_flag=True,
              help="Instead: count every model whole (params, count, count_training on the active backend).")
def command(models, update, golden_dir, completeness) -> None:
    """Rebuild every model and compare its counts with results/golden/; exit 1 on any drift. With
    --completeness, walk every model through params, count and count_training; exit 1 unless all are ok."""
    from .. import golden, registry

    folder = golden_dir or golden.GOLDEN_DIR
    names = registry.resolve(models) if models else golden.default_models()
    if completeness:
        if update:
            raise UsageError("--update rewrites the golden files: it does not go with --completeness")
        _completeness(names)
        return
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


def _completeness(names: list[str]) -> None:
    import keras

    from ..completeness import STAGES, walk

    with click.progressbar(length=len(names), label="counting whole", file=sys.stderr) as bar:
        walked = walk(names, notify=lambda _: bar.update(1))
    backend = keras.backend.backend()
    seconds = {stage: sum(w.seconds.get(stage, 0.0) for w in walked) for stage in STAGES}
    timing = ", ".join(f"{stage} {s:.1f} s" for stage, s in seconds.items())
    failed = [w for w in walked if not w.ok]
    if not failed:
        click.echo(f"ok: {len(walked)} models count whole on {backend} ({', '.join(STAGES)}; {timing})")
        return
    for w in failed:
        for problem in w.problems:
            click.echo(f"{w.model}: {problem}")
    click.echo(f"\n{len(failed)} of {len(walked)} models do not count whole on {backend} ({timing})", err=True)
    sys.exit(1)
