"""SqueezeNet, ShuffleNet v1/v2 and MnasNet: closed forms, torchvision's counts and torchvision's weights.

The builders are checked against what can be computed by hand (a grouped convolution and a channel
shuffle, SqueezeNet 1.1 and ShuffleNet v1 whole), against torchvision's own networks (the same number
of parameters, multiply-adds within its documentation's rounding) and, with random torchvision
weights converted on load, against torchvision's logits. PyTorch runs in a process of its own (as
archbench's peers and converter do): torchvision cannot be imported after TensorFlow on every
platform. Each network is built once per session (the ``build`` cache of ``conftest.py``).
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import archbench
from archbench import convert
from archbench.counting import conv_macs, count, dense_macs, depthwise_conv_macs
from archbench.errors import UsageError
from archbench.layers import ChannelShuffle, ChannelSplit
from archbench.params import count_params
from archbench.peers import peer_for
from archbench.tracing import trace_count

LIGHT = ["squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x1_0", "shufflenet_v1_g3", "mnasnet1_0"]
TORCHVISION = ["squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x1_0", "mnasnet1_0"]
# torchvision docs, "Classification" table: "GFLOPS" (multiply-adds), to 2 decimals
TORCHVISION_DOCS_GMACS = {
    "squeezenet1_0": 0.82,
    "squeezenet1_1": 0.35,
    "shufflenet_v2_x1_0": 0.14,
    "mnasnet1_0": 0.31,
}
SIZE = 64
TOLERANCE = 1e-4


def test_grouped_convolution_and_channel_shuffle_count_exactly():
    """A 1x1 convolution in 3 groups, a shuffle, a split: closed forms, walker and tracer alike."""
    x = keras.Input((6, 6, 9))
    y = keras.layers.Conv2D(12, 1, groups=3, use_bias=False, name="gconv")(x)
    y = ChannelShuffle(3, name="shuffle")(y)
    kept, rest = ChannelSplit(name="split")(y)
    y = keras.layers.Conv2D(4, 3, padding="same", groups=2, use_bias=False, name="gconv3")(rest)
    model = keras.Model(x, keras.layers.Concatenate(name="concat")([kept, y]))
    macs = 36 * 1 * (9 // 3) * 12 + 36 * 9 * (6 // 2) * 4
    assert conv_macs((6, 6), (1, 1), 9, 12, groups=3) + conv_macs((6, 6), (3, 3), 6, 4, groups=2) == macs
    walked, traced = count(model), trace_count(model)
    assert walked.macs == traced.macs == macs == 1296 + 3888
    assert walked.params.total == traced.params.total == 9 // 3 * 12 + 9 * 6 // 2 * 4
    by_layer = {r.name: r for r in walked.layers}
    assert by_layer["shuffle"].macs == by_layer["split"].macs == 0
    assert not by_layer["shuffle"].ops_other and not by_layer["split"].ops_other
    assert walked.uncounted == () and traced.untraced == ()
    assert walked.receptive_field == traced.receptive_field  # 3x3 after two channel-only layers
    assert walked.receptive_field.size[0] == 3


def test_channel_shuffle_is_torchvisions_reshape_and_transpose():
    """Channel ``i * n + j`` of g groups of n moves to ``j * g + i``; the split halves the channels."""
    x = np.arange(12, dtype="float32").reshape(1, 1, 1, 12) * np.ones((2, 3, 4, 1), "float32")
    shuffled = np.asarray(ChannelShuffle(3)(x))
    reference = x.reshape(2, 3, 4, 3, 4).transpose(0, 1, 2, 4, 3).reshape(2, 3, 4, 12)  # torchvision's, NHWC
    np.testing.assert_array_equal(shuffled, reference)
    assert list(shuffled[0, 0, 0]) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    first, second = ChannelSplit()(x)
    np.testing.assert_array_equal(np.concatenate([first, second], axis=-1), x)
    with pytest.raises(UsageError, match="cannot be split into 5"):
        ChannelShuffle(5)(x)
    again = ChannelShuffle.from_config(ChannelShuffle(4, name="s").get_config())
    assert again.groups == 4 and again.name == "s"


def _fire(cin, s, e1, e3, size):
    """Parameters and multiply-adds of a Fire module at ``size`` x ``size``."""
    params = (cin + 1) * s + (s + 1) * e1 + (9 * s + 1) * e3
    return params, size * size * (cin * s + s * e1 + 9 * s * e3)


def test_squeezenet1_1_closed_form(build):
    """conv1 3x3/2 (111), pools with Caffe's rounding up to 55, 27, 13; Fire modules; conv10."""
    fires = [(64, 16, 64, 64, 55), (128, 16, 64, 64, 55), (128, 32, 128, 128, 27), (256, 32, 128, 128, 27),
             (256, 48, 192, 192, 13), (384, 48, 192, 192, 13), (384, 64, 256, 256, 13), (512, 64, 256, 256, 13)]  # fmt: skip
    params = (27 + 1) * 64 + sum(_fire(*f)[0] for f in fires) + (512 + 1) * 1000
    macs = 111 * 111 * 27 * 64 + sum(_fire(*f)[1] for f in fires) + 13 * 13 * 512 * 1000
    model = build("squeezenet1_1")
    assert count_params(model).total == params == 1_235_496
    assert count(model).macs == macs
    sizes = {name: model.get_layer(name).output.shape[1] for name in ("conv1", "pool1", "pool3", "pool5")}
    assert sizes == {"conv1": 111, "pool1": 55, "pool3": 27, "pool5": 13}


