"""The GAN-reversal latent file format (version 2): the quantizer, the model a file is coded
under (:class:`LatentModel`), and ``pack``/``unpack``.

A file is one byte of format version, coding mode and bits per dimension, the 4-byte fingerprint
of the model it was made for (the generator, image shape, quantizer range and latent prior, none
of which the file stores), the payload (the quantized latent, fixed-length or range-coded under
the prior, whichever is shorter) and a CRC-16: at most ``7 + ceil(latent_dim * bits / 8)``
bytes, never more than :data:`MAX_FILE_BYTES`. ``docs/formats.md`` is the full description, byte
by byte: the fingerprint's hash, the quantizer, both payloads, the limits, and what each part
guards against.
"""
from __future__ import annotations

import binascii
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import constriction
import numpy as np

from ganlib.core import params
from ganlib.formats.interface import CodecError

VERSION = 2
V1_MAGIC = 0xC7  # the first byte of every version-1 file
MODES = ("raw", "range")
HEADER_BYTES = 5  # version/mode/bits byte + model fingerprint
CHECK_BYTES = 2  # CRC-16
CRC_INIT = 0xFFFF  # CRC-16/CCITT-FALSE (version 1 used init 0)
RANGE_UNIT = 16  # the quantizer range is a multiple of 1/16 (hashed in these units)
Z_RANGE = 3.0  # the default quantizer range r: latents are clipped to [-r, r] (the search, the encoder, the prior)
MAX_LATENT_DIM = 4096  # the largest latent_dim a model may have (models.GanConfig's limit)
MAX_SIDE = 4096  # the largest image height or width a model may have
SCALES = (0.5, 0.63, 0.79, 1.0, 1.26, 1.59, 2.0, 2.52)  # per-file widths of the prior (range mode)
FINGERPRINT_TAG = b"ganlib latent model v2"
FAMILY = b"gaussian"


# ---------------------------------------------------------------- quantizer
def step(bits: int, z_range: float) -> float:
    """Quantizer cell width D = 2 r / 2**bits."""
    return 2.0 * z_range / (1 << bits)


def quantize(z: np.ndarray, bits: int, z_range: float) -> np.ndarray:
    """float latents -> int64 symbols in 0 .. 2**bits - 1 (same shape)."""
    s = np.floor((np.asarray(z, dtype=np.float64) + z_range) / step(bits, z_range))
    return np.clip(s, 0, (1 << bits) - 1).astype(np.int64)


def dequantize(symbols: np.ndarray, bits: int, z_range: float) -> np.ndarray:
    """int symbols -> float32 cell centres in (-r, r)."""
    return (-z_range + (np.asarray(symbols, dtype=np.float64) + 0.5) * step(bits, z_range)).astype(np.float32)


def check_range(z_range: float) -> None:
    number = isinstance(z_range, (int, float)) and not isinstance(z_range, bool)
    if not number or not 1 <= (units := z_range * RANGE_UNIT) <= 255 or units != round(units):  # inf, NaN: refused
        raise ValueError(f"z_range={z_range!r} is not allowed; it must be a multiple of 1/16 from 0.0625 to 15.9375")


# ---------------------------------------------------------------- the model a file is made for
def model_fingerprint(generator_fingerprint: bytes, shape: tuple[int, int, int], z_range: float,
                      mean: np.ndarray, std: np.ndarray) -> bytes:
    """The 4-byte model fingerprint of format version 2 (docs/formats.md)."""
    h, w, c = shape
    mean, std = np.asarray(mean, dtype=">f8"), np.asarray(std, dtype=">f8")
    digest = hashlib.sha256(FINGERPRINT_TAG + bytes(generator_fingerprint) + len(mean).to_bytes(2, "big")
                            + h.to_bytes(2, "big") + w.to_bytes(2, "big") + bytes([c, round(z_range * RANGE_UNIT)])
                            + FAMILY + mean.tobytes() + std.tobytes())
    return digest.digest()[:4]


