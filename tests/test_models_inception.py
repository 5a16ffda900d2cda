"""GoogLeNet against the paper's table 1, Inception-v3/v4, and the keras.applications wrappers."""

import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import archbench
from archbench.errors import InputTooSmallError, UsageError, WeightsError
from archbench.params import count_params

# Szegedy et al. 2015, table 1 (arXiv 1409.4842): output size per row at 224x224 ...
TABLE1_OUTPUTS = [
    ("conv1", (112, 112, 64)),
    ("pool1", (56, 56, 64)),
    ("conv2", (56, 56, 192)),
    ("pool2", (28, 28, 192)),
    ("inception_3a", (28, 28, 256)),
    ("inception_3b", (28, 28, 480)),
    ("pool3", (14, 14, 480)),
    ("inception_4a", (14, 14, 512)),
    ("inception_4b", (14, 14, 512)),
    ("inception_4c", (14, 14, 512)),
    ("inception_4d", (14, 14, 528)),
    ("inception_4e", (14, 14, 832)),
    ("pool4", (7, 7, 832)),
    ("inception_5a", (7, 7, 832)),
    ("inception_5b", (7, 7, 1024)),
    ("avg_pool", (1024,)),  # 1x1x1024 in the table
    ("predictions", (1000,)),
]
# ... and its inception rows: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE1_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def conv_params(cin, cout, k):
    return k * k * cin * cout + cout


def inception_params(cin, row):
    n1, r3, n3, r5, n5, pp = row
    return (
        conv_params(cin, n1, 1)
        + conv_params(cin, r3, 1)
        + conv_params(r3, n3, 3)
        + conv_params(cin, r5, 1)
        + conv_params(r5, n5, 5)
        + conv_params(cin, pp, 1)
    )


def inception_inputs():
    """(name, input channels, row) for every inception row, chaining the table's output channels."""
    cin, out = 192, []
    for name, row in TABLE1_INCEPTION.items():
        out.append((name, cin, row))
        cin = row[0] + row[2] + row[4] + row[5]
    return out


def googlenet_params_from_table(classes=1000):
    stem = conv_params(3, 64, 7) + conv_params(64, 64, 1) + conv_params(64, 192, 3)
    modules = sum(inception_params(cin, row) for _, cin, row in inception_inputs())
    return stem + modules + 1024 * classes + classes


def aux_params(cin, classes=1000):
    return conv_params(cin, 128, 1) + (4 * 4 * 128) * 1024 + 1024 + 1024 * classes + classes


def layer_params(model, prefix):
    return sum(layer.count_params() for layer in model.layers if layer.name.startswith(prefix))


# --- GoogLeNet ---------------------------------------------------------------------------------------


def test_inception_table_is_the_papers():
    from archbench.models.googlenet import INCEPTION_TABLE

    assert {r.name: tuple(r)[1:] for r in INCEPTION_TABLE} == TABLE1_INCEPTION
    assert [r.name for r in INCEPTION_TABLE] == list(TABLE1_INCEPTION)


@pytest.mark.parametrize("layer, shape", TABLE1_OUTPUTS, ids=[n for n, _ in TABLE1_OUTPUTS])
def test_googlenet_output_sizes_match_table1(build, layer, shape):
    model = build("googlenet")
    assert tuple(model.get_layer(layer).output.shape[1:]) == shape


@pytest.mark.parametrize("name, cin, row", inception_inputs(), ids=list(TABLE1_INCEPTION))
def test_inception_module_params_match_formula(build, name, cin, row):
    model = build("googlenet")
    assert layer_params(model, f"inception_{name}_") == inception_params(cin, row)


def test_googlenet_total_params(build):
    counts = count_params(build("googlenet"))
    assert counts.total == counts.paper == googlenet_params_from_table()


def test_googlenet_inference_model_has_no_aux_layers(build):
    model = build("googlenet")
    assert not [layer.name for layer in model.layers if layer.name.startswith("aux")]
    assert len(model.outputs) == 1


def test_googlenet_lrn_is_caffes(build):
    from archbench.layers import LocalResponseNormalization

    lrns = [layer for layer in build("googlenet").layers if isinstance(layer, LocalResponseNormalization)]
    assert [layer.name for layer in lrns] == ["norm1", "norm2"]
    for layer in lrns:
        assert (layer.size, layer.alpha, layer.beta, layer.k, layer.alpha_over_size) == (
            5,
            1e-4,
            0.75,
            1.0,
            True,
        )


