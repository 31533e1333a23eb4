from ganlib.codecs import classical
from ganlib.evaluation import channel


def test_flip_bits_touches_only_the_span(rng):
    data = bytes(range(40))
    assert channel.flip_bits(data, 0.0, rng, (10, 30)) == data
    hit = channel.flip_bits(data, 1.0, rng, (10, 30))
    assert hit[:10] == data[:10] and hit[30:] == data[30:]
    assert all(a ^ b == 0xFF for a, b in zip(hit[10:30], data[10:30]))


def test_bit_error_trials_count_failures(images):
    jpeg = classical.codec("jpeg", 10)
    blobs = [jpeg.encode(im) for im in images[:2]]
    rows = channel.bit_error_trials(jpeg.decode, jpeg.payload_span, blobs, images[:2], [0.0, 0.5], trials=2)
    assert len(rows) == 8
    clean = [r for r in rows if r["ber"] == 0.0]
    assert all(r["ok"] for r in clean) and all(r["ssim"] > 0.5 for r in clean)
    assert any(not r["ok"] or r["ssim"] < 0.5 for r in rows if r["ber"] == 0.5)
