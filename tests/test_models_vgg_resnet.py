"""VGG and ResNet builders: exact counts from the papers' tables, shapes, heads, errors, keras parity.

Expected parameter counts are closed-form functions of the architecture tables; the published figures
(torchvision, keras.applications) pin the tables themselves. Large models are built once, with default
arguments, through the session ``build`` fixture; everything else uses 64x64 inputs.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import archbench
from archbench.errors import InputTooSmallError, UsageError
from archbench.models._common import BuildArgs
from archbench.models.resnet import STAGES, _resnet
from archbench.models.vgg import CONFIGS, _vgg
from archbench.params import count_params

VGG_NAMES = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
VGG_BN_NAMES = {f"{name}_bn": config for name, config in VGG_NAMES.items()}
RESNET_NAMES = {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101, "resnet152": 152}
RESNET_V1_5_NAMES = {f"resnet{d}_v1_5": d for d in (50, 101, 152)}
ALL_NAMES = [*VGG_NAMES, *VGG_BN_NAMES, *RESNET_NAMES, *RESNET_V1_5_NAMES]

# Published parameter counts (paper convention, with the 1000-class head): torchvision's weights meta,
# equal to keras.applications' for VGG16/VGG19.
PUBLISHED_PARAMS = {
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet50_v1_5": 25_557_032,
    "resnet101_v1_5": 44_549_160,
    "resnet152_v1_5": 60_192_808,
}


def _counts(weights: int, bn_channels: int) -> dict[str, int]:
    """Batch norm has 2 trainable (gamma, beta) and 2 non-trainable (moving mean, variance) per channel."""
    return {
        "total": weights + 4 * bn_channels,
        "trainable": weights + 2 * bn_channels,
        "non_trainable": 2 * bn_channels,
        "paper": weights + 2 * bn_channels,
    }


def vgg_expected(config, batch_norm=False, include_top=True, classes=1000):
    """Sum over 3x3 convolutions of (9 cin + 1) cout, then 25088-4096-4096-classes fully connected."""
    weights = bn = 0
    cin = 3
    for block in CONFIGS[config]:
        for cout in block:
            weights += (3 * 3 * cin + 1) * cout
            bn += cout if batch_norm else 0
            cin = cout
    if include_top:
        weights += (7 * 7 * cin + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * classes
    return _counts(weights, bn)


def resnet_expected(depth, include_top=True, classes=1000):
    """Stem 7x7x3x64, bias-free convolutions each with BN, 1x1 projections where the shape changes."""
    kind, blocks = STAGES[depth]
    expansion = 1 if kind == "basic" else 4
    weights, bn = 7 * 7 * 3 * 64, 64
    cin = 64
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for i in range(count):
            stride = 2 if i == 0 and stage > 0 else 1
            if kind == "basic":
                weights += 9 * cin * width + 9 * width * width
                bn += 2 * width
            else:
                weights += cin * width + 9 * width * width + width * 4 * width
                bn += 6 * width
            if stride != 1 or cin != expansion * width:
                weights += cin * expansion * width
                bn += expansion * width
            cin = expansion * width
    if include_top:
        weights += (cin + 1) * classes
    return _counts(weights, bn)


def expected(name, **kwargs):
    if name in RESNET_NAMES or name in RESNET_V1_5_NAMES:
        return resnet_expected(RESNET_NAMES.get(name) or RESNET_V1_5_NAMES[name], **kwargs)
    return vgg_expected(VGG_NAMES.get(name) or VGG_BN_NAMES[name], name.endswith("_bn"), **kwargs)


def macs(model) -> int:
    """Multiply-adds of the convolutions and dense layers, from the built shapes (per sample)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("name", ALL_NAMES)
def test_closed_form_reproduces_published_count(name):
    assert expected(name)["paper"] == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_param_counts_exact(build, name):
    assert count_params(build(name)).as_dict() == expected(name)


def test_known_totals_with_bn_statistics():
    """The totals Keras reports (BN moving statistics included) for the batch-norm networks."""
    assert resnet_expected(50)["total"] == 25_610_152
    assert resnet_expected(50)["non_trainable"] == 53_120
    assert vgg_expected("D", batch_norm=True)["total"] == 138_374_440


