"""Training and top-1/top-5 evaluation on the datasets of :mod:`archbench.data`.

Training follows the papers' recipe, scaled down to what a laptop can do: SGD with momentum 0.9 and
weight decay 5e-4 (Krizhevsky, Sutskever & Hinton 2012, section 5, "Details of learning"; VGG and
GoogLeNet kept these values), a constant, step (divide by 10) or cosine learning-rate schedule, dropout
as built into each model (its rate can be overridden) and optional flip/shift/affine augmentation; a
model's own recipe replaces these defaults for it (:mod:`archbench.train_config`). Models with
auxiliary classifiers (GoogLeNet, ``aux_logits=True``) are trained with their losses weighted by 0.3
(Szegedy et al. 2015, section 5). Weight decay is Keras' decoupled form (``w -= lr * wd * w`` beside the
momentum update); the AlexNet paper folds the same term into the momentum, a difference of second order.

Training uses ``model.compile``/``fit`` (every Keras backend), one ``fit`` call per epoch with the
epoch's own seeded order, and writes a checkpoint after every epoch: ``NAME.weights.h5`` (the model
and the optimizer's momentum buffers and step count) and ``NAME.state.json`` (epochs done, history,
settings), each replaced atomically. ``resume=True`` continues from them where it stopped; the
learning-rate schedule is the one of the config given, so raising ``epochs`` on resume stretches a
cosine or step schedule from then on.

Accuracy is measured on the held-out split, never on training images, and reported in percent (as the
registry's :class:`~archbench.registry.AccuracyRef`); top-5 is ``None`` when there are at most five
classes, where it would be 100 % by construction. :func:`accuracy_rows` is the runner's ``accuracy``
task: it trains or loads weights, evaluates, and writes rows that say which data, which preprocessing,
which weights and how many epochs; a model neither trained nor loaded is evaluated but marked
``trained=False, note="untrained (random init)"``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Dataset, load_dataset
from .distribute import distribution_columns, maybe_scope, strategy_for
from .errors import UsageError, WeightsError
from .registry import ModelSpec, get_spec
from .train_config import (
    CHECKPOINT_SUFFIX,
    LR_SCHEDULES,
    OPTIMIZERS,
    TRAIN_FIELDS,
    TrainConfig,
    train_config,
)
from .train_config import (
    config_columns as _config_columns,
)

__all__ = [
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "TRAIN_FIELDS",
    "TrainConfig",
    "TrainResult",
    "accuracy_rows",
    "build_for_dataset",
    "evaluate",
    "loss_weights",
    "train",
    "train_config",
]

UNTRAINED_NOTE = "untrained (random init)"
_STATE_VERSION = 1


@dataclass
class TrainResult:
    """What :func:`train` did and measured; ``model`` is the trained Keras model."""

    model_name: str
    config: TrainConfig
    epochs_done: int
    resumed_from: int
    top1: float
    top5: float | None
    n_heldout: int
    n_train: int
    train_time_s: float
    history: list[dict[str, float]]
    fingerprint: dict[str, Any]
    checkpoint: str | None
    model: Any = field(repr=False, default=None)
    distribution: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """A flat, JSON-friendly summary (no model)."""
        return {
            "model": self.model_name,
            **self.fingerprint,
            "top1": self.top1,
            "top5": self.top5,
            "trained": self.epochs_done > 0,
            "train_epochs": self.epochs_done,
            "resumed_from_epoch": self.resumed_from,
            "n_train": self.n_train,
            "train_time_s": self.train_time_s,
            "checkpoint": self.checkpoint,
            **_config_columns(self.config),
            **(self.distribution or distribution_columns(None, self.config.batch_size)),
        }


# --------------------------------------------------------------------------------------- building


def _builder_accepts(spec: ModelSpec, option: str) -> bool:
    try:
        params = inspect.signature(spec.builder).parameters
    except (TypeError, ValueError):
        return False
    return option in params


def build_for_dataset(
    model: str | ModelSpec,
    dataset: Dataset,
    *,
    weights: str | None = None,
    training: bool = False,
    logits: bool = True,
):
    """Build ``model`` for ``dataset``'s input shape and class count (logits out by default).

    ``training=True`` adds auxiliary classifiers where the builder offers them (``aux_logits``).
    """
    spec = model if isinstance(model, ModelSpec) else get_spec(model)
    kwargs: dict[str, Any] = dict(
        input_shape=dataset.input_shape,
        classes=dataset.num_classes,
        classifier_activation=None if logits else "softmax",
        weights=os.fspath(weights) if weights is not None else None,
    )
    if training and _builder_accepts(spec, "aux_logits"):
        kwargs["aux_logits"] = True
    return spec.build(**kwargs)


def _outputs(model) -> list:
    outs = model.outputs if isinstance(model.outputs, list | tuple) else [model.outputs]
    return list(outs)


# --------------------------------------------------------------------------------------- evaluate


def evaluate(model, dataset: Dataset, *, split: str | None = None, batch_size: int = 128) -> dict[str, Any]:
    """Top-1 and top-5 accuracy (percent) of ``model`` on one split (default: the held-out split).

    ``model`` may output probabilities or logits; of a multi-output model the first output (the main
    classifier) is scored.
    """
    part = dataset.split(split)
    correct1 = correct5 = n = 0
    k = 5 if dataset.num_classes > 5 else None
    for x, y in dataset.batches(part.name, batch_size).as_numpy_iterator():
        out = model.predict_on_batch(x)
        if isinstance(out, list | tuple):
            out = out[0]
        scores = np.asarray(out)
        if scores.ndim != 2:
            raise UsageError(f"{model.name}: expected (batch, classes) outputs, got shape {scores.shape}")
        if len(scores) != len(y):
            raise UsageError(
                f"{model.name} returned {len(scores)} rows for {len(y)} images: a model built under "
                "tf.distribute runs every batch on each replica; use DataParallelPlan.evaluate"
            )
        if scores.shape[1] <= int(y.max(initial=0)):
            raise UsageError(
                f"{model.name} has {scores.shape[1]} outputs but {dataset.name!r} has {dataset.num_classes} classes"
            )
        correct1 += int(np.sum(np.argmax(scores, axis=1) == y))
        if k:
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            correct5 += int(np.sum(np.any(top == y[:, None], axis=1)))
        n += len(y)
    if n == 0:
        raise UsageError(f"split {part.name!r} of {dataset.name!r} is empty")
    return {
        "split": part.name,
        "n": n,
        "top1": 100.0 * correct1 / n,
        "top5": 100.0 * correct5 / n if k else None,
        "correct_top1": correct1,
        "correct_top5": correct5 if k else None,
    }


# --------------------------------------------------------------------------------------- train


def _checkpoint_paths(checkpoint: str) -> tuple[str, str]:
    return checkpoint, checkpoint[: -len(CHECKPOINT_SUFFIX)] + ".state.json"


def _schedule(config: TrainConfig, steps_per_epoch: int):
    import keras

    lr = config.lr_effective
    if config.lr_schedule == "constant":
        return lr
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, config.epochs * steps_per_epoch))
    n = max(0, (config.epochs - 1) // config.lr_step_epochs)
    # PiecewiseConstantDecay keeps values[i] while step <= boundaries[i]; step k is the (k+1)-th update
    boundaries = [(i + 1) * config.lr_step_epochs * steps_per_epoch - 1 for i in range(n)]
    if not boundaries:
        return lr
    values = [lr * config.lr_gamma**i for i in range(n + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def _optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    lr = _schedule(config, steps_per_epoch)
    wd = config.weight_decay or None
    if config.optimizer == "adam":
        return keras.optimizers.AdamW(
            learning_rate=lr, weight_decay=wd or 0.0, global_clipnorm=config.clipnorm
        )
    return keras.optimizers.SGD(
        learning_rate=lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=wd,
        global_clipnorm=config.clipnorm,
    )


def loss_weights(n_outputs: int, aux_loss_weight: float) -> list[float]:
    """``[1, aux, aux, ...]``: the main classifier first, then each auxiliary one (GoogLeNet: 0.3)."""
    return [1.0] + [float(aux_loss_weight)] * (n_outputs - 1)


def _compile(model, config: TrainConfig, steps_per_epoch: int) -> int:
    import keras

    n_out = len(_outputs(model))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if config.logit_scale != 1.0:
        loss = _scaled_loss(loss, config.logit_scale)
    accuracy = keras.metrics.SparseCategoricalAccuracy(name="acc")
    if n_out == 1:
        model.compile(optimizer=_optimizer(config, steps_per_epoch), loss=loss, metrics=[accuracy])
    else:
        model.compile(
            optimizer=_optimizer(config, steps_per_epoch),
            loss=[loss] * n_out,
            loss_weights=loss_weights(n_out, config.aux_loss_weight),
            metrics=[[accuracy]] + [[] for _ in range(n_out - 1)],
        )
    return n_out


def _scaled_loss(loss, scale: float):
    """``loss`` applied to ``scale * outputs``."""

    def scaled(y_true, y_pred):
        return loss(y_true, y_pred * scale)

    scaled.__name__ = f"{loss.name}_x{scale:g}"
    return scaled


def _set_dropout(model, rate: float | None) -> None:
    import keras

    if rate is None:
        return
    from .params import iter_layers

    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = float(rate)


def _save_checkpoint(model, checkpoint: str, state: dict[str, Any]) -> None:
    """Write the weights (Keras stores the optimizer's variables with them) and then the state file."""
    weights, state_path = _checkpoint_paths(checkpoint)
    folder = os.path.dirname(os.path.abspath(weights))
    os.makedirs(folder, exist_ok=True)
    tmp_weights = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(weights)}")
    tmp_state = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(state_path)}")
    model.save_weights(tmp_weights)
    with open(tmp_state, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1, default=str)
    # the state file goes last: it is what says the weights are complete
    os.replace(tmp_weights, weights)
    os.replace(tmp_state, state_path)


