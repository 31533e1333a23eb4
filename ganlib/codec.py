"""The codec interface, and the GAN-reversal latent file format.

Every scheme (baselines and GAN reversal) is a :class:`Codec`: ``encode(image) -> bytes``,
``decode(bytes) -> image``, a ``name`` and a ``param``. Images are uint8 (H, W, C).

Latent file format, version 1 (integers big-endian; "varint" is unsigned LEB128)::

    offset  size  field
    0       1     magic 0xC7
    1       1     version (bits 7-5, = 1) | coding mode (bit 4: 0 raw, 1 range-coded)
                  | bits per dimension - 1 (bits 3-0: 1..16 bits)
    2       4     generator fingerprint: first 4 bytes of SHA-256 over its weights
    6       v     latent_dim            (varint; 1 byte below 128)
    .       v     image height          (varint)
    .       v     image width           (varint)
    .       1     image channels        (1 or 3)
    .       1     quantizer range r in 1/16 units (z is clipped to [-r, r]; 1..255)
    .       n     payload
    end-2   2     CRC-16/CCITT (binascii.crc_hqx, init 0) of every byte before it

For a 28x28x1 image and latent_dim 64 the header and checksum take 13 bytes.

Quantizer: L = 2**bits cells of width D = 2r/L over [-r, r]; symbol
s = clip(floor((z + r) / D), 0, L - 1) decodes to the cell centre -r + (s + 1/2) D.

Payload, mode 0 (raw): the latent_dim symbols, ``bits`` bits each, most significant bit
first, zero-padded to a whole byte. Mode 1 (range-coded): the symbols coded with
constriction's range coder (``stream.queue``) under the prior N(0, 1) of z quantized to
the same cells (``QuantizedGaussian(0, L-1, mean=(L-1)/2, std=1/D)``); the payload is
the coder's 32-bit words, little-endian. The encoder writes whichever mode is shorter,
so a file never exceeds ``13 + ceil(latent_dim * bits / 8)`` bytes (small images).

Limits: what a file may claim, checked before any payload is decoded. latent_dim is 1 to
:data:`MAX_LATENT_DIM` (4096, the largest latent a generator may have), height and width 1 to
:data:`MAX_SIDE` (4096). A raw payload is exactly ``ceil(latent_dim * bits / 8)`` bytes; a
range-coded one at most ``4 * (ceil(24 * latent_dim / 32) + 2)`` bytes (the coder's 24-bit
precision bounds any symbol's cost). So no valid file exceeds :data:`MAX_FILE_BYTES`
(12,312 bytes); a longer one is refused unread, and decoding any file is bounded work
(linear in its length). :func:`read_header` parses and checks the header alone, so a decoder
can refuse a file made for another generator before touching its payload
(``unpack(data, expect=check)``).
"""
from __future__ import annotations

import binascii
import math
from dataclasses import dataclass

import numpy as np

from . import params

MAGIC = 0xC7
VERSION = 1
MODES = ("raw", "range")
RANGE_UNIT = 16  # quantizer range stored in 1/16 units
MAX_LATENT_DIM = 4096  # the largest latent_dim a file may claim (models.GanConfig's limit)
MAX_SIDE = 4096  # the largest image height or width a file may claim


class CodecError(ValueError):
    """A byte string is not a valid file for this codec (truncated, corrupted, foreign,
    or made with another generator)."""


class Codec:
    """One compression scheme: ``encode(image) -> bytes`` and ``decode(bytes) -> image``.

    ``name`` identifies the scheme, ``param`` its quality/size knob (or None);
    ``id`` is the two run together (``jpeg1``, ``kmeans4``, ``gan8``).
    Images are uint8 arrays (H, W, C) with C = 1 or 3.
    """

    name: str = ""
    param: int | None = None
    version: str = ""  # library version that does the coding

    @property
    def id(self) -> str:
        return self.name if self.param is None else f"{self.name}{self.param}"

    def encode(self, image: np.ndarray) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def payload_span(self, data: bytes) -> tuple[int, int]:
        """(start, end) of the entropy-coded payload in a file of this codec; the rest is
        container and headers. Default: the whole file."""
        return 0, len(data)

    def payload_bytes(self, data: bytes) -> int:
        start, end = self.payload_span(data)
        return end - start

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id})"


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
    units = z_range * RANGE_UNIT
    if isinstance(z_range, bool) or not isinstance(z_range, (int, float)) or units != round(units) or not 1 <= units <= 255:
        raise ValueError(f"z_range={z_range!r} is not allowed; it must be a multiple of 1/16 from 0.0625 to 15.9375")


