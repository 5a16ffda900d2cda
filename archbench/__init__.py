"""archbench: the historical CNN architectures rebuilt in Keras 3, and measured honestly.

    >>> import archbench
    >>> archbench.list_models("resnet*")
    >>> model = archbench.get_model("vgg16")
    >>> archbench.count_params(model).paper
    >>> archbench.count(model).macs

The public names are imported on first use, so ``import archbench`` (and the command line's
``--help``) does not pay for importing Keras and its backend until a model is needed.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ArchbenchError": "errors",
    "InputTooSmallError": "errors",
    "UnknownModelError": "errors",
    "UsageError": "errors",
    "WeightsError": "errors",
    "ParamCounts": "params",
    "count_params": "params",
    "ModelSpec": "registry",
    "get_model": "registry",
    "get_spec": "registry",
    "list_models": "registry",
    "register_model": "registry",
    "count": "cost",
    "ModelCount": "cost",
    "count_training": "cost",
    "TrainingCount": "cost",
    "complexity_row": "counting",
    "Complexity": "counting",
    "CountRecord": "counting",
    "LayerCost": "counting",
    "register_rule": "counting",
    "register_weight_layer": "counting",
    "fc_vs_conv_params": "lecture",
    "conv_output_size": "lecture",
    "LatencyConfig": "benchmark",
    "LatencyResult": "benchmark",
    "measure": "benchmark",
    "TrainConfig": "evaluate",
    "train": "evaluate",
    "load_dataset": "data",
    "write_report": "report",
    "load_results": "analysis",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'archbench' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