def _load_checkpoint(model, checkpoint: str, expect: Mapping[str, Any]) -> dict[str, Any]:
    weights, state_path = _checkpoint_paths(checkpoint)
    if not os.path.isfile(state_path) or not os.path.isfile(weights):
        raise UsageError(f"cannot resume: no checkpoint at {weights} (with {os.path.basename(state_path)})")
    with open(state_path, encoding="utf-8") as f:
        state = json.load(f)
    if state.get("version") != _STATE_VERSION:
        raise UsageError(f"{state_path}: not an archbench training checkpoint")
    for key, value in expect.items():
        if state.get(key) != value:
            raise UsageError(
                f"cannot resume from {weights}: it was written for {key}={state.get(key)!r}, not {value!r}"
            )
    # built first, the optimizer's momentum buffers and step count are restored with the weights
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(weights)
    except Exception as exc:
        raise WeightsError(f"cannot load checkpoint {weights}: {str(exc).splitlines()[0]}") from exc
    return state


def _progbar_logger(total_epochs: int):
    import keras

    class EpochProgbar(keras.callbacks.ProgbarLogger):
        """Keras' progress bar, showing ``Epoch e/total`` although each ``fit`` call runs one epoch."""

        def set_params(self, params):
            super().set_params(params)
            self.epochs = total_epochs

    return EpochProgbar()


