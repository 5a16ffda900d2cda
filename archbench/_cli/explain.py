"""``archbench explain TOPIC``: the lecture's worked examples, computed (see :mod:`archbench.explain`)."""

from __future__ import annotations

import click

TOPIC_HELP = "pooling, fc-vs-conv, conv-arithmetic or gap"


@click.command("explain")
@click.argument("topic", metavar="TOPIC")
@click.option(
    "--input",
    "matrix",
    default=None,
    help="pooling: the matrix, rows split by ';' ('3,3,2;0,0,1') or JSON ('[[3,3,2],[0,0,1]]').",
)
@click.option("--pool", type=int, default=None, help="pooling: window size (default 3).")
@click.option("--stride", type=int, default=None, help="pooling, conv-arithmetic: stride (default 1).")
@click.option("--image-size", type=int, default=None, help="fc-vs-conv: image side (default 512).")
@click.option(
    "--units", type=int, default=None, help="fc-vs-conv: units of the dense layer = filters (default 64)."
)
@click.option("--kernel", type=int, default=None, help="fc-vs-conv, conv-arithmetic: kernel size (7 / 3).")
@click.option("--channels", type=int, default=None, help="fc-vs-conv: image channels (default 1).")
@click.option("--input-size", type=int, default=None, help="conv-arithmetic, gap: input side (default 32).")
@click.option("--padding", default=None, help="conv-arithmetic: 'valid', 'same' or pixels (default valid).")
@click.option("--dilation", type=int, default=None, help="conv-arithmetic: dilation (default 1).")
@click.option(
    "--layers", type=int, default=None, help="conv-arithmetic: stacked layers for the field (default 3)."
)
@click.option("--in-channels", type=int, default=None, help="conv-arithmetic: input channels (default 64).")
@click.option("--out-channels", type=int, default=None, help="conv-arithmetic: output channels (default 64).")
@click.option(
    "--groups", type=int, default=None, help="conv-arithmetic: groups of the grouped variant (default 4)."
)
@click.option(
    "--bottleneck", type=int, default=None, help="conv-arithmetic: 1x1 bottleneck width (in-channels/4)."
)
@click.option(
    "--sparsity", type=float, default=None, help="conv-arithmetic: zero fraction of the sparse kernel (0.5)."
)
@click.option("--larger", type=int, default=None, help="gap: the larger input side (default 64).")
@click.option("--classes", type=int, default=None, help="gap: classes of the head (default 10).")
def command(topic: str, **options) -> None:
    """Print the lecture's worked example TOPIC (pooling, fc-vs-conv, conv-arithmetic, gap), computed."""
    from ..explain import explain

    click.echo(explain(topic, **{k: v for k, v in options.items() if v is not None}))
