import binascii
import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganlib.formats import latent_format

GEN = b"\x01\x02\x03\x04"  # a generator fingerprint
SHAPE = (28, 28, 1)


MODELS = {}  # the models the tests decode with, by fingerprint (a decoder is always given its models)


def model(latent_dim=64, mean=0.0, std=1.0, shape=SHAPE, z_range=3.0, gen=GEN, register=True):
    m = latent_format.LatentModel.create(gen, shape, z_range, np.broadcast_to(mean, (latent_dim,)),
                                         np.broadcast_to(std, (latent_dim,)))
    if register:
        MODELS[m.fingerprint] = m
    return m


def pack(latent, mode=None, model=None):
    """latent_format.pack with the model looked up among this module's models (MODELS) by default."""
    return latent_format.pack(latent, MODELS if model is None else model, mode)


def unpack(blob, model=None, **kwargs):
    """latent_format.unpack with the model looked up among this module's models (MODELS) by default."""
    return latent_format.unpack(blob, MODELS if model is None else model, **kwargs)


UNIT = model()


def make(symbols, bits=8, m=UNIT):
    return latent_format.LatentFile(m.fingerprint, bits, m.shape, m.z_range, np.asarray(symbols, dtype=np.int64))


def symbols_of(z, bits, m=UNIT):
    return latent_format.quantize(np.clip(z, -m.z_range, m.z_range), bits, m.z_range)


# ---------------------------------------------------------------- quantizer
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8, 12, 16])
def test_quantization_error_within_half_a_step(bits, rng):
    z = rng.uniform(-3, 3, 1000)
    zq = latent_format.dequantize(latent_format.quantize(z, bits, 3.0), bits, 3.0)
    assert np.abs(zq - z).max() <= latent_format.step(bits, 3.0) / 2 + 1e-6


def test_quantizer_clips_to_the_range():
    s = latent_format.quantize(np.array([-100.0, 100.0]), 4, 3.0)
    assert s.tolist() == [0, 15]


# ---------------------------------------------------------------- round trips and exact sizes
@pytest.mark.parametrize("bits", range(1, 17))
@pytest.mark.parametrize("mode", [None, "raw"])
def test_round_trip_every_bit_depth(bits, mode, rng):
    latent = make(symbols_of(rng.normal(size=64), bits), bits=bits)
    blob = pack(latent, mode=mode)
    back = unpack(blob)
    assert np.array_equal(back.symbols, latent.symbols)
    assert (back.bits, back.shape, back.z_range, back.fingerprint) == (bits, SHAPE, 3.0, UNIT.fingerprint)


@pytest.mark.parametrize("bits", range(2, 17))
def test_range_coding_round_trip_and_is_shorter_on_prior_samples(bits, rng):
    for _ in range(5):
        latent = make(symbols_of(rng.normal(size=64), bits), bits=bits)
        blob = pack(latent, "range")
        assert blob[0] >> 4 & 1 == 1 and len(blob) < len(pack(latent, "raw"))
        assert np.array_equal(unpack(blob).symbols, latent.symbols)


