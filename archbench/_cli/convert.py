"""``archbench convert --from keras|torchvision SRC --model NAME --to DST.weights.h5``."""

from __future__ import annotations

import click


@click.command("convert")
@click.argument("source")
@click.option(
    "--from",
    "source_format",
    type=click.Choice(["keras", "torchvision"]),
    required=True,
    help="keras: keras.applications .h5/.weights.h5/.keras; torchvision: .pth state dict (or .npz).",
)
@click.option("--model", "model_name", required=True, help="The archbench model to fill, e.g. resnet50_v1_5.")
@click.option("--to", "destination", required=True, help="Output file, NAME.weights.h5.")
@click.option("--include-top/--no-include-top", default=None, help="Default: whatever the source holds.")
def command(source, source_format, model_name, destination, include_top) -> None:
    """Import local keras.applications or torchvision weights into an archbench model."""
    from ..convert import convert

    _, report = convert(source_format, source, model_name, destination, include_top=include_top)
    head = f"with classifier ({report.classes} classes)" if report.include_top else "without classifier"
    click.echo(f"{report.model}: {report.layers} layers from {report.source_format} {report.source}, {head}")
    for line in report.adjustments:
        click.echo(f"  {line}")
    if not report.exact:
        click.echo(f"  approximate: {report.note}", err=True)
    click.echo(f"wrote {report.destination}")
