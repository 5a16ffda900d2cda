"""Datasets: splits, determinism, preprocessing recipes and fingerprints, errors that name the problem."""

import os

import numpy as np
import pytest
from PIL import Image

from archbench import data
from archbench.errors import InputTooSmallError, UsageError
from archbench.registry import get_spec


def first_batch(ds, split=None, batch_size=512, **kw):
    return next(ds.batches(split, batch_size, **kw).as_numpy_iterator())


# --------------------------------------------------------------------------------------- digits


def test_digits_split_is_stratified_deterministic_and_complete():
    ds = data.load_dataset("digits", "lenet5")
    train, held = ds.split("train"), ds.split("heldout")
    assert (train.size, held.size) == (1438, 359)
    assert ds.train_split == "train" and ds.heldout_split == "heldout"
    assert np.bincount(held.labels).min() >= 35  # every class about 20 % held out
    again = data.load_dataset("digits", "lenet5")
    assert np.array_equal(again.split("heldout").labels, held.labels)
    other = data.load_dataset("digits", "lenet5", seed=1)
    tr0, he0 = data.stratified_split(np.repeat(np.arange(10), 50), 0.2, 0)
    tr1, he1 = data.stratified_split(np.repeat(np.arange(10), 50), 0.2, 1)
    assert len(he0) == 100 and not set(tr0) & set(he0) and not np.array_equal(he0, he1)
    assert other.split("heldout").size == 359


def test_digits_for_lenet5_are_upsampled_and_normalised_as_the_paper():
    ds = data.load_dataset("digits", "lenet5")
    x, y = first_batch(ds, "heldout")
    assert x.shape == (359, 32, 32, 1) and x.dtype == np.float32 and y.dtype == np.int32
    # LeCun et al. section II.A: background -0.1, ink 1.175
    assert x.min() == pytest.approx(-0.1, abs=1e-5) and x.max() == pytest.approx(1.175, abs=1e-4)
    fp = ds.fingerprint()
    assert fp["dataset"] == "digits" and fp["split"] == "heldout" and fp["n"] == 359
    assert fp["native_size"] == "8x8" and fp["input_size"] == 32 and fp["upsampled"] is True
    assert (fp["resize_mode"], fp["interpolation"], fp["antialias"]) == ("stretch", "bilinear", True)
    assert fp["channels"] == "1"


def test_grey_digits_are_replicated_for_an_rgb_model():
    ds = data.load_dataset("digits", "resnet18", image_size=32, limit=16)
    x, _ = first_batch(ds, "heldout")
    assert x.shape == (16, 32, 32, 3)
    spec = get_spec("resnet18")
    raw = x * np.array(spec.preprocessing.std) + np.array(spec.preprocessing.mean)
    assert np.allclose(raw[..., 0], raw[..., 1], atol=1e-5) and np.allclose(
        raw[..., 1], raw[..., 2], atol=1e-5
    )
    assert ds.fingerprint()["channels"] == "1->3 (replicated)"
    assert ds.fingerprint()["mean"] == list(spec.preprocessing.mean)


def test_upsampling_can_be_refused_and_minimum_sizes_hold():
    with pytest.raises(UsageError, match=r"at least 32x32, larger than 'digits'.s 8x8 images"):
        data.load_dataset("digits", "lenet5", upsample=False)
    with pytest.raises(UsageError, match=r"ask for --image-size 40"):
        data.load_dataset("shapes:resolution=40", "resnet18", upsample=False)
    assert (
        data.load_dataset("shapes:resolution=40", "resnet18", image_size=40, upsample=False).recipe.mode
        == "none"
    )
    with pytest.raises(InputTooSmallError, match="minimum 32x32"):
        data.load_dataset("digits", "resnet18", image_size=16)


def test_shuffled_batches_depend_on_seed_and_epoch_only():
    ds = data.load_dataset("digits", "lenet5", limit=64)

    def labels(**kw):
        return first_batch(ds, "train", 64, shuffle=True, **kw)[1]

    assert np.array_equal(labels(seed=0, epoch=1), labels(seed=0, epoch=1))
    assert not np.array_equal(labels(seed=0, epoch=1), labels(seed=0, epoch=2))
    assert sorted(labels(seed=0, epoch=1)) == sorted(ds.split("train").labels)


