"""The layered file format (version 1): a GAN-reversal latent file as base layer, an enhancement
layer after it, or a lossless fallback; self-describing, so one decoder reads latent and layered
files alike and knows which enhancement coder a file needs.

A layered file is a marker byte ``0xE0 | kind`` (its top three bits 111, which no latent file's
first byte has: those are 010 in version 2 and 110 in version 1), then by kind:

- ``base`` (0): n (1 byte), the base layer (a latent file of n bytes, with its own header,
  model fingerprint and checksum);
- ``learned`` (1): n, the base layer, the 2-byte fingerprint of the residual coder, the coder's bytes;
- ``webp`` (2): n, the base layer, a WebP image of the residual;
- ``lossless`` (3): a PNG of the image (no base layer);

and a CRC-16 (CCITT-FALSE, as the latent format's) of every byte before it. ``docs/formats.md``
describes it byte by byte; :mod:`ganlib.codecs.residual` codes and decodes the layers.
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass

from ganlib.formats import latent_format
from ganlib.formats.interface import CodecError

MARKER = 0xE0  # the first byte's top three bits; its low bits hold the kind
KINDS = ("base", "learned", "webp", "lossless")
CODER_BYTES = 2  # the residual coder's fingerprint (kind learned)
CHECK_BYTES = 2
MAX_BASE_BYTES = 255
MAX_FILE_BYTES = 1 << 24  # 16 MiB: a lossless PNG of a 2048 x 2048 RGB image fits
SUFFIX = ".grl"


def is_layered(data: bytes) -> bool:
    """Whether ``data`` starts like a layered file (its first byte's top three bits are 111)."""
    return bool(data) and data[0] & 0xE0 == MARKER


@dataclass(frozen=True)
class LayeredFile:
    """A layered file's parts: ``kind`` (one of :data:`KINDS`), the ``base`` latent file (empty for
    lossless), the residual ``coder``'s fingerprint (kind learned only, else empty) and the
    ``enhancement`` bytes (the PNG for lossless)."""

    kind: str
    base: bytes = b""
    enhancement: bytes = b""
    coder: bytes = b""


def pack(f: LayeredFile) -> bytes:
    """The bytes of a layered file; ValueError if its parts do not fit the format."""
    if f.kind not in KINDS:
        raise ValueError(f"kind={f.kind!r} is not allowed; choose one of: {', '.join(KINDS)}")
    if (f.kind == "learned") != (len(f.coder) == CODER_BYTES) or (f.kind != "learned" and f.coder):
        raise ValueError(f"a {f.kind} layer needs a coder fingerprint of {CODER_BYTES} bytes only with kind learned; "
                         f"got {len(f.coder)}")
    if f.kind == "lossless":
        if f.base:
            raise ValueError("a lossless file has no base layer")
        body = bytes([MARKER | KINDS.index(f.kind)]) + bytes(f.enhancement)
    else:
        if not 0 < len(f.base) <= MAX_BASE_BYTES:
            raise ValueError(f"a base layer of {len(f.base)} bytes does not fit the layered format (1 to 255)")
        if f.kind == "base" and f.enhancement:
            raise ValueError("a base-only file has no enhancement layer")
        head = bytes([MARKER | KINDS.index(f.kind), len(f.base)])
        body = head + bytes(f.base) + bytes(f.coder) + bytes(f.enhancement)
    if len(body) + CHECK_BYTES > MAX_FILE_BYTES:
        raise ValueError(f"a layered file of {len(body) + CHECK_BYTES:,} bytes is longer than the format allows "
                         f"({MAX_FILE_BYTES:,})")
    return body + binascii.crc_hqx(body, latent_format.CRC_INIT).to_bytes(CHECK_BYTES, "big")


def unpack(data: bytes) -> LayeredFile:
    """A layered file's parts, checked: marker, kind, lengths and checksum (CodecError naming what
    is wrong otherwise). The base layer's own header is the latent decoder's to check."""
    data = bytes(data)
    if len(data) > MAX_FILE_BYTES:
        raise CodecError(f"layered file of {len(data):,} bytes is longer than the format allows ({MAX_FILE_BYTES:,})")
    if not is_layered(data):
        raise CodecError("not a layered file (first byte " + (f"{data[0]:#04x}" if data else "missing")
                         + f"; a layered file starts with {MARKER:#04x} to {MARKER | 0x1F:#04x})")
    kind = data[0] & 0x1F
    if kind >= len(KINDS):
        raise CodecError(f"layered file of unknown kind {kind} (this decoder reads {', '.join(KINDS)})")
    if len(data) < 1 + CHECK_BYTES + (kind != 3):
        raise CodecError(f"truncated layered file ({len(data)} bytes)")
    body, check = data[:-CHECK_BYTES], int.from_bytes(data[-CHECK_BYTES:], "big")
    if binascii.crc_hqx(body, latent_format.CRC_INIT) != check:
        raise CodecError("layered file checksum mismatch (the file is corrupted)")
    name = KINDS[kind]
    if name == "lossless":
        return LayeredFile(name, enhancement=body[1:])
    n = body[1]
    coder = CODER_BYTES if name == "learned" else 0
    if n == 0 or 2 + n + coder > len(body):
        raise CodecError(f"truncated layered file: {len(data)} bytes, base layer of {n} bytes announced")
    rest = body[2 + n:]
    if name == "base" and rest:
        raise CodecError(f"a base-only layered file with {len(rest)} bytes after its base layer")
    return LayeredFile(name, body[2:2 + n], rest[coder:], rest[:coder])
