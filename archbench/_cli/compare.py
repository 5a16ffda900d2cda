"""``archbench compare FOLDER FOLDER... [--out DIR]``: several machines' results side by side."""

from __future__ import annotations

import click


@click.command("compare")
@click.argument("folders", nargs=-1, required=True)
@click.option("--out", "out_dir", default="compare", show_default=True,
              help="Folder for compare.csv, compare.md and compare.html.")  # fmt: skip
def command(folders: tuple[str, ...], out_dir: str) -> None:
    """Set the latency of results FOLDERS side by side (the first is the baseline of the speed-ups):
    per model and way, each machine's median, its interval, fraction of its measured peak and energy
    per image; rows measured at other settings (batch, precision) are left out, with the reason."""
    from ..report_compare import write_compare

    paths = write_compare(list(folders), out_dir)
    for what in ("csv", "md", "html"):
        click.echo(f"{what}: {paths[what]}")
