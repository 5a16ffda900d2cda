"""archbench: the historical CNN architectures rebuilt in Keras 3, and measured honestly.

    >>> import archbench
    >>> archbench.list_models("resnet*")
    >>> model = archbench.get_model("vgg16")
    >>> archbench.count_params(model).paper
"""

from .errors import ArchbenchError, InputTooSmallError, UnknownModelError, UsageError, WeightsError
from .params import ParamCounts, count_params
from .registry import ModelSpec, get_model, get_spec, list_models, register_model

__version__ = "0.1.0"

__all__ = [
    "ArchbenchError",
    "InputTooSmallError",
    "ModelSpec",
    "ParamCounts",
    "UnknownModelError",
    "UsageError",
    "WeightsError",
    "count_params",
    "get_model",
    "get_spec",
    "list_models",
    "register_model",
]
