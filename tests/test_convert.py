"""Weight import and conformance: peers with random weights, transferred into our builders, same logits.

keras.applications peers are always available. torchvision peers run where torchvision is installed
(``pytest.importorskip``); without it the mapping is still exercised on synthetic state dicts whose
names follow torchvision's conventions. Batch-norm statistics and biases are randomised so that the
rewrites (bias folding, epsilon, gamma folding) change the outputs when they are wrong.
"""

import keras
import numpy as np
import pytest
from click.testing import CliRunner

import archbench
from archbench import convert
from archbench._cli.convert import command as convert_command
from archbench.convert.from_keras import _creation_index
from archbench.errors import UsageError, WeightsError

TOLERANCE = 1e-4


def randomize_keras(model, seed=0):
    """Random biases and batch-norm parameters/statistics; kernels keep their (random) initialisation."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            n = weights[0].shape
            new = [rng.uniform(0.5, 1.5, n)] if layer.scale else []
            new += [rng.normal(0, 0.2, n)] if layer.center else []
            new += [rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)]
            layer.set_weights([a.astype("float32") for a in new])
        else:
            layer.set_weights(
                [w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype("float32") for w in weights]
            )


def inputs(size, n=2, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, size, size, 3)).astype("float32")


# --------------------------------------------------------------------------------------- keras

KERAS_CASES = [
    pytest.param("vgg16", False, 32, id="vgg16-features-32", marks=pytest.mark.smoke),
    pytest.param("vgg19", False, 32, id="vgg19-features-32"),
    pytest.param("resnet50", True, 32, id="resnet50-32"),
    pytest.param("vgg16", True, 224, id="vgg16-224", marks=pytest.mark.slow),
    pytest.param("vgg19", True, 224, id="vgg19-224", marks=pytest.mark.slow),
    pytest.param("resnet101", True, 32, id="resnet101-32", marks=pytest.mark.slow),
    pytest.param("resnet152", True, 32, id="resnet152-32", marks=pytest.mark.slow),
    pytest.param("inception_v3", True, 75, id="inception_v3-75", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name, include_top, size", KERAS_CASES)
def test_keras_applications_weights_give_the_same_logits(name, include_top, size):
    peer = convert.keras_peer(name, include_top=include_top, input_shape=(size, size, 3))
    randomize_keras(peer)
    ours = archbench.get_model(
        name, include_top=include_top, input_shape=(size, size, 3), classifier_activation=None
    )
    adjustments = convert.transfer_from_keras(peer, ours)
    x = inputs(size)
    expected, got = peer.predict_on_batch(x), ours.predict_on_batch(x)
    assert np.abs(expected).max() > 0.1
    assert np.abs(expected - got).max() <= TOLERANCE
    if name.startswith("resnet"):  # keras' conv biases and epsilon 1.001e-5, rewritten exactly
        assert any("bias folded" in a for a in adjustments) and any("epsilon" in a for a in adjustments)
    else:
        assert adjustments == []


def test_resnet_bias_folding_is_what_makes_the_outputs_equal():
    """Negative control: copying keras' ResNet weights without folding its conv biases is visibly wrong."""
    peer = convert.keras_peer("resnet50", input_shape=(32, 32, 3))
    randomize_keras(peer)
    ours = archbench.get_model("resnet50", input_shape=(32, 32, 3), classifier_activation=None)
    for layer in ours.layers:
        if layer.weights:
            theirs = peer.get_layer(layer.name).get_weights()
            layer.set_weights(theirs[:1] if isinstance(layer, keras.layers.Conv2D) else theirs)
    x = inputs(32)
    assert np.abs(peer.predict_on_batch(x) - ours.predict_on_batch(x)).max() > 100 * TOLERANCE


