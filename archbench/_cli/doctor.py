"""``archbench doctor``: backends, versions, devices and threads, with warnings about known slow paths."""

from __future__ import annotations

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


@click.command("doctor")
def command() -> None:
    """Show backends, versions, devices and threads, and warn about known slow paths."""
    click.echo(doctor_text())
