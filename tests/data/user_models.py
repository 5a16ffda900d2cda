"""Tiny user models for runner tests, registered the way a user's --model-file does."""

import os
import time

import keras

from archbench.registry import Paper, register_model

PAPER = Paper("test models", "archbench tests", "none", 2026, "https://example.invalid")
FIELDS = dict(family="test", year=2026, paper=PAPER, input_shape=(16, 16, 3), min_input_size=8, num_classes=10)


def _tiny(filters, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
          classes=10, classifier_activation="softmax"):
    inp = keras.Input(input_shape or (16, 16, 3))
    x = keras.layers.Conv2D(filters, 3, name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inp, x, name=f"tiny{filters}")


for _i in range(1, 7):
    register_model(name=f"tiny{_i}", display_name=f"Tiny {_i}", **FIELDS)(
        lambda _f=_i, **kw: (time.sleep(float(os.environ.get("ARCHBENCH_TEST_SLEEP", "0"))), _tiny(_f, **kw))[1]
    )


@register_model(name="broken", display_name="Broken", **FIELDS)
def broken(**kwargs):
    raise RuntimeError("this model is broken on purpose")
