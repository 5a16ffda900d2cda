"""How to train: :class:`TrainConfig` (the global defaults) and :func:`train_config` (a model's recipe).

A registered model may carry its own training defaults (:attr:`archbench.registry.ModelSpec.recipe`,
e.g. LeNet-5's: more epochs, a larger rate, affine distortions and a logit scale); :func:`train_config`
takes each setting as given, else from that recipe, else from :class:`TrainConfig`, and records which
ones came from the recipe. :func:`config_columns` are the settings as result-row columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .distribute import DISTRIBUTE_KINDS, LR_SCALING_RULES, scaled_lr
from .errors import UsageError
from .registry import ModelSpec
from .step import LR, MOMENTUM

__all__ = ["CHECKPOINT_SUFFIX", "LR_SCHEDULES", "OPTIMIZERS", "TRAIN_FIELDS", "TrainConfig", "config_columns",
           "train_config"]

OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("constant", "step", "cosine")
CHECKPOINT_SUFFIX = ".weights.h5"


@dataclass(frozen=True)
class TrainConfig:
    """How to train. These are the global defaults; a model's own recipe (:attr:`ModelSpec.recipe`,
    applied by :func:`train_config`) replaces them for that model: LeNet-5's reaches >= 98.5 % held-out
    top-1 on ``digits`` in about half a minute of training on two cores.

    ``lr_schedule``: ``constant``; ``step`` multiplies ``lr`` by ``lr_gamma`` every ``lr_step_epochs``
    epochs (AlexNet divided by 10 when the validation error stopped improving; ResNet every 30 epochs);
    ``cosine`` decays to 0 over ``epochs``. ``dropout`` overrides the rate of every ``Dropout`` layer
    (``None`` keeps the builder's). ``augment`` holds ``"flip"``, ``"shift"`` and/or ``"affine"``.
    ``aux_loss_weight`` weights each auxiliary output of a multi-output model (GoogLeNet: 0.3).
    ``clipnorm`` caps the global gradient norm (``None``: no clipping); the papers did not clip, but
    LeNet-5's RBF output starts with squared-distance logits in the hundreds, whose first gradients
    throw plain SGD at lr 0.01 into saturated tanh units; with the cap it trains from the first step.
    ``checkpoint`` is a ``.weights.h5`` path written after every epoch; ``resume`` continues from it.
    ``logit_scale`` multiplies the outputs the loss sees (a softmax temperature of ``1 / logit_scale``;
    predictions, hence accuracy, are unchanged): LeNet-5's RBF scores are minus squared distances over
    84 components, hundreds apart, on which cross-entropy is saturated (its recipe takes 0.1).
    ``from_recipe`` names the fields that came from the model's recipe (:func:`train_config`).

    ``distribute="data-parallel"`` spreads every batch over ``devices`` local devices (default: all)
    and over the hosts of a multi-host job (:mod:`archbench.distribute`); ``batch_size`` stays the
    global batch. ``lr_scaling="linear"`` trains with ``lr * batch_size / lr_base_batch`` (Goyal et al.
    2017); ``"none"`` with ``lr`` as given (:attr:`lr_effective`).
    """

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = LR
    momentum: float = MOMENTUM
    nesterov: bool = False
    weight_decay: float = 5e-4
    lr_schedule: str = "cosine"
    lr_step_epochs: int = 30
    lr_gamma: float = 0.1
    dropout: float | None = None
    augment: tuple[str, ...] = ()
    aux_loss_weight: float = 0.3
    clipnorm: float | None = 1.0
    logit_scale: float = 1.0
    seed: int = 0
    checkpoint: str | None = None
    resume: bool = False
    eval_batch_size: int = 128
    distribute: str | None = None
    devices: int | None = None
    lr_scaling: str = "none"
    lr_base_batch: int = 32
    from_recipe: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise UsageError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise UsageError("batch sizes must be positive")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UsageError(
                f"unknown lr schedule {self.lr_schedule!r}; choose from {', '.join(LR_SCHEDULES)}"
            )
        if not self.lr > 0:
            raise UsageError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise UsageError("weight_decay must be >= 0 and momentum in [0, 1)")
        if self.lr_step_epochs < 1 or not 0 < self.lr_gamma <= 1:
            raise UsageError("lr_step_epochs must be >= 1 and lr_gamma in (0, 1]")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.clipnorm is not None and not self.clipnorm > 0:
            raise UsageError(f"clipnorm must be positive or None, got {self.clipnorm}")
        if not self.logit_scale > 0:
            raise UsageError(f"logit_scale must be positive, got {self.logit_scale}")
        if self.aux_loss_weight < 0:
            raise UsageError(f"aux_loss_weight must be >= 0, got {self.aux_loss_weight}")
        if self.checkpoint is not None and not str(self.checkpoint).endswith(CHECKPOINT_SUFFIX):
            raise UsageError(f"checkpoint must end with {CHECKPOINT_SUFFIX}, got {self.checkpoint!r}")
        if self.resume and self.checkpoint is None:
            raise UsageError("resume needs a checkpoint path")
        if self.distribute is not None and self.distribute not in DISTRIBUTE_KINDS:
            raise UsageError(
                f"unknown distribution {self.distribute!r}; choose from {', '.join(DISTRIBUTE_KINDS)}"
            )
        if self.devices is not None and (self.devices < 1 or self.distribute is None):
            raise UsageError("devices must be >= 1 and needs distribute='data-parallel'")
        if self.lr_scaling not in LR_SCALING_RULES:
            raise UsageError(
                f"unknown lr scaling rule {self.lr_scaling!r}; choose from {', '.join(LR_SCALING_RULES)}"
            )
        if self.lr_base_batch < 1:
            raise UsageError(f"lr_base_batch must be >= 1, got {self.lr_base_batch}")
        object.__setattr__(self, "augment", tuple(self.augment))
        object.__setattr__(self, "from_recipe", tuple(self.from_recipe))

    @property
    def lr_effective(self) -> float:
        """The base learning rate training uses, after the ``lr_scaling`` rule."""
        return scaled_lr(self.lr, self.lr_scaling, self.batch_size, self.lr_base_batch)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["augment"] = list(self.augment)
        d["from_recipe"] = list(self.from_recipe)
        return d

    def recipe_text(self) -> str:
        """The settings taken from the model's recipe, ``"epochs=30, lr=0.05"`` (``""``: none)."""
        return ", ".join(f"{k}={_setting(getattr(self, k))}" for k in self.from_recipe)


def _setting(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "+".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig)) - {"from_recipe"}


