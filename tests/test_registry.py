"""The registry: naming, globbing, errors, and the metadata every spec must carry."""

import pytest

import archbench
from archbench.errors import UnknownModelError, UsageError
from archbench.registry import (
    CHART,
    PROTOCOLS,
    TEN_CROP,
    AccuracyRef,
    Paper,
    Ref,
    is_single_crop,
    list_models,
    register_model,
    resolve,
    single_crop,
    unregister_model,
)

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
    assert resolve("all") == [n for n in ZOO if "after-resnet" not in archbench.get_spec(n).tags]
    assert resolve("vgg16,resnet*")[0] == "vgg16"
    with pytest.raises(UsageError, match="matches no registered model"):
        resolve("nosuch*")
    with pytest.raises(UsageError, match="no model given"):
        resolve(" , ")


def test_named_sets():
    from archbench.registry import AFTER_RESNET, MODEL_SETS, model_set

    lecture = model_set("lecture")
    assert resolve("all") == lecture == model_set("all")
    assert not any(AFTER_RESNET in archbench.get_spec(n).tags for n in lecture)
    after = [n for n in list_models("*") if AFTER_RESNET in archbench.get_spec(n).tags]
    assert sorted(lecture + after) == sorted(list_models("*"))
    canziani2016 = model_set("canziani2016")
    assert len(canziani2016) == len(MODEL_SETS["canziani2016"].patterns) == 13
    assert set(canziani2016) <= set(lecture)
    update = model_set("canziani2018")
    assert set(after) <= set(update) and "keras/MobileNetV2" in update and "alexnet" not in update
    everything = model_set("everything")
    assert everything == list(dict.fromkeys(lecture + canziani2016 + update))
    assert list_models("canziani2016") == canziani2016
    assert resolve("canziani2016,lenet5")[-1] == "lenet5"
    paper = Paper("t", "a", "v", 2000, "")
    with pytest.raises(UsageError, match="name of a set"):
        register_model(name="everything", display_name="d", family="f", year=2000, paper=paper)(lambda **k: None)


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


@pytest.mark.parametrize("name", ZOO + list_models("keras/*"))
def test_every_accuracy_reference_says_how_and_with_whose_weights(name):
    spec = archbench.get_spec(name)
    for acc in spec.accuracy_refs:
        assert acc.protocol in PROTOCOLS[1:] or is_single_crop(acc.protocol), f"{name}: {acc}"
        assert acc.weights, f"{name}: accuracy reference without its weights: {acc}"
    headline = spec.reference_top1()
    single = [a for a in spec.accuracy_refs if a.top1 is not None and is_single_crop(a.protocol)]
    if single:
        assert headline is single[0], f"{name}: the headline figure is not the first single-crop one"


def test_accuracy_protocol_is_checked():
    assert single_crop(299) == "single centre crop at 299 px" and is_single_crop(single_crop(299))
    assert not is_single_crop("10-crop") and not is_single_crop("")
    with pytest.raises(UsageError, match="unknown accuracy protocol"):
        AccuracyRef(60.0, None, "somewhere", protocol="single crop")
    AccuracyRef(60.0, None, "a user's model file, protocol not stated")


def test_headline_figures_follow_the_weights_of_each_builder():
    alexnet = archbench.get_spec("alexnet")
    bvlc, paper = alexnet.accuracy_refs
    assert alexnet.reference_top1() is bvlc
    assert (bvlc.top1, bvlc.top5, bvlc.protocol, bvlc.weights) == (57.1, 80.2, single_crop(227), "BVLC")
    assert "bvlc_alexnet/readme.md" in bvlc.source
    assert (paper.top1, paper.protocol, paper.weights) == (59.3, TEN_CROP, "paper")
    v3 = archbench.get_spec("inception_v3").reference_top1()
    assert (v3.top1, v3.top5, v3.protocol, v3.weights) == (77.9, 93.7, single_crop(299), "keras.applications")
    for depth in (50, 101, 152):
        v1 = archbench.get_spec(f"resnet{depth}").reference_top1()
        v1_5 = archbench.get_spec(f"resnet{depth}_v1_5").reference_top1()
        assert (v1.weights, v1_5.weights) == ("keras.applications", "torchvision")
        assert "recipe" in v1_5.note and "torchvision" in v1.note
    assert archbench.get_spec("bn_alexnet").reference_top1().protocol == CHART


@pytest.mark.parametrize("name", [n for n in ZOO if archbench.get_spec(n).recipe])
def test_training_recipes_are_training_settings(name):
    from archbench.evaluate import train_config

    spec = archbench.get_spec(name)
    config = train_config(spec)
    assert set(config.from_recipe) == set(spec.recipe)
    assert all(getattr(config, k) == (tuple(v) if isinstance(v, list) else v) for k, v in spec.recipe.items())


# -- keras.applications wrappers ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["keras/MobileNetV3Small", "keras/MobileNetV3Large"])
def test_keras_wrappers_keras_leaves_open_are_built_at_their_registered_size(build, name):
    # keras builds these at (None, None, 3) unless told a size; the wrapper passes the spec's 224.
    assert archbench.get_spec(name).input_shape == (224, 224, 3)
    assert build(name).input_shape == (None, 224, 224, 3)


def test_a_keras_wrapper_counts_without_an_input_size_and_keeps_one_asked_for(build):
    counted = archbench.count(build("keras/MobileNetV3Small"))
    assert counted.status == "ok" and counted.macs > 0
    assert build("keras/MobileNetV3Small", include_top=False).input_shape == (None, 224, 224, 3)
    assert build("keras/MobileNetV3Small", input_shape=(96, 96, 3)).input_shape == (None, 96, 96, 3)
