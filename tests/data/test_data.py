import gzip
import os

import numpy as np
import pytest
from PIL import Image

from ganlib.data import datasets


def write_idx(path, array, compress=False):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def idx_dir(tmp_path, rng):
    for key, stem in datasets.IDX_FILES.items():
        n = 20 if key.startswith("train") else 6
        arr = rng.integers(0, 256, (n, 28, 28) if "labels" not in key else (n,))
        write_idx(tmp_path / (stem + ".gz"), arr, compress=True)
    return tmp_path


def test_read_idx_plain_and_gzip(tmp_path, rng):
    arr = rng.integers(0, 256, (3, 5, 4)).astype(np.uint8)
    write_idx(tmp_path / "a", arr)
    write_idx(tmp_path / "b.gz", arr, compress=True)
    assert np.array_equal(datasets.read_idx(tmp_path / "a"), arr)
    assert np.array_equal(datasets.read_idx(tmp_path / "b.gz"), arr)
    (tmp_path / "c").write_bytes((tmp_path / "a").read_bytes()[:-1])
    with pytest.raises(datasets.DataError, match="truncated"):
        datasets.read_idx(tmp_path / "c")


def test_fashion_mnist_from_data_dir(idx_dir):
    arrays = datasets.load("fashion_mnist", str(idx_dir), 28, 1, 0)
    assert arrays["train"].shape == (20, 28, 28, 1) and arrays["test"].shape == (6, 28, 28, 1)
    resized = datasets.load("fashion_mnist", str(idx_dir), 32, 3, 0)
    assert resized["train"].shape == (20, 32, 32, 3)


def test_folder_dataset(tmp_path, rng):
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / "gray.jpg")
    a = datasets.load("folder", str(tmp_path), 32, 3, seed=1, unseen_fraction=0.3)
    assert a["train"].shape == (8, 32, 32, 3) and a["test"].shape == (3, 32, 32, 3)
    b = datasets.load("folder", str(tmp_path), 32, 3, seed=1, unseen_fraction=0.3)
    assert np.array_equal(a["test"], b["test"])
    assert datasets.load("folder", str(tmp_path), 28, 1, seed=1)["train"].shape[1:] == (28, 28, 1)


def test_centre_crop():
    image = np.zeros((10, 30), np.uint8)
    image[:, 10:20] = 255
    out = datasets.prepare(Image.fromarray(image), 10, 1)
    assert out.shape == (10, 10, 1) and out.min() == 255


@pytest.mark.parametrize("kwargs,message", [
    (dict(dataset="mnist"), "dataset='mnist'.*fashion_mnist, folder"),
    (dict(dataset="folder", data_dir=None), "data_dir=None"),
    (dict(image_size=30), "image_size=30"),
    (dict(channels=2), "channels=2"),
])
def test_bad_parameters(kwargs, message):
    args = dict(dataset="fashion_mnist", data_dir=None, image_size=28, channels=1, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        datasets.check_params(**args)


def test_data_dir_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="data_dir=.*no image files"):
        datasets.check_params("folder", str(tmp_path), 28, 1, 0)
    with pytest.raises(ValueError, match="data_dir=.*IDX"):
        datasets.check_params("fashion_mnist", str(tmp_path), 28, 1, 0)


def test_eval_images_are_seeded_and_split_specific(idx_dir):
    arrays = datasets.load("fashion_mnist", str(idx_dir), 28, 1, 0)
    seen, ids = datasets.eval_images(arrays, "seen", 5, 0)
    again, ids2 = datasets.eval_images(arrays, "seen", 5, 0)
    assert np.array_equal(ids, ids2) and np.array_equal(seen, arrays["train"][ids])
    unseen, uids = datasets.eval_images(arrays, "unseen", 50, 0)
    assert len(uids) == 6 and np.array_equal(unseen, arrays["test"][uids])
    with pytest.raises(ValueError, match="split='val'"):
        datasets.eval_images(arrays, "val", 5, 0)