def test_googlenet_aux_logits(build):
    from archbench.models.googlenet import AUX_LOSS_WEIGHT, LOSS_WEIGHTS

    model = build("googlenet", aux_logits=True)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 3
    assert list(model.output_names) == ["predictions", "aux1_predictions", "aux2_predictions"]
    assert tuple(model.get_layer("aux1_avg_pool").output.shape[1:]) == (4, 4, 512)
    assert tuple(model.get_layer("aux2_avg_pool").output.shape[1:]) == (4, 4, 528)
    expected = googlenet_params_from_table() + aux_params(512) + aux_params(528)
    assert count_params(model).total == expected > count_params(build("googlenet")).total
    assert AUX_LOSS_WEIGHT == 0.3 and LOSS_WEIGHTS == (1.0, 0.3, 0.3)


def test_googlenet_aux_needs_top_and_size():
    with pytest.raises(UsageError, match="include_top"):
        archbench.get_model("googlenet", aux_logits=True, include_top=False)
    with pytest.raises(InputTooSmallError, match="auxiliary"):
        archbench.get_model("googlenet", aux_logits=True, input_shape=(78, 78, 3))


@pytest.mark.parametrize("pooling, shape", [("avg", (1024,)), ("max", (1024,)), (None, (2, 2, 1024))])
def test_googlenet_headless(pooling, shape):
    model = archbench.get_model("googlenet", include_top=False, pooling=pooling, input_shape=(64, 64, 3))
    assert tuple(model.output.shape[1:]) == shape
    assert count_params(model).total == googlenet_params_from_table() - (1024 * 1000 + 1000)


def test_googlenet_runs_and_classes(build):
    model = build("googlenet", input_shape=(64, 64, 3), classes=10)
    y = np.asarray(model(np.random.default_rng(0).random((2, 64, 64, 3), dtype="float32"), training=False))
    assert y.shape == (2, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_googlenet_minimum_input():
    model = archbench.get_model("googlenet", include_top=False, input_shape=(31, 31, 3))
    assert tuple(model.output.shape[1:3]) == (1, 1)
    with pytest.raises(InputTooSmallError):
        archbench.get_model("googlenet", include_top=False, input_shape=(30, 30, 3))


@pytest.mark.parametrize(
    "size, window, stride, pad", [(112, 3, 2, 1), (113, 3, 2, 0), (14, 3, 2, 1), (14, 5, 3, 0), (2, 3, 2, 1)]
)
def test_ceil_mode_padding(size, window, stride, pad):
    from archbench.models.googlenet import _ceil_pad

    assert _ceil_pad(size, window, stride) == pad


def test_googlenet_spec():
    spec = archbench.get_spec("googlenet")
    assert spec.depth_paper == 22 and spec.ilsvrc.place == 1 and spec.ilsvrc.top5_error == 6.67
    assert spec.deviations and spec.paper.url.endswith("1409.4842")


# --- reference figures of the specs in this family ------------------------------------------------


def _conv_dense_macs(model):
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            total += int(np.prod(layer.kernel.shape)) * int(np.prod(layer.output.shape[1:3]))
        elif kind == "Dense":
            total += int(np.prod(layer.kernel.shape))
    return total


@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "inception_v4"])
def test_reference_figures_within_tolerance(build, name):
    spec = archbench.get_spec(name)
    model = build(name)
    counts = count_params(model)
    bad = []
    for ref in spec.params_refs:
        if abs(counts.paper - ref.value) > ref.rtol * ref.value:
            bad.append(("params", ref.source, counts.paper, ref.value))
    macs = _conv_dense_macs(model)
    for ref in spec.macs_refs:
        if abs(macs - ref.value) > ref.rtol * ref.value:
            bad.append(("macs", ref.source, macs, ref.value))
    assert not bad


# --- Inception-v3 / v4 -----------------------------------------------------------------------------


def test_inception_v4_params_equal_timm(build):
    model = build("inception_v4")
    assert count_params(model).paper == 42_679_816
    assert tuple(model.output.shape) == (None, 1000)


