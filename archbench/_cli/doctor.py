"""``archbench doctor``: backends, versions, devices and threads, with warnings about known slow paths;
``--peaks``: this machine's measured arithmetic peak and memory bandwidth per device and dtype, timed by the
peak probes through the one launcher (:mod:`archbench.benchmark.machine_peaks`)."""

from __future__ import annotations

import json
from typing import Any

import click


def doctor_text() -> str:
    """The report ``archbench doctor`` prints (see :func:`archbench.doctor.diagnose`)."""
    from ..catalog import format_table
    from ..doctor import diagnose, installed_backends

    env, warnings = diagnose()
    backends = installed_backends(env)
    lines = [format_table(["setting", "value"], [[k, v] for k, v in env.items()]), ""]
    lines.append("backends installed: " + ", ".join(f"{b} {v}" for b, v in backends.items() if v))
    lines.append("not installed: " + (", ".join(b for b, v in backends.items() if not v) or "-"))
    lines += [f"warning: {w}" for w in warnings] or ["no warnings"]
    lines.append("latency defaults: compiled inference (tf.function / jax.jit), never eager or predict")
    return "\n".join(lines)


def peaks_text(peaks: list) -> str:
    """The table ``archbench doctor --peaks`` prints, then how each figure was measured."""
    from ..catalog import format_table

    def origin(p: Any) -> str:
        if p.busy:
            return "measured now, machine busy: not cached"
        return ("cache" if p.cached else "measured now") + (f", best of {p.runs}" if p.runs > 1 else "")

    rows = [[p.device, p.dtype, f"{p.flops_per_s / 1e9:,.1f}", f"{p.bandwidth_bytes_per_s / 1e9:,.1f}",
             p.peak_source, "-" if p.spec_flops_per_s is None else f"{p.spec_flops_per_s / 1e9:,.0f}",
             origin(p)] for p in peaks]  # fmt: skip
    headers = ["device", "dtype", "GFLOP/s", "bandwidth GB/s", "peak_source", "datasheet GFLOP/s", "from"]
    methods = [f"{p.device} {p.dtype}: {p.method}" for p in peaks]
    return "\n".join([format_table(headers, rows), "", *methods, "(--refresh measures again)"])


@click.command("doctor")
@click.option(
    "--peaks", is_flag=True, help="Measure (or read from the cache) this machine's FLOP/s and bandwidth."
)
@click.option("--refresh", is_flag=True, help="With --peaks: measure again instead of reading the cache.")
@click.option(
    "--dtype",
    "dtypes",
    multiple=True,
    type=click.Choice(["float32", "bfloat16", "float16"]),
    help="With --peaks: the dtypes to measure (default float32 on CPU; float32, bfloat16, float16 on GPU).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(peaks: bool, refresh: bool, dtypes: tuple[str, ...], fmt: str) -> None:
    """Show backends, versions, devices and threads, and warn about known slow paths."""
    if (refresh or dtypes) and not peaks:
        raise click.UsageError("--refresh and --dtype go with --peaks")
    if peaks:
        from ..benchmark.machine_peaks import machine_peaks

        found = machine_peaks(list(dtypes) or None, refresh=refresh)
        if fmt == "json":
            click.echo(json.dumps({"peaks": [p.as_dict() for p in found]}, indent=1))
        else:
            click.echo(peaks_text(found))
        return
    if fmt == "json":
        from ..doctor import diagnose

        env, warnings = diagnose()
        click.echo(json.dumps({"environment": env, "warnings": warnings}, indent=1, default=str))
        return
    click.echo(doctor_text())