@pytest.mark.parametrize("name", ALL_NAMES)
def test_depth_paper_counts_weight_layers(build, name):
    """Paper depth = convolutions on the main path (projection shortcuts excluded) + fully connected layers."""
    model = build(name)
    weight_layers = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense) and not layer.name.endswith("_0_conv")
    ]
    assert len(weight_layers) == archbench.get_spec(name).depth_paper


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_v1_5_moves_only_the_stride(build, depth):
    v1, v15 = build(f"resnet{depth}"), build(f"resnet{depth}_v1_5")
    assert count_params(v1) == count_params(v15)
    shapes_v1 = {w.path: tuple(w.shape) for w in v1.weights}
    assert shapes_v1 == {w.path: tuple(w.shape) for w in v15.weights}
    for stage in (3, 4, 5):
        block = f"conv{stage}_block1"
        assert v1.get_layer(f"{block}_1_conv").strides == (2, 2)
        assert v1.get_layer(f"{block}_2_conv").strides == (1, 1)
        assert v15.get_layer(f"{block}_1_conv").strides == (1, 1)
        assert v15.get_layer(f"{block}_2_conv").strides == (2, 2)
        assert v15.get_layer(f"{block}_2_pad").padding == ((1, 1), (1, 1))
        assert v1.get_layer(f"{block}_0_conv").strides == v15.get_layer(f"{block}_0_conv").strides == (2, 2)
    strided_v1 = {layer.name for layer in v1.layers if getattr(layer, "strides", None) == (2, 2)}
    strided_v15 = {layer.name for layer in v15.layers if getattr(layer, "strides", None) == (2, 2)}
    assert strided_v1 - strided_v15 == {f"conv{s}_block1_1_conv" for s in (3, 4, 5)}
    assert strided_v15 - strided_v1 == {f"conv{s}_block1_2_conv" for s in (3, 4, 5)}


def test_basic_block_nets_have_no_v1_5_registration():
    assert archbench.list_models("resnet*_v1_5") == list(RESNET_V1_5_NAMES)
    assert "resnet18_v1_5" not in archbench.list_models("resnet*")


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("name", [*RESNET_NAMES, *RESNET_V1_5_NAMES])
def test_resnet_stage_shapes_at_224(build, name):
    model = build(name)
    kind, blocks = STAGES[RESNET_NAMES.get(name) or RESNET_V1_5_NAMES[name]]
    expansion = 1 if kind == "basic" else 4
    assert tuple(model.get_layer("conv1_relu").output.shape) == (None, 112, 112, 64)
    assert tuple(model.get_layer("pool1_pool").output.shape) == (None, 56, 56, 64)
    for stage, (count, width, size) in enumerate(
        zip(blocks, (64, 128, 256, 512), (56, 28, 14, 7), strict=True), start=2
    ):
        out = model.get_layer(f"conv{stage}_block{count}_out").output
        assert tuple(out.shape) == (None, size, size, expansion * width)
    assert tuple(model.get_layer("avg_pool").output.shape) == (None, 512 * expansion)
    assert tuple(model.output.shape) == (None, 1000)


@pytest.mark.parametrize("name", [*VGG_NAMES, *VGG_BN_NAMES])
def test_vgg_block_shapes_at_224(build, name):
    model = build(name)
    for block, (size, width) in enumerate(
        zip((112, 56, 28, 14, 7), (64, 128, 256, 512, 512), strict=True), start=1
    ):
        assert tuple(model.get_layer(f"block{block}_pool").output.shape) == (None, size, size, width)
    assert tuple(model.get_layer("flatten").output.shape) == (None, 25088)
    assert tuple(model.output.shape) == (None, 1000)


@pytest.mark.parametrize("name", ["resnet18", "resnet50_v1_5", "vgg11", "vgg11_bn"])
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_headless_at_64(name, pooling):
    model = archbench.get_model(name, include_top=False, input_shape=(64, 64, 3), pooling=pooling)
    channels = 2048 if name.startswith("resnet50") else 512
    assert tuple(model.output.shape) == ((None, 2, 2, channels) if pooling is None else (None, channels))
    if pooling is not None:
        assert model.layers[-1].name == f"{pooling}_pool"
    assert count_params(model).as_dict() == expected(name, include_top=False)


def test_resnet_top_at_other_size_and_classes():
    model = archbench.get_model("resnet18", input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    assert tuple(model.output.shape) == (None, 10)
    assert model.get_layer("predictions").activation is keras.activations.linear
    assert count_params(model).as_dict() == resnet_expected(18, classes=10)
    out = model(np.zeros((1, 64, 64, 3), "float32"))
    assert tuple(out.shape) == (1, 10)


# ---------------------------------------------------------------- errors


def test_vgg_top_needs_224():
    with pytest.raises(UsageError, match="224x224"):
        archbench.get_model("vgg11", input_shape=(160, 160, 3))
    with pytest.raises(UsageError, match="224x224"):
        archbench.get_model("vgg16_bn", input_tensor=keras.Input((160, 160, 3)))


@pytest.mark.parametrize(
    ("name", "size", "kwargs"),
    [
        ("resnet18", 16, {}),
        ("resnet50_v1_5", 31, {"include_top": False}),
        ("vgg11", 31, {"include_top": False}),
    ],
)
def test_input_too_small(name, size, kwargs):
    with pytest.raises(InputTooSmallError, match="minimum 32x32"):
        archbench.get_model(name, input_shape=(size, size, 3), **kwargs)


def test_bad_arguments():
    with pytest.raises(UsageError, match="unknown option"):
        archbench.get_model("resnet18", widht=2)
    with pytest.raises(UsageError, match="unknown option"):
        archbench.get_model("vgg11", batch_norm=True)
    with pytest.raises(UsageError, match="dropout"):
        archbench.get_model("vgg11", include_top=False, input_shape=(64, 64, 3), dropout=1.0)
    with pytest.raises(UsageError, match="configuration"):
        _vgg("C", BuildArgs("vgg"))
    with pytest.raises(UsageError, match="depth"):
        _resnet(20, BuildArgs("resnet"))
    with pytest.raises(UsageError, match="pooling"):
        archbench.get_model("resnet18", include_top=False, pooling="mean")


def test_name_and_dropout_options(build):
    model = archbench.get_spec("vgg11").build(include_top=False, input_shape=(64, 64, 3), name="my_vgg")
    assert model.name == "my_vgg"
    default = build("vgg11")
    assert default.name == "vgg11"
    assert default.get_layer("fc1_dropout").rate == default.get_layer("fc2_dropout").rate == 0.5


# ---------------------------------------------------------------- keras.applications parity


def test_vgg16_matches_keras_applications_by_name():
    """keras.applications VGG16 weights load by layer name and give the same features."""
    ours = archbench.get_model("vgg16", include_top=False, input_shape=(64, 64, 3))
    theirs = keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
    for layer in theirs.layers:
        if layer.weights:
            ours.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32) * 255
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