@pytest.mark.parametrize(
    "layer, shape",
    [
        ("stem_2_relu", (147, 147, 64)),
        ("mixed_3a", (73, 73, 160)),
        ("mixed_4a", (71, 71, 192)),
        ("mixed_5a", (35, 35, 384)),
        ("inception_a4", (35, 35, 384)),
        ("reduction_a", (17, 17, 1024)),
        ("inception_b7", (17, 17, 1024)),
        ("reduction_b", (8, 8, 1536)),
        ("inception_c3", (8, 8, 1536)),
    ],
)
def test_inception_v4_grid_sizes(build, layer, shape):
    assert tuple(build("inception_v4").get_layer(layer).output.shape[1:]) == shape


def test_inception_v4_minimum_input():
    model = archbench.get_model("inception_v4", include_top=False, input_shape=(75, 75, 3))
    assert tuple(model.output.shape[1:]) == (1, 1, 1536)
    with pytest.raises(InputTooSmallError):
        archbench.get_model("inception_v4", input_shape=(74, 74, 3))


def test_inception_v3_is_keras(build):
    model = build("inception_v3")
    assert count_params(model).total == 23_851_784
    assert archbench.get_spec("inception_v3").implementation == "keras.applications"
    with pytest.raises(InputTooSmallError):
        archbench.get_model("inception_v3", input_shape=(74, 74, 3))
    with pytest.raises(WeightsError):
        archbench.get_model("inception_v3", weights="imagenet")


# --- keras.applications wrappers -----------------------------------------------------------------


def test_keras_wrappers_are_listed_apart():
    from archbench.models.keras_apps import KERAS_TABLE, application_functions

    names = archbench.list_models("keras/*")
    assert "keras/ResNet50" in names and "keras/MobileNetV2" in names
    assert set(names) == {f"keras/{n}" for n in application_functions()}
    assert not [n for n in archbench.list_models("*") if "/" in n]
    assert {f"keras/{n}" for n in KERAS_TABLE} <= set(names)


def test_keras_wrapper_specs():
    for name in archbench.list_models("keras/*"):
        spec = archbench.get_spec(name)
        assert spec.implementation == "keras.applications" and spec.family == "keras.applications"
        assert spec.year >= 1998 and spec.paper.url.startswith("http"), name
        assert spec.input_shape[0] >= spec.min_input_size


def test_keras_default_sizes_appear_in_keras_source():
    from archbench.models.keras_apps import DEFAULT_SIZES, application_functions

    functions = application_functions()
    for name, size in DEFAULT_SIZES.items():
        if name in functions:
            assert str(size) in inspect.getsource(functions[name]), name


def test_keras_mobilenet_v2_offline(build, tmp_path):
    model = build("keras/MobileNetV2", input_shape=(96, 96, 3), include_top=False)
    assert tuple(model.output.shape[1:]) == (3, 3, 1280)
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    again = archbench.get_model(
        "keras/MobileNetV2", input_shape=(96, 96, 3), include_top=False, weights=str(path)
    )
    np.testing.assert_array_equal(again.weights[0].numpy(), model.weights[0].numpy())


def test_keras_table_reference(build):
    spec = archbench.get_spec("keras/MobileNetV2")
    (ref,) = spec.params_refs
    counts = count_params(build("keras/MobileNetV2"))
    assert counts.total == ref.value == 3_538_984
    assert abs(counts.paper - ref.value) <= ref.rtol * ref.value
    assert spec.accuracy_refs[0].top1 == 71.3 and spec.preprocessing.mean == (0.5, 0.5, 0.5)


def test_keras_wrapper_errors():
    with pytest.raises(WeightsError):
        archbench.get_model("keras/ResNet50", weights="imagenet")
    with pytest.raises(InputTooSmallError):
        archbench.get_model("keras/MobileNetV2", input_shape=(31, 31, 3), include_top=False)
    with pytest.raises(UsageError, match="unknown option"):
        archbench.get_model("keras/MobileNetV2", include_top=False, input_shape=(96, 96, 3), depth=3)


@pytest.mark.jax
@pytest.mark.slow
def test_googlenet_jax_backend():
    pytest.importorskip("jax")
    code = textwrap.dedent(
        """
        import numpy as np, keras, archbench
        assert keras.backend.backend() == "jax"
        m = archbench.get_model("googlenet", input_shape=(64, 64, 3), classes=10)
        y = np.asarray(m(np.random.default_rng(0).random((2, 64, 64, 3), dtype="float32")))
        assert y.shape == (2, 10) and np.allclose(y.sum(axis=1), 1.0, rtol=1e-5)
        print("ok")
        """
    )
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