@pytest.mark.parametrize("augment", [("flip",), ("shift",), ("flip", "shift")])
def test_augmentation_is_seeded_and_keeps_shapes(augment):
    ds = data.load_dataset("digits", "lenet5", limit=32)
    plain = first_batch(ds, "train", 32)[0]
    a = first_batch(ds, "train", 32, augment=augment, seed=3)[0]
    b = first_batch(ds, "train", 32, augment=augment, seed=3)[0]
    assert a.shape == plain.shape and np.array_equal(a, b) and not np.array_equal(a, plain)
    with pytest.raises(UsageError, match="unknown augmentation"):
        ds.batches("train", 8, augment=("rotate",))


# --------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("kind", data.SHAPES)
def test_every_shape_renders_a_distinct_figure(kind):
    image = data.render_shape(kind, 32, np.random.default_rng(0))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    others = [data.render_shape(k, 32, np.random.default_rng(0)) for k in data.SHAPES if k != kind]
    assert all(np.abs(image.astype(int) - o).sum() > 0 for o in others)


def test_shapes_are_generated_lazily_and_reproducibly():
    ds = data.load_dataset("shapes:count=60,classes=4,resolution=40", "resnet18", image_size=48)
    assert ds.num_classes == 4 and ds.class_names == data.SHAPES[:4]
    assert (ds.split("train").size, ds.split("heldout").size) == (48, 12)
    assert np.bincount(ds.split("heldout").labels).tolist() == [3, 3, 3, 3]
    x1, y1 = first_batch(ds, "heldout")
    x2, y2 = first_batch(
        data.load_dataset("shapes:count=60,classes=4,resolution=40", "resnet18", image_size=48), "heldout"
    )
    assert x1.shape == (12, 48, 48, 3) and np.array_equal(x1, x2) and np.array_equal(y1, y2)
    fp = ds.fingerprint()
    assert fp["native_size"] == "40x40" and fp["upsampled"] and fp["data_count"] == 60
    native = data.load_dataset("shapes:count=20,classes=2", "lenet5")
    assert native.fingerprint()["resize_mode"] == "none"
    assert native.fingerprint()["channels"] == "3->1 (ITU-R 601 luminance)"


def test_shapes_options_are_checked():
    with pytest.raises(UsageError, match="classes must be between 2 and 10"):
        data.load_dataset("shapes:classes=11", "lenet5")
    with pytest.raises(UsageError, match="unknown option 'colour'"):
        data.load_dataset("shapes:colour=red", "lenet5")
    with pytest.raises(UsageError, match="unknown dataset 'mnist'"):
        data.parse_dataset("mnist")
    assert data.parse_dataset(" Shapes:count=5, resolution=16 ") == ("shapes", {"count": 5, "resolution": 16})


# --------------------------------------------------------------------------------------- imagefolder


