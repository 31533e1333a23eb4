import binascii

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganlib import codec

FP = b"\x01\x02\x03\x04"


def make(symbols, bits=8, shape=(28, 28, 1), z_range=3.0):
    return codec.LatentFile(FP, bits, shape, z_range, np.asarray(symbols, dtype=np.int64))


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8, 12, 16])
def test_quantization_error_within_half_a_step(bits, rng):
    z = rng.uniform(-3, 3, 1000)
    zq = codec.dequantize(codec.quantize(z, bits, 3.0), bits, 3.0)
    assert np.abs(zq - z).max() <= codec.step(bits, 3.0) / 2 + 1e-6


def test_quantizer_clips_to_the_range():
    s = codec.quantize(np.array([-100.0, 100.0]), 4, 3.0)
    assert s.tolist() == [0, 15]


@pytest.mark.parametrize("bits", range(1, 17))
@pytest.mark.parametrize("mode", [None, "raw", "range"])
def test_round_trip_every_bit_depth(bits, mode, rng):
    z = np.clip(rng.normal(size=64), -3, 3)
    latent = make(codec.quantize(z, bits, 3.0), bits=bits)
    blob = codec.pack(latent, mode=mode)
    back = codec.unpack(blob)
    assert np.array_equal(back.symbols, latent.symbols)
    assert (back.bits, back.shape, back.z_range, back.fingerprint) == (bits, (28, 28, 1), 3.0, FP)


@pytest.mark.parametrize("bits", range(1, 17))
def test_exact_sizes(bits, rng):
    """Raw mode is exactly 13 + ceil(latent_dim * bits / 8) bytes, range mode 13 bytes plus whole
    32-bit words, and the encoder writes exactly the shorter of the two (raw on a tie), even for
    latents far from the prior."""
    raw_bytes = 13 + -(-64 * bits // 8)
    assert codec.max_file_bytes(64, bits, (28, 28, 1)) == raw_bytes
    for z in (rng.normal(size=64), np.full(64, 2.99), rng.choice([-3.0, 3.0], 64)):
        latent = make(codec.quantize(z, bits, 3.0), bits=bits)
        raw, ranged = codec.pack(latent, "raw"), codec.pack(latent, "range")
        assert len(raw) == raw_bytes and (len(ranged) - 13) % 4 == 0
        assert codec.pack(latent) == (ranged if len(ranged) < len(raw) else raw)


def test_max_file_bytes_exact():
    assert codec.max_file_bytes(64, 8, (28, 28, 1)) == 13 + 64
    assert codec.max_file_bytes(8, 8, (28, 28, 1)) == 13 + 8
    assert codec.max_file_bytes(8, 3, (28, 28, 1)) == 13 + 3  # 24 bits
    assert codec.max_file_bytes(100, 5, (64, 64, 3)) == 13 + 63  # 500 bits -> 63 bytes
    assert codec.max_file_bytes(128, 8, (200, 200, 3)) == 16 + 128  # three varints of 2 bytes


def test_range_coding_beats_raw_on_prior_samples(rng):
    symbols = codec.quantize(rng.normal(size=64), 8, 3.0)
    assert len(codec.pack(make(symbols), "range")) < len(codec.pack(make(symbols), "raw"))


def test_header_is_13_bytes_for_small_images():
    blob = codec.pack(make(np.zeros(64, dtype=int)), mode="raw")
    assert len(blob) == 13 + 64
    assert codec.payload_span(blob) == (11, len(blob) - 2)


@pytest.mark.parametrize("blob,message", [
    (b"", "too short"),
    (b"\x00" * 40, "magic"),
])
def test_garbage_is_refused(blob, message):
    with pytest.raises(codec.CodecError, match=message):
        codec.unpack(blob)


def test_corruption_and_truncation_are_detected(rng):
    blob = codec.pack(make(codec.quantize(rng.normal(size=64), 8, 3.0)))
    flipped = bytearray(blob)
    flipped[20] ^= 0x10
    with pytest.raises(codec.CodecError, match="checksum"):
        codec.unpack(bytes(flipped))
    with pytest.raises(codec.CodecError):
        codec.unpack(blob[:-5])


def test_future_version_is_refused():
    body = bytearray(codec.pack(make(np.zeros(8, dtype=int)), mode="raw")[:-2])
    body[1] = (2 << 5) | (body[1] & 0x1F)
    blob = bytes(body) + binascii.crc_hqx(bytes(body), 0).to_bytes(2, "big")
    with pytest.raises(codec.CodecError, match="version 2"):
        codec.unpack(blob)


def test_pack_validates():
    with pytest.raises(ValueError, match="bits"):
        codec.pack(make(np.zeros(8, dtype=int), bits=17))
    with pytest.raises(ValueError, match="symbols must lie"):
        codec.pack(make(np.full(8, 4), bits=2))
    with pytest.raises(ValueError, match="z_range"):
        codec.pack(make(np.zeros(8, dtype=int), z_range=3.01))
    with pytest.raises(ValueError, match="mode"):
        codec.pack(make(np.zeros(8, dtype=int)), mode="zip")


# ---- fuzzing: the decoder raises CodecError and nothing else, on any input (>= 10,000 cases)
VALID = [codec.pack(make(codec.quantize(np.random.default_rng(i).normal(size=n), b, 3.0), bits=b), mode=m)
         for i, (n, b, m) in enumerate([(64, 8, "range"), (64, 8, "raw"), (16, 3, "range"), (100, 16, "range"),
                                         (1, 1, "raw"), (64, 5, "range")])]


def _decode_only_codec_error(blob: bytes, verify: bool = True) -> None:
    try:
        f = codec.unpack(blob, verify=verify)
    except codec.CodecError:
        return
    assert 1 <= f.bits <= 16 and f.symbols.min() >= 0 and f.symbols.max() < 1 << f.bits


FUZZ = settings(max_examples=3400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(blob):
    _decode_only_codec_error(blob)
    _decode_only_codec_error(bytes([codec.MAGIC]) + blob, verify=False)


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 400))
def test_fuzz_truncated(blob, cut):
    _decode_only_codec_error(blob[:cut % (len(blob) + 1)])
    _decode_only_codec_error(blob[:cut % (len(blob) + 1)], verify=False)


@FUZZ
@given(st.sampled_from(VALID), st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_fuzz_bit_flips(blob, positions):
    hit = bytearray(blob)
    for p in positions:
        hit[(p // 8) % len(hit)] ^= 1 << (p % 8)
    _decode_only_codec_error(bytes(hit))
    _decode_only_codec_error(bytes(hit), verify=False)