def train_config(spec: ModelSpec, given: Mapping[str, Any] | None = None) -> TrainConfig:
    """How to train ``spec``: each field as ``given``, else from the model's recipe, else the default.

    The model's recipe is :attr:`ModelSpec.recipe` (e.g. LeNet-5's: more epochs, a larger rate, affine
    distortions and a logit scale); the fields taken from it are recorded in ``from_recipe``.
    """
    given = dict(given or {})
    unknown = sorted((set(spec.recipe) | set(given)) - TRAIN_FIELDS)
    if unknown:
        raise UsageError(f"{spec.name}: unknown training setting {unknown[0]!r}")
    taken = {k: v for k, v in spec.recipe.items() if k not in given}
    return TrainConfig(**taken, **given, from_recipe=tuple(taken))


def config_columns(config: TrainConfig) -> dict[str, Any]:
    return {
        "batch_size": config.batch_size,
        "optimizer": config.optimizer,
        "lr": config.lr,
        "momentum": config.momentum,
        "weight_decay": config.weight_decay,
        "lr_schedule": config.lr_schedule,
        "dropout": config.dropout,
        "augment": ",".join(config.augment) or None,
        "aux_loss_weight": config.aux_loss_weight,
        "clipnorm": config.clipnorm,
        "logit_scale": config.logit_scale,
        "recipe": config.recipe_text() or None,
        "train_seed": config.seed,
        "lr_scaling": config.lr_scaling,
        "lr_base_batch": config.lr_base_batch,
        "lr_effective": config.lr_effective,
    }