def train(
    model_name: str | ModelSpec,
    dataset: Dataset | str,
    config: TrainConfig | None = None,
    *,
    weights: str | None = None,
    data_dir: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a registered model from scratch (or from ``weights``) on ``dataset``'s training split.

    ``dataset`` is a loaded :class:`~archbench.data.Dataset` or a name (then loaded for the model with
    ``data_dir``). Returns the held-out top-1/top-5 of the final weights with the history per epoch.
    With ``config.distribute`` the model is built, trained and evaluated data-parallel
    (:func:`archbench.distribute.strategy_for`); each epoch then runs ``n // batch_size`` full steps.
    """
    config = config or TrainConfig()
    plan = None
    if config.distribute:
        plan = strategy_for(config.distribute, devices=config.devices)
    with maybe_scope(plan):
        return _train(
            model_name, dataset, config, plan, weights=weights, data_dir=data_dir, progress=progress
        )


def _train(model_name, dataset, config: TrainConfig, plan, *, weights, data_dir, progress) -> TrainResult:
    import keras

    spec = model_name if isinstance(model_name, ModelSpec) else get_spec(model_name)
    if isinstance(dataset, str):
        dataset = load_dataset(dataset, spec, data_dir=data_dir, seed=config.seed)
    if dataset.train_split is None:
        raise UsageError(
            f"dataset {dataset.name!r} has no training split ({dataset.source} is held out entirely); "
            "train on a folder with train/ and val/, or evaluate given --weights instead"
        )
    train_split = dataset.split(dataset.train_split)
    keras.utils.set_random_seed(config.seed)
    model = build_for_dataset(spec, dataset, weights=weights, training=True)
    _set_dropout(model, config.dropout)
    if plan is None:
        steps_per_epoch = math.ceil(train_split.size / config.batch_size)
    else:
        steps_per_epoch = plan.steps_per_epoch(train_split.size, config.batch_size)
    n_out = _compile(model, config, steps_per_epoch)
    if plan is not None:
        plan.adapt_optimizer(model.optimizer)

    identity = {
        "version": _STATE_VERSION,
        "model": spec.name,
        "dataset": dataset.name,
        "data_source": dataset.source,
        "input_size": dataset.recipe.input_size,
        "n_train": train_split.size,
        "batch_size": config.batch_size,
    }
    history: list[dict[str, float]] = []
    start_epoch = 0
    if config.resume:
        state = _load_checkpoint(model, config.checkpoint, identity)
        start_epoch = int(state["epochs_done"])
        history = list(state.get("history", []))
        if progress:
            print(f"resumed {spec.name} from {config.checkpoint} after epoch {start_epoch}", file=sys.stderr)

    t0 = time.perf_counter()
    held = None
    for epoch in range(start_epoch, config.epochs):
        if plan is not None:
            data = plan.train_data(
                dataset,
                train_split.name,
                config.batch_size,
                seed=config.seed,
                epoch=epoch,
                augment=config.augment,
                targets=n_out,
            )
        else:
            data = dataset.batches(
                train_split.name,
                config.batch_size,
                shuffle=True,
                seed=config.seed,
                epoch=epoch,
                augment=config.augment,
            )
            if n_out > 1:
                data = data.map(lambda x, y: (x, tuple([y] * n_out)))
        callbacks = [_progbar_logger(config.epochs)] if progress else []
        fit = model.fit(
            data,
            epochs=epoch + 1,
            initial_epoch=epoch,
            verbose=1 if progress else 0,
            callbacks=callbacks,
            shuffle=False,
            steps_per_epoch=None if plan is None else steps_per_epoch,
        )
        logs = {k: float(v[-1]) for k, v in fit.history.items()}
        held = _evaluate_with(plan, model, dataset, config.eval_batch_size)
        entry = {
            "epoch": epoch + 1,
            "loss": logs.get("loss", float("nan")),
            "train_top1": 100.0 * logs.get("acc", logs.get("predictions_acc", float("nan"))),
            "heldout_top1": held["top1"],
        }
        history.append(entry)
        if progress:
            print(f"  held-out top-1 after epoch {epoch + 1}: {held['top1']:.2f} %", file=sys.stderr)
        if config.checkpoint:
            state = {**identity, "epochs_done": epoch + 1, "history": history, "config": config.as_dict()}
            if plan is None or plan.is_chief:
                _save_checkpoint(model, config.checkpoint, state)
            else:
                # every host saves (a save may read variables collectively); only host 0's file is kept
                with tempfile.TemporaryDirectory() as scratch:
                    _save_checkpoint(model, os.path.join(scratch, os.path.basename(config.checkpoint)), state)
    train_time = time.perf_counter() - t0

    final = held or _evaluate_with(plan, model, dataset, config.eval_batch_size)
    return TrainResult(
        model_name=spec.name,
        config=config,
        epochs_done=max(config.epochs, start_epoch),
        resumed_from=start_epoch,
        top1=final["top1"],
        top5=final["top5"],
        n_heldout=final["n"],
        n_train=train_split.size,
        train_time_s=train_time,
        history=history,
        fingerprint=dataset.fingerprint(),
        checkpoint=config.checkpoint,
        model=model,
        distribution=distribution_columns(plan, config.batch_size),
    )


def _evaluate_with(plan, model, dataset: Dataset, batch_size: int) -> dict[str, Any]:
    """Held-out accuracy on one device, or data-parallel under ``plan``."""
    if plan is None:
        return evaluate(model, dataset, batch_size=batch_size)
    return plan.evaluate(model, dataset, batch_size=batch_size)


# --------------------------------------------------------------------------------------- runner task


def _reference_columns(spec: ModelSpec, dataset: Dataset) -> dict[str, Any]:
    ref = spec.reference_top1()
    if (
        ref is None
        or dataset.name not in ("imagefolder", "imagenet")
        or dataset.num_classes != spec.num_classes
    ):
        return {}
    return {
        "ref_top1": ref.top1,
        "ref_top5": ref.top5,
        "ref_source": ref.source,
        "ref_scope": ref.scope,
        "ref_protocol": ref.protocol,
        "ref_weights": ref.weights,
    }


def accuracy_rows(
    model_name: str,
    spec: ModelSpec | None = None,
    *,
    dataset: str = "digits",
    data_dir: str | None = None,
    weights: str | None = None,
    train_epochs: int = 0,
    image_size: int | None = None,
    upsample: bool = True,
    limit: int | None = None,
    seed: int = 0,
    config: TrainConfig | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """The runner's ``accuracy`` task: train (``train_epochs > 0``) or load ``weights``, then evaluate.

    Training takes ``config`` if given, else the model's recipe with ``train_epochs`` epochs and
    ``seed`` (:func:`train_config`); the row records the settings and the part taken from the recipe.

    Returns one row: held-out ``top1``/``top5`` (percent) and ``n``; the dataset's preprocessing
    fingerprint (dataset, data_source, split, input size, resize/crop, interpolation, antialias,
    mean/std, channels, ...); ``trained``, ``train_epochs``, ``weights``, ``init`` and ``note``. With
    neither training nor weights the random initialisation is evaluated and the row says so
    (``trained=False``, ``note="untrained (random init)"``). For an ImageNet folder the spec's
    reference accuracy is added as ``ref_top1``/``ref_top5``/``ref_source`` (labelled reference) when
    the folder has the model's number of classes.
    """
    spec = spec or get_spec(model_name)
    if train_epochs < 0:
        raise UsageError(f"train_epochs must be >= 0, got {train_epochs}")
    training = train_epochs > 0
    heldout_fraction = (
        None if training else (1.0 if dataset.split(":")[0] in ("imagefolder", "imagenet") else None)
    )
    ds = load_dataset(
        dataset,
        spec,
        data_dir=data_dir,
        image_size=image_size,
        upsample=upsample,
        heldout_fraction=heldout_fraction,
        seed=seed,
        limit=limit,
    )
    weights = os.fspath(weights) if weights is not None else None
    row: dict[str, Any] = {"model": spec.name}
    if training:
        if config is None:
            cfg = train_config(spec, {"epochs": train_epochs, "seed": seed})
        else:
            cfg = dataclasses.replace(config, epochs=train_epochs)
        result = train(spec, ds, cfg, weights=weights, progress=progress)
        measured = {
            "split": ds.heldout_split,
            "n": result.n_heldout,
            "top1": result.top1,
            "top5": result.top5,
        }
        row.update(
            trained=True,
            train_epochs=result.epochs_done,
            init=weights or "random",
            n_train=result.n_train,
            train_time_s=result.train_time_s,
            **_config_columns(cfg),
            **result.distribution,
        )
        note = f"trained {result.epochs_done} epochs on {ds.name} ({result.n_train} images)" + (
            f" from {weights}" if weights else " from random init"
        )
    else:
        import keras

        keras.utils.set_random_seed(seed)
        model = build_for_dataset(spec, ds, weights=weights)
        measured = evaluate(model, ds)
        row.update(trained=weights is not None, train_epochs=0, init=weights or "random", n_train=0)
        note = f"weights from {weights}" if weights else UNTRAINED_NOTE
    fingerprint = ds.fingerprint()
    row.update(fingerprint)
    row.update(
        split=measured["split"],
        n=measured["n"],
        top1=measured["top1"],
        top5=measured["top5"],
        weights=weights,
        note=note,
        **_reference_columns(spec, ds),
    )
    return [row]