def _v1_unit(cin, cout, size, stride, first_groups, g=3):
    """Parameters (BN: gamma and beta) and multiply-adds of a ShuffleNet v1 unit, at its output size."""
    mid, new = cout // 4, cout - cin if stride == 2 else cout
    params = cin * mid // first_groups + 9 * mid + mid * new // g + 2 * (2 * mid + new)
    macs = (size * stride) ** 2 * cin * mid // first_groups + size * size * (9 * mid + mid * new // g)
    return params, macs


def test_shufflenet_v1_g3_closed_form(build):
    """Table 1 of the paper, g = 3: stem 24, stages 240 (4 units), 480 (8), 960 (4) at 28, 14, 7."""
    units = [(24, 240, 28, 2, 1)] + [(240, 240, 28, 1, 3)] * 3
    units += [(240, 480, 14, 2, 3)] + [(480, 480, 14, 1, 3)] * 7
    units += [(480, 960, 7, 2, 3)] + [(960, 960, 7, 1, 3)] * 3
    params = 27 * 24 + 2 * 24 + sum(_v1_unit(*u)[0] for u in units) + 960 * 1000 + 1000
    macs = 112 * 112 * 27 * 24 + sum(_v1_unit(*u)[1] for u in units) + dense_macs(960, 1000)
    model = build("shufflenet_v1_g3")
    counted = count(model)
    assert count_params(model).paper == params == 1_865_728
    assert counted.macs == macs == 137_460_672
    assert abs(macs - 140e6) < 0.02 * 140e6  # the paper's "ShuffleNet 1x" budget (table 2)
    by_layer = {r.name: r.macs for r in counted.layers}
    assert by_layer["stage2_1_conv2"] == depthwise_conv_macs((28, 28), (3, 3), 60) == 28 * 28 * 9 * 60
    assert (
        by_layer["stage3_1_conv1"] == conv_macs((14, 14), (1, 1), 480, 120, groups=3) == 14 * 14 * 160 * 120
    )
    assert by_layer["stage2_0_conv1"] == 56 * 56 * 24 * 60  # not grouped: 24 input channels


def test_registered_in_the_after_resnet_set():
    """Walker and tracer agree on each (tests/test_tracing.py checks every zoo model, these included)."""
    assert all(archbench.get_spec(name).tags == ("after-resnet",) for name in LIGHT)


