"""Parameter conventions: ``paper`` leaves out state and fixed constants, whatever is frozen."""

import keras
import numpy as np
import pytest

import archbench
from archbench.errors import UsageError
from archbench.params import count_params, fixed_weights


class FixedCode(keras.layers.Layer):
    """A dense layer beside a fixed, non-learned code, declared as such."""

    archbench_fixed_weights = ("code",)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(int(input_shape[-1]), 3), name="kernel")
        self.code = self.add_weight(shape=(3, 2), initializer="ones", trainable=False, name="code")

    def call(self, x):
        return keras.ops.matmul(keras.ops.matmul(x, self.kernel), self.code)


class Undeclared(FixedCode):
    archbench_fixed_weights = ("codebook",)


def small_model(layer):
    inputs = keras.Input((4,))
    x = keras.layers.Dense(5)(inputs)  # 25
    x = keras.layers.BatchNormalization()(x)  # gamma, beta 10; moving statistics 10
    return keras.Model(inputs, layer(x))


def test_paper_leaves_out_batch_norm_statistics_and_declared_constants():
    counts = count_params(small_model(FixedCode()))  # kernel 15, code 6
    assert (counts.total, counts.trainable, counts.non_trainable, counts.paper) == (66, 50, 16, 50)


def test_freezing_moves_weights_to_non_trainable_but_leaves_paper_alone():
    model = small_model(FixedCode())
    model.trainable = False
    counts = count_params(model)
    assert (counts.total, counts.trainable, counts.non_trainable, counts.paper) == (66, 0, 66, 50)


def test_a_declared_weight_the_layer_lacks_is_an_error():
    with pytest.raises(UsageError, match="declares a fixed weight 'codebook'"):
        count_params(small_model(Undeclared()))


def test_batch_norm_statistics_are_named_not_guessed():
    bn = keras.layers.BatchNormalization()
    bn.build((None, 3))
    bn.trainable = False  # frozen: gamma and beta are non-trainable now, yet learned parameters
    assert [w.path for w in fixed_weights(bn)] == [bn.moving_mean.path, bn.moving_variance.path]


def test_lenet5_paper_count_is_the_papers_60000():
    """Section II.B: C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164; the 840 RBF
    components are a fixed code (the output layer declares them), counted in total only."""
    counts = count_params(archbench.get_model("lenet5"))
    assert (counts.total, counts.trainable, counts.paper) == (60_840, 60_000, 60_000)
    rbf = archbench.get_model("lenet5").get_layer("predictions")
    assert [tuple(w.shape) for w in fixed_weights(rbf)] == [(84, 10)]
    assert np.all(np.abs(rbf.centers.numpy()) == 1.0)
