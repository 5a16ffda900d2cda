"""Weight import: keras.applications and torchvision weight files into archbench's builders.

Only local files are read, each with its framework's safe loader: Keras weight files through
``model.load_weights`` (``.keras`` archives with ``safe_mode=True``), PyTorch state dicts with
``torch.load(weights_only=True)`` (PyTorch is needed only for ``.pth``), NumPy ``.npz`` state dicts
with ``allow_pickle=False``. Nothing is downloaded.

**keras.applications** (:data:`KERAS_PEERS`): the file is loaded into the keras.applications model
itself (built with ``weights=None``), whose layers are then copied into ours by name (by creation order
for ``inception_v3``, whose keras layer names are generated). VGG16/19 and InceptionV3 copy unchanged.
keras' ResNets put a bias in every convolution and use batch-norm epsilon 1.001e-5; ours have no
convolution bias and epsilon 1e-5. Both are exact rewrites of the following batch norm, since
``BN(conv(x) + b) = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta``:

- the bias is folded into the moving mean: ``mean' = mean - b``;
- the epsilon difference moves into the moving variance: ``var' = var + eps_keras - eps_ours``,
  which leaves ``sqrt(var + eps)`` unchanged.

**torchvision** (:data:`TORCHVISION_MODELS`): parameter names are mapped onto our layer names and
tensors transposed to Keras' layout: convolution kernels OIHW -> HWIO, linear weights (out, in) ->
(in, out), batch norm (weight, bias, running_mean, running_var) -> (gamma, beta, moving_mean,
moving_variance), epsilons reconciled as above. The first fully connected layer after a flatten
(VGG, AlexNet) also has its inputs permuted from PyTorch's (C, H, W) order to Keras' (H, W, C).
``inception_v3`` is keras' network, whose batch norms have no scale: torchvision's gamma is folded into
the preceding convolution (``kernel' = gamma * kernel``, ``mean' = gamma * mean``). That conversion is
*approximate*: torchvision's 3x3 average pools count the zero padding (``count_include_pad=True``)
and keras' do not, so outputs differ near the borders. torchvision's GoogLeNet is not the paper's
network (batch norm, 3x3 in the "5x5" branch): it imports into ``googlenet_bn``, built from the same
table, module by module (its untrained auxiliary heads ``aux1``/``aux2`` are ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import keras_internals
from .errors import UsageError, WeightsError
from .registry import get_spec

__all__ = [
    "KERAS_PEERS",
    "TORCHVISION_MODELS",
    "ConversionReport",
    "convert",
    "googlenet_unit",
    "keras_peer",
    "load_state_dict",
    "transfer_from_keras",
    "transfer_from_torchvision",
]

#: Our model -> the keras.applications function whose weights it takes.
KERAS_PEERS = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
    "inception_v3": "InceptionV3",
}

#: Our model -> the torchvision architecture whose state dict it takes (``torchvision.models.<name>``).
TORCHVISION_MODELS = {
    "alexnet_onetower": "alexnet",
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50_v1_5": "resnet50",
    "resnet101_v1_5": "resnet101",
    "resnet152_v1_5": "resnet152",
    "inception_v3": "inception_v3",
    "googlenet_bn": "googlenet",
}

# torchvision's BasicConv2d; 1e-5 elsewhere
TORCHVISION_BN_EPSILON = {"inception_v3": 1e-3, "googlenet": 1e-3}
APPROXIMATE = {"inception_v3": "torchvision's average pools count the zero padding, keras' do not"}


@dataclass
class ConversionReport:
    """What :func:`convert` did: layers written and every rewrite of the numbers (with the reason)."""

    source_format: str
    source: str
    model: str
    destination: str | None
    include_top: bool
    classes: int | None
    layers: int
    adjustments: list[str] = field(default_factory=list)
    exact: bool = True
    note: str = ""


# --------------------------------------------------------------------------------------- helpers


def _local_file(path: str | os.PathLike, what: str) -> str:
    path = os.fspath(path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        raise UsageError(f"{what} must be a local file, not a URL: {path}")
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{what} not found: {path}")
    return path


def _layers_with_weights(model) -> list:
    from .params import iter_layers

    return [layer for layer in iter_layers(model) if layer.weights and not getattr(layer, "layers", None)]


def _bn_layers(model) -> dict[str, Any]:
    import keras

    return {
        layer.name: layer
        for layer in _layers_with_weights(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def _set(layer, arrays: list[np.ndarray], source: str) -> None:
    ours = [tuple(w.shape) for w in layer.weights]
    theirs = [tuple(a.shape) for a in arrays]
    if ours != theirs:
        raise WeightsError(f"{source}: shapes {theirs} do not fit layer {layer.name!r} with shapes {ours}")
    layer.set_weights([np.asarray(a, dtype=w.dtype) for a, w in zip(arrays, layer.weights, strict=True)])


def _bn_arrays(layer, gamma, beta, mean, var, eps_theirs: float, notes: dict[str, int]) -> list[np.ndarray]:
    """Our BN's weights from (gamma, beta, mean, var) written for ``eps_theirs``."""
    var = np.asarray(var, np.float64)
    if layer.epsilon != eps_theirs:
        var = var + (eps_theirs - layer.epsilon)
        if np.any(var < 0):
            raise WeightsError(
                f"{layer.name}: cannot move epsilon {eps_theirs} -> {layer.epsilon} into a moving variance < 0"
            )
        key = f"batch-norm epsilon {eps_theirs:g} -> {layer.epsilon:g}: moving variance += {eps_theirs - layer.epsilon:.3g}"
        notes[key] = notes.get(key, 0) + 1
    out = []
    if layer.scale:
        out.append(gamma)
    elif gamma is not None and not np.allclose(gamma, 1.0):
        raise WeightsError(f"{layer.name}: our batch norm has no scale but the source's gamma is not 1")
    if layer.center:
        out.append(beta)
    out += [mean, var]
    return [np.asarray(a, np.float32) for a in out]


