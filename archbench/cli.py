"""The ``archbench`` command line: parses options and calls the library; nothing else.

Every user error is one line on stderr (``error: ...``) with a non-zero exit code (2 for bad input);
``--debug`` (or ``ARCHBENCH_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

from .errors import ArchbenchError, InputTooSmallError, UsageError

DEFAULT_TASKS = "params,macs,latency"
DEFAULT_OUT = os.path.join("results", "latest")


def _doctor_text() -> str:
    from .catalog import format_table
    from .doctor import diagnose, installed_backends

    env, warnings = diagnose()
    backends = installed_backends(env)
    lines = [format_table(["setting", "value"], [[k, v] for k, v in env.items()]), ""]
    lines.append("backends installed: " + ", ".join(f"{b} {v}" for b, v in backends.items() if v))
    lines.append("not installed: " + (", ".join(b for b, v in backends.items() if not v) or "-"))
    lines += [f"warning: {w}" for w in warnings] or ["no warnings"]
    lines.append("latency defaults: compiled inference (tf.function / jax.jit), never eager or predict")
    return "\n".join(lines)


def _feature_modules() -> list[str]:
    """Sub-commands contributed by ``archbench/_cli/<name>.py`` (imported only when used)."""
    from . import _cli

    return [m.name for m in pkgutil.iter_modules(_cli.__path__) if not m.name.startswith("_")]


class _Group(click.Group):
    """A click group that turns archbench errors into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_feature_modules()})

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is None and name in _feature_modules():
            command = getattr(importlib.import_module(f"archbench._cli.{name}"), "command", None)
        return command

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug")) or os.environ.get("ARCHBENCH_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if debug:
                raise
            click.echo(f"error: {exc.format_message()}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ArchbenchError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if debug:
                raise
            msg = str(exc).strip().splitlines()
            click.echo(
                f"error: {type(exc).__name__}: {msg[0] if msg else ''} (rerun with --debug for the traceback)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="archbench")
def cli(debug: bool) -> None:
    """archbench: historical CNN architectures in Keras 3, measured honestly."""


def _csv_list(text: str, cast, what: str) -> tuple:
    try:
        values = tuple(cast(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"bad {what} {text!r}: expected a comma-separated list") from None
    if not values:
        raise UsageError(f"no {what} given")
    return values


@cli.command("list")
@click.argument("pattern", required=False, default="*")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def list_cmd(pattern: str, fmt: str) -> None:
    """List registered models matching PATTERN (glob; 'keras/*' for keras.applications)."""
    from .catalog import catalog, render

    rows = catalog(pattern)
    if not rows:
        raise UsageError(f"pattern {pattern!r} matches no registered model")
    click.echo(render(rows, fmt))


@cli.command("run")
@click.option("--models", "-m", default="all", show_default=True,
              help="'all', names or globs, comma-separated (e.g. 'vgg*,resnet50').")
@click.option("--tasks", "-t", default=DEFAULT_TASKS, show_default=True, help="Comma-separated tasks.")
@click.option("--out", "-o", default=DEFAULT_OUT, show_default=True, help="Output folder (resumed if it exists).")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Square input size (default: each model's).")
@click.option("--backend", "backends", default="tensorflow", show_default=True,
              help="Latency backends, comma-separated: tensorflow,jax,torch.")
@click.option("--batch", "batches", default="1", show_default=True, help="Latency batch sizes, e.g. 1,8,32.")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True)
@click.option("--dtype", default="float32", show_default=True,
              help="float32, mixed_bfloat16 or mixed_float16.")
@click.option("--min-time", "min_time_s", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Minimum measuring time per latency unit, seconds.")
@click.option("--dataset", default="digits", show_default=True, help="Accuracy dataset.")
@click.option("--data-dir", default=None, help="Local data path for imagefolder/npz datasets.")
@click.option("--weights", default=None, help="Local weights file for the accuracy task.")
@click.option("--train-epochs", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0), default=None,
              help="Per-measurement time limit in seconds (recorded as status 'timeout').")
@click.option("--force", is_flag=True, help="Re-measure units already in the output folder.")
@click.option("--shard", default=None, help="Measure the I-th of N deterministic parts of the grid, e.g. 1/4.")
@click.option("--model-file", "model_files", multiple=True, help="Python file registering extra models.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the report at the end.")
def run_cmd(models, tasks, out, input_size, backends, batches, device, dtype, min_time_s, dataset, data_dir,
            weights, train_epochs, timeout_s, force, shard, model_files, report) -> None:
    """Measure models x tasks into OUT (a tidy results.csv), resuming what is already there."""
    from . import registry, runner
    from .tasks import RunSettings, resolve_tasks

    for path in model_files:
        registry.load_model_file(path)
    names = registry.resolve(models)
    task_list = resolve_tasks(tasks)
    if input_size is not None:
        for name in names:
            minimum = registry.get_spec(name).min_input_size
            if input_size < minimum:
                raise InputTooSmallError(
                    f"--input-size {input_size} is smaller than {name}'s minimum {minimum}x{minimum}"
                )
    settings = RunSettings(
        input_size=input_size,
        backends=_validate_backends(_csv_list(backends, str, "backend list")),
        batches=_validate_batches(_csv_list(batches, int, "batch list")),
        device=device,
        dtype=_validate_dtype(dtype),
        min_time_s=min_time_s,
        dataset=dataset,
        data_dir=data_dir,
        weights=weights,
        train_epochs=train_epochs,
    )
    if weights is not None and not os.path.isfile(weights):
        raise UsageError(f"weights file not found: {weights}")
    if "accuracy" in [t.name for t in task_list]:
        _validate_dataset(dataset, data_dir)
    shard_t = runner.parse_shard(shard)
    units = runner.plan(names, task_list, settings, shard_t)
    click.echo(f"archbench run: {len(names)} models x {len(task_list)} tasks = {len(units)} measurements -> {out}")
    failures: list[str] = []
    with click.progressbar(length=len(units), label="measuring", show_pos=True,
                           item_show_func=lambda s: s, file=sys.stderr) as bar:

        def progress(unit, status):
            if status not in ("ok", "skipped"):
                failures.append(f"{unit.label}: {status}")
            bar.update(1, unit.label)

        summary = runner.run(names, task_list, settings, out, force=force, timeout_s=timeout_s,
                             shard=shard_t, progress=progress, notify=lambda m: click.echo(m, err=True))
    from .catalog import results_table

    click.echo(results_table(summary.csv_path))
    click.echo(f"\n{summary.measured} measured, {summary.skipped} already there, {len(summary.failed)} failed"
               f" -> {summary.csv_path}")
    for f in failures:
        click.echo(f"  failed: {f}", err=True)
    if report and not summary.interrupted:
        _maybe_report(out)
    if summary.interrupted:
        click.echo(f"stopped early: {summary.remaining} measurements left; rerun the same command to resume",
                   err=True)
        sys.exit(130)
    if summary.failed:
        sys.exit(1)


def _maybe_report(out: str) -> None:
    """Write the report of a finished run; a report problem never hides what was measured."""
    from .report import write_report

    try:
        paths = write_report(out, os.path.join(out, "report"))
    except ArchbenchError as exc:
        click.echo(f"report: not written ({exc}); the results are in {out}", err=True)
        return
    click.echo(f"report: {paths.get('html', paths)}")


def _validate_dataset(dataset: str, data_dir: str | None) -> None:
    """Fail before the sweep, not once per model, on a dataset that cannot be read."""
    from .data import IMAGENET_HINT, parse_dataset

    name, _ = parse_dataset(dataset)
    if data_dir is not None and not os.path.exists(data_dir):
        raise UsageError(f"dataset path not found: {data_dir}")
    if name in ("imagenet", "imagefolder") and data_dir is None:
        raise UsageError(IMAGENET_HINT)
    if name == "npz" and data_dir is None:
        raise UsageError("the npz dataset needs a file: --data-dir /path/to/data.npz")


BACKENDS = ("tensorflow", "jax", "torch")
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")


def _validate_backends(values: tuple[str, ...]) -> tuple[str, ...]:
    aliases = {"tf": "tensorflow"}
    out = tuple(aliases.get(v.lower(), v.lower()) for v in values)
    for v in out:
        if v not in BACKENDS:
            raise UsageError(f"unknown backend {v!r}; choose from {', '.join(BACKENDS)}")
    return out


def _validate_batches(values: tuple[int, ...]) -> tuple[int, ...]:
    for v in values:
        if v < 1:
            raise UsageError(f"batch size must be a positive integer, got {v}")
    return values


def _validate_dtype(value: str) -> str:
    if value not in DTYPES:
        raise UsageError(f"unknown dtype {value!r}; choose from {', '.join(DTYPES)}")
    return value


@cli.command("merge")
@click.argument("sources", nargs=-1, required=True)
@click.option("--out", "-o", required=True, help="New folder for the merged results.")
@click.option("--keep-latest", is_flag=True, help="On a same-machine duplicate keep the newest row.")
def merge_cmd(sources, out, keep_latest) -> None:
    """Combine result folders (e.g. the shards of a sweep) into OUT."""
    from .store import merge

    stats = merge(list(sources), out, keep_latest=keep_latest)
    click.echo(f"merged {stats['rows']} rows from {stats['sources']} folders into {out}")


@cli.command("doctor")
def doctor_cmd() -> None:
    """Show backends, versions, devices and threads, and warn about known slow paths."""
    click.echo(_doctor_text())


@cli.command("check")
@click.option("--models", "-m", default=None, help="Check only these (names/globs); default: the whole zoo.")
@click.option("--update", is_flag=True, help="Rewrite the golden files from the current builders.")
@click.option("--golden-dir", default=None, help="Folder of the golden files (default: results/golden).")
def check_cmd(models, update, golden_dir) -> None:
    """Rebuild every model and compare its counts with results/golden/; exit 1 on any drift."""
    from . import golden, registry

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
    from .catalog import format_table

    table = [[d.file, d.model, d.column, str(d.golden), str(d.current), d.delta] for d in drifts]
    click.echo(format_table(["file", "model", "column", "golden", "current", "delta"], table))
    click.echo(f"\n{len(drifts)} differences from {folder}: fix the builder, or run "
               "`archbench check --update` and commit the new golden files if the change is intended", err=True)
    sys.exit(1)


def main() -> None:
    """Console-script entry point.

    Unless the user set them: quiet TensorFlow's C++ logs, and turn its oneDNN graph rewrites off so that
    in-process and subprocess measurements run the same kernels (the value is stamped into every row).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    cli(prog_name="archbench")


if __name__ == "__main__":
    main()