def test_convert_keras_files_end_to_end(tmp_path):
    """A Keras 3 .weights.h5 and a legacy .h5 written by the peer, converted by the CLI, loaded by get_model."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    peer = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    randomize_keras(peer)
    modern, legacy = tmp_path / "vgg16_notop.weights.h5", tmp_path / "vgg16_notop.h5"
    peer.save_weights(modern)
    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, peer)
    x = inputs(32)
    for source in (modern, legacy):
        destination = tmp_path / f"ours-{source.name.split('.')[-2]}.weights.h5"
        result = CliRunner().invoke(
            convert_command, [str(source), "--from", "keras", "--model", "vgg16", "--to", str(destination)]
        )
        assert result.exit_code == 0, result.output
        assert "without classifier" in result.output and destination.is_file()
        ours = archbench.get_model(
            "vgg16", include_top=False, input_shape=(32, 32, 3), weights=str(destination)
        )
        assert np.abs(peer.predict_on_batch(x) - ours.predict_on_batch(x)).max() <= TOLERANCE


def test_convert_resnet50_with_classifier(tmp_path):
    peer = keras.applications.ResNet50(weights=None, classes=10, classifier_activation=None)
    randomize_keras(peer)
    source = tmp_path / "resnet50.weights.h5"
    peer.save_weights(source)
    model, report = convert.convert("keras", source, "resnet50", tmp_path / "ours.weights.h5")
    assert report.include_top and report.classes == 10 and report.exact and len(report.adjustments) == 2
    ours = archbench.get_model(
        "resnet50",
        classes=10,
        input_shape=(64, 64, 3),
        classifier_activation=None,
        weights=report.destination,
    )
    small = keras.applications.ResNet50(
        weights=None, classes=10, input_shape=(64, 64, 3), classifier_activation=None
    )
    small.set_weights(peer.get_weights())
    x = inputs(64)
    assert np.abs(small.predict_on_batch(x) - ours.predict_on_batch(x)).max() <= TOLERANCE


def test_convert_refuses_what_it_cannot_do(tmp_path):
    with pytest.raises(UsageError, match="no keras.applications counterpart for 'lenet5'"):
        convert.keras_peer("lenet5")
    with pytest.raises(UsageError, match="local file, not a URL"):
        convert.convert("keras", "https://example.org/vgg16.h5", "vgg16")
    with pytest.raises(WeightsError, match="not found"):
        convert.convert("keras", tmp_path / "missing.h5", "vgg16")
    (tmp_path / "w.h5").write_bytes(b"")
    with pytest.raises(UsageError, match="must end with .weights.h5"):
        convert.convert("keras", tmp_path / "w.h5", "vgg16", tmp_path / "out.h5")
    with pytest.raises(UsageError, match="torchvision's GoogLeNet differs"):
        convert.transfer_from_torchvision({}, None, "googlenet")
    with pytest.raises(UsageError, match="unknown source format"):
        convert.convert("caffe", tmp_path / "w.h5", "vgg16")


def test_pth_without_torch_says_how_to_install(tmp_path):
    try:
        import torch  # noqa: F401

        pytest.skip("PyTorch is installed")
    except ImportError:
        pass
    (tmp_path / "resnet18.pth").write_bytes(b"\x80")
    with pytest.raises(UsageError, match=r"pip install 'archbench\[torch\]'"):
        convert.load_state_dict(tmp_path / "resnet18.pth")


# --------------------------------------------------------------------------------------- torchvision, synthetic


def _conv(rng, o, i, k):
    return rng.normal(0, 0.1, (o, i, *((k, k) if isinstance(k, int) else k))).astype("float32")


def _bn(rng, prefix, n):
    return {
        f"{prefix}.weight": rng.uniform(0.5, 1.5, n).astype("float32"),
        f"{prefix}.bias": rng.normal(0, 0.2, n).astype("float32"),
        f"{prefix}.running_mean": rng.normal(0, 0.2, n).astype("float32"),
        f"{prefix}.running_var": rng.uniform(0.5, 2.0, n).astype("float32"),
        f"{prefix}.num_batches_tracked": np.array(0),
    }


def torchvision_resnet18_state(rng, classes=1000):
    """Names and shapes of torchvision.models.resnet18().state_dict(), from torchvision's conventions."""
    state = {"conv1.weight": _conv(rng, 64, 3, 7), **_bn(rng, "bn1", 64)}
    in_ch = 64
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            state[f"{p}.conv1.weight"] = _conv(rng, width, in_ch, 3)
            state.update(_bn(rng, f"{p}.bn1", width))
            state[f"{p}.conv2.weight"] = _conv(rng, width, width, 3)
            state.update(_bn(rng, f"{p}.bn2", width))
            if block == 0 and stage > 1:
                state[f"{p}.downsample.0.weight"] = _conv(rng, width, in_ch, 1)
                state.update(_bn(rng, f"{p}.downsample.1", width))
            in_ch = width
    state["fc.weight"] = rng.normal(0, 0.1, (classes, 512)).astype("float32")
    state["fc.bias"] = rng.normal(0, 0.1, classes).astype("float32")
    return state