@dataclass(frozen=True, eq=False)
class LatentModel:
    """What a decoder knows besides the file: the model's latent_dim, image shape, quantizer range
    and prior (per-dimension Gaussian ``mean``, ``std``), and their ``fingerprint``
    (:func:`model_fingerprint`). Build one with :meth:`create`; :mod:`ganlib.models.prior` does."""

    fingerprint: bytes
    shape: tuple[int, int, int]  # (H, W, C)
    z_range: float
    mean: np.ndarray = field(repr=False)  # float64 (latent_dim,)
    std: np.ndarray = field(repr=False)
    generator_fingerprint: bytes = b""

    @property
    def latent_dim(self) -> int:
        return len(self.mean)

    @classmethod
    def create(cls, generator_fingerprint: bytes, shape, z_range: float, mean, std) -> LatentModel:
        """Validate and fingerprint a model. ``ValueError`` naming what is not allowed."""
        if len(bytes(generator_fingerprint)) != 4:
            raise ValueError("generator_fingerprint must be 4 bytes")
        h, w, c = (int(v) for v in shape)
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE) or c not in (1, 3):
            raise ValueError(f"shape={tuple(shape)!r} is not allowed; height and width must be 1 to {MAX_SIDE}, "
                             "channels 1 or 3")
        check_range(z_range)
        mean, std = np.array(mean, dtype=np.float64), np.array(std, dtype=np.float64)
        if mean.ndim != 1 or not 1 <= len(mean) <= MAX_LATENT_DIM or std.shape != mean.shape:
            raise ValueError(f"mean and std must be 1-D arrays of the same length, 1 to {MAX_LATENT_DIM}; "
                             f"got shapes {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.abs(mean).max() <= z_range):
            raise ValueError(f"the prior's means must be finite and inside [-{z_range}, {z_range}]")
        if not (np.isfinite(std).all() and std.min() >= 1e-3 and std.max() <= 100):
            raise ValueError("the prior's standard deviations must be from 0.001 to 100")
        mean.setflags(write=False)
        std.setflags(write=False)
        fp = model_fingerprint(bytes(generator_fingerprint), (h, w, c), float(z_range), mean, std)
        return cls(fp, (h, w, c), float(z_range), mean, std, bytes(generator_fingerprint))


# ---------------------------------------------------------------- container
@dataclass(frozen=True)
class LatentFile:
    """The decoded content of a latent file. ``symbols``: int64 (latent_dim,). ``fingerprint`` is
    the model's; ``shape`` and ``z_range`` are the model's (not stored in the file)."""

    fingerprint: bytes
    bits: int
    shape: tuple[int, int, int]  # (H, W, C)
    z_range: float
    symbols: np.ndarray

    @property
    def latent_dim(self) -> int:
        return len(self.symbols)


def raw_payload_bytes(latent_dim: int, bits: int) -> int:
    """Length of a raw payload: ``ceil(latent_dim * bits / 8)``."""
    return (latent_dim * bits + 7) // 8


def _pack_raw(symbols: np.ndarray, bits: int) -> bytes:
    """Symbols -> ``bits`` bits each, most significant first, zero-padded to a byte (numpy: linear time)."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    bitmap = (np.asarray(symbols, dtype=np.int64)[:, None] >> shifts) & 1
    return np.packbits(bitmap.astype(np.uint8).ravel()).tobytes()


def _unpack_raw(payload: bytes, bits: int, n: int) -> np.ndarray:
    """The inverse of :func:`_pack_raw`, linear in the payload's length."""
    if len(payload) != raw_payload_bytes(n, bits):
        raise CodecError(f"payload is {len(payload)} bytes; {n} symbols of {bits} bits need "
                         f"{raw_payload_bytes(n, bits)}")
    bitmap = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[:n * bits].reshape(n, bits)
    return bitmap.astype(np.int64) @ (np.int64(1) << np.arange(bits - 1, -1, -1, dtype=np.int64))


def range_parameters(model: LatentModel, bits: int, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-dimension (means, stds) of ``QuantizedGaussian(0, 2**bits - 1)`` in symbol units,
    for scale index ``scale`` (float64, as the format defines them)."""
    d = step(bits, model.z_range)
    return (model.mean + model.z_range) / d - 0.5, SCALES[scale] * model.std / d


def _encode_range(symbols: np.ndarray, model: LatentModel, bits: int, scale: int) -> bytes:

    cs = constriction.stream
    encoder = cs.queue.RangeEncoder()
    encoder.encode(np.array([scale], dtype=np.int32), cs.model.Uniform(len(SCALES)))
    encoder.encode(symbols.astype(np.int32), cs.model.QuantizedGaussian(0, (1 << bits) - 1),
                   *range_parameters(model, bits, scale))
    return encoder.get_compressed().astype(">u4").tobytes()


def _decode_range(payload: bytes, model: LatentModel, bits: int, table: list | None = None) -> np.ndarray:
    """Range-coded payload -> symbols (int64); :class:`CodecError` if the coder refuses it. ``table``:
    :func:`range_parameters` of every scale index, when the caller has them (the packer's search)."""

    cs = constriction.stream
    padded = bytes(payload) + bytes(-len(payload) % 4 + 8)  # zero bytes to a whole word, then two zero words
    words = np.frombuffer(padded, dtype=">u4").astype(np.uint32)
    try:
        decoder = cs.queue.RangeDecoder(words)
        scale = int(decoder.decode(cs.model.Uniform(len(SCALES)), 1)[0])
        if not 0 <= scale < len(SCALES):
            raise CodecError(f"invalid scale index {scale}")
        means, stds = table[scale] if table is not None else range_parameters(model, bits, scale)
        symbols = decoder.decode(cs.model.QuantizedGaussian(0, (1 << bits) - 1), means, stds)
    except CodecError:
        raise
    except Exception as exc:  # noqa: BLE001 - any coder failure means a corrupted payload
        raise CodecError(f"corrupted payload ({params.one_line(exc)})") from None
    return np.asarray(symbols, dtype=np.int64)


def _decodes_to(payload: bytes, model: LatentModel, bits: int, symbols: np.ndarray, table: list | None = None) -> bool:
    try:
        decoded = _decode_range(payload, model, bits, table)
    except CodecError:
        return False
    return decoded.shape == symbols.shape and bool((decoded == symbols).all())


def _shortest_prefix(full: bytes, model: LatentModel, bits: int, symbols: np.ndarray, table: list | None = None
                     ) -> bytes:
    """The shortest prefix of the coder's output (its last byte as is, or rounded up) that still
    decodes to ``symbols``: shorter prefixes are tried until neither variant decodes."""
    best = full
    for k in range(len(full) - 1, -1, -1):
        candidates = [full[:k]]
        up = int.from_bytes(full[:k], "big") + 1
        if k and up < 1 << (8 * k):
            candidates.append(up.to_bytes(k, "big"))
        good = next((c for c in candidates if _decodes_to(c, model, bits, symbols, table)), None)
        if good is None:
            break
        best = good
    return best


def _pack_range(symbols: np.ndarray, model: LatentModel, bits: int) -> bytes:
    """The shortest range-coded payload over every scale (the lowest index on a tie)."""
    full = [_encode_range(symbols, model, bits, k) for k in range(len(SCALES))]
    table = [range_parameters(model, bits, k) for k in range(len(SCALES))]
    shortest = min(len(f) for f in full)
    out = None
    for f in full:  # cutting saves at most the flush (< 2 words): only near-shortest streams can win
        if len(f) <= shortest + 8:
            cut = _shortest_prefix(f, model, bits, symbols, table)
            if out is None or len(cut) < len(out):
                out = cut
    return out


def resolve(fingerprint: bytes, model) -> LatentModel:
    """The model of a file: ``model`` (a :class:`LatentModel`, or a mapping fingerprint -> model).
    :class:`CodecError` if it is not the file's."""
    fingerprint = bytes(fingerprint)
    if isinstance(model, LatentModel):
        if model.fingerprint != fingerprint:
            raise CodecError(f"file was made for model {fingerprint.hex()}, not for this one "
                             f"({model.fingerprint.hex()})")
        return model
    if not isinstance(model, Mapping):
        raise TypeError(f"model must be a LatentModel or a mapping fingerprint -> LatentModel, not {type(model)}")
    found = model.get(fingerprint)
    if found is None:
        raise CodecError(f"file was made for model {fingerprint.hex()}, which is not loaded (a generator with its "
                         "prior: ganlib.codecs.gan.GanCodec(G, prior=...))")
    return found


def pack(latent: LatentFile, model: LatentModel, mode: str | None = None) -> bytes:
    """LatentFile -> bytes. ``mode`` None picks the shorter of raw and range coding (raw on a tie);
    ``"range"`` is refused when it is not shorter (such a file would not be valid). ``model``:
    the model of ``latent.fingerprint``."""
    params.int_range("bits", latent.bits, 1, 16)
    if mode is not None:
        params.choice("mode", mode, MODES)
    if len(latent.fingerprint) != 4:
        raise ValueError("fingerprint must be 4 bytes")
    try:
        model = resolve(latent.fingerprint, model)
    except CodecError as exc:
        raise ValueError(str(exc)) from None
    symbols = np.asarray(latent.symbols, dtype=np.int64)
    if symbols.shape != (model.latent_dim,):
        raise ValueError(f"symbols must be a 1-D array of the model's latent_dim ({model.latent_dim}) values; "
                         f"got shape {symbols.shape}")
    if tuple(latent.shape) != model.shape or latent.z_range != model.z_range:
        raise ValueError(f"shape {tuple(latent.shape)} and z_range {latent.z_range} must be the model's "
                         f"({model.shape}, {model.z_range})")
    if symbols.min() < 0 or symbols.max() >= 1 << latent.bits:
        raise ValueError(f"symbols must lie in 0..{(1 << latent.bits) - 1} for bits={latent.bits}")
    payload = _pack_raw(symbols, latent.bits)
    if mode != "raw":
        ranged = _pack_range(symbols, model, latent.bits)
        if len(ranged) < len(payload):
            payload, mode = ranged, "range"
        elif mode == "range":
            raise ValueError(f"range coding takes {len(ranged)} bytes for these symbols, raw {len(payload)}; "
                             "a range-coded payload must be shorter than the raw one")
    mode = mode or "raw"
    body = bytes([VERSION << 5 | MODES.index(mode) << 4 | (latent.bits - 1)]) + latent.fingerprint + payload
    return body + checksum(body)


def checksum(body: bytes) -> bytes:
    """The 2 bytes that end a file whose other bytes are ``body``."""
    return binascii.crc_hqx(body, CRC_INIT).to_bytes(2, "big")


def _is_version_1(data: bytes) -> bool:
    return (data[0] == V1_MAGIC and data[1] >> 5 == 1
            and binascii.crc_hqx(data[:-2], 0) == int.from_bytes(data[-2:], "big"))


def payload_span(data: bytes) -> tuple[int, int]:
    """(start, end) byte offsets of the payload in a latent file."""
    return HEADER_BYTES, len(data) - CHECK_BYTES


@dataclass(frozen=True)
class Header:
    """What a latent file's header says: ``fingerprint`` (the model's), ``bits``, ``mode`` and
    where the payload starts (``start``; it ends 2 bytes before the end of the file)."""

    fingerprint: bytes
    bits: int
    mode: str
    start: int = HEADER_BYTES


def read_header(data: bytes, verify: bool = True) -> Header:
    """Parse and check a latent file's header without decoding its payload: the length bounds,
    the checksum (linear in a length bounded by :data:`MAX_FILE_BYTES`) and the version.
    :class:`CodecError` for anything a valid file cannot be. ``verify=False`` skips the checksum
    (used only by the bit-error experiment)."""
    data = bytes(data)
    if len(data) < HEADER_BYTES + CHECK_BYTES:
        raise CodecError(f"file of {len(data)} bytes is too short to be a latent file")
    if len(data) > MAX_FILE_BYTES:
        raise CodecError(f"file of {len(data):,} bytes is longer than any valid latent file "
                         f"(at most {MAX_FILE_BYTES:,} bytes)")
    if _is_version_1(data):
        raise CodecError(f"version 1 file; this decoder reads version {VERSION} only (compress the image again)")
    if verify and checksum(data[:-2]) != data[-2:]:
        raise CodecError("file is corrupted or truncated, or not a latent file (checksum mismatch)")
    version, mode, bits = data[0] >> 5, (data[0] >> 4) & 1, (data[0] & 0x0F) + 1
    if version != VERSION:
        raise CodecError(f"unsupported format version {version} (this decoder reads version {VERSION})")
    return Header(data[1:5], bits, MODES[mode])


def unpack(data: bytes, model, verify: bool = True, expect=None) -> LatentFile:
    """bytes -> LatentFile, or :class:`CodecError`. ``verify=False`` skips the checksum
    (used only by the bit-error experiment). ``expect``, if given, is called with the
    :class:`Header` before the payload is decoded and may raise :class:`CodecError` (a decoder
    refuses a file made for another model there). ``model``: a :class:`LatentModel` or a mapping
    fingerprint -> model."""
    data = bytes(data)
    header = read_header(data, verify)
    if expect is not None:
        expect(header)
    model = resolve(header.fingerprint, model)
    payload = data[header.start:-CHECK_BYTES]
    raw = raw_payload_bytes(model.latent_dim, header.bits)
    if header.mode == "raw":
        symbols = _unpack_raw(payload, header.bits, model.latent_dim)
    elif len(payload) >= raw:
        raise CodecError(f"range-coded payload of {len(payload)} bytes is not shorter than the raw one ({raw})")
    else:
        symbols = _decode_range(payload, model, header.bits)
    return LatentFile(header.fingerprint, header.bits, model.shape, model.z_range, symbols)


def max_file_bytes(latent_dim: int, bits: int, shape: tuple[int, int, int] | None = None) -> int:
    """Upper bound on a latent file's size (the raw-mode size): ``7 + ceil(latent_dim * bits / 8)``.
    ``shape`` is accepted for compatibility (version 1 stored it; version 2 does not)."""
    return HEADER_BYTES + CHECK_BYTES + math.ceil(latent_dim * bits / 8)


MAX_FILE_BYTES = max_file_bytes(MAX_LATENT_DIM, 16)  # 8,199
