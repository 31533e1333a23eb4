"""Channel bit errors: flip random bits in the entropy-coded payload of a file.

Used to test the claim (Santurkar et al. 2017) that generative compression degrades
gracefully under bit errors where variable-length codes collapse. Headers are left intact
(as a channel code protecting them would); only the payload (``Codec.payload_span``) is hit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ganlib.evaluation import metrics


def flip_bits(data: bytes, ber: float, rng: np.random.Generator, span: tuple[int, int]) -> bytes:
    """Flip each bit of ``data[start:end]`` independently with probability ``ber``."""
    start, end = span
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    hits = rng.random((end - start) * 8) < ber
    if hits.any():
        buf[start:end] ^= np.packbits(hits)
    return buf.tobytes()


def bit_error_trials(decode: Callable[[bytes], np.ndarray], span: Callable[[bytes], tuple[int, int]],
                     blobs: Sequence[bytes], originals: np.ndarray, bers: Sequence[float], trials: int,
                     seed: int = 0) -> list[dict]:
    """Decode every file after random bit flips in ``span(file)``, ``trials`` times per bit-error
    rate. A file that raises while decoding, or decodes to the wrong shape, is a failure.
    Returns rows: ber, trial, image, ok, ssim (NaN on failure)."""
    rng = np.random.default_rng(seed)
    rows = []
    for ber in bers:
        for trial in range(trials):
            for i, (blob, original) in enumerate(zip(blobs, originals)):
                hit = flip_bits(blob, ber, rng, span(blob))
                try:
                    image = decode(hit)
                    ok = image.shape == original.shape
                except Exception:  # noqa: BLE001 - any decoder failure counts as a failed decode
                    ok = False
                rows.append({"ber": ber, "trial": trial, "image": i, "ok": ok,
                             "ssim": metrics.ssim(original, image) if ok else np.nan})
    return rows