# ---------------------------------------------------------------- container
@dataclass(frozen=True)
class LatentFile:
    """The decoded content of a latent file. ``symbols``: int64 (latent_dim,)."""

    fingerprint: bytes
    bits: int
    shape: tuple[int, int, int]  # (H, W, C)
    z_range: float
    symbols: np.ndarray

    @property
    def latent_dim(self) -> int:
        return len(self.symbols)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    for i in range(pos, min(len(data), pos + 3)):  # at most 3 bytes: values < 2**21
        n |= (data[i] & 0x7F) << shift
        shift += 7
        if not data[i] & 0x80:
            return n, i + 1
    raise CodecError("truncated or corrupted header (bad varint)")


def _gaussian_model(bits: int, z_range: float):
    import constriction

    levels = 1 << bits
    return constriction.stream.model.QuantizedGaussian(0, levels - 1, (levels - 1) / 2, 1.0 / step(bits, z_range))


def raw_payload_bytes(latent_dim: int, bits: int) -> int:
    """Length of a raw payload: ``ceil(latent_dim * bits / 8)``."""
    return (latent_dim * bits + 7) // 8


def max_range_payload_bytes(latent_dim: int) -> int:
    """Upper bound on a range-coded payload: 24 bits per symbol (the coder's precision), whole
    32-bit words, plus two words of flush."""
    return 4 * (-(-24 * latent_dim // 32) + 2)


def _pack_raw(symbols: np.ndarray, bits: int) -> bytes:
    """Symbols -> ``bits`` bits each, most significant first, zero-padded to a byte (numpy: linear time)."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    bitmap = (np.asarray(symbols, dtype=np.int64)[:, None] >> shifts) & 1
    return np.packbits(bitmap.astype(np.uint8).ravel()).tobytes()


def _unpack_raw(payload: bytes, bits: int, n: int) -> np.ndarray:
    """The inverse of :func:`_pack_raw`, linear in the payload's length."""
    if len(payload) != raw_payload_bytes(n, bits):
        raise CodecError(f"payload is {len(payload)} bytes; {n} symbols of {bits} bits need {raw_payload_bytes(n, bits)}")
    bitmap = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))[:n * bits].reshape(n, bits)
    return bitmap.astype(np.int64) @ (np.int64(1) << np.arange(bits - 1, -1, -1, dtype=np.int64))


def _pack_range(symbols: np.ndarray, bits: int, z_range: float) -> bytes:
    import constriction

    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.astype(np.int32), _gaussian_model(bits, z_range))
    return encoder.get_compressed().astype("<u4").tobytes()


def _unpack_range(payload: bytes, bits: int, z_range: float, n: int) -> np.ndarray:
    import constriction

    if len(payload) % 4:
        raise CodecError(f"range-coded payload of {len(payload)} bytes is not a whole number of 32-bit words")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
        symbols = decoder.decode(_gaussian_model(bits, z_range), n)
    except Exception as exc:  # noqa: BLE001 - any coder failure means a corrupted payload
        raise CodecError(f"corrupted payload ({exc})") from None
    return np.asarray(symbols, dtype=np.int64)


def pack(latent: LatentFile, mode: str | None = None) -> bytes:
    """LatentFile -> bytes. ``mode`` None picks the shorter of raw and range coding."""
    params.int_range("bits", latent.bits, 1, 16)
    check_range(latent.z_range)
    h, w, c = latent.shape
    params.choice("channels", c, (1, 3))
    symbols = np.asarray(latent.symbols, dtype=np.int64)
    if symbols.ndim != 1 or not 1 <= len(symbols) <= MAX_LATENT_DIM:
        raise ValueError(f"symbols must be a 1-D array of 1 to {MAX_LATENT_DIM} values; got shape {symbols.shape}")
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"shape={latent.shape!r} is not allowed; height and width must be 1 to {MAX_SIDE}")
    if symbols.min() < 0 or symbols.max() >= 1 << latent.bits:
        raise ValueError(f"symbols must lie in 0..{(1 << latent.bits) - 1} for bits={latent.bits}")
    if len(latent.fingerprint) != 4:
        raise ValueError("fingerprint must be 4 bytes")
    payloads = {"raw": _pack_raw(symbols, latent.bits)}
    if mode != "raw":
        payloads["range"] = _pack_range(symbols, latent.bits, latent.z_range)
    if mode is None:
        mode = min(payloads, key=lambda m: len(payloads[m]))
    params.choice("mode", mode, MODES)
    body = (bytes([MAGIC, VERSION << 5 | MODES.index(mode) << 4 | (latent.bits - 1)]) + latent.fingerprint
            + _varint(len(symbols)) + _varint(h) + _varint(w) + bytes([c, round(latent.z_range * RANGE_UNIT)])
            + payloads[mode])
    return body + binascii.crc_hqx(body, 0).to_bytes(2, "big")


