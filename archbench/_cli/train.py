"""``archbench train MODEL --dataset digits --epochs N``: train one model, report held-out accuracy."""

from __future__ import annotations

import json

import click
from click.core import ParameterSource

from ..errors import UsageError
from ..train_config import TrainConfig

_D = TrainConfig()


@click.command("train")
@click.argument("model")
@click.option(
    "--dataset",
    default="digits",
    show_default=True,
    help="digits, shapes, imagefolder, imagenet or npz; options as 'shapes:count=5000,classes=6'.",
)
@click.option("--data-dir", default=None, help="Local data: an image folder or an .npz file.")
@click.option("--epochs", type=click.IntRange(min=0), default=_D.epochs,
              help=f"Training epochs [default: the model's recipe, else {_D.epochs}].")
@click.option("--batch-size", type=click.IntRange(min=1), default=_D.batch_size, show_default=True)
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd", show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=_D.lr,
              help=f"Learning rate [default: the model's recipe, else {_D.lr:g}].")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=0.9, show_default=True)
@click.option(
    "--weight-decay",
    type=click.FloatRange(min=0),
    default=_D.weight_decay,
    show_default=True,
    help="Decoupled weight decay (AlexNet paper: 5e-4).",
)
@click.option(
    "--lr-schedule",
    type=click.Choice(["constant", "step", "cosine"]),
    default=_D.lr_schedule,
    show_default=True,
)
@click.option(
    "--lr-step-epochs",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Step schedule: multiply the rate by --lr-gamma every N epochs.",
)
@click.option("--lr-gamma", type=click.FloatRange(0, 1, min_open=True), default=0.1, show_default=True)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Override the rate of every dropout layer.",
)
@click.option("--augment", default="",
              help="Comma-separated: flip, shift, affine [default: the model's recipe, else none].")
@click.option(
    "--aux-loss-weight",
    type=click.FloatRange(min=0),
    default=0.3,
    show_default=True,
    help="Loss weight of each auxiliary classifier (GoogLeNet paper: 0.3).",
)
@click.option(
    "--clipnorm",
    type=click.FloatRange(min=0),
    default=_D.clipnorm,
    show_default=True,
    help="Cap on the global gradient norm (0: no clipping).",
)
@click.option(
    "--logit-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=_D.logit_scale,
    help="Multiply the outputs the loss sees (a softmax temperature; accuracy is unchanged) "
    f"[default: the model's recipe, else {_D.logit_scale:g}].",
)
@click.option(
    "--image-size", type=click.IntRange(min=1), default=None, help="Square input size (default: the model's)."
)
@click.option("--no-upsample", is_flag=True, help="Refuse to upsample images smaller than the model input.")
@click.option(
    "--heldout-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Part of each class held out for evaluation (datasets without their own split).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use at most N images per split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--weights", default=None, help="Start from these local weights instead of random init.")
@click.option(
    "--checkpoint", default=None, help="Write NAME.weights.h5 (+ optimizer and state) after every epoch."
)
@click.option("--resume", is_flag=True, help="Continue from --checkpoint.")
@click.option(
    "--distribute",
    type=click.Choice(["none", "data-parallel"]),
    default="none",
    show_default=True,
    help="data-parallel: split every batch over the local devices and the hosts of a multi-host job "
    "(JAX: keras.distribution; TensorFlow: tf.distribute). --batch-size stays the global batch.",
)
@click.option(
    "--devices",
    type=click.IntRange(min=1),
    default=None,
    help="With --distribute: use the first N local devices (default: all).",
)
@click.option(
    "--lr-scaling",
    type=click.Choice(["none", "linear"]),
    default="none",
    show_default=True,
    help="linear: train with lr * batch-size / lr-base-batch (Goyal et al. 2017).",
)
@click.option(
    "--lr-base-batch",
    type=click.IntRange(min=1),
    default=_D.lr_base_batch,
    show_default=True,
    help="The batch size --lr is meant for (used by --lr-scaling linear).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result row as JSON.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def command(
    model,
    dataset,
    data_dir,
    epochs,
    batch_size,
    optimizer,
    lr,
    momentum,
    weight_decay,
    lr_schedule,
    lr_step_epochs,
    lr_gamma,
    dropout,
    augment,
    aux_loss_weight,
    clipnorm,
    logit_scale,
    image_size,
    no_upsample,
    heldout_fraction,
    limit,
    seed,
    weights,
    checkpoint,
    resume,
    distribute,
    devices,
    lr_scaling,
    lr_base_batch,
    as_json,
    progress,
) -> None:
    """Train MODEL on a local dataset and report its held-out top-1/top-5 accuracy.

    Options not given take the model's own recipe where it has one (LeNet-5: 30 epochs, lr 0.1,
    affine distortions, logit scale 0.1), else the defaults shown.
    """
    from ..data import load_dataset
    from ..distribute import strategy_for
    from ..evaluate import train
    from ..registry import get_spec
    from ..train_config import train_config

    distribute = None if distribute == "none" else distribute
    if devices is not None and distribute is None:
        raise UsageError("--devices needs --distribute data-parallel")
    if distribute:
        # before any data is read: a multi-host engine must start before other backend work
        strategy_for(distribute, devices=devices)
    spec = get_spec(model)
    augmentations = tuple(a.strip() for a in augment.split(",") if a.strip())
    settings = dict(
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule,
        lr_step_epochs=lr_step_epochs,
        lr_gamma=lr_gamma,
        dropout=dropout,
        augment=augmentations,
        aux_loss_weight=aux_loss_weight,
        clipnorm=clipnorm or None,
        logit_scale=logit_scale,
        seed=seed,
        checkpoint=checkpoint,
        resume=resume,
        distribute=distribute,
        devices=devices,
        lr_scaling=lr_scaling,
        lr_base_batch=lr_base_batch,
    )
    ctx = click.get_current_context()
    given = {k: v for k, v in settings.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    config = train_config(spec, given)
    ds = load_dataset(
        dataset,
        spec,
        data_dir=data_dir,
        image_size=image_size,
        upsample=not no_upsample,
        heldout_fraction=heldout_fraction,
        seed=seed,
        limit=limit,
    )
    if ds.train_split is None:
        raise UsageError(f"{ds.name!r} is held out entirely: there is nothing to train on")
    result = train(spec, ds, config, weights=weights, progress=progress)
    row = result.as_row()
    if as_json:
        click.echo(json.dumps(row, default=str))
        return
    if config.from_recipe:
        click.echo(f"{spec.name}'s training recipe: {config.recipe_text()}")
    top5 = f", top-5 {result.top5:.2f} %" if result.top5 is not None else ""
    click.echo(
        f"{spec.name} on {ds.name} ({row['split']} split, {result.n_heldout} images, "
        f"{ds.recipe.input_size}x{ds.recipe.input_size}): top-1 {result.top1:.2f} %{top5} "
        f"after {result.epochs_done} epochs ({result.train_time_s:.1f} s training)"
    )
    if distribute:
        click.echo(
            f"data-parallel: {row['replicas']} replicas on {row['hosts']} host(s), global batch "
            f"{row['global_batch_size']} = {row['per_replica_batch_size']} per replica, "
            f"lr {row['lr_effective']:g} (scaling: {row['lr_scaling']})"
        )
    if checkpoint:
        click.echo(f"checkpoint: {checkpoint}")