def _notes(counter: Mapping[str, int]) -> list[str]:
    return [f"{text} ({n} layers)" for text, n in counter.items()]


# --------------------------------------------------------------------------------------- keras


def _keras_function(model_name: str):
    import keras

    if model_name not in KERAS_PEERS:
        raise UsageError(
            f"no keras.applications counterpart for {model_name!r}; "
            f"keras weights import into: {', '.join(KERAS_PEERS)}"
        )
    return getattr(keras.applications, KERAS_PEERS[model_name])


def keras_peer(
    model_name: str,
    *,
    include_top: bool = True,
    classes: int = 1000,
    input_shape=None,
    classifier_activation: str | None = None,
):
    """The keras.applications model matching our ``model_name``, built with ``weights=None``."""
    fn = _keras_function(model_name)
    return fn(
        include_top=include_top,
        weights=None,
        input_shape=input_shape,
        classes=classes,
        classifier_activation=classifier_activation,
    )


def _creation_index(name: str) -> int:
    match = re.search(r"_(\d+)$", name)
    return int(match.group(1)) if match else 0


def _pair_layers(peer, model) -> list[tuple[Any, Any]]:
    """(theirs, ours) for every layer of ours with weights: by name, or by creation order for generated names."""
    theirs = {layer.name: layer for layer in _layers_with_weights(peer)}
    ours = _layers_with_weights(model)
    if all(layer.name in theirs for layer in ours):
        unused = set(theirs) - {layer.name for layer in ours}
        if unused:
            raise WeightsError(
                f"{peer.name}: layers {sorted(unused)[:5]} have no counterpart in {model.name}"
            )
        return [(theirs[layer.name], layer) for layer in ours]

    # names generated by Keras (conv2d_17): their suffixes give the order in which layers were created
    def order(layers: list) -> list:
        return sorted(layers, key=lambda layer: (type(layer).__name__, _creation_index(layer.name)))

    a, b = order(list(theirs.values())), order(ours)
    if [type(x).__name__ for x in a] != [type(x).__name__ for x in b]:
        raise WeightsError(f"{peer.name} and {model.name} have different layers")
    return list(zip(a, b, strict=True))


