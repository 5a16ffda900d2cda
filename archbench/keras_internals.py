"""The one place where archbench reads Keras internals: private attributes and ``keras.src`` modules.

Keras' public API has no graph walker, no hook on gradient clipping and no way to read the
shapes a layer was built with, so a few private names are needed. Every one of them is read
here, through a small named function, and nowhere else in the package:

==================================  =========================================================
``Functional._nodes_by_depth``      the nodes of a functional graph, by depth (the walker)
``Sequential._functional``          the functional graph behind a built Sequential model
``Node.operation / input_tensors``  what a node calls, on which tensors, giving which outputs
``Node.outputs / is_input``
``Node.arguments.fill_in``          a node's call arguments with other tensors substituted
``Layer._build_shapes_dict``        the shapes a layer was built with (subclassed models)
``Layer._flatten_layers``           the sublayers a custom layer or subclassed model tracks
``Model.stateless_call``            passes ``training=`` to ``call`` unfiltered (``inference_flags``)
``Layer._outbound_nodes``           the calls that consume a layer's output (weight transfer)
``Optimizer._clip_gradients``       the clipping step, wrapped to clip the global gradient
``keras.src.ops.numpy / nn``        the operation classes ``keras.ops`` calls record in a graph
``keras.src.layers.input_spec``     ``assert_input_compatibility``, Keras' own input check
==================================  =========================================================

:func:`check_internals` builds a tiny model and an optimizer and lists what is missing;
``tests/test_keras_internals.py`` asserts the list is empty and ``archbench doctor`` reports it
together with the installed Keras against :data:`TESTED_KERAS`, the range ``setup.cfg`` allows.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

__all__ = [
    "SYMBOLIC_OPS",
    "TESTED_KERAS",
    "GraphNode",
    "build_shapes",
    "check_input_compatibility",
    "check_internals",
    "clipping_step",
    "functional_graph",
    "graph_nodes",
    "inference_flags",
    "keras_version",
    "model_input_shape",
    "node_call_args",
    "outbound_operations",
    "set_clipping_step",
    "sublayers",
    "symbolic_ops",
    "version_in_range",
]

TESTED_KERAS = (">=3.3", "<4")
"""The Keras versions archbench supports (``setup.cfg`` pins the same range)."""

SYMBOLIC_OPS = (
    "numpy.Add", "numpy.Subtract", "numpy.Multiply", "numpy.Divide", "numpy.TrueDivide", "numpy.Maximum",
    "numpy.Minimum", "numpy.Reshape", "numpy.Transpose", "numpy.Concatenate", "numpy.ExpandDims",
    "numpy.Squeeze", "numpy.GetItem", "numpy.Tanh",
    "nn.Relu", "nn.Relu6", "nn.Sigmoid", "nn.Softmax", "nn.Gelu", "nn.Silu",
)  # fmt: skip
"""The ``keras.src.ops`` classes (``module.Class``) that the counting rules name."""

_NODE_ATTRIBUTES = ("operation", "input_tensors", "outputs", "is_input", "arguments")


class GraphNode(NamedTuple):
    """One call in a functional graph: the operation, its input and output tensors, the Keras node."""

    operation: Any
    inputs: list[Any]
    outputs: list[Any]
    node: Any


def keras_version() -> str | None:
    """The installed Keras version (package metadata; ``None`` if it is not installed)."""
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return None


def version_in_range(version: str, spec: tuple[str, ...] = TESTED_KERAS) -> bool:
    """Whether ``version`` satisfies every specifier of ``spec`` (``(">=3.3", "<4")``)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(",".join(spec))
    except InvalidVersion:
        return False


# --------------------------------------------------------------------------------------------------
# Functional graphs.


def functional_graph(op: Any) -> Any | None:
    """The functional graph behind a model (a built Sequential's inner one), or None for anything else."""
    import keras

    if isinstance(op, keras.Sequential):
        return getattr(op, "_functional", None)
    if isinstance(op, keras.Model) and hasattr(op, "_nodes_by_depth"):
        return op
    return None


def graph_nodes(graph: Any) -> Iterator[GraphNode]:
    """The calls of a functional graph from its inputs to its outputs (deepest depth first), input
    nodes left out."""
    by_depth = graph._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.is_input or node.operation is None:
                continue
            yield GraphNode(node.operation, list(node.input_tensors), list(node.outputs), node)


def node_call_args(node: GraphNode, tensors: Mapping[int, Any]) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of the node's call with each input tensor ``x`` replaced by ``tensors[id(x)]``."""
    return node.node.arguments.fill_in(tensors)


def check_input_compatibility(layer: Any, x: Any) -> None:
    """Keras' own check of ``x`` against ``layer.input_spec`` (raises ``ValueError`` when it does not fit)."""
    from keras.src.layers.input_spec import assert_input_compatibility

    assert_input_compatibility(layer.input_spec, x, layer.name)


def symbolic_ops(*names: str) -> tuple[type, ...]:
    """The ``keras.src.ops`` classes named ``"numpy.Add"``, ... (each must be in :data:`SYMBOLIC_OPS`).

    A class this Keras lacks is left out, so an operation of that kind is reported as uncounted
    rather than breaking the import; :func:`check_internals` lists it.
    """
    found = []
    for name in names:
        if name not in SYMBOLIC_OPS:
            raise ValueError(f"{name!r} is not declared in keras_internals.SYMBOLIC_OPS")
        cls = _symbolic_op(name)
        if cls is not None:
            found.append(cls)
    return tuple(found)


