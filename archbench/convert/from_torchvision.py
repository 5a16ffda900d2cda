"""torchvision state dicts into our builders (see :mod:`archbench.convert`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

import numpy as np

from ..errors import UsageError, WeightsError
from ._common import _bn_arrays, _layers_with_weights, _local_file, _notes, _set
from ._peers import TORCHVISION_BN_EPSILON, TORCHVISION_MODELS
from .from_keras import _creation_index


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


def _tv_by_name(model, st: _State, notes: dict[str, int], prefix_of: Callable[[str], str]) -> None:
    """Layer by layer, ``prefix_of(layer name)`` naming the torchvision module of each weighted layer.

    Convolutions (grouped or not; with their bias where they have one), depthwise convolutions
    (``(C, 1, kh, kw)`` -> ``(kh, kw, C, 1)``), batch norms (epsilon 1e-5) and linear layers. Where the
    model has no classifier, torchvision's is left out.
    """
    import keras

    for layer in _layers_with_weights(model):
        prefix = prefix_of(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            _tv_bn(layer, st, prefix, 1e-5, notes)
        elif isinstance(layer, keras.layers.Dense):
            _tv_dense(layer, st, prefix)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            _set(layer, [np.transpose(st.take(f"{prefix}.weight"), (2, 3, 0, 1))], st.source)
        else:
            bias = [st.take(f"{prefix}.bias")] if layer.use_bias else []
            _set(layer, [_conv_kernel(st.take(f"{prefix}.weight")), *bias], st.source)
    heads = ("fc", "classifier")
    with_head = any(k.split(".")[0] in heads for k in st.used)
    st.check_all_used(ignore=lambda k: not with_head and k.split(".")[0] in heads)


def _tv_squeezenet(model, st: _State, notes: dict[str, int]) -> None:
    """Caffe's names (``fire5_expand3x3``) onto torchvision's ``features.N.expand3x3``, Fire by Fire."""
    fires = sorted(
        {k.rsplit(".", 2)[0] for k in st.state if re.match(r"features\.\d+\.squeeze\.weight$", k)},
        key=lambda p: int(p.split(".")[1]),
    )

    def prefix_of(name: str) -> str:
        if name == "conv1":
            return "features.0"
        if name == "conv10":
            return "classifier.1"
        match = re.match(r"fire(\d+)_(squeeze1x1|expand1x1|expand3x3)$", name)
        if not match or int(match.group(1)) - 2 >= len(fires):
            raise WeightsError(f"{model.name}: no torchvision counterpart for layer {name!r}")
        module = "squeeze" if match.group(2) == "squeeze1x1" else match.group(2)
        return f"{fires[int(match.group(1)) - 2]}.{module}"

    _tv_by_name(model, st, notes, prefix_of)


_DENSENET_LAYER = re.compile(r"conv(\d)_block(\d+)_(0_bn|1_conv|1_bn|2_conv)$")
_DENSENET_UNIT = {"0_bn": "norm1", "1_conv": "conv1", "1_bn": "norm2", "2_conv": "conv2"}
_DENSENET_OTHER = {"conv1_conv": "features.conv0", "conv1_bn": "features.norm0", "bn": "features.norm5",
                   "predictions": "classifier"}  # fmt: skip
# checkpoints saved before torchvision 0.3 say ``denselayer1.norm.1`` for ``denselayer1.norm1``
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$"
)


def _densenet_module(name: str) -> str:
    """torchvision's module for one of our DenseNet layers (``conv3_block2_1_conv`` -> ``features.denseblock2.denselayer2.conv1``)."""
    if name in _DENSENET_OTHER:
        return _DENSENET_OTHER[name]
    if match := _DENSENET_LAYER.match(name):
        stage, layer, unit = match.groups()
        return f"features.denseblock{int(stage) - 1}.denselayer{layer}.{_DENSENET_UNIT[unit]}"
    if match := re.match(r"pool(\d)_(bn|conv)$", name):
        return f"features.transition{int(match.group(1)) - 1}.{'norm' if match.group(2) == 'bn' else 'conv'}"
    raise WeightsError(f"densenet: no torchvision counterpart for layer {name!r}")


def _tv_densenet(model, st: _State, notes: dict[str, int]) -> None:
    st.state = {_DENSENET_OLD_KEY.sub(r"\1\2", k): v for k, v in st.state.items()}
    _tv_by_name(model, st, notes, _densenet_module)


def _torchvision_path(head: str) -> Callable[[str], str]:
    """Layers named after torchvision's modules, ``_`` for ``.`` (``stage2_0_branch2_3``); ``predictions``: ``head``."""
    return lambda name: head if name == "predictions" else name.replace("_", ".")


_TV_FAMILIES = {
    "alexnet": _tv_sequential,
    "vgg": _tv_sequential,
    "resnet": _tv_resnet,
    "resnext": _tv_resnet,
    "wide_resnet": _tv_resnet,
    "densenet": _tv_densenet,
    "inception_v3": _tv_inception_v3,
    "googlenet": _tv_googlenet,
    "squeezenet": _tv_squeezenet,
    "shufflenet_v2": lambda model, st, notes: _tv_by_name(model, st, notes, _torchvision_path("fc")),
    "mnasnet": lambda model, st, notes: _tv_by_name(model, st, notes, _torchvision_path("classifier.1")),
}


def _tv_family(model_name: str) -> Callable:
    if model_name not in TORCHVISION_MODELS:
        raise UsageError(
            f"no torchvision counterpart for {model_name!r}; torchvision weights import into: "
            f"{', '.join(TORCHVISION_MODELS)} (torchvision's GoogLeNet differs from the paper's: "
            "batch norm and a 3x3 in the 5x5 branch; it imports into googlenet_bn)"
        )
    arch = TORCHVISION_MODELS[model_name]
    return next(family for prefix, family in _TV_FAMILIES.items() if arch.startswith(prefix))


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
    if arch.startswith(("vgg", "alexnet", "squeezenet", "mnasnet")):
        linear = sorted(
            (int(m.group(1)), k) for k in state if (m := re.match(r"classifier\.(\d+)\.weight$", k))
        )
        key = linear[-1][1] if linear else None
    else:
        key = next((k for k in ("fc.weight", "classifier.weight") if k in state), None)
    if key is None:
        return False, None
    return True, int(np.asarray(state[key]).shape[0])
