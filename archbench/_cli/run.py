"""``archbench run``: measure models x tasks into a results folder, resuming what is already there."""

from __future__ import annotations

import os
import sys

import click

from ..benchmark import BACKENDS, DEFAULT_MAX_TIME_S, DEVICES, DTYPES, normalize_backend
from ..errors import ArchbenchError, InputTooSmallError, UsageError
from ._options import DEFAULT_OUT, DEFAULT_TASKS, csv_list, latency_config


@click.command("run")
@click.option("--models", "-m", default="all", show_default=True,
              help="'all', names or globs, comma-separated (e.g. 'vgg*,resnet50').")
@click.option("--tasks", "-t", default=DEFAULT_TASKS, show_default=True, help="Comma-separated tasks.")
@click.option("--out", "-o", default=DEFAULT_OUT, show_default=True, help="Output folder (resumed if it exists).")
@click.option("--input-size", type=click.IntRange(min=1), default=None, help="Square input size (default: each model's).")
@click.option("--backend", "backends", default="tensorflow", show_default=True,
              help=f"Latency backends, comma-separated: {','.join(BACKENDS)}.")
@click.option("--runtime", "runtimes", default="keras", show_default=True,
              help="Latency runtimes, comma-separated: keras (the backends' compiled paths), onnxruntime, openvino, "
                   "litert (exported from Keras, checked against it on random inputs, timed on the CPU).")
@click.option("--keras-modes", default="default", show_default=True,
              help="Keras compiled-path variants, comma-separated: default, command-buffers (JAX on a GPU: XLA "
                   "command buffers with convolutions), reduce-overhead (torch backend: CUDA graphs on a GPU).")
@click.option("--peers", default="none", show_default=True,
              help="Frameworks whose own build of each model is timed beside archbench's: torchvision or none.")
@click.option("--peer-modes", default=None,
              help="Peer modes, comma-separated: eager, compile, reduce-overhead [default: eager,compile, and "
                   "reduce-overhead on a GPU].")
@click.option("--profile", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: latency at batch 1; full: batches 1, 2, 4, ..., 64, each model's sweep ending at "
                   "its first out-of-memory batch.")
@click.option("--batch", "batches", default=None, help="Latency batch sizes, e.g. 1,8,32 (overrides --profile's).")
@click.option("--device", type=click.Choice(list(DEVICES)), default="auto", show_default=True)
@click.option("--dtype", default="float32", show_default=True,
              help=f"{', '.join(DTYPES[:-1])} or {DTYPES[-1]}.")
@click.option("--min-time", "min_time_s", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Minimum measuring time per latency unit, seconds; honoured on the fastest model (the "
                   "iteration cap only counts once it has passed).")
@click.option("--max-time", "max_time_s", type=click.FloatRange(min=0), default=None,
              help=f"Time cap per latency unit, seconds, when the median's interval is still wider than "
                   f"--ci-target [default: {DEFAULT_MAX_TIME_S:g}, or --min-time if larger].")
@click.option("--ci-target", type=click.FloatRange(min=0, min_open=True), default=0.02, show_default=True,
              help="Stop timing once the median's 95 % interval is within this fraction of it.")
@click.option("--compile-cache/--no-compile-cache", default=True, show_default=True,
              help="Keep compiled programs in archbench's cache folder (JAX, TorchInductor; $ARCHBENCH_CACHE_DIR).")
@click.option("--isolation", type=click.Choice(["fork", "fresh"]), default="fork", show_default=True,
              help="How each measuring process starts: forked from a pre-imported worker, or a fresh interpreter.")
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
def command(models, tasks, out, input_size, backends, runtimes, keras_modes, peers, peer_modes, profile, batches, device, dtype,
            min_time_s, max_time_s, ci_target, compile_cache, isolation, dataset, data_dir, weights, train_epochs, timeout_s, force, shard,
            model_files, report) -> None:
    """Measure models x tasks into OUT (a tidy results.csv), resuming what is already there."""
    from .. import registry, runner
    from ..peers import parse_modes, parse_peers
    from ..runtimes import parse_runtimes
    from ..tasks import PROFILES, RunSettings, resolve_tasks

    os.environ["ARCHBENCH_ISOLATION"] = isolation
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
        backends=tuple(normalize_backend(b) for b in csv_list(backends, str, "backend list")),
        batches=PROFILES[profile] if batches is None else _validate_batches(csv_list(batches, int, "batch list")),
        profile=profile,
        latency=latency_config(min_time_s=min_time_s, max_time_s=max_time_s, ci_target=ci_target, device=device,
                               dtype=_validate_dtype(dtype), compile_cache=compile_cache),
        runtimes=tuple(parse_runtimes(runtimes)),
        keras_modes=_keras_modes(keras_modes),
        peers=parse_peers(peers),
        peer_modes=parse_modes(peer_modes),
        timeout_s=timeout_s,
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
    statuses: dict[str, str] = {}
    with click.progressbar(length=len(units), label="measuring", show_pos=True,
                           item_show_func=lambda s: s, file=sys.stderr) as bar:

        def progress(unit, status):
            statuses[unit.label] = status
            bar.update(1, unit.label)

        summary = runner.run(names, task_list, settings, out, force=force, timeout_s=timeout_s,
                             shard=shard_t, progress=progress, notify=lambda m: click.echo(m, err=True))
    from ..catalog import not_applicable, results_table

    click.echo(results_table(summary.csv_path))
    again = f", {summary.remeasured} noisy re-measured" if summary.remeasured else ""
    click.echo(f"\n{summary.measured} measured, {summary.skipped} already there, {len(summary.failed)} failed"
               f"{again} -> {summary.csv_path}")
    for label in summary.stopped_by_oom:
        click.echo(f"  sweep ended by out of memory at {label}")
    skipped = not_applicable(summary.csv_path)
    if skipped:
        click.echo(f"  {skipped}")
    for label in summary.failed:
        click.echo(f"  failed: {label}: {statuses.get(label, 'error')}", err=True)
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
    from ..report import write_report

    try:
        paths = write_report(out, os.path.join(out, "report"))
    except ArchbenchError as exc:
        click.echo(f"report: not written ({exc}); the results are in {out}", err=True)
        return
    click.echo(f"report: {paths.get('html', paths)}")


def _validate_dataset(dataset: str, data_dir: str | None) -> None:
    """Fail before the sweep, not once per model, on a dataset that cannot be read."""
    from ..data import IMAGENET_HINT, parse_dataset

    name, _ = parse_dataset(dataset)
    if data_dir is not None and not os.path.exists(data_dir):
        raise UsageError(f"dataset path not found: {data_dir}")
    if name in ("imagenet", "imagefolder") and data_dir is None:
        raise UsageError(IMAGENET_HINT)
    if name == "npz" and data_dir is None:
        raise UsageError("the npz dataset needs a file: --data-dir /path/to/data.npz")


def _validate_batches(values: tuple[int, ...]) -> tuple[int, ...]:
    for v in values:
        if v < 1:
            raise UsageError(f"batch size must be a positive integer, got {v}")
    return values


def _keras_modes(value: str) -> tuple[str, ...]:
    from ..benchmark.targets.keras import VARIANTS

    names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise UsageError(f"unknown keras mode {(unknown or [value])[0]!r}; choose from {', '.join(VARIANTS)}")
    return names


def _validate_dtype(value: str) -> str:
    if value not in DTYPES:
        raise UsageError(f"unknown dtype {value!r}; choose from {', '.join(DTYPES)}")
    return value