def _read_dims(data: bytes) -> tuple[tuple[int, int, int], int]:
    """(latent_dim, height, width) and the offset where the payload starts."""
    values, pos = [], 6
    for _ in range(3):
        value, pos = _read_varint(data, pos)
        values.append(value)
    if pos + 2 > len(data) - 2:
        raise CodecError("truncated header")
    return tuple(values), pos + 2


def payload_span(data: bytes) -> tuple[int, int]:
    """(start, end) byte offsets of the payload in a latent file."""
    return _read_dims(data)[1], len(data) - 2


@dataclass(frozen=True)
class Header:
    """What a latent file's header claims, checked for consistency by :func:`read_header`.
    Has the attributes a decoder compares with its generator: ``fingerprint``, ``latent_dim``,
    ``shape``, ``bits``, ``z_range`` (the same names as :class:`LatentFile`)."""

    fingerprint: bytes
    bits: int
    mode: str
    latent_dim: int
    shape: tuple[int, int, int]  # (H, W, C)
    z_range: float
    start: int  # payload offset; the payload ends 2 bytes before the end


def read_header(data: bytes, verify: bool = True) -> Header:
    """Parse and check a latent file's header without decoding its payload: constant work
    after the checksum (which is linear in the length, and the length is bounded by
    :data:`MAX_FILE_BYTES`). :class:`CodecError` for anything a valid file cannot be.
    ``verify=False`` skips the checksum (used only by the bit-error experiment)."""
    data = bytes(data)
    if len(data) < 12:
        raise CodecError(f"file of {len(data)} bytes is too short to be a latent file")
    if data[0] != MAGIC:
        raise CodecError("not a GAN-reversal latent file (bad magic byte)")
    if len(data) > MAX_FILE_BYTES:
        raise CodecError(f"file of {len(data):,} bytes is longer than any valid latent file "
                         f"(at most {MAX_FILE_BYTES:,} bytes)")
    if verify and binascii.crc_hqx(data[:-2], 0) != int.from_bytes(data[-2:], "big"):
        raise CodecError("file is corrupted or truncated (checksum mismatch)")
    version, mode, bits = data[1] >> 5, (data[1] >> 4) & 1, (data[1] & 0x0F) + 1
    if version != VERSION:
        raise CodecError(f"unsupported format version {version} (this decoder reads version {VERSION})")
    (n, h, w), start = _read_dims(data)
    c, units = data[start - 2], data[start - 1]
    if not (1 <= n <= MAX_LATENT_DIM and 1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE) or c not in (1, 3) or units < 1:
        raise CodecError(f"invalid header (latent_dim={n}, shape={h}x{w}x{c}, range units={units}; a file may "
                         f"claim latent_dim 1 to {MAX_LATENT_DIM}, sides 1 to {MAX_SIDE}, 1 or 3 channels)")
    size = len(data) - 2 - start
    if mode == 0 and size != raw_payload_bytes(n, bits):
        raise CodecError(f"payload is {size} bytes; {n} symbols of {bits} bits need {raw_payload_bytes(n, bits)}")
    if mode == 1 and size % 4:
        raise CodecError(f"range-coded payload of {size} bytes is not a whole number of 32-bit words")
    if mode == 1 and size > max_range_payload_bytes(n):
        raise CodecError("payload is longer than any encoding of this header")
    return Header(data[2:6], bits, MODES[mode], n, (h, w, c), units / RANGE_UNIT, start)


def unpack(data: bytes, verify: bool = True, expect=None) -> LatentFile:
    """bytes -> LatentFile, or :class:`CodecError`. ``verify=False`` skips the checksum
    (used only by the bit-error experiment). ``expect``, if given, is called with the
    :class:`Header` before the payload is decoded and may raise :class:`CodecError`
    (a decoder refuses a file made for another generator there)."""
    data = bytes(data)
    header = read_header(data, verify)
    if expect is not None:
        expect(header)
    payload = data[header.start:-2]
    if header.mode == "raw":
        symbols = _unpack_raw(payload, header.bits, header.latent_dim)
    else:
        symbols = _unpack_range(payload, header.bits, header.z_range, header.latent_dim)
    return LatentFile(header.fingerprint, header.bits, header.shape, header.z_range, symbols)


def max_file_bytes(latent_dim: int, bits: int, shape: tuple[int, int, int]) -> int:
    """Upper bound on a latent file's size (the raw-mode size)."""
    header = 1 + 1 + 4 + len(_varint(latent_dim)) + len(_varint(shape[0])) + len(_varint(shape[1])) + 2 + 2
    return header + math.ceil(latent_dim * bits / 8)


# the longest header (three 2-byte varints: values up to 4096 < 2**14) + the longer payload + CRC
MAX_FILE_BYTES = (1 + 1 + 4 + 3 * 2 + 2) + max(raw_payload_bytes(MAX_LATENT_DIM, 16),
                                                max_range_payload_bytes(MAX_LATENT_DIM)) + 2
