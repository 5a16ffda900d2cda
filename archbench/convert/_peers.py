"""Which of our models take which peer's weights (keras.applications, torchvision)."""

from __future__ import annotations

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
    "squeezenet1_0": "squeezenet1_0",
    "squeezenet1_1": "squeezenet1_1",
    "shufflenet_v2_x1_0": "shufflenet_v2_x1_0",
    "mnasnet1_0": "mnasnet1_0",
    "resnext50_32x4d": "resnext50_32x4d",
    "resnext101_32x8d": "resnext101_32x8d",
    "wide_resnet50_2": "wide_resnet50_2",
    "densenet121": "densenet121",
    "densenet161": "densenet161",
}

# torchvision's BasicConv2d; 1e-5 elsewhere
TORCHVISION_BN_EPSILON = {"inception_v3": 1e-3, "googlenet": 1e-3}
APPROXIMATE = {"inception_v3": "torchvision's average pools count the zero padding, keras' do not"}
