"""``archbench bench MODEL``: one detailed latency run, with a per-iteration histogram."""

from __future__ import annotations

import json

import click

from ..benchmark import DEFAULT_MAX_TIME_S, DEVICES, DTYPES
from ..benchmark.config import DEFAULT
from ._options import latency_config

_D = DEFAULT


@click.command("bench")
@click.argument("model")
@click.option(
    "--backend",
    default=None,
    help="tensorflow (tf), jax or torch (pytorch) (default: the active Keras backend); another backend "
    "runs in a subprocess.",
)
@click.option("--device", type=click.Choice(DEVICES), default=_D.device, show_default=True)
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=_D.batch_size, show_default=True)
@click.option(
    "--dtype", type=click.Choice(DTYPES), default=_D.dtype, show_default=True, help="Keras dtype policy."
)
@click.option(
    "--input-size", type=click.IntRange(min=1), default=None, help="Square input size (default: the model's)."
)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=_D.min_iterations,
    show_default=True,
    help="Minimum number of timed iterations (timing goes on until the median is precise, see --ci-target).",
)
@click.option(
    "--min-time",
    "min_time_s",
    type=click.FloatRange(min=0),
    default=_D.min_time_s,
    show_default=True,
    help="Minimum total measuring time, seconds (iterations go on until both minimums are met; no cap, "
    "--max-iterations included, cuts it short).",
)
@click.option(
    "--max-time",
    "max_time_s",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Time cap, seconds, when the median is not yet precise [default: {DEFAULT_MAX_TIME_S:g}, or "
    "--min-time if larger].",
)
@click.option(
    "--ci-target",
    type=click.FloatRange(min=0, min_open=True),
    default=_D.ci_target,
    show_default=True,
    help="Stop once the median's 95 % interval is within this fraction of it.",
)
@click.option("--max-iterations", type=click.IntRange(min=1), default=_D.max_iterations, show_default=True,
              help="Cap on timed iterations once --min-time has passed (it never shortens --min-time).")
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=_D.warmup,
    show_default=True,
    help="Untimed calls after the first (compiling) call.",
)
@click.option(
    "--xla/--no-xla",
    "jit",
    default=None,
    help="TF: jit_compile; torch: torch.compile (default: the fastest path for the backend).",
)
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Limit the CPU threads (default: all)."
)
@click.option("--seed", type=int, default=_D.seed, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result row (with samples) as JSON.")
def command(
    model,
    backend,
    device,
    batch_size,
    dtype,
    input_size,
    iterations,
    min_time_s,
    max_time_s,
    ci_target,
    max_iterations,
    warmup,
    jit,
    threads,
    seed,
    as_json,
) -> None:
    """Time compiled inference of MODEL (a registered name, module:function or file.py:function)."""
    from ..benchmark import bench
    from ._render_bench import format_report

    config = latency_config(
        min_time_s=min_time_s,
        max_time_s=max_time_s,
        backend=backend,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        input_size=input_size,
        jit=jit,
        threads=threads,
        warmup=warmup,
        min_iterations=iterations,
        max_iterations=max(max_iterations, iterations),
        ci_target=ci_target,
        seed=seed,
    )
    row = bench(model, config)
    click.echo(json.dumps(row, indent=1) if as_json else format_report(row))
