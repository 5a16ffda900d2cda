"""``archbench merge SOURCES... --out OUT``: combine result folders (e.g. the shards of a sweep)."""

from __future__ import annotations

import click


@click.command("merge")
@click.argument("sources", nargs=-1, required=True)
@click.option("--out", "-o", required=True, help="New folder for the merged results.")
@click.option("--keep-latest", is_flag=True, help="On a same-machine duplicate keep the newest row.")
def command(sources, out, keep_latest) -> None:
    """Combine result folders (e.g. the shards of a sweep) into OUT."""
    from ..store import merge

    stats = merge(list(sources), out, keep_latest=keep_latest)
    click.echo(f"merged {stats['rows']} rows from {stats['sources']} folders into {out}")