def transfer_from_keras(peer, model) -> list[str]:
    """Copy a keras.applications model's weights into ours, rewriting conv biases and epsilons exactly.

    Returns the list of rewrites made (empty when the weights were copied unchanged).
    """
    import keras

    notes: dict[str, int] = {}
    pending_bias: dict[str, np.ndarray] = {}
    pairs = _pair_layers(peer, model)
    ours_by_theirs = {id(t): o for t, o in pairs}
    for theirs, ours in pairs:
        if isinstance(ours, keras.layers.BatchNormalization):
            continue
        arrays = theirs.get_weights()
        if isinstance(ours, keras.layers.Conv2D) and len(arrays) == 2 and not ours.use_bias:
            consumers = keras_internals.outbound_operations(theirs)
            bn = [c for c in consumers if isinstance(c, keras.layers.BatchNormalization)]
            if len(consumers) != 1 or len(bn) != 1:
                raise WeightsError(
                    f"{theirs.name}: its bias cannot be folded (not followed by one batch norm)"
                )
            target = ours_by_theirs.get(id(bn[0]))
            if target is None:
                raise WeightsError(
                    f"{theirs.name}: the batch norm after it has no counterpart in {model.name}"
                )
            pending_bias[target.name] = arrays[1]
            arrays = arrays[:1]
            key = "convolution bias folded into the next batch norm's moving mean (mean -= bias)"
            notes[key] = notes.get(key, 0) + 1
        _set(ours, arrays, peer.name)
    for theirs, ours in pairs:
        if not isinstance(ours, keras.layers.BatchNormalization):
            continue
        w = dict(zip(("gamma", "beta", "mean", "var"), _split_bn(theirs), strict=True))
        mean = w["mean"] - pending_bias.pop(ours.name, 0.0)
        _set(ours, _bn_arrays(ours, w["gamma"], w["beta"], mean, w["var"], theirs.epsilon, notes), peer.name)
    return _notes(notes)


def _split_bn(layer) -> tuple:
    arrays = layer.get_weights()
    gamma = arrays.pop(0) if layer.scale else None
    beta = arrays.pop(0) if layer.center else np.zeros_like(arrays[0])
    if gamma is None:
        gamma = np.ones_like(arrays[0])
    return gamma, beta, arrays[0], arrays[1]


def _h5_layer_names(path: str) -> list[str] | None:
    """Layer names of a legacy Keras .h5 file (None for Keras 3 .weights.h5, which stores no names)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            names = group.attrs.get("layer_names")
            if names is not None:
                return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
            if "layers" in f:
                return list(f["layers"].keys())
    except OSError as exc:
        raise WeightsError(f"{path}: not a readable HDF5 weights file ({exc})") from exc
    return None


def _load_keras_peer(model_name: str, path: str):
    import keras

    if path.endswith(".keras"):
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise WeightsError(f"cannot load {path}: {str(exc).splitlines()[0]}") from exc
    if not path.endswith(".h5"):
        raise UsageError(f"keras weights must be a .h5, .weights.h5 or .keras file, got {path}")
    names = _h5_layer_names(path) or []
    with_top = any(n == "predictions" or n.startswith("dense") for n in names)
    errors = []
    for include_top in (True, False) if with_top else (False, True):
        peer = keras_peer(model_name, include_top=include_top, classes=_h5_classes(path) or 1000)
        try:
            peer.load_weights(path)
            return peer
        except Exception as exc:
            errors.append(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    raise WeightsError(
        f"{path} does not fit keras.applications.{KERAS_PEERS[model_name]} with or without its top: {errors[0]}"
    )


def _h5_classes(path: str) -> int | None:
    import h5py

    found: list[int] = []
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and "predictions" in name and obj.ndim == 1:
                found.append(int(obj.shape[0]))

        f.visititems(visit)
        if not found and "layers" in f:
            dense = sorted((k for k in f["layers"].keys() if k.startswith("dense")), key=_creation_index)
            if dense:
                group = f["layers"][dense[-1]]["vars"]
                if "1" in group:
                    found.append(int(group["1"].shape[0]))
    return found[0] if found else None


# --------------------------------------------------------------------------------------- torchvision


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A state dict as NumPy arrays: ``.pth``/``.pt`` (PyTorch, ``weights_only=True``) or ``.npz``."""
    path = _local_file(path, "state dict")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    try:
        import torch
    except ImportError:
        raise UsageError(
            f"reading {path} needs PyTorch: pip install 'archbench[torch]' "
            "(or save the state dict as .npz: numpy.savez(f, **{k: v.numpy() for k, v in sd.items()}))"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {path} with torch.load(weights_only=True): {str(exc).splitlines()[0]}"
        ) from exc
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} does not hold a state dict")
    return {
        str(k).removeprefix("module."): v.detach().cpu().numpy()
        for k, v in obj.items()
        if hasattr(v, "detach")
    }