def test_torchvision_resnet_mapping_on_a_synthetic_state_dict():
    state = torchvision_resnet18_state(np.random.default_rng(0), classes=10)
    model = archbench.get_model("resnet18", classes=10, input_shape=(32, 32, 3))
    notes = convert.transfer_from_torchvision(state, model, "resnet18")
    assert notes == []  # torchvision's epsilon 1e-5 is ours
    np.testing.assert_array_equal(
        model.get_layer("conv1_conv").kernel, state["conv1.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        model.get_layer("conv4_block1_0_conv").kernel,
        state["layer3.0.downsample.0.weight"].transpose(2, 3, 1, 0),
    )
    gamma, beta, mean, var = model.get_layer("conv5_block2_2_bn").get_weights()
    np.testing.assert_array_equal(mean, state["layer4.1.bn2.running_mean"])
    np.testing.assert_array_equal(var, state["layer4.1.bn2.running_var"])
    np.testing.assert_array_equal(model.get_layer("predictions").kernel, state["fc.weight"].T)
    del state["layer2.1.conv2.weight"]
    with pytest.raises(WeightsError, match="layer2.1.conv2.weight"):
        convert.transfer_from_torchvision(state, model, "resnet18")
    extra = {
        **torchvision_resnet18_state(np.random.default_rng(0), classes=10),
        "layer5.0.conv1.weight": np.zeros(1),
    }
    with pytest.raises(WeightsError, match="not used"):
        convert.transfer_from_torchvision(extra, model, "resnet18")


def test_torchvision_alexnet_mapping_permutes_the_first_linear_layer():
    rng = np.random.default_rng(0)
    state = {}
    for index, (o, i, k) in zip(
        (0, 3, 6, 8, 10),
        ((64, 3, 11), (192, 64, 5), (384, 192, 3), (256, 384, 3), (256, 256, 3)),
        strict=True,
    ):
        state[f"features.{index}.weight"] = _conv(rng, o, i, k)
        state[f"features.{index}.bias"] = rng.normal(0, 0.1, o).astype("float32")
    for index, (o, i) in zip((1, 4, 6), ((4096, 256 * 6 * 6), (4096, 4096), (1000, 4096)), strict=True):
        state[f"classifier.{index}.weight"] = rng.normal(0, 0.01, (o, i)).astype("float32")
        state[f"classifier.{index}.bias"] = rng.normal(0, 0.1, o).astype("float32")
    model = archbench.get_model("alexnet_onetower")
    notes = convert.transfer_from_torchvision(state, model, "alexnet_onetower")
    assert any("(C, H, W) to (H, W, C)" in n for n in notes)
    fc6 = model.get_layer("fc6").kernel.numpy()
    torch_fc6 = state["classifier.1.weight"]
    for c, h, w, o in ((0, 0, 0, 0), (5, 1, 2, 7), (255, 5, 5, 4095), (100, 3, 0, 17)):
        assert fc6[(h * 6 + w) * 256 + c, o] == torch_fc6[o, c * 36 + h * 6 + w]
    np.testing.assert_array_equal(
        model.get_layer("conv3").kernel, state["features.6.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(model.get_layer("predictions").kernel, state["classifier.6.weight"].T)


def test_torchvision_vgg_bn_mapping_and_features_only():
    rng = np.random.default_rng(0)
    state, index, in_ch = {}, 0, 3
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):  # torchvision cfgs["A"]
        if v == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = _conv(rng, v, in_ch, 3)
        state[f"features.{index}.bias"] = rng.normal(0, 0.1, v).astype("float32")
        state.update(_bn(rng, f"features.{index + 1}", v))
        index += 3
        in_ch = v
    model = archbench.get_model("vgg11_bn", include_top=False, input_shape=(32, 32, 3))
    convert.transfer_from_torchvision(state, model, "vgg11_bn")
    np.testing.assert_array_equal(
        model.get_layer("block5_conv2").kernel, state["features.25.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        model.get_layer("block5_conv2_bn").moving_variance, state["features.26.running_var"]
    )


def test_torchvision_inception_v3_order_and_gamma_folding():
    """Creation order of keras' units must line up with torchvision's module names (spot-checked shapes)."""
    model = archbench.get_model("inception_v3", input_shape=(75, 75, 3), classes=10)
    convs = sorted(
        (layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)),
        key=lambda layer: _creation_index(layer.name),
    )
    units = convert.inception_v3_units()
    shapes = dict(zip(units, (tuple(c.kernel.shape) for c in convs), strict=True))
    # torchvision Inception3 (OIHW): Mixed_5b.branch5x5_2 64x48x5x5, Mixed_6b.branch7x7_2 128x128x1x7,
    # Mixed_6b.branch7x7dbl_2 128x128x7x1, Mixed_7c.branch3x3dbl_3b 384x384x3x1, Mixed_7a.branch3x3_2 320x192x3x3
    assert shapes["Mixed_5b.branch5x5_2"] == (5, 5, 48, 64)
    assert shapes["Mixed_6b.branch7x7_2"] == (1, 7, 128, 128)
    assert shapes["Mixed_6b.branch7x7dbl_2"] == (7, 1, 128, 128)
    assert shapes["Mixed_7c.branch3x3dbl_3b"] == (3, 1, 384, 384)
    assert shapes["Mixed_7a.branch3x3_2"] == (3, 3, 192, 320)
    rng = np.random.default_rng(0)
    state = {"AuxLogits.fc.weight": np.zeros((1000, 768), "float32")}
    for unit, (kh, kw, i, o) in shapes.items():
        state[f"{unit}.conv.weight"] = _conv(rng, o, i, (kh, kw))
        state.update(_bn(rng, f"{unit}.bn", o))
    state["fc.weight"] = rng.normal(0, 0.1, (10, 2048)).astype("float32")
    state["fc.bias"] = np.zeros(10, "float32")
    notes = convert.transfer_from_torchvision(state, model, "inception_v3")
    assert any("gamma folded" in n for n in notes)
    gamma = state["Mixed_6b.branch7x7_2.bn.weight"]
    conv = convs[units.index("Mixed_6b.branch7x7_2")]
    np.testing.assert_allclose(
        conv.kernel, state["Mixed_6b.branch7x7_2.conv.weight"].transpose(2, 3, 1, 0) * gamma, rtol=1e-6
    )


def torchvision_googlenet_state(model, rng):
    """torchvision GoogLeNet's state-dict names for the layers of our ``googlenet_bn`` (plus an aux head)."""
    state = {"aux1.conv.conv.weight": np.zeros((128, 512, 1, 1), "float32"), **_bn(rng, "aux1.conv.bn", 128)}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, i, o = layer.kernel.shape
            unit = convert.googlenet_unit(layer.name)
            state[f"{unit}.conv.weight"] = _conv(rng, o, i, (kh, kw)) * np.float32(10 / np.sqrt(kh * kw * i))
            state.update(_bn(rng, f"{unit}.bn", o))
        elif isinstance(layer, keras.layers.Dense):
            state["fc.weight"] = rng.normal(0, 0.1, tuple(layer.kernel.shape[::-1])).astype("float32")
            state["fc.bias"] = rng.normal(0, 0.1, layer.kernel.shape[1]).astype("float32")
    return state


def _np_conv(x, w, stride=1, pad=0):
    """NCHW convolution with an OIHW kernel, as torch.nn.functional.conv2d (no bias)."""
    kh, kw = w.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True)


def _np_max_pool(x, k, stride, pad=0):
    """torch.nn.MaxPool2d(k, stride, pad, ceil_mode=True): padding is -inf, the last window starts inside."""
    h = x.shape[2]
    out = -(-(h + 2 * pad - k) // stride) + 1
    if (out - 1) * stride >= h + pad:
        out -= 1
    extra = (out - 1) * stride + k - h - pad
    x = np.pad(x, ((0, 0), (0, 0), (pad, extra), (pad, extra)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.max(axis=(4, 5))


def torchvision_googlenet_numpy(state, x):
    """torchvision's GoogLeNet.forward (eval, transform_input=False), written out in NumPy from its source."""

    def basic(x, unit, stride=1, pad=0):
        y = _np_conv(x, state[f"{unit}.conv.weight"].astype("float64"), stride, pad)
        p = {k: state[f"{unit}.bn.{k}"].astype("float64")[None, :, None, None]
             for k in ("weight", "bias", "running_mean", "running_var")}  # fmt: skip
        y = (y - p["running_mean"]) / np.sqrt(p["running_var"] + 1e-3) * p["weight"] + p["bias"]
        return np.maximum(y, 0)

    def inception(x, m):
        b1 = basic(x, f"{m}.branch1")
        b2 = basic(basic(x, f"{m}.branch2.0"), f"{m}.branch2.1", pad=1)
        b3 = basic(basic(x, f"{m}.branch3.0"), f"{m}.branch3.1", pad=1)  # 3x3: pytorch/vision#906
        b4 = basic(_np_max_pool(x, 3, 1, pad=1), f"{m}.branch4.1")
        return np.concatenate([b1, b2, b3, b4], axis=1)

    x = x.transpose(0, 3, 1, 2).astype("float64")
    x = _np_max_pool(basic(x, "conv1", stride=2, pad=3), 3, 2)
    x = _np_max_pool(basic(basic(x, "conv2"), "conv3", pad=1), 3, 2)
    for stage, modules, pool in (("3", "ab", 3), ("4", "abcde", 2), ("5", "ab", None)):  # maxpool3, maxpool4
        for m in modules:
            x = inception(x, f"inception{stage}{m}")
        if pool:
            x = _np_max_pool(x, pool, 2)
    x = x.mean(axis=(2, 3))
    return x @ state["fc.weight"].T.astype("float64") + state["fc.bias"]


def test_torchvision_googlenet_mapping_on_a_synthetic_state_dict():
    model = archbench.get_model(
        "googlenet_bn", classes=10, input_shape=(80, 80, 3), classifier_activation=None
    )
    rng = np.random.default_rng(0)
    state = torchvision_googlenet_state(model, rng)
    # torchvision GoogLeNet (OIHW): 57 BasicConv2d; conv3 192x64x3x3; the "5x5" branch of 3a 32x16x3x3
    # (pytorch/vision#906); 5b's pool projection 128x832x1x1
    assert sum(k.endswith(".conv.weight") and not k.startswith("aux") for k in state) == 3 + 9 * 6
    assert state["conv3.conv.weight"].shape == (192, 64, 3, 3)
    assert state["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)
    assert state["inception5b.branch4.1.conv.weight"].shape == (128, 832, 1, 1)
    before = [w.copy() for w in model.get_weights()]
    notes = convert.transfer_from_torchvision(state, model, "googlenet_bn")
    assert notes == []  # torchvision's epsilon 1e-3 is ours
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            np.testing.assert_array_equal(
                layer.kernel, state[f"{convert.googlenet_unit(layer.name)}.conv.weight"].transpose(2, 3, 1, 0)
            )
        elif isinstance(layer, keras.layers.BatchNormalization):
            unit = convert.googlenet_unit(layer.name.removesuffix("_bn"))
            gamma, beta, mean, var = layer.get_weights()
            for got, key in ((gamma, "weight"), (beta, "bias"), (mean, "running_mean"), (var, "running_var")):
                np.testing.assert_array_equal(got, state[f"{unit}.bn.{key}"])
    np.testing.assert_array_equal(model.get_layer("predictions").kernel, state["fc.weight"].T)
    assert not any(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    x = inputs(80)  # 80 -> 40 -> 20 -> 10 -> 5 -> 3: ceil-mode pools that add a window, on even and odd maps
    expected, got = torchvision_googlenet_numpy(state, x), model.predict_on_batch(x)
    scale = np.abs(expected).max()
    assert scale > 0.1 and np.abs(expected - got).max() <= TOLERANCE * max(1.0, scale)
    features = archbench.get_model("googlenet_bn", include_top=False, input_shape=(80, 80, 3))
    convert.transfer_from_torchvision(state, features, "googlenet_bn")  # fc.* is left out
    del state["inception4e.branch2.1.bn.running_var"]
    with pytest.raises(WeightsError, match="inception4e.branch2.1.bn.running_var"):
        convert.transfer_from_torchvision(state, model, "googlenet_bn")


@pytest.mark.torch
def test_pth_state_dicts_are_read_safely(tmp_path):
    torch = pytest.importorskip("torch")
    state = torchvision_resnet18_state(np.random.default_rng(0), classes=10)
    path = tmp_path / "resnet18.pth"
    torch.save(
        {"state_dict": {f"module.{k}": torch.from_numpy(np.asarray(v)) for k, v in state.items()}}, path
    )
    loaded = convert.load_state_dict(path)  # nested "state_dict" and DataParallel's "module." are undone
    assert set(loaded) == set(state) and np.array_equal(loaded["fc.weight"], state["fc.weight"])
    model, report = convert.convert("torchvision", path, "resnet18", tmp_path / "resnet18.weights.h5")
    assert report.classes == 10 and report.exact
    np.testing.assert_array_equal(model.get_layer("predictions").kernel, state["fc.weight"].T)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"config": ConversionReportLike()}, unsafe)
    with pytest.raises(WeightsError, match="weights_only=True"):
        convert.load_state_dict(unsafe)


class ConversionReportLike:
    """An arbitrary Python object: a pickle that ``weights_only=True`` must refuse to rebuild."""


# --------------------------------------------------------------------------------------- torchvision, real

TORCHVISION_CASES = [
    pytest.param("resnet18", "resnet18", 64, id="resnet18"),
    pytest.param("resnet50_v1_5", "resnet50", 64, id="resnet50_v1_5"),
    pytest.param("alexnet_onetower", "alexnet", 224, id="alexnet"),
    pytest.param("vgg11_bn", "vgg11_bn", 224, id="vgg11_bn", marks=pytest.mark.slow),
    pytest.param("resnet152_v1_5", "resnet152", 64, id="resnet152_v1_5", marks=pytest.mark.slow),
]


def _torch_model(arch, size, classes=10, **kw):
    """A torchvision model with random weights and batch-norm statistics near those of its inputs.

    The statistics are measured on a random batch (so that activations stay of order one through 150
    layers) and then perturbed, so that using them wrongly shows in the outputs.
    """
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed")
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=classes, **kw)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d)]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear) and module.bias is not None:
                module.bias.normal_(0, 0.1, generator=generator)
        for bn in norms:
            bn.weight.uniform_(0.5, 1.5, generator=generator)
            bn.bias.normal_(0, 0.2, generator=generator)
            bn.momentum = 1.0  # the next forward pass sets the running statistics to its batch's
        for block in model.modules():
            # small last gammas keep 50 residual additions from growing the logits past float32's 1e-4
            last = getattr(block, "bn3", None) if hasattr(block, "conv3") else getattr(block, "bn2", None)
            if hasattr(block, "downsample") and last is not None:
                last.weight.uniform_(0.1, 0.3, generator=generator)
        model.train()
        model(torch.from_numpy(inputs(size, n=8, seed=2).transpose(0, 3, 1, 2)))
        for bn in norms:
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.2 * std * torch.randn(bn.num_features, generator=generator))
            bn.running_var.mul_(torch.empty(bn.num_features).uniform_(0.7, 1.4, generator=generator))
    return torch, model.eval()