def test_a_smaller_evaluation_set_is_the_start_of_a_larger_one(idx_dir):
    """The seed's search inverts the first 64 of the 2,000 evaluation images: the same images as a draw of 64."""
    arrays = datasets.load("fashion_mnist", str(idx_dir), 28, 1, 0)
    for split in datasets.SPLITS:
        small, large = (datasets.eval_images(arrays, split, n, 3)[1] for n in (3, 6))
        assert np.array_equal(large[:3], small) and len(set(large.tolist())) == len(large)


def test_missing_prepared_data_names_its_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLIB_WORKDIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="01_data.*make data"):
        datasets.load_prepared("nothing")


# ---------------------------------------------------------------- images as users give them (issue 20)
def test_exif_orientation_is_applied(tmp_path):
    """A photo stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise) is read upright."""
    stored = np.zeros((20, 40), np.uint8)
    stored[:, :20] = 255  # left half white as stored: the top half once upright
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "side.jpg", exif=exif, quality=95)
    upright = np.asarray(datasets.open_image(tmp_path / "side.jpg"))
    assert upright.shape == (40, 20)
    assert upright[:20].mean() > 200 and upright[20:].mean() < 50


def test_pillows_warnings_become_one_line_naming_the_image(tmp_path, capsys):
    image = Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28) % 4, "P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    image.save(tmp_path / "palette.png", transparency=bytes([0, 128, 255, 255]))
    assert datasets.read_image(tmp_path / "palette.png", 28, 3, resize=False).shape == (28, 28, 3)
    assert capsys.readouterr().err == (f"warning: {tmp_path / 'palette.png'}: Palette images with Transparency "
                                       "expressed in bytes should be converted to RGBA images\n")


def test_image_files_are_read_only_if_regular_and_bounded(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "fifo.png")
    with pytest.raises(datasets.ImageError, match=r"fifo.png: cannot read it \(is a FIFO, not a regular file\)"):
        datasets.read_image(tmp_path / "fifo.png", 28, 1)
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    monkeypatch.setattr(datasets, "MAX_IMAGE_BYTES", 10)
    with pytest.raises(datasets.ImageError, match=r"a.png: cannot read it \(\d+ bytes, longer than the 10 bytes"):
        datasets.read_image(tmp_path / "a.png", 28, 1)


def test_fashion_mnist_carries_its_labels_and_class_names(idx_dir):
    arrays = datasets.load("fashion_mnist", str(idx_dir), 28, 1, 0)
    raw = datasets.read_idx(idx_dir / (datasets.IDX_FILES["test_labels"] + ".gz"))
    assert np.array_equal(arrays["test_labels"], raw) and arrays["train_labels"].shape == (20,)
    assert arrays["classes"].tolist() == list(datasets.FASHION_CLASSES)


def test_a_folder_in_the_imagefolder_layout_carries_labels(tmp_path, rng):
    for name in ("cats", "dogs", "owls"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(np.full((28, 28), 60 * ("cats", "dogs", "owls").index(name), np.uint8)).save(
                tmp_path / name / f"{i}.png")
    a = datasets.load("folder", str(tmp_path), 28, 1, seed=0, unseen_fraction=0.25)
    assert a["classes"].tolist() == ["cats", "dogs", "owls"]
    for split in ("train", "test"):  # each image keeps its folder's label through the seeded split
        assert np.array_equal(a[f"{split}_labels"], a[split][:, 0, 0, 0] // 60)
    (tmp_path / "stray.png").write_bytes((tmp_path / "cats" / "0.png").read_bytes())
    assert "train_labels" not in datasets.load("folder", str(tmp_path), 28, 1, seed=0)  # not every image has a class


def test_a_flat_folder_has_no_labels(tmp_path, rng):
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    assert not {"train_labels", "test_labels", "classes"} & set(datasets.load("folder", str(tmp_path), 28, 1, 0))


def test_shapes_are_labelled_with_their_largest_shape():
    images, labels = datasets.shapes_labelled(40, 28, 3, seed=0)
    assert np.array_equal(images, datasets.shapes(40, 28, 3, seed=0))
    assert labels.dtype == np.int64 and set(labels) == set(range(len(datasets.SHAPE_KINDS)))
    arrays = datasets.load("shapes", None, 28, 3, 0, n_images=40)
    assert arrays["classes"].tolist() == list(datasets.SHAPE_KINDS)
    assert len(arrays["train_labels"]) + len(arrays["test_labels"]) == 40