def _conv_kernel(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 1, 0))  # OIHW -> HWIO


class _State:
    """A state dict being consumed: every tensor must be used once, except the batch counters."""

    def __init__(self, state: Mapping[str, np.ndarray], source: str):
        self.state = {k: np.asarray(v) for k, v in state.items() if not k.endswith("num_batches_tracked")}
        self.used: set[str] = set()
        self.source = source

    def take(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise WeightsError(f"{self.source}: no tensor {key!r} in the state dict")
        self.used.add(key)
        return self.state[key]

    def has(self, key: str) -> bool:
        return key in self.state

    def check_all_used(self, ignore: Callable[[str], bool] = lambda k: False) -> None:
        unused = sorted(k for k in self.state if k not in self.used and not ignore(k))
        if unused:
            raise WeightsError(f"{self.source}: {len(unused)} tensors not used, e.g. {unused[:4]}")


def _tv_bn(layer, st: _State, prefix: str, eps: float, notes: dict[str, int]) -> None:
    arrays = _bn_arrays(
        layer,
        st.take(f"{prefix}.weight"),
        st.take(f"{prefix}.bias"),
        st.take(f"{prefix}.running_mean"),
        st.take(f"{prefix}.running_var"),
        eps,
        notes,
    )
    _set(layer, arrays, st.source)


def _tv_dense(layer, st: _State, prefix: str, flatten_hwc: tuple[int, int, int] | None = None) -> None:
    w = st.take(f"{prefix}.weight")
    if flatten_hwc is not None:
        h, wd, c = flatten_hwc
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    _set(layer, [w.T, st.take(f"{prefix}.bias")], st.source)


_RESNET_CONV = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)$")


def _tv_resnet(model, st: _State, notes: dict[str, int]) -> None:
    import keras

    for layer in _layers_with_weights(model):
        name = layer.name
        if name in ("conv1_conv", "conv1_bn"):
            prefix = "conv1" if name == "conv1_conv" else "bn1"
        elif name == "predictions":
            _tv_dense(layer, st, "fc")
            continue
        else:
            match = _RESNET_CONV.match(name)
            if not match:
                raise WeightsError(f"{model.name}: no torchvision counterpart for layer {name!r}")
            stage, block, index, kind = match.groups()
            base = f"layer{int(stage) - 1}.{int(block) - 1}"
            if index == "0":
                prefix = f"{base}.downsample.{0 if kind == 'conv' else 1}"
            else:
                prefix = f"{base}.{kind}{index}"
        if isinstance(layer, keras.layers.BatchNormalization):
            _tv_bn(layer, st, prefix, 1e-5, notes)
        else:
            _set(layer, [_conv_kernel(st.take(f"{prefix}.weight"))], st.source)
    st.check_all_used()


def _indexed(st: _State, prefix: str, ndim: int) -> list[str]:
    """Module prefixes ``features.3`` whose ``.weight`` has ``ndim`` dimensions, in index order."""
    found = []
    for key, value in st.state.items():
        match = re.match(rf"{re.escape(prefix)}\.(\d+)\.weight$", key)
        if match and value.ndim == ndim:
            found.append((int(match.group(1)), f"{prefix}.{match.group(1)}"))
    return [p for _, p in sorted(found)]


