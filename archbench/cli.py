"""The ``archbench`` command line: the click group, its commands found in :mod:`archbench._cli`, errors.

Each command lives in ``archbench/_cli/<name>.py`` as a click command named ``command``; it is imported
only when it runs (or when ``--help`` lists it), so starting the command line never imports Keras.
Every user error is one line on stderr (``error: ...``) with a non-zero exit code (2 for bad input);
``--debug`` (or ``ARCHBENCH_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import click

from ._cli._options import DEFAULT_OUT, DEFAULT_TASKS
from .errors import ArchbenchError

__all__ = ["DEFAULT_OUT", "DEFAULT_TASKS", "cli", "main"]


def _command_modules() -> list[str]:
    """The commands: one module per command in ``archbench/_cli/`` (private helpers start with ``_``)."""
    from . import _cli

    return sorted(m.name for m in pkgutil.iter_modules(_cli.__path__) if not m.name.startswith("_"))


class _Group(click.Group):
    """A click group that imports its commands on demand and turns archbench errors into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_command_modules()})

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is None and name in _command_modules():
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
