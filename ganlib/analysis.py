"""Evaluation as library code: the encode -> file -> read back -> decode -> score loop that
03_invert and 04_baselines share, and the tables and studies of 05_results.

Images are uint8 arrays (N, H, W, C); every rate is the length of the bytes a decoder reads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from . import files, metrics
from .codec import Codec


def score_files(codec: Codec, blobs: Sequence[bytes], originals: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Decode every file and score it against its original. Returns one row per file
    (``payload_bytes`` and :func:`ganlib.metrics.score`'s keys) and the decoded images (N, H, W, C)."""
    decoded = np.stack([codec.decode(blob) for blob in blobs])
    rows = [{"payload_bytes": codec.payload_bytes(blob), **metrics.score(o, d, len(blob))}
            for o, d, blob in zip(originals, decoded, blobs)]
    return rows, decoded


def write_and_score(codec: Codec, blobs: Sequence[bytes], originals: np.ndarray, paths: Sequence[Path]
                    ) -> tuple[list[dict], np.ndarray]:
    """Write each file atomically to its path, read it back from disk and :func:`score_files`
    the bytes read back (what a decoder would get)."""
    for blob, path in zip(blobs, paths, strict=True):
        files.write_bytes(path, blob)
    return score_files(codec, [Path(p).read_bytes() for p in paths], originals)
