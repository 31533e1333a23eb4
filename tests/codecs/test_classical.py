import io
import re

import numpy as np
import pytest
from PIL import Image

from ganlib.codecs import classical, families
from ganlib.evaluation import metrics

SCHEMES = {s.id: (s.family, s.param) for s in families.SUMMARY.values() if s.family in classical.CODECS}


def make(scheme: str, channels: int = 1):
    """A classical codec by the seed report's scheme id (jpeg1, kmeans4, ...)."""
    return classical.codec(*SCHEMES[scheme], channels=channels)


def test_the_seed_schemes_are_classical_codecs():
    assert SCHEMES == {"png": ("png", None), "kmeans4": ("kmeans", 4), "jpeg10": ("jpeg", 10), "jpeg1": ("jpeg", 1),
                       "webp0": ("webp", 0)}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_round_trip_and_byte_count(scheme, images, tmp_path):
    codec = make(scheme)
    image = images[0]
    blob = codec.encode(image)
    path = tmp_path / f"x.{codec.name}"
    path.write_bytes(blob)
    decoded = codec.decode(path.read_bytes())
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert metrics.score(image, decoded, path.stat().st_size)["bytes"] == len(blob)
    assert metrics.psnr(image, decoded) > 15


def test_png_is_lossless(images):
    codec = make("png")
    assert np.array_equal(codec.decode(codec.encode(images[3])), images[3])


def test_files_are_real_formats(images):
    for scheme, fmt in [("png", "PNG"), ("kmeans4", "PNG"), ("jpeg1", "JPEG"), ("webp0", "WEBP")]:
        with Image.open(io.BytesIO(make(scheme).encode(images[0]))) as im:
            assert im.format == fmt


def test_kmeans_stores_k_colours(images):
    codec = make("kmeans4")
    decoded = codec.decode(codec.encode(images[0]))
    assert len(np.unique(decoded)) <= 4
    with Image.open(io.BytesIO(codec.encode(images[0]))) as im:
        assert im.mode == "P"


def test_jpeg_quality_orders_size(images):
    assert len(make("jpeg1").encode(images[0])) < len(make("jpeg10").encode(images[0]))


def test_colour_images(rng):
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for scheme in SCHEMES:
        codec = make(scheme, channels=3)
        assert codec.decode(codec.encode(image)).shape == (16, 16, 3)


def test_unknown_scheme_and_bad_parameters():
    with pytest.raises(ValueError, match="codec='bpg'.*png, jpeg"):
        classical.codec("bpg", 1)
    with pytest.raises(ValueError, match="jpeg parameter=0.*quality.*1 to 95"):
        classical.codec("jpeg", 0)


SWEEP = [("png", None), ("jpeg", 1), ("jpeg", 50), ("webp", 0), ("webp", 90), ("j2k", 20), ("j2k", 35),
         ("avif", 0), ("avif", 60), ("kmeans", 2), ("kmeans", 16)]


@pytest.mark.parametrize("name,param", SWEEP)
def test_every_codec_round_trips_with_its_payload_inside_the_file(name, param, images):
    c = classical.codec(name, param)
    blob = c.encode(images[1])
    decoded = c.decode(blob)
    assert decoded.shape == images[1].shape and decoded.dtype == np.uint8
    assert metrics.ssim(images[1], decoded) > 0.3
    start, end = c.payload_span(blob)
    assert 0 < start < end <= len(blob)
    assert re.search(r"(zlib|libjpeg-turbo|libwebp|OpenJPEG|libavif) \d+\.\d+", c.version), c.version


def test_payload_spans_point_at_the_coded_data(images):
    jpeg = classical.codec("jpeg", 1).encode(images[0])
    start, end = classical.codec("jpeg", 1).payload_span(jpeg)
    assert start == jpeg.find(b"\xff\xda") + 2 + 8  # grayscale SOS: length field 8 = 6 + 2 per component
    assert jpeg[end:] == b"\xff\xd9"
    webp = classical.codec("webp", 0).encode(images[0])
    start, end = classical.codec("webp", 0).payload_span(webp)
    assert webp[start - 18:start - 14] == b"VP8 " and end == len(webp)
    png = classical.codec("png").encode(images[0])
    start, end = classical.codec("png").payload_span(png)
    assert png[start - 4:start] == b"IDAT" and png[end + 8:end + 12] == b"IEND"  # CRC, IEND length, IEND


def test_kmeans_more_colours_cost_more(images):
    sizes = [len(classical.codec("kmeans", k).encode(images[0])) for k in (2, 4, 8, 16)]
    assert sizes == sorted(sizes)


def test_avif_speed_is_checked_and_reaches_the_encoder(images):
    with pytest.raises(ValueError, match="speed=11.*0 to 10"):
        classical.AVIF(0, speed=11)
    slow, fast = classical.AVIF(0, speed=0), classical.AVIF(0)
    assert fast.speed == classical.AVIF.SPEED
    blobs = [c.encode(images[0]) for c in (slow, fast)]
    assert blobs[0] != blobs[1]  # the speed changes the encoder's choices, so the file
    assert all(c.decode(b).shape == images[0].shape for c, b in zip((slow, fast), blobs))
