import io

import numpy as np
import pytest
from PIL import Image

from ganlib import baselines, metrics


@pytest.mark.parametrize("scheme", list(baselines.SCHEMES))
def test_round_trip_and_byte_count(scheme, images, tmp_path):
    codec = baselines.make(scheme)
    image = images[0]
    blob = codec.encode(image)
    path = tmp_path / f"x.{codec.name}"
    path.write_bytes(blob)
    decoded = codec.decode(path.read_bytes())
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert metrics.score(image, decoded, path.stat().st_size)["bytes"] == len(blob)
    assert metrics.psnr(image, decoded) > 15


def test_png_is_lossless(images):
    codec = baselines.make("png")
    assert np.array_equal(codec.decode(codec.encode(images[3])), images[3])


def test_files_are_real_formats(images):
    for scheme, fmt in [("png", "PNG"), ("kmeans4", "PNG"), ("jpeg1", "JPEG"), ("webp0", "WEBP")]:
        with Image.open(io.BytesIO(baselines.make(scheme).encode(images[0]))) as im:
            assert im.format == fmt


def test_kmeans_stores_k_colours(images):
    codec = baselines.make("kmeans4")
    decoded = codec.decode(codec.encode(images[0]))
    assert len(np.unique(decoded)) <= 4
    with Image.open(io.BytesIO(codec.encode(images[0]))) as im:
        assert im.mode == "P"


def test_jpeg_quality_orders_size(images):
    assert len(baselines.make("jpeg1").encode(images[0])) < len(baselines.make("jpeg10").encode(images[0]))


def test_colour_images(rng):
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for scheme in baselines.SCHEMES:
        codec = baselines.make(scheme, channels=3)
        assert codec.decode(codec.encode(image)).shape == (16, 16, 3)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme='jpeg2'.*png, kmeans4"):
        baselines.make("jpeg2")