def _image(path, h, w, centre=(0, 0, 255), border=(255, 0, 0)):
    """An h x w image: the central half of the width in ``centre``, the rest ``border``."""
    a = np.empty((h, w, 3), np.uint8)
    a[:] = border
    a[:, w // 4 : w - w // 4] = centre
    Image.fromarray(a).save(path, quality=95)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "val"
    for wnid, ext in (("n01440764", ".JPEG"), ("n01443537", ".png"), ("n01484850", ".jpg")):
        (root / wnid).mkdir(parents=True)
        for i in range(5):
            _image(root / wnid / f"img{i}{ext}", 48 + 8 * i, 96)
    (root / "n01440764" / "notes.txt").write_text("not an image")
    return root


def test_imagefolder_resizes_the_shorter_side_and_crops_the_centre(folder):
    ds = data.load_dataset("imagenet", "resnet18", data_dir=folder, image_size=64)
    assert ds.num_classes == 3 and ds.class_names[0] == "n01440764"
    assert ds.train_split is None and ds.split("val").size == 15
    x, y = first_batch(ds, "val")
    assert x.shape == (15, 64, 64, 3) and sorted(np.bincount(y)) == [5, 5, 5]
    spec = get_spec("resnet18")
    rgb = x * np.array(spec.preprocessing.std) + np.array(spec.preprocessing.mean)
    centre = rgb[:, 16:48, 24:40].mean(axis=(0, 1, 2))
    assert centre[2] > 0.9 and centre[0] < 0.1  # the blue centre survives the crop
    fp = ds.fingerprint()
    # resnet18 resizes to 256 and crops 224: at 64 that is 73 and 64
    assert (fp["resize_mode"], fp["resize"], fp["crop"]) == ("shorter_side+centre_crop", 73, 64)
    assert fp["data_source"] == os.path.abspath(folder) and fp["split"] == "val"


def test_imagefolder_without_own_split_is_split_per_class(folder):
    ds = data.load_dataset("imagefolder", "resnet18", data_dir=folder, image_size=32)
    assert (ds.split("train").size, ds.split("heldout").size) == (12, 3)
    assert ds.train_split == "train"


def test_imagefolder_train_val_layout_and_labels_file(tmp_path, folder):
    root = folder.parent
    (root / "train").mkdir()
    for wnid in os.listdir(folder):
        (root / "train" / wnid).mkdir()
        _image(root / "train" / wnid / "a.png", 40, 40)
    ds = data.load_dataset("imagefolder", "resnet18", data_dir=root, image_size=32)
    assert ds.train_split == "train" and ds.heldout_split == "val"
    assert (ds.split("train").size, ds.split("val").size) == (3, 15)

    flat = tmp_path / "flat"
    flat.mkdir()
    lines = []
    for i in range(4):
        _image(flat / f"ILSVRC2012_val_{i:08d}.JPEG", 50, 60)
        lines.append(f"ILSVRC2012_val_{i:08d}.JPEG {i % 2 * 7}")
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n")
    ds = data.load_dataset(
        f"imagenet:labels={tmp_path / 'labels.txt'}", "resnet18", data_dir=flat, image_size=32
    )
    assert ds.num_classes == 8 and ds.split("val").labels.tolist() == [0, 7, 0, 7]
    assert first_batch(ds, "val")[0].shape == (4, 32, 32, 3)


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(UsageError, match="--dataset imagefolder --data-dir /path/to/imagenet/val"):
        data.load_dataset("imagenet", "resnet50")
    missing = tmp_path / "nowhere"
    with pytest.raises(UsageError, match=str(missing)):
        data.load_dataset("imagefolder", "resnet50", data_dir=missing)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(UsageError, match="no images found"):
        data.load_dataset("imagefolder", "resnet50", data_dir=tmp_path / "empty")


# --------------------------------------------------------------------------------------- npz


def test_npz_mnist_and_cifar_layouts(tmp_path):
    rng = np.random.default_rng(0)
    mnist = tmp_path / "mnist.npz"
    np.savez(
        mnist,
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=np.arange(20) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10),
    )
    ds = data.load_dataset("npz", "lenet5", data_dir=mnist)
    assert (ds.train_split, ds.heldout_split, ds.num_classes) == ("train", "test", 10)
    x, y = first_batch(ds)
    assert x.shape == (10, 32, 32, 1) and y.tolist() == list(range(10))
    assert ds.fingerprint()["native_size"] == "28x28"

    cifar = tmp_path / "cifar.npz"
    np.savez(
        cifar,
        x_train=rng.random((8, 32, 32, 3)),
        y_train=np.arange(8).reshape(-1, 1) % 4,
        x_test=rng.random((4, 32, 32, 3)),
        y_test=np.arange(4).reshape(-1, 1),
    )
    ds = data.load_dataset("npz", "resnet18", data_dir=cifar, image_size=32)
    assert ds.fingerprint()["resize_mode"] == "none" and first_batch(ds)[0].shape == (4, 32, 32, 3)


def test_npz_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 8, 8)))
    with pytest.raises(UsageError, match="expected arrays x_train, y_train, x_test, y_test"):
        data.load_dataset("npz", "lenet5", data_dir=bad)
    pickled = tmp_path / "pickled.npz"
    objects = np.empty(2, dtype=object)
    np.savez(pickled, x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    with pytest.raises(UsageError, match="cannot read"):
        data.load_dataset("npz", "lenet5", data_dir=pickled)
    with pytest.raises(UsageError, match="needs a file"):
        data.load_dataset("npz", "lenet5")
