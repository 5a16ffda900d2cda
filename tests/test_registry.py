"""The registry: naming, globbing, errors, and the metadata every spec must carry."""

import pytest

import archbench
from archbench.errors import UnknownModelError, UsageError
from archbench.registry import Paper, Ref, list_models, register_model, resolve, unregister_model

ZOO = list_models()

REQUIRED = [
    "lenet5", "lenet5_modern", "alexnet", "alexnet_onetower", "bn_alexnet", "zfnet", "nin", "bn_nin",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "googlenet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet50_v1_5", "resnet101_v1_5", "resnet152_v1_5", "inception_v3", "inception_v4",
]


@pytest.mark.smoke
def test_every_required_model_is_registered():
    missing = [n for n in REQUIRED if n not in ZOO]
    assert not missing, f"not registered: {missing}"


def test_natural_sort_and_glob():
    resnets = list_models("resnet*")
    assert resnets.index("resnet18") < resnets.index("resnet50") < resnets.index("resnet101")
    assert all(n.startswith("resnet") for n in resnets)
    assert list_models(["vgg16", "vgg19"]) == ["vgg16", "vgg19"]
    assert not any("/" in n for n in list_models("*"))


def test_keras_prefix_is_separate():
    wrapped = list_models("keras/*")
    assert "keras/ResNet50" in wrapped
    assert not set(wrapped) & set(ZOO)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as err:
        archbench.get_spec("resnet5")
    msg = str(err.value)
    assert msg.startswith("unknown model 'resnet5'; did you mean: resnet50")
    assert "resnet18" in msg


def test_resolve_all_globs_and_errors():
    assert resolve("all") == ZOO
    assert resolve("vgg16,resnet*")[0] == "vgg16"
    with pytest.raises(UsageError, match="matches no registered model"):
        resolve("nosuch*")
    with pytest.raises(UsageError, match="no model given"):
        resolve(" , ")


def test_duplicate_registration_fails():
    paper = Paper("t", "a", "v", 2000, "")

    @register_model(name="_dup_test", display_name="d", family="f", year=2000, paper=paper)
    def build(**kwargs):
        raise NotImplementedError

    try:
        with pytest.raises(UsageError, match="already registered"):
            register_model(name="_dup_test", display_name="d", family="f", year=2000, paper=paper)(build)
    finally:
        unregister_model("_dup_test")


@pytest.mark.parametrize("name", ZOO)
def test_spec_metadata_is_complete(name):
    spec = archbench.get_spec(name)
    assert spec.display_name and spec.family and spec.paper.title and spec.paper.url
    assert 1980 < spec.year <= 2026
    assert len(spec.input_shape) == 3 and spec.min_input_size <= min(spec.input_shape[:2])
    for ref in (*spec.params_refs, *spec.macs_refs):
        assert isinstance(ref, Ref) and ref.source, f"{name}: a reference without source"
        assert ref.rtol == 0 or ref.note, f"{name}: a tolerated gap without its explanation: {ref}"
    for acc in spec.accuracy_refs:
        assert acc.source, f"{name}: accuracy reference without source"
    for dev in spec.deviations:
        assert dev.what and dev.why, f"{name}: deviation without its reason"
    if spec.ilsvrc is not None:
        assert spec.ilsvrc.source and 2010 <= spec.ilsvrc.year <= 2017