def _symbolic_op(name: str) -> type | None:
    module, cls = name.split(".")
    try:
        return getattr(importlib.import_module(f"keras.src.ops.{module}"), cls, None)
    except ImportError:
        return None


# --------------------------------------------------------------------------------------------------
# Layers and optimizers.


def build_shapes(layer: Any) -> dict[str, Any]:
    """The shapes a layer was built with, by ``build()`` argument name (empty when not known)."""
    return getattr(layer, "_build_shapes_dict", None) or {}


def sublayers(layer: Any) -> list[Any]:
    """The layers ``layer`` tracks directly (attributes of a custom layer or subclassed model, the
    layers of a functional or Sequential one), in the order they were assigned; not recursive."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def model_input_shape(model: Any) -> Any:
    """A model's batched input shape: that of its inputs for a functional or Sequential model (a list
    for several), else the one shape a subclassed model was built with (by calling it or ``build()``);
    ``None`` when neither is known."""
    try:
        return model.input_shape
    except (AttributeError, ValueError):
        pass
    shapes = build_shapes(model)
    if len(shapes) != 1:
        return None
    shape = next(iter(shapes.values()))
    if not isinstance(shape, tuple | list) or any(isinstance(d, tuple | list) for d in shape):
        return None
    return tuple(None if d is None else int(d) for d in shape)


def inference_flags(model: Any) -> dict[str, Any]:
    """The keyword arguments for an inference call through ``model.stateless_call``: ``training=False``
    when ``call`` takes it. ``stateless_call`` passes them to ``call`` as they are, where ``model(x)``
    would drop a ``training`` that ``call`` does not declare (a subclassed ``call(self, x)``)."""
    import inspect

    params = inspect.signature(model.call).parameters
    takes = "training" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {"training": False} if takes else {}


def outbound_operations(layer: Any) -> list[Any]:
    """The operations that consume ``layer``'s outputs, one per call."""
    return [node.operation for node in layer._outbound_nodes]


def clipping_step(optimizer: Any) -> Callable[[list], list]:
    """The optimizer's clipping step ``clip(grads) -> grads`` (bound to this instance)."""
    return optimizer._clip_gradients


def set_clipping_step(optimizer: Any, clip: Callable[[list], list]) -> None:
    """Make ``clip`` this optimizer instance's clipping step (other instances keep theirs)."""
    optimizer._clip_gradients = clip


# --------------------------------------------------------------------------------------------------
# The check.


def check_internals() -> list[str]:
    """The private names above that the installed Keras lacks (empty when all are there).

    Builds a two-layer functional model, a Sequential one and an SGD optimizer, all explicitly
    named (Keras' automatic layer names stay as they were); nothing is trained. If even that
    fails, the failure is the one entry after the ``keras.src`` names.
    """
    missing = [f"keras.src.ops.{name}" for name in SYMBOLIC_OPS if _symbolic_op(name) is None]
    try:
        from keras.src.layers.input_spec import assert_input_compatibility  # noqa: F401
    except ImportError:
        missing.append("keras.src.layers.input_spec.assert_input_compatibility")
    try:
        return missing + _check_objects()
    except Exception as exc:  # a Keras this different is reported by doctor, not raised at it
        return [*missing, f"a tiny model and optimizer ({type(exc).__name__}: {exc})"]


def _check_objects() -> list[str]:
    import keras

    missing = []
    x = keras.Input((4,), name="check_input")
    dense = keras.layers.Dense(2, name="check_dense")
    model = keras.Model(x, keras.layers.Dense(3, name="check_head")(dense(x)), name="check_model")
    nodes = getattr(model, "_nodes_by_depth", None)
    if not isinstance(nodes, dict):
        missing.append("Functional._nodes_by_depth")
    else:
        node = next((n for ns in nodes.values() for n in ns if getattr(n, "operation", None) is dense), None)
        if node is None:
            missing.append("Functional._nodes_by_depth (no node of a layer)")
        else:
            missing += [f"Node.{a}" for a in _NODE_ATTRIBUTES if not hasattr(node, a)]
            if not callable(getattr(getattr(node, "arguments", None), "fill_in", None)):
                missing.append("Node.arguments.fill_in")
    if not isinstance(getattr(dense, "_outbound_nodes", None), list):
        missing.append("Layer._outbound_nodes")
    if not isinstance(getattr(dense, "_build_shapes_dict", None), dict):
        missing.append("Layer._build_shapes_dict")
    if not callable(getattr(model, "_flatten_layers", None)) or dense not in sublayers(model):
        missing.append("Layer._flatten_layers")
    sequential = keras.Sequential(
        [keras.Input((4,), name="check_seq_input"), keras.layers.Dense(2, name="check_seq_dense")],
        name="check_sequential",
    )
    if getattr(sequential, "_functional", None) is None:
        missing.append("Sequential._functional")
    if not callable(getattr(keras.optimizers.SGD(), "_clip_gradients", None)):
        missing.append("Optimizer._clip_gradients")
    return missing
