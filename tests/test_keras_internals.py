"""The Keras internals archbench reads (all through ``archbench.keras_internals``) still exist on the
installed Keras, and each adapter function returns what its callers rely on."""

import importlib
import pathlib
import re

import keras
import numpy as np
import pytest
from keras import layers as L

from archbench import keras_internals as ki
from archbench.counting import RULES, LayerCost, register_rule
from archbench.doctor import diagnose, keras_status, keras_warnings
from archbench.errors import UsageError

PACKAGE = pathlib.Path(ki.__file__).parent


def _tiny():
    x = keras.Input((6, 6, 2), name="ki_input")
    conv = L.Conv2D(3, 3, name="ki_conv", use_bias=False)
    bn = L.BatchNormalization(name="ki_bn")
    y = bn(conv(x))
    return keras.Model(x, L.Dense(4, name="ki_head")(L.Flatten(name="ki_flat")(y)), name="ki_model"), conv, bn


def test_check_internals_finds_nothing_missing():
    assert ki.check_internals() == []


def test_installed_keras_is_in_the_tested_range_and_setup_cfg_agrees():
    version = ki.keras_version()
    assert version == keras.__version__
    assert ki.version_in_range(version), f"keras {version} is outside {ki.TESTED_KERAS}"
    assert not ki.version_in_range("4.0.0") and not ki.version_in_range("3.2.1")
    assert not ki.version_in_range("not a version")
    setup = (PACKAGE.parent / "setup.cfg").read_text()
    (pin,) = re.findall(r"^\s*keras(\S*)\s*$", setup, flags=re.M)
    assert sorted(pin.split(",")) == sorted(ki.TESTED_KERAS)


@pytest.mark.parametrize("name", ki.SYMBOLIC_OPS)
def test_every_symbolic_op_class_exists(name):
    module, cls = name.split(".")
    op = getattr(importlib.import_module(f"keras.src.ops.{module}"), cls)
    assert ki.symbolic_ops(name) == (op,)
    assert op in RULES, f"{name} has no counting rule"


def test_symbolic_ops_refuses_undeclared_names():
    with pytest.raises(ValueError, match="SYMBOLIC_OPS"):
        ki.symbolic_ops("numpy.Einsum")


def test_private_attributes_exist_on_a_tiny_model_and_optimizer():
    model, conv, _ = _tiny()
    assert isinstance(model._nodes_by_depth, dict)
    assert isinstance(conv._outbound_nodes, list) and isinstance(conv._inbound_nodes, list)
    assert isinstance(conv._build_shapes_dict, dict)
    node = conv._inbound_nodes[0]
    assert node.operation is conv and not node.is_input
    assert callable(node.arguments.fill_in) and node.input_tensors and node.outputs
    sequential = keras.Sequential(
        [keras.Input((3,), name="ki_seq_in"), L.Dense(2, name="ki_seq")], name="ki_seq_m"
    )
    assert sequential._functional is not None
    assert callable(keras.optimizers.SGD()._clip_gradients)
    from keras.src.layers.input_spec import assert_input_compatibility

    assert callable(assert_input_compatibility)


def test_graph_nodes_walk_from_inputs_to_outputs_and_fill_in_arguments():
    model, conv, bn = _tiny()
    nodes = list(ki.graph_nodes(model))
    assert [n.operation.name for n in nodes] == ["ki_conv", "ki_bn", "ki_flat", "ki_head"]
    first = nodes[0]
    assert first.inputs == list(model.inputs)
    stand_in = keras.KerasTensor((None, 6, 6, 2))
    args, kwargs = ki.node_call_args(first, {id(model.inputs[0]): stand_in})
    assert args[0] is stand_in and kwargs == {}
    assert ki.functional_graph(model) is model and ki.functional_graph(conv) is None
    sequential = keras.Sequential([keras.Input((3,), name="ki_s_in"), L.Dense(2, name="ki_s_d")], name="ki_s")
    assert [n.operation.name for n in ki.graph_nodes(ki.functional_graph(sequential))] == ["ki_s_d"]


def test_layer_helpers_read_build_shapes_and_consumers():
    _, conv, bn = _tiny()
    assert ki.outbound_operations(conv) == [bn]
    assert [tuple(s) for s in ki.build_shapes(conv).values()] == [(None, 6, 6, 2)]
    assert ki.build_shapes(L.Dense(2)) == {}
    ki.check_input_compatibility(conv, keras.KerasTensor((None, 9, 9, 2)))
    with pytest.raises(ValueError):
        ki.check_input_compatibility(conv, keras.KerasTensor((None, 9, 9, 5)))