@pytest.mark.torch
@pytest.mark.parametrize("name, arch, size", TORCHVISION_CASES)
def test_torchvision_weights_give_the_same_logits(name, arch, size, tmp_path):
    torch, peer = _torch_model(arch, size)
    path = tmp_path / f"{arch}.pth"
    torch.save(peer.state_dict(), path)
    x = inputs(size)
    with torch.no_grad():
        expected = peer(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    model, report = convert.convert("torchvision", path, name, tmp_path / "ours.weights.h5")
    assert report.exact and report.classes == 10
    ours = archbench.get_model(
        name, classes=10, input_shape=(size, size, 3), classifier_activation=None, weights=report.destination
    )
    assert 0.1 < np.abs(expected).max() < 1e3
    assert np.abs(expected - ours.predict_on_batch(x)).max() <= TOLERANCE


@pytest.mark.torch
@pytest.mark.slow
def test_torchvision_inception_v3_differs_only_in_border_averages(tmp_path, monkeypatch):
    """Exact once torchvision's average pools stop counting the padding, as keras' do."""
    torch, peer = _torch_model(
        "inception_v3", 299, aux_logits=False, transform_input=False, init_weights=True
    )
    path = tmp_path / "inception_v3.pth"
    torch.save(peer.state_dict(), path)
    model, report = convert.convert("torchvision", path, "inception_v3")
    assert not report.exact and "count the zero padding" in report.note
    x = inputs(299)
    got = model.predict_on_batch(x)
    with torch.no_grad():
        as_shipped = peer(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    functional = torch.nn.functional
    avg_pool2d = functional.avg_pool2d

    def keras_avg_pool2d(
        x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
    ):
        return avg_pool2d(x, kernel_size, stride, padding, ceil_mode, False, divisor_override)

    monkeypatch.setattr(functional, "avg_pool2d", keras_avg_pool2d)
    with torch.no_grad():
        like_keras = peer(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    scale = np.abs(like_keras).max()
    assert np.abs(like_keras - got).max() <= TOLERANCE * max(1.0, scale / 10)
    assert np.abs(as_shipped - got).max() > 1000 * TOLERANCE


@pytest.mark.torch
def test_torchvision_googlenet_weights_give_the_same_logits(tmp_path):
    """torchvision's GoogLeNet (aux heads in the state dict, ignored) against our googlenet_bn."""
    torch, peer = _torch_model("googlenet", 64, aux_logits=True, transform_input=False, init_weights=True)
    path = tmp_path / "googlenet.pth"
    torch.save(peer.state_dict(), path)
    x = inputs(64)
    with torch.no_grad():
        expected = peer(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    model, report = convert.convert("torchvision", path, "googlenet_bn", tmp_path / "ours.weights.h5")
    assert report.exact and report.classes == 10 and report.adjustments == []
    ours = archbench.get_model(
        "googlenet_bn",
        classes=10,
        input_shape=(64, 64, 3),
        classifier_activation=None,
        weights=report.destination,
    )
    assert 0.1 < np.abs(expected).max() < 1e3
    assert np.abs(expected - ours.predict_on_batch(x)).max() <= TOLERANCE


# --------------------------------------------------------------------------------------- on load


@pytest.fixture(scope="module")
def keras_resnet50_file(tmp_path_factory):
    """A keras.applications ResNet50 (10 classes, random weights and statistics) saved as .weights.h5."""
    peer = keras.applications.ResNet50(
        weights=None, classes=10, input_shape=(32, 32, 3), classifier_activation=None
    )
    randomize_keras(peer)
    path = tmp_path_factory.mktemp("keras") / "resnet50_keras.weights.h5"
    peer.save_weights(path)
    return peer, str(path)


def test_get_model_converts_a_keras_applications_file_on_load(keras_resnet50_file):
    peer, path = keras_resnet50_file
    options = dict(classes=10, input_shape=(32, 32, 3), classifier_activation=None, weights=path)
    with pytest.raises(WeightsError, match="cannot load weights"):  # not archbench's layout: conv biases
        archbench.get_spec("resnet50").builder(**options)
    ours = archbench.get_model("resnet50", **options)
    x = inputs(32)
    assert np.abs(peer.predict_on_batch(x) - ours.predict_on_batch(x)).max() <= TOLERANCE


def test_a_keras_file_that_does_not_fit_the_options_names_the_convert_command(keras_resnet50_file):
    _, path = keras_resnet50_file
    with pytest.raises(WeightsError) as err:
        archbench.get_model("resnet50", classes=5, input_shape=(32, 32, 3), weights=path)
    message = str(err.value)
    expected = (
        f"archbench convert --from keras {path} --model resnet50 "
        f"--to {path.removesuffix('.weights.h5')}-archbench.weights.h5"
    )
    assert "\n" not in message and message.endswith(expected) and "keras.applications.ResNet50" in message


def test_a_file_of_neither_layout_keeps_its_own_error(tmp_path):
    other = archbench.get_model("lenet5_modern")
    path = tmp_path / "modern.weights.h5"
    other.save_weights(path)
    with pytest.raises(WeightsError, match="cannot load weights from .*modern.weights.h5 into lenet5"):
        archbench.get_model("lenet5", weights=str(path))


def test_a_pth_checkpoint_without_torch_names_the_convert_command(tmp_path, monkeypatch):
    from archbench.convert import on_load

    path = tmp_path / "resnet18.pth"
    path.write_bytes(b"\x80")
    real = on_load.importlib.util.find_spec
    monkeypatch.setattr(on_load.importlib.util, "find_spec", lambda n: None if n == "torch" else real(n))
    with pytest.raises(WeightsError) as err:
        archbench.get_model("resnet18", weights=str(path))
    assert str(err.value).endswith(
        f"archbench convert --from torchvision {path} --model resnet18 --to {tmp_path / 'resnet18'}-archbench.weights.h5"
    )
    with pytest.raises(UsageError, match="torchvision weights convert only into"):
        archbench.get_model("lenet5", weights=str(path))


_TORCHVISION_RESNET18 = """
import sys
import numpy as np
import torch
import torchvision

torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None, num_classes=10)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
model.eval()
x = np.random.default_rng(1).normal(0, 1, (2, 3, 64, 64)).astype("float32")
with torch.no_grad():
    y = model(torch.from_numpy(x)).numpy()
torch.save(model.state_dict(), sys.argv[1] + "/resnet18.pth")
np.savez(sys.argv[1] + "/io.npz", x=x, y=y)
"""


@pytest.mark.torch
def test_get_model_converts_a_torchvision_checkpoint_on_load(tmp_path):
    """The checkpoint is written by a process of its own: PyTorch and TensorFlow stay in separate ones."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        pytest.skip("needs torch and torchvision")
    subprocess.run([sys.executable, "-c", _TORCHVISION_RESNET18, str(tmp_path)], check=True, timeout=600)
    io = np.load(tmp_path / "io.npz")
    ours = archbench.get_model(
        "resnet18", weights=str(tmp_path / "resnet18.pth"), classes=10, input_shape=(64, 64, 3),
        classifier_activation=None,
    )
    got = ours.predict_on_batch(io["x"].transpose(0, 2, 3, 1))
    assert np.abs(io["y"]).max() > 0.1 and np.abs(io["y"] - got).max() <= TOLERANCE