@pytest.mark.parametrize("bits", range(1, 17))
def test_exact_sizes(bits, rng):
    """Raw mode is exactly 7 + ceil(latent_dim * bits / 8) bytes; the encoder writes the shorter of
    raw and range coding (raw on a tie), so never more, even for latents far from the prior."""
    raw_bytes = 7 + -(-64 * bits // 8)
    assert latent_format.max_file_bytes(64, bits, SHAPE) == latent_format.max_file_bytes(64, bits) == raw_bytes
    for z in (rng.normal(size=64), np.full(64, 2.99), rng.choice([-3.0, 3.0], 64), rng.normal(size=64) * 0.3):
        latent = make(symbols_of(z, bits), bits=bits)
        raw, chosen = pack(latent, "raw"), pack(latent)
        payload = latent_format._pack_range(latent.symbols, UNIT, bits)
        assert len(raw) == raw_bytes
        if len(payload) < raw_bytes - 7:
            assert len(chosen) == 7 + len(payload) and chosen[0] >> 4 & 1
        else:
            assert chosen == raw


def test_max_file_bytes_exact():
    assert latent_format.max_file_bytes(64, 8) == 7 + 64
    assert latent_format.max_file_bytes(8, 3) == 7 + 3  # 24 bits
    assert latent_format.max_file_bytes(100, 5, (64, 64, 3)) == 7 + 63  # 500 bits -> 63 bytes
    assert latent_format.MAX_FILE_BYTES == 7 + 8192


def test_header_is_seven_bytes():
    blob = pack(make(np.zeros(64, dtype=int)), mode="raw")
    assert len(blob) == 7 + 64 and latent_format.payload_span(blob) == (5, len(blob) - 2)
    assert blob[0] == 2 << 5 | 0 << 4 | 7 and blob[1:5] == UNIT.fingerprint
    assert blob[-2:] == binascii.crc_hqx(blob[:-2], 0xFFFF).to_bytes(2, "big")
    header = latent_format.read_header(blob)
    assert (header.fingerprint, header.bits, header.mode, header.start) == (UNIT.fingerprint, 8, "raw", 5)


def test_model_fingerprint_is_the_documented_hash():
    m = model(latent_dim=3, mean=[0.5, -0.25, 0.0], std=[1.0, 0.5, 2.0], shape=(32, 30, 3), z_range=2.5)
    text = (b"ganlib latent model v2" + GEN + bytes([0, 3, 0, 32, 0, 30, 3, 40]) + b"gaussian"
            + np.array([0.5, -0.25, 0.0], ">f8").tobytes() + np.array([1.0, 0.5, 2.0], ">f8").tobytes())
    assert m.fingerprint == hashlib.sha256(text).digest()[:4]


def test_the_fingerprint_covers_generator_shape_range_and_every_prior_number():
    base = model(latent_dim=4, register=False)
    others = [model(latent_dim=4, gen=b"\x01\x02\x03\x05", register=False),
              model(latent_dim=4, shape=(28, 28, 3), register=False),
              model(latent_dim=4, z_range=2.9375, register=False),
              model(latent_dim=5, register=False),
              model(latent_dim=4, mean=[0, 0, 0, 1e-9], register=False),
              model(latent_dim=4, std=[1, 1, 1, 1.0000001], register=False)]
    assert len({base.fingerprint, *(o.fingerprint for o in others)}) == 7


# ---------------------------------------------------------------- the range-coded payload
def test_the_scale_is_chosen_per_file(rng):
    """Latents twice as wide as the prior are coded with a wider scale (about 2): much shorter than
    under scale 1.0, and the payload is no longer than the best scale's whole words."""
    symbols = symbols_of(rng.normal(size=64) * 1.0, 8)
    narrow = model(std=0.5)
    by_scale = [len(latent_format._encode_range(symbols, narrow, 8, k)) for k in range(len(latent_format.SCALES))]
    payload = latent_format._pack_range(symbols, narrow, 8)
    assert len(payload) < min(by_scale) and latent_format.SCALES[int(np.argmin(by_scale))] in (1.59, 2.0)
    assert len(payload) < by_scale[latent_format.SCALES.index(1.0)] - 4


def test_range_payload_is_a_shortest_prefix_of_whole_bytes(rng):
    """No 32-bit word padding or flush: the payload is the coder's output cut to the shortest
    prefix that decodes; one byte less does not decode to the same symbols."""
    saved = []
    for seed in range(30):
        symbols = symbols_of(np.random.default_rng(seed).normal(size=64), 6)
        payload = latent_format._pack_range(symbols, UNIT, 6)
        assert np.array_equal(latent_format._decode_range(payload, UNIT, 6), symbols)
        assert not latent_format._decodes_to(payload[:-1], UNIT, 6, symbols)
        full = min((latent_format._encode_range(symbols, UNIT, 6, k) for k in range(8)), key=len)
        saved.append(len(full) - len(payload))
    assert min(saved) >= 0 and np.mean(saved) >= 1.5  # bytes saved against the best whole-word stream


def test_range_payload_costs_its_information_content(rng):
    """Every byte counted: the payload is at most 1 byte longer than the symbols' code length under the
    model (-log2 of each cell's probability, the end cells with the tails, best scale, + 3 bits of
    scale index); it can be a little shorter, since the cut stream only has to end inside the last
    symbols' interval."""
    from scipy import stats

    m = model(mean=0.1, std=0.7)
    for bits in (4, 6, 8):
        for width in (0.7, 1.4):
            symbols = symbols_of(rng.normal(0.1, width, 64), bits, m)
            d = latent_format.step(bits, 3.0)
            lo, hi = -3.0 + symbols * d, -3.0 + (symbols + 1) * d
            lo[symbols == 0], hi[symbols == (1 << bits) - 1] = -np.inf, np.inf
            ideal = min(-np.log2(stats.norm.cdf(hi, 0.1, 0.7 * s) - stats.norm.cdf(lo, 0.1, 0.7 * s)).sum()
                        for s in latent_format.SCALES) + 3
            assert ideal / 8 - 1.5 <= len(latent_format._pack_range(symbols, m, bits)) <= ideal / 8 + 1


def test_range_mode_must_be_shorter_than_raw():
    narrow = model(std=0.3)
    far = make(symbols_of(np.array([-2.5, 2.5] * 32), 8, narrow), bits=8, m=narrow)
    with pytest.raises(ValueError, match="must be shorter than the raw one"):
        pack(far, "range")
    assert pack(far)[0] >> 4 & 1 == 0
    raw = pack(far, "raw")
    body = bytes([raw[0] | 0x10]) + raw[1:-2]  # the raw payload relabelled as range-coded: as long as raw
    with pytest.raises(latent_format.CodecError, match="not shorter than the raw one"):
        unpack(body + latent_format.checksum(body))


# ---------------------------------------------------------------- models
def test_files_are_decoded_with_their_model_only(rng):
    other = model(std=0.8)
    blob = pack(make(symbols_of(rng.normal(size=64), 8)))
    with pytest.raises(latent_format.CodecError, match=f"made for model {UNIT.fingerprint.hex()}, not for this one"):
        unpack(blob, model=other)
    assert np.array_equal(unpack(blob, model={UNIT.fingerprint: UNIT}).symbols, unpack(blob).symbols)
    with pytest.raises(latent_format.CodecError, match="which is not loaded"):
        unpack(blob, model={})
    stranger = model(std=0.9, register=False)
    with pytest.raises(ValueError, match="not loaded"):
        pack(make(np.zeros(64, dtype=int), m=stranger))
    assert unpack(pack(make(np.zeros(64, dtype=int), m=stranger), model=stranger), model=stranger)


@pytest.mark.parametrize("kwargs,message", [
    ({"latent_dim": 4097}, "1 to 4096"), ({"shape": (4097, 28, 1)}, "shape"), ({"shape": (28, 28, 2)}, "channels"),
    ({"z_range": 3.01}, "z_range"), ({"mean": 3.5}, "means"), ({"std": 0.0}, "standard deviations"),
    ({"std": np.nan}, "standard deviations"), ({"gen": b"\x01"}, "4 bytes")])
def test_models_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model(register=False, **kwargs)


def test_pack_validates():
    with pytest.raises(ValueError, match="bits"):
        pack(make(np.zeros(64, dtype=int), bits=17))
    with pytest.raises(ValueError, match="symbols must lie"):
        pack(make(np.full(64, 4), bits=2))
    with pytest.raises(ValueError, match="latent_dim"):
        pack(make(np.zeros(8, dtype=int)))
    with pytest.raises(ValueError, match="must be the model's"):
        pack(latent_format.LatentFile(UNIT.fingerprint, 8, SHAPE, 2.5, np.zeros(64, dtype=int)))
    with pytest.raises(ValueError, match="mode"):
        pack(make(np.zeros(64, dtype=int)), mode="zip")


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("blob,message", [
    (b"", "too short"),
    (b"\x40" * 6, "too short"),
    (b"\x00" * 40, "checksum"),  # the CRC starts from 0xFFFF: zero bytes fail it
    (b"\xff" * 40, "checksum"),
    (bytes(range(256)) * 40, "longer than any valid latent file"),
])
def test_garbage_is_refused(blob, message):
    with pytest.raises(latent_format.CodecError, match=message):
        unpack(blob)


def test_corruption_and_truncation_are_detected(rng):
    blob = pack(make(symbols_of(rng.normal(size=64), 8)))
    flipped = bytearray(blob)
    flipped[20] ^= 0x10
    with pytest.raises(latent_format.CodecError, match="checksum"):
        unpack(bytes(flipped))
    with pytest.raises(latent_format.CodecError):
        unpack(blob[:-5])


def with_crc(body: bytes) -> bytes:
    return body + latent_format.checksum(body)


def test_version_1_files_are_refused_naming_both_versions():
    """A version-1 file as that format wrote it: magic 0xC7, version 1 | raw | 8 bits, fingerprint,
    latent_dim, height, width, channels, range, payload, CRC-16 from 0 (tests/golden/ has a real one)."""
    body = bytes([0xC7, 1 << 5 | 0 << 4 | 7]) + GEN + bytes([8, 28, 28, 1, 48]) + bytes(range(8))
    v1 = body + binascii.crc_hqx(body, 0).to_bytes(2, "big")
    with pytest.raises(latent_format.CodecError, match=r"^version 1 file; this decoder reads version 2"):
        unpack(v1)
    with pytest.raises(latent_format.CodecError, match="checksum"):  # a damaged version-1 file is just damaged
        unpack(v1[:-1] + bytes([v1[-1] ^ 1]))


def test_other_versions_are_refused():
    body = bytearray(pack(make(np.zeros(64, dtype=int)), mode="raw")[:-2])
    for version in (0, 1, 3, 7):
        body[0] = version << 5 | (body[0] & 0x1F)
        with pytest.raises(latent_format.CodecError, match=f"unsupported format version {version} .*reads version 2"):
            unpack(with_crc(bytes(body)))


# ---- fuzzing: the decoder raises CodecError and nothing else, on any input (>= 10,000 cases)
SMALL = model(latent_dim=16, mean=0.2, std=0.6)
WIDE = model(latent_dim=100)
VALID = [pack(make(symbols_of(np.random.default_rng(i).normal(size=m.latent_dim), b, m), b, m), mode=mode)
         for i, (m, b, mode) in enumerate([(UNIT, 8, None), (UNIT, 8, "raw"), (SMALL, 3, None), (WIDE, 16, None),
                                           (model(latent_dim=1), 1, "raw"), (UNIT, 5, None), (SMALL, 12, None)])]


def test_the_fuzzed_files_include_range_coded_ones():
    assert sum(blob[0] >> 4 & 1 for blob in VALID) >= 4


def _decode_only_codec_error(blob: bytes, verify: bool = True) -> None:
    try:
        f = unpack(blob, verify=verify)
    except latent_format.CodecError:
        return
    assert 1 <= f.bits <= 16 and f.symbols.min() >= 0 and f.symbols.max() < 1 << f.bits


FUZZ = settings(max_examples=3400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(blob):
    _decode_only_codec_error(blob)
    _decode_only_codec_error(bytes([0x40 | blob[0] & 0x1F]) + UNIT.fingerprint + blob[1:] if blob else blob,
                             verify=False)


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
