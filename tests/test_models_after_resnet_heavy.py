"""ResNeXt, Wide ResNet, DenseNet and SENet: exact counts against torchvision and closed forms, counting
of grouped convolutions, dense concatenation and squeeze-and-excitation, torchvision weights converted.

Counts that need the full 224x224 input (multiply-adds) use the session ``build`` fixture, shared with
tests/test_models.py; everything else is built once per module at 64x64 (parameters do not depend on
the input size). Conversion tests use random torchvision weights with randomised batch-norm statistics.
"""

import importlib.util
import subprocess
import sys

import keras
import numpy as np
import pytest

import archbench
from archbench import convert, count
from archbench.convert.from_torchvision import _densenet_module
from archbench.models.senet import squeeze_excite
from archbench.params import count_params
from archbench.tracing import trace_count

TORCHVISION = ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "densenet121", "densenet161")
SENETS = ("se_resnet50", "senet154")
# torchvision's documentation, "Classification" table, IMAGENET1K_V1 weights: "GFLOPS" (multiply-adds)
# as printed, and the number of decimals printed.
PUBLISHED_GMACS = {
    "resnext50_32x4d": (4.23, 2),
    "resnext101_32x8d": (16.41, 2),
    "wide_resnet50_2": (11.4, 1),
    "densenet121": (2.83, 2),
    "densenet161": (7.73, 2),
}
SMALL = 64
R = 16
SE_RESNET50_STAGES = ((3, 256), (4, 512), (6, 1024), (3, 2048))  # blocks, output channels


@pytest.fixture(scope="module")
def small():
    """``small(name)``: the model at 64x64 with logits, built once for this module."""
    cache = {}

    def _small(name):
        if name not in cache:
            cache[name] = archbench.get_model(name, input_shape=(SMALL, SMALL, 3), classifier_activation=None)
        return cache[name]

    return _small


def se_params(channels: int, r: int = R) -> int:
    """An SE block: two dense layers C -> C/r -> C with biases."""
    return 2 * channels * channels // r + channels // r + channels


# ---------------------------------------------------------------- counts


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCHVISION)
def test_params_equal_torchvision(small, torchvision_peer, name):
    assert count_params(small(name)).paper == torchvision_peer(name)["params"]


@pytest.mark.parametrize("name", list(PUBLISHED_GMACS))
def test_macs_within_torchvision_rounding(build, name):
    published, decimals = PUBLISHED_GMACS[name]
    macs = count(build(name)).macs
    assert round(macs / 1e9, decimals) == published, macs


def test_se_resnet50_is_resnet50_plus_its_se_layers(small):
    added = sum(blocks * se_params(c) for blocks, c in SE_RESNET50_STAGES)
    assert added == 2_514_944 + 16_048
    assert count_params(small("se_resnet50")).paper == count_params(small("resnet50")).paper + added
    assert count_params(small("resnet50")).paper == 25_557_032
    assert count_params(small("se_resnet50")).paper == 28_088_024  # Cadene's se_resnet50