def _tv_sequential(model, st: _State, notes: dict[str, int]) -> None:
    """VGG and AlexNet: ``features.N`` convolutions (and batch norms), ``classifier.N`` linear layers."""
    import keras

    convs = [layer for layer in _layers_with_weights(model) if isinstance(layer, keras.layers.Conv2D)]
    bns = [
        layer for layer in _layers_with_weights(model) if isinstance(layer, keras.layers.BatchNormalization)
    ]
    denses = [layer for layer in _layers_with_weights(model) if isinstance(layer, keras.layers.Dense)]
    tv_convs = _indexed(st, "features", 4)
    tv_bns = [p for p in _indexed(st, "features", 1) if st.has(f"{p}.running_mean")]
    tv_fcs = _indexed(st, "classifier", 2)
    if (len(convs), len(bns)) != (len(tv_convs), len(tv_bns)):
        raise WeightsError(
            f"{st.source}: {len(tv_convs)} convolutions and {len(tv_bns)} batch norms; "
            f"{model.name} has {len(convs)} and {len(bns)}"
        )
    if denses and len(denses) != len(tv_fcs):
        raise WeightsError(f"{st.source}: {len(tv_fcs)} linear layers; {model.name} has {len(denses)}")
    for layer, prefix in zip(convs, tv_convs, strict=True):
        _set(layer, [_conv_kernel(st.take(f"{prefix}.weight")), st.take(f"{prefix}.bias")], st.source)
    for layer, prefix in zip(bns, tv_bns, strict=True):
        _tv_bn(layer, st, prefix, 1e-5, notes)
    if denses:
        flatten = [layer for layer in model.layers if isinstance(layer, keras.layers.Flatten)]
        if len(flatten) != 1:
            raise WeightsError(f"{model.name}: expected one Flatten before the classifier")
        hwc = tuple(int(d) for d in flatten[0].input.shape[1:])
        for i, (layer, prefix) in enumerate(zip(denses, tv_fcs, strict=True)):
            _tv_dense(layer, st, prefix, flatten_hwc=hwc if i == 0 else None)
        notes["first linear layer: inputs permuted from (C, H, W) to (H, W, C) order"] = 1
        st.check_all_used()
    else:
        st.check_all_used(ignore=lambda k: k.startswith("classifier."))