class _Block(keras.layers.Layer):
    """A custom layer holding two sublayers (one nested in a list) and a weight of its own."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(2, 3, padding="same", name="ki_block_conv")
        self.parts = [L.BatchNormalization(name="ki_block_bn")]

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), name="scale")

    def call(self, x):
        return self.parts[0](self.conv(x)) * self.scale


class _Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = _Block(name="ki_block")
        self.head = L.Dense(3, name="ki_net_head")

    def call(self, x):
        return self.head(keras.ops.mean(self.block(x), axis=(1, 2)))


def test_sublayers_and_the_input_shape_of_subclassed_models():
    net = _Net(name="ki_net")
    assert ki.model_input_shape(net) is None  # not built yet
    net(np.zeros((2, 5, 5, 4), dtype="float32"))
    assert [layer.name for layer in ki.sublayers(net)] == ["ki_block", "ki_net_head"]
    assert [layer.name for layer in ki.sublayers(net.block)] == ["ki_block_conv", "ki_block_bn"]
    assert ki.sublayers(net.head) == []
    assert ki.model_input_shape(net) == (2, 5, 5, 4)
    model, conv, bn = _tiny()
    assert ki.model_input_shape(model) == (None, 6, 6, 2)
    assert ki.sublayers(model)[1:] == [conv, bn, *ki.sublayers(model)[3:]]
    assert ki.inference_flags(net) == {}  # call(self, x): stateless_call would refuse training=
    assert ki.inference_flags(model) == {"training": False}


def test_params_paper_convention_and_keras_depth_see_inside_custom_layers():
    from archbench.counting.walker import keras_depth
    from archbench.params import count_params

    net = _Net(name="ki_net2")
    net(np.zeros((1, 5, 5, 4), dtype="float32"))
    conv, bn, head = 3 * 3 * 4 * 2 + 2, 4 * 2, 2 * 3 + 3
    counts = count_params(net)
    assert counts.total == conv + bn + 1 + head
    assert counts.paper == counts.total - 2 * 2  # the nested batch norm's moving mean and variance
    assert keras_depth(net) == 4  # conv, batch norm, the block's own scale, head


def test_clipping_step_is_replaced_on_one_instance_only():
    opt, other = keras.optimizers.SGD(clipvalue=1.0), keras.optimizers.SGD(clipvalue=1.0)
    clip = ki.clipping_step(opt)
    calls = []

    def halve_then_clip(grads):
        calls.append(len(grads))
        return clip([g * 0.5 for g in grads])

    ki.set_clipping_step(opt, halve_then_clip)
    g = [np.array([4.0, -0.5], dtype="float32")]
    np.testing.assert_allclose(np.asarray(ki.clipping_step(opt)(g)[0]), [1.0, -0.25])
    np.testing.assert_allclose(np.asarray(ki.clipping_step(other)(g)[0]), [1.0, -0.5])
    assert calls == [1]


def test_private_keras_access_is_confined_to_the_adapter():
    pattern = re.compile(
        r"keras\.src|fill_in|(?<![\w}])_(nodes_by_depth|outbound_nodes|inbound_nodes|functional|build_shapes_dict"
        r"|clip_gradients|keras_history|flatten_layers|layers)\b"
    )
    hits = sorted(
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if p.name != "keras_internals.py" and pattern.search(p.read_text())
    )
    assert hits == []


def test_register_rule_refuses_a_silent_overwrite():
    class Twice(keras.layers.Layer):
        pass

    def first(layer, ins, outs):
        return LayerCost(macs=1)

    def second(layer, ins, outs):
        return LayerCost(macs=2)

    try:
        register_rule(Twice)(first)
        register_rule(Twice)(first)  # the same rule again is not an overwrite
        with pytest.raises(UsageError, match="already registered.*replace=True"):
            register_rule(Twice)(second)
        assert RULES[Twice] is first
        register_rule(Twice, replace=True)(second)
        assert RULES[Twice] is second
        with pytest.raises(UsageError, match="already registered"):
            register_rule(L.Conv2D)(second)
    finally:
        RULES.pop(Twice, None)


def test_doctor_states_the_keras_version_against_the_tested_range():
    env, warnings = diagnose()
    keys = list(env)
    assert keys[keys.index("keras_version") + 1] == "keras_tested"
    assert env["keras_tested"] == ",".join(ki.TESTED_KERAS)
    assert keras_status() == f"keras {keras.__version__} (tested: {','.join(ki.TESTED_KERAS)})"
    assert not [w for w in warnings if w.startswith("keras")]
    assert keras_warnings(keras.__version__, []) == []
    (outside,) = keras_warnings("4.1.0", [])
    assert "outside the tested range >=3.3,<4" in outside
    (lacking,) = keras_warnings(keras.__version__, ["Functional._nodes_by_depth"])
    assert "Functional._nodes_by_depth" in lacking
