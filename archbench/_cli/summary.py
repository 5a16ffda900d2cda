"""``archbench summary MODEL``: per-layer MACs, params and receptive field, with totals, references and
what was not counted."""

from __future__ import annotations

import click


@click.command("summary")
@click.argument("model")
@click.option("--input-size", type=click.IntRange(min=1), default=None,
              help="Square input size (default: the model's own).")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size for the activation memory (MACs are per image).")
@click.option("--dtype", default="float32", show_default=True, help="Element type for the activation memory.")
@click.option("--top/--no-top", "include_top", default=True, show_default=True,
              help="Count with the classifier, or the feature extractor with average pooling.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "markdown"]), default="table",
              show_default=True)
@click.option("--training", is_flag=True,
              help="Count one training step per image instead: forward and backward MACs per layer.")
@click.option("--optimizer", default=None,
              help="Optimizer of the training step (--training); default: the timed step's, SGD with momentum.")
@click.option("--model-file", "model_files", multiple=True, help="Python file registering extra models.")
def command(model, input_size, batch_size, dtype, include_top, fmt, training, optimizer, model_files) -> None:
    """Print MODEL's per-layer table (name, type, output shape, params, MACs, % of MACs, receptive field),
    its totals and how its MACs compare with the published figures (GoogLeNet: the 1.5 G budget).

    A model the layer walker cannot count whole (subclassed, custom layers without a rule) is counted
    from its traced program, one row per layer scope; what neither could count is listed.

    With --training, the multiply-adds of one training step per image (forward, loss, gradients with
    respect to the weights, traced), per layer, with the ratio to the forward pass beside the rule
    of thumb of 3, and the optimizer update's operations per step."""
    from ..registry import load_model_file
    from ._render_counting import summarize_model

    for path in model_files:
        load_model_file(path)

    click.echo(
        summarize_model(model, input_size=input_size, batch_size=batch_size, dtype=dtype,
                        include_top=include_top, fmt=fmt, training=training, optimizer=optimizer)
    )