def test_resnet50_matches_keras_applications_v1():
    """Same graph as keras' ResNet50 (v1): its conv biases fold into our BN moving means (mean - bias)."""
    rng = np.random.default_rng(0)
    ours = archbench.get_model("resnet50", include_top=False, input_shape=(64, 64, 3))
    theirs = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    for layer in theirs.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            bias = rng.normal(size=bias.shape).astype("float32")
            layer.set_weights([kernel, bias])
            ours.get_layer(layer.name).set_weights([kernel])
            bn_name = layer.name.removesuffix("_conv") + "_bn"
            gamma = rng.uniform(0.5, 1.5, bias.shape).astype("float32")
            beta = rng.normal(size=bias.shape).astype("float32")
            mean = rng.normal(size=bias.shape).astype("float32")
            var = rng.uniform(0.5, 1.5, bias.shape).astype("float32")
            theirs.get_layer(bn_name).set_weights([gamma, beta, mean, var])
            ours.get_layer(bn_name).set_weights([gamma, beta, mean - bias, var])
    assert {layer.name for layer in ours.layers if layer.weights} == {
        layer.name for layer in theirs.layers if layer.weights
    }
    x = rng.random((2, 64, 64, 3), dtype=np.float32)
    a, b = np.asarray(ours(x, training=False)), np.asarray(theirs(x, training=False))
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * np.abs(b).max())


# ---------------------------------------------------------------- registry metadata


@pytest.mark.parametrize("name", ALL_NAMES)
def test_spec_references_agree_with_builder(build, name):
    spec = archbench.get_spec(name)
    model = build(name)
    counts = count_params(model)
    assert spec.paper.url.startswith("https://arxiv.org/abs/")
    assert spec.deviations and all(d.what and d.why for d in spec.deviations)
    assert spec.accuracy_refs and spec.params_refs and spec.macs_refs
    assert (spec.ilsvrc is not None) == (name in ("vgg16", "vgg19", "resnet152"))
    problems = []
    for ref in spec.params_refs:
        measured = counts.total if "every variable" in ref.scope else counts.paper
        if abs(measured - ref.value) > ref.rtol * ref.value:
            problems.append(f"params {ref.source}: {ref.value} vs {measured}")
    measured_macs = macs(model)
    for ref in spec.macs_refs:
        if abs(measured_macs - ref.value) > ref.rtol * ref.value:
            problems.append(f"MACs {ref.source}: {ref.value:.4g} vs {measured_macs:.4g}")
    assert not problems, problems


def test_variant_builders_are_exported_and_registered():
    from archbench.models import resnet as resnet_module
    from archbench.models import vgg as vgg_module

    for name in ALL_NAMES:
        module = vgg_module if name.startswith("vgg") else resnet_module
        builder = getattr(module, name)
        assert builder.__name__ == name
        assert archbench.get_spec(name).builder is builder
    assert set(archbench.list_models("vgg*")) == {*VGG_NAMES, *VGG_BN_NAMES}
    assert set(archbench.list_models("resnet*")) == {*RESNET_NAMES, *RESNET_V1_5_NAMES}


# ---------------------------------------------------------------- other backends


@pytest.mark.jax
@pytest.mark.slow
def test_jax_backend_smoke():
    pytest.importorskip("jax")
    code = (
        "import numpy as np, keras, archbench\n"
        "assert keras.backend.backend() == 'jax'\n"
        "for name in ('resnet18', 'vgg11'):\n"
        "    m = archbench.get_model(name, include_top=False, input_shape=(64, 64, 3))\n"
        "    y = np.asarray(m(np.ones((2, 64, 64, 3), 'float32')))\n"
        "    assert y.shape == (2, 2, 2, 512) and np.isfinite(y).all(), (name, y.shape)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