def test_se_resnet50_macs_are_resnet50_plus_the_se_dense_layers(build):
    dense = sum(blocks * 2 * c * c // R for blocks, c in SE_RESNET50_STAGES)
    assert count(build("se_resnet50")).macs - count(build("resnet50")).macs == dense == 2_514_944


def senet154_params() -> int:
    """Hu et al.'s appendix: ResNet-152 stages, 64 groups, first 1x1 half the 3x3, deep stem, 3x3 projections."""
    weights = 3 * 9 * 64 + 64 * 9 * 64 + 64 * 9 * 128
    bn = 64 + 64 + 128
    cin = 128
    for stage, (blocks, width) in enumerate(zip((3, 8, 36, 3), (64, 128, 256, 512), strict=True)):
        first, inner, out = 2 * width, 4 * width, 4 * width
        for i in range(blocks):
            weights += cin * first + 9 * (first // 64) * inner + inner * out + se_params(out)
            bn += first + inner + out
            if i == 0:
                weights += (1 if stage == 0 else 9) * cin * out
                bn += out
            cin = out
    return weights + 2 * bn + 2048 * 1000 + 1000


def test_senet154_params_closed_form(small):
    assert senet154_params() == 115_088_984  # Cadene's senet154
    assert count_params(small("senet154")).paper == senet154_params()


def test_senet154_design(small):
    model = small("senet154")
    assert [model.get_layer(f"conv1_{i}_conv").kernel.shape[-1] for i in (1, 2, 3)] == [64, 64, 128]
    assert model.get_layer("conv2_block1_0_conv").kernel_size == (1, 1)
    assert model.get_layer("conv3_block1_0_conv").kernel_size == (3, 3)
    assert model.get_layer("conv3_block1_0_conv").strides == (2, 2)
    conv = model.get_layer("conv5_block1_2_conv")
    assert (conv.groups, conv.strides, tuple(conv.kernel.shape)) == (64, (2, 2), (3, 3, 16, 2048))
    assert model.get_layer("conv5_block1_1_conv").kernel.shape[-1] == 1024
    assert model.get_layer("top_dropout").rate == 0.2


def test_se_block_counts_closed_form():
    """SE on a 7x5x64 map, r = 16: 2 C^2 / r multiply-adds; pooling and scaling H W C each; ReLU and
    sigmoid C/r + C; the walker and the traced program agree on MACs and on all other operations."""
    h, w, c = 7, 5, 64
    x = keras.Input((h, w, c))
    model = keras.Model(x, squeeze_excite(x, reduction=R, name="b"))
    walked, traced = count(model), trace_count(model)
    assert walked.macs == traced.macs == 2 * c * c // R
    assert dict(walked.ops_other) == {
        "pooling": h * w * c, "elementwise": h * w * c, "activation": c // R + c, "bias": c // R + c,
    }  # fmt: skip
    assert sum(walked.ops_other.values()) == sum(traced.ops_other.values())
    assert count_params(model).paper == se_params(c)


@pytest.mark.parametrize("name", ["resnext50_32x4d", "densenet121", "se_resnet50"])
def test_walker_and_tracer_agree(small, name):
    """Grouped convolutions, dense concatenation and SE blocks, counted exactly by both counters."""
    walked, traced = count(small(name)), trace_count(small(name))
    assert walked.method == "walker" and not walked.uncounted and not traced.uncounted
    assert walked.macs == traced.macs
    assert sum(walked.ops_other.values()) == sum(traced.ops_other.values())


def test_grouped_convolution_macs(small):
    """conv2_block1_2 of ResNeXt-50 at 64x64: 16x16 outputs, 3x3, 32 groups of 4 -> 128 channels."""
    model = small("resnext50_32x4d")
    layer = next(r for r in count(model).walked.layers if r.name == "conv2_block1_2_conv")
    assert layer.macs == 16 * 16 * 9 * 4 * 128


def test_densenet_depth_and_widths(build):
    for name, width in (("densenet121", 1024), ("densenet161", 2208)):
        model = build(name)
        assert tuple(model.get_layer("relu").output.shape) == (None, 7, 7, width)
        assert count(model).depth == archbench.get_spec(name).depth_paper


# ---------------------------------------------------------------- registry


@pytest.mark.parametrize("name", TORCHVISION + SENETS)
def test_specs(name):
    spec = archbench.get_spec(name)
    assert "after-resnet" in spec.tags and spec.paper.url.startswith("https://arxiv.org/abs/")
    assert spec.deviations and all(d.what and d.why for d in spec.deviations)
    assert spec.params_refs and spec.macs_refs and spec.reference_top1() is not None
    assert all(r.source for r in (*spec.params_refs, *spec.macs_refs, *spec.accuracy_refs))
    assert (spec.ilsvrc is not None) == (name in ("senet154", "resnext101_32x8d"))
    if name in TORCHVISION:
        assert name in convert.TORCHVISION_MODELS
        assert spec.accuracy_refs[0].weights == "torchvision"


def test_senet154_is_the_ilsvrc_2017_winner():
    entry = archbench.get_spec("senet154").ilsvrc
    assert (entry.year, entry.team, entry.place, entry.top5_error) == (2017, "WMW", 1, 2.251)


# ---------------------------------------------------------------- torchvision weights


# torch and TensorFlow do not share a process here: torchvision runs in a child, which writes its state
# dict (random weights, randomised batch-norm statistics), an input, its logits and its parameter count.
_PEER = """
import sys, numpy as np, torch, torchvision
name, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None).eval()
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.2)
            m.running_mean.normal_(0, 0.2); m.running_var.uniform_(0.5, 2.0)
    x = np.random.default_rng(1).normal(0, 1, (2, size, size, 3)).astype("float32")
    logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
state = {"state." + k: v.numpy() for k, v in model.state_dict().items()}
params = sum(p.numel() for p in model.parameters())
np.savez(out, x=x, logits=logits, params=np.array(params), **state)
"""


@pytest.fixture(scope="module")
def torchvision_peer(tmp_path_factory):
    """``torchvision_peer(name)``: torchvision's model with random weights, run at 64x64 in a child."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        pytest.skip("needs torch and torchvision")
    cache = {}

    def _peer(name):
        if name not in cache:
            out = tmp_path_factory.mktemp("tv") / f"{name}.npz"
            subprocess.run([sys.executable, "-c", _PEER, name, str(SMALL), str(out)], check=True, timeout=600)
            with np.load(out) as f:
                cache[name] = {
                    "x": f["x"], "logits": f["logits"], "params": int(f["params"]),
                    "state": {k.removeprefix("state."): f[k] for k in f.files if k.startswith("state.")},
                }  # fmt: skip
        return cache[name]

    return _peer


@pytest.mark.torch
@pytest.mark.parametrize(
    "name",
    [
        "resnext50_32x4d",
        "densenet121",
        pytest.param("wide_resnet50_2", marks=pytest.mark.slow),
        pytest.param("resnext101_32x8d", marks=pytest.mark.slow),
        pytest.param("densenet161", marks=pytest.mark.slow),
    ],
)
def test_torchvision_weights_give_the_same_logits(small, torchvision_peer, name):
    peer = torchvision_peer(name)
    ours = small(name)
    assert convert.transfer_from_torchvision(peer["state"], ours, name) == []
    expected, got = peer["logits"], ours.predict_on_batch(peer["x"])
    scale = np.abs(expected).max()
    assert scale > 0.1 and np.abs(expected - got).max() <= 1e-5 * max(scale, 10.0)


def test_old_densenet_checkpoint_keys_are_read(small):
    """torchvision's released DenseNet files name ``denselayer1.norm.1`` what its modules call ``norm1``."""
    model = small("densenet121")
    rng = np.random.default_rng(0)
    state = {}
    for layer in model.layers:
        for weight, key in zip(
            layer.weights, ("weight", "bias", "running_mean", "running_var"), strict=False
        ):
            prefix = _densenet_module(layer.name)
            if isinstance(layer, keras.layers.Conv2D):
                kh, kw, i, o = weight.shape
                value = rng.normal(0, 0.1, (o, i, kh, kw))
            elif isinstance(layer, keras.layers.Dense):
                value = rng.normal(0, 0.1, tuple(weight.shape[::-1]) if key == "weight" else weight.shape)
            else:
                value = rng.uniform(0.5, 1.5, weight.shape)
            old = (
                prefix.replace(".norm1", ".norm.1").replace(".conv2", ".conv.2").replace(".conv1", ".conv.1")
            )
            state[f"{old.replace('.norm2', '.norm.2')}.{key}"] = value.astype("float32")
    assert "features.denseblock1.denselayer1.norm.1.weight" in state
    convert.transfer_from_torchvision(state, model, "densenet121")
    np.testing.assert_array_equal(
        model.get_layer("conv2_block1_1_conv").kernel,
        state["features.denseblock1.denselayer1.conv.1.weight"].transpose(2, 3, 1, 0),
    )
