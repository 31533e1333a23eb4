"""Channel bit errors: flip random bits in the entropy-coded payload of a file.

Used to test the claim (Santurkar et al. 2017) that generative compression degrades
gracefully under bit errors where variable-length codes collapse. Headers are left intact
(as a channel code protecting them would); only the payload is hit.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import codec, metrics


def payload_span(kind: str, data: bytes) -> tuple[int, int]:
    """(start, end) byte offsets of the entropy-coded payload of a file.

    ``gan``: between the header and the 2-byte checksum; ``jpeg``: after the SOS segment
    header up to the EOI marker; ``webp``: the VP8 bitstream after its 10-byte frame header.
    """
    if kind == "gan":
        return codec.payload_span(data)
    if kind == "jpeg":
        sos = data.find(b"\xff\xda")
        if sos < 0:
            raise ValueError("no SOS marker: not a baseline JPEG")
        start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
        return start, len(data) - 2
    if kind == "webp":
        chunk = data.find(b"VP8 ")
        if chunk < 0:
            raise ValueError("no 'VP8 ' chunk: not a lossy WebP")
        return chunk + 8 + 10, len(data)
    raise ValueError(f"kind={kind!r} is not allowed; choose one of: gan, jpeg, webp")


def flip_bits(data: bytes, ber: float, rng: np.random.Generator, span: tuple[int, int]) -> bytes:
    """Flip each bit of ``data[start:end]`` independently with probability ``ber``."""
    start, end = span
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    hits = rng.random((end - start) * 8) < ber
    if hits.any():
        buf[start:end] ^= np.packbits(hits)
    return buf.tobytes()


def bit_error_trials(decode: Callable[[bytes], np.ndarray], kind: str, blobs: Sequence[bytes],
                     originals: np.ndarray, bers: Sequence[float], trials: int, seed: int = 0) -> list[dict]:
    """Decode every file after random payload bit flips, ``trials`` times per bit-error rate.
    A file that raises while decoding, or decodes to the wrong shape, is a failure.
    Returns rows: ber, trial, image, ok, ssim (NaN on failure)."""
    rng = np.random.default_rng(seed)
    rows = []
    for ber in bers:
        for trial in range(trials):
            for i, (blob, original) in enumerate(zip(blobs, originals)):
                hit = flip_bits(blob, ber, rng, payload_span(kind, blob))
                try:
                    image = decode(hit)
                    ok = image.shape == original.shape
                except Exception:  # noqa: BLE001 - any decoder failure counts as a failed decode
                    ok = False
                rows.append({"ber": ber, "trial": trial, "image": i, "ok": ok,
                             "ssim": metrics.ssim(original, image) if ok else np.nan})
    return rows
