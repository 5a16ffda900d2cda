"""The environment stamp: flat, JSON-friendly, honest about the device, cheap to take."""

import json
import re
import sys

import keras
import pytest

from archbench import environment as envmod

KEYS = {
    "backend", "device", "device_type", "device_name", "gpus_visible", "keras_version", "tensorflow_version",
    "jax_version", "jaxlib_version", "torch_version", "torchvision_version", "numpy_version", "python_version",
    "platform", "cpu_model", "cpu_id", "cpu_count", "intra_op_threads", "inter_op_threads", "omp_num_threads",
    "xla_flags", "tf_enable_onednn_opts",
}  # fmt: skip


@pytest.fixture(scope="module")
def env():
    return envmod.environment()


def test_keys_are_flat_snake_case_and_serialisable(env):
    assert set(env) == KEYS
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in env)
    assert all(v is None or isinstance(v, str | int) for v in env.values())
    json.dumps(env)


def test_backend_versions_and_machine(env):
    assert env["backend"] == keras.backend.backend()
    assert env["keras_version"] == keras.__version__
    assert env["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["cpu_count"] >= 1 and env["cpu_model"]


def test_device_is_named_by_its_type_and_never_calls_cpu_gpu(env):
    assert env["device_type"] in ("cpu", "gpu")
    assert env["device"] == f"{env['device_type']}:0 ({env['device_name']})"
    assert envmod.device() == env["device"]
    if env["gpus_visible"] == 0:
        assert env["device_type"] == "cpu" and env["device_name"] == envmod.cpu_model()


def test_versions_do_not_import_other_frameworks():
    absent = [m for m in ("torch", "jax") if m not in sys.modules]
    envmod.versions()
    envmod.environment()
    assert [m for m in absent if m in sys.modules] == []


def test_describe_device_cpu():
    assert envmod.describe_device("cpu") == f"cpu:0 ({envmod.cpu_model()})"