#: torchvision's Inception3 modules in the order keras.applications.InceptionV3 creates its conv2d_bn units.
_INCEPTION_V3_BRANCHES = {
    "A": ("branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool"),
    "B": ("branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
    "C": ("branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1", "branch7x7dbl_2",
          "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool"),
    "D": ("branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"),
    "E": ("branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
          "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"),
}  # fmt: skip
_INCEPTION_V3_MODULES = (
    [
        ("Conv2d_1a_3x3", None),
        ("Conv2d_2a_3x3", None),
        ("Conv2d_2b_3x3", None),
        ("Conv2d_3b_1x1", None),
        ("Conv2d_4a_3x3", None),
    ]
    + [(m, "A") for m in ("Mixed_5b", "Mixed_5c", "Mixed_5d")]
    + [("Mixed_6a", "B")]
    + [(m, "C") for m in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")]
    + [("Mixed_7a", "D")]
    + [(m, "E") for m in ("Mixed_7b", "Mixed_7c")]
)


def inception_v3_units() -> list[str]:
    """torchvision's BasicConv2d prefixes of Inception3 (without AuxLogits), in keras' creation order."""
    units = []
    for module, kind in _INCEPTION_V3_MODULES:
        units += [module] if kind is None else [f"{module}.{b}" for b in _INCEPTION_V3_BRANCHES[kind]]
    return units


def _tv_inception_v3(model, st: _State, notes: dict[str, int]) -> None:
    import keras

    def created(layers):
        return sorted(layers, key=lambda layer: _creation_index(layer.name))

    weighted = _layers_with_weights(model)
    convs = created([layer for layer in weighted if isinstance(layer, keras.layers.Conv2D)])
    bns = created([layer for layer in weighted if isinstance(layer, keras.layers.BatchNormalization)])
    units = inception_v3_units()
    if len(convs) != len(units) or len(bns) != len(units):
        raise WeightsError(
            f"{model.name}: expected {len(units)} conv+BN units, found {len(convs)} and {len(bns)}"
        )
    folded = 0
    for conv, bn, unit in zip(convs, bns, units, strict=True):
        kernel = _conv_kernel(st.take(f"{unit}.conv.weight"))
        gamma = st.take(f"{unit}.bn.weight")
        beta, mean, var = (st.take(f"{unit}.bn.{k}") for k in ("bias", "running_mean", "running_var"))
        if not bn.scale:
            kernel, mean, gamma = kernel * gamma, mean * gamma, np.ones_like(gamma)
            folded += 1
        _set(conv, [kernel], st.source)
        _set(
            bn,
            _bn_arrays(bn, gamma, beta, mean, var, TORCHVISION_BN_EPSILON["inception_v3"], notes),
            st.source,
        )
    if folded:
        notes["batch-norm gamma folded into the convolution (kernel *= gamma, mean *= gamma)"] = folded
    denses = [layer for layer in weighted if isinstance(layer, keras.layers.Dense)]
    for layer in denses:
        _tv_dense(layer, st, "fc")
    st.check_all_used(ignore=lambda k: k.startswith("AuxLogits.") or (not denses and k.startswith("fc.")))


#: Our GoogLeNet layer names -> torchvision's BasicConv2d modules (``inception_3a_5x5`` -> ``inception3a.branch3.1``).
_GOOGLENET_STEM = {"conv1": "conv1", "conv2_reduce": "conv2", "conv2": "conv3"}
_GOOGLENET_BRANCHES = {
    "1x1": "branch1",
    "3x3_reduce": "branch2.0",
    "3x3": "branch2.1",
    "5x5_reduce": "branch3.0",
    "5x5": "branch3.1",
    "pool_proj": "branch4.1",
}
_GOOGLENET_INCEPTION = re.compile(r"inception_(\d[a-z])_(\w+?)$")


def googlenet_unit(conv_name: str) -> str:
    """torchvision's BasicConv2d prefix for one of our ``googlenet_bn`` convolutions."""
    if conv_name in _GOOGLENET_STEM:
        return _GOOGLENET_STEM[conv_name]
    match = _GOOGLENET_INCEPTION.match(conv_name)
    if not match or match.group(2) not in _GOOGLENET_BRANCHES:
        raise WeightsError(f"googlenet_bn: no torchvision counterpart for layer {conv_name!r}")
    return f"inception{match.group(1)}.{_GOOGLENET_BRANCHES[match.group(2)]}"


def _tv_googlenet(model, st: _State, notes: dict[str, int]) -> None:
    import keras

    eps = TORCHVISION_BN_EPSILON["googlenet"]
    denses = []
    for layer in _layers_with_weights(model):
        if isinstance(layer, keras.layers.Dense):
            denses.append(layer)
            _tv_dense(layer, st, "fc")
        elif isinstance(layer, keras.layers.BatchNormalization):
            _tv_bn(layer, st, f"{googlenet_unit(layer.name.removesuffix('_bn'))}.bn", eps, notes)
        else:
            _set(layer, [_conv_kernel(st.take(f"{googlenet_unit(layer.name)}.conv.weight"))], st.source)
    st.check_all_used(
        ignore=lambda k: k.startswith(("aux1.", "aux2.")) or (not denses and k.startswith("fc."))
    )


_TV_FAMILIES = {
    "alexnet": _tv_sequential,
    "vgg": _tv_sequential,
    "resnet": _tv_resnet,
    "inception_v3": _tv_inception_v3,
    "googlenet": _tv_googlenet,
}


def _tv_family(model_name: str) -> Callable:
    if model_name not in TORCHVISION_MODELS:
        raise UsageError(
            f"no torchvision counterpart for {model_name!r}; torchvision weights import into: "
            f"{', '.join(TORCHVISION_MODELS)} (torchvision's GoogLeNet differs from the paper's: "
            "batch norm and a 3x3 in the 5x5 branch; it imports into googlenet_bn)"
        )
    arch = TORCHVISION_MODELS[model_name]
    return _TV_FAMILIES[re.sub(r"\d+(_bn)?$", "", arch) if arch != "inception_v3" else arch]


def transfer_from_torchvision(
    state: Mapping[str, np.ndarray], model, model_name: str, *, source: str = "state dict"
) -> list[str]:
    """Copy a torchvision state dict (name -> array) into our ``model`` (built as ``model_name``)."""
    family = _tv_family(model_name)
    notes: dict[str, int] = {}
    family(model, _State(state, source), notes)
    return _notes(notes)


def _tv_head(state: Mapping[str, np.ndarray], model_name: str) -> tuple[bool, int | None]:
    """Whether the state dict holds the classifier, and its number of classes."""
    arch = TORCHVISION_MODELS[model_name]
    if arch.startswith(("vgg", "alexnet")):
        linear = sorted(
            (int(m.group(1)), k) for k in state if (m := re.match(r"classifier\.(\d+)\.weight$", k))
        )
        key = linear[-1][1] if linear else None
    else:
        key = "fc.weight" if "fc.weight" in state else None
    if key is None:
        return False, None
    return True, int(np.asarray(state[key]).shape[0])


# --------------------------------------------------------------------------------------- convert


def convert(
    source_format: str,
    source: str | os.PathLike,
    model_name: str,
    destination: str | os.PathLike | None = None,
    *,
    include_top: bool | None = None,
) -> tuple[Any, ConversionReport]:
    """Import ``source`` (``"keras"`` or ``"torchvision"`` weights) into our ``model_name``.

    Writes ``destination`` (a ``.weights.h5`` that ``get_model(model_name, weights=...)`` loads) when
    given, and returns ``(model, report)``. ``include_top`` defaults to what the file holds.
    """
    spec = get_spec(model_name)
    src = _local_file(source, "weights file")
    if destination is not None:
        destination = os.fspath(destination)
        if not destination.endswith(".weights.h5"):
            raise UsageError(f"the destination must end with .weights.h5, got {destination}")
        if os.path.abspath(destination) == os.path.abspath(src):
            raise UsageError("the destination must differ from the source")
    if source_format == "keras":
        peer = _load_keras_peer(spec.name, src)
        top = any(layer.name == "predictions" for layer in peer.layers)
        if include_top is not None and include_top != top:
            raise UsageError(
                f"{src} {'has' if top else 'has no'} classifier; include_top={include_top} does not fit"
            )
        classes = int(peer.output.shape[-1]) if top else None
        model = spec.build(include_top=top, classes=classes or 1000, classifier_activation=None)
        adjustments = transfer_from_keras(peer, model)
        exact, note = True, ""
    elif source_format == "torchvision":
        state = load_state_dict(src)
        _tv_family(spec.name)
        top, classes = _tv_head(state, spec.name)
        if include_top is not None:
            top = include_top
        model = spec.build(include_top=top, classes=classes or 1000, classifier_activation=None)
        adjustments = transfer_from_torchvision(state, model, spec.name, source=src)
        exact = spec.name not in APPROXIMATE
        note = APPROXIMATE.get(spec.name, "")
    else:
        raise UsageError(f"unknown source format {source_format!r}; choose keras or torchvision")
    report = ConversionReport(
        source_format=source_format,
        source=os.path.abspath(src),
        model=spec.name,
        destination=os.path.abspath(destination) if destination else None,
        include_top=top,
        classes=classes if top else None,
        layers=len(_layers_with_weights(model)),
        adjustments=adjustments,
        exact=exact,
        note=note,
    )
    if destination is not None:
        folder = os.path.dirname(os.path.abspath(destination))
        os.makedirs(folder, exist_ok=True)
        model.save_weights(destination)
    return model, report
