import numpy as np
import pytest

from ganlib import baselines, channel, codec


def test_flip_bits_touches_only_the_span(rng):
    data = bytes(range(40))
    assert channel.flip_bits(data, 0.0, rng, (10, 30)) == data
    hit = channel.flip_bits(data, 1.0, rng, (10, 30))
    assert hit[:10] == data[:10] and hit[30:] == data[30:]
    assert all(a ^ b == 0xFF for a, b in zip(hit[10:30], data[10:30]))


def test_payload_spans(images):
    jpeg = baselines.make("jpeg1").encode(images[0])
    start, end = channel.payload_span("jpeg", jpeg)
    sos = jpeg.find(b"\xff\xda")
    assert start == sos + 2 + 8  # grayscale SOS segment: length field 8 = 6 + 2 per component
    assert jpeg[end:] == b"\xff\xd9" and start < end
    webp = baselines.make("webp0").encode(images[0])
    start, end = channel.payload_span("webp", webp)
    assert webp[start - 18:start - 14] == b"VP8 " and end == len(webp)
    gan = codec.pack(codec.LatentFile(b"abcd", 8, (28, 28, 1), 3.0, np.zeros(64, dtype=np.int64)), mode="raw")
    assert channel.payload_span("gan", gan) == (11, 75)
    with pytest.raises(ValueError, match="kind='png'"):
        channel.payload_span("png", jpeg)


def test_bit_error_trials_count_failures(images):
    jpeg = baselines.make("jpeg10")
    blobs = [jpeg.encode(im) for im in images[:2]]
    rows = channel.bit_error_trials(jpeg.decode, "jpeg", blobs, images[:2], [0.0, 0.5], trials=2)
    assert len(rows) == 8
    clean = [r for r in rows if r["ber"] == 0.0]
    assert all(r["ok"] for r in clean) and all(r["ssim"] > 0.5 for r in clean)