# Run by a fresh interpreter that imports PyTorch and torchvision, never TensorFlow: for each
# architecture, the parameter count with 1000 classes, then a 10-class network with random weights and
# batch-norm statistics (measured on a batch, then perturbed, so that using them wrongly shows), its
# state dict (.pth, and as arrays in an .npz) and its logits for the inputs given.
_TORCH_SIDE = """
import json, sys
import numpy as np, torch, torchvision
folder, archs = sys.argv[1], sys.argv[2].split(",")
x = torch.from_numpy(np.load(f"{folder}/x.npy").transpose(0, 3, 1, 2))
counts = {}
for arch in archs:
    counts[arch] = sum(p.numel() for p in getattr(torchvision.models, arch)(weights=None).parameters())
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=10)
    g = torch.Generator().manual_seed(0)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                m.bias.normal_(0, 0.1, generator=g)
        for bn in norms:
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.normal_(0, 0.2, generator=g)
            bn.momentum = 1.0
        model.train()(torch.randn(8, 3, x.shape[2], x.shape[3], generator=g))
        for bn in norms:
            bn.running_mean.add_(0.2 * bn.running_var.sqrt() * torch.randn(bn.num_features, generator=g))
            bn.running_var.mul_(torch.empty(bn.num_features).uniform_(0.7, 1.4, generator=g))
        model.eval()
        torch.save(model.state_dict(), f"{folder}/{arch}.pth")
        np.savez(f"{folder}/{arch}.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
        np.save(f"{folder}/{arch}.npy", model(x).numpy())
json.dump(counts, open(f"{folder}/params.json", "w"))
"""


@pytest.fixture(scope="module")
def torchvision_side(tmp_path_factory):
    """torchvision's parameter counts, and per architecture a random-weight .pth and its logits."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        pytest.skip("torch or torchvision is not installed")  # looked up, not imported: see the docstring
    folder = tmp_path_factory.mktemp("torchvision")
    x = np.random.default_rng(1).normal(0, 1, (2, SIZE, SIZE, 3)).astype("float32")
    np.save(folder / "x.npy", x)
    archs = [convert.TORCHVISION_MODELS[n] for n in TORCHVISION]
    proc = subprocess.run(
        [sys.executable, "-c", _TORCH_SIDE, str(folder), ",".join(archs)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder, x, json.loads((folder / "params.json").read_text())


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCHVISION)
def test_counts_equal_torchvisions(name, build, torchvision_side):
    _, _, params = torchvision_side
    model = build(name)
    assert count_params(model).paper == params[convert.TORCHVISION_MODELS[name]]  # buffers apart, as torch
    assert abs(count(model).macs - TORCHVISION_DOCS_GMACS[name] * 1e9) <= 0.005e9


@pytest.mark.torch
@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_weights_give_the_same_logits(name, torchvision_side):
    """One network through ``get_model(weights=<.pth>)`` (converted on load, PyTorch reading the file in
    a process of its own), the others from the same state dict as arrays (one PyTorch start fewer each)."""
    folder, x, _ = torchvision_side
    arch = convert.TORCHVISION_MODELS[name]
    expected = np.load(folder / f"{arch}.npy")
    options = dict(classes=10, input_shape=(SIZE, SIZE, 3), classifier_activation=None)
    if name == "shufflenet_v2_x1_0":
        ours = archbench.get_model(name, weights=str(folder / f"{arch}.pth"), **options)
    else:
        ours = archbench.get_model(name, **options)
        assert (
            convert.transfer_from_torchvision(convert.load_state_dict(folder / f"{arch}.npz"), ours, name)
            == []
        )
    scale = np.abs(expected).max()  # MnasNet's random classifier: logits near 24, round-off to match
    assert 0.1 < scale < 1e3
    assert np.abs(expected - ours.predict_on_batch(x)).max() <= TOLERANCE * max(1.0, scale)


def test_shufflenet_v1_has_no_torchvision_counterpart():
    peer, reason = peer_for("shufflenet_v1_g3")
    assert peer is None and "ShuffleNet v2 only" in reason
    with pytest.raises(UsageError, match="no torchvision counterpart for 'shufflenet_v1_g3'"):
        convert.transfer_from_torchvision({}, None, "shufflenet_v1_g3")
