"""The encode -> file -> read back -> decode -> score loop, written once: every stage that measures
a codec (03_invert, 03b_tradeoff, 04_baselines, 04b_residual, the capacity study) scores the
bytes of the files it wrote, read back from disk, never the bytes in memory.

Images are uint8 arrays (N, H, W, C). Like the rest of the evaluation layer this module imports
no torch; a codec that needs it brings it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganlib.core import files
from ganlib.evaluation import analysis, metrics
from ganlib.formats.interface import Codec

MEANS = ["bytes", "payload_bytes", "bpp", "psnr", "ssim"]  # the columns of :func:`means`


def score_files(codec: Codec, blobs: Sequence[bytes], originals: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Decode every file and score it against its original. Returns one row per file
    (``payload_bytes`` and :func:`ganlib.evaluation.metrics.score`'s keys) and the decoded images (N, H, W, C)."""
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


def encode_each(codec: Codec, originals: np.ndarray, shared=None) -> list[bytes]:
    """``codec.encode`` image by image: how :func:`score_codecs` encodes unless told otherwise."""
    return [codec.encode(image) for image in originals]


def _no_bar(iterable: Iterable, desc: str = "") -> Iterable:
    return iterable


def score_codecs(codecs: Sequence[Codec], images: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 path: Callable[[str, str, int, str], Path], encode: Callable = encode_each,
                 prepare: Callable[[np.ndarray], object] | None = None, keep: Callable[[Codec], bool] | None = None,
                 bar: Callable = _no_bar) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every codec on every evaluation image. ``images``: split -> (image ids, uint8 originals), in
    the order to run. For each split: ``shared = prepare(originals)`` once (None without
    ``prepare``; e.g. 04b's base layers, which every layered codec shares), then for each codec
    (through ``bar(codecs, desc=...)``, e.g. a progress bar): ``encode(codec, originals, shared)``
    (default :func:`encode_each`), each file written to ``path(codec.id, split, image_id,
    codec.name)``, read back, decoded and scored (:func:`write_and_score`).

    Returns the rows (``codec``, ``param``, ``split``, ``image_id``, then :func:`score_files`'s
    keys), one per split, codec and image in that order, and the decoded images by
    ``"<split>_<codec id>"`` of the codecs that ``keep`` (all without it)."""
    rows, decoded = [], {}
    for split, (ids, originals) in images.items():
        shared = prepare(originals) if prepare is not None else None
        for c in bar(codecs, desc=f"{split} images"):
            stored = [path(c.id, split, i, c.name) for i in ids]
            scored, images_back = write_and_score(c, encode(c, originals, shared), originals, stored)
            rows += [{"codec": c.name, "param": c.param, "split": split, "image_id": int(i), **r}
                     for i, r in zip(ids, scored)]
            if keep is None or keep(c):
                decoded[f"{split}_{c.id}"] = images_back
    return pd.DataFrame(rows), decoded


def means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean bytes, payload bytes, rate and quality (:data:`MEANS`) per split, codec and parameter of
    :func:`score_codecs`' rows; unseen first, codecs in registry order, parameters ascending."""
    out = table.groupby(["split", "codec", "param"], dropna=False)[MEANS].mean()
    return analysis.split_order(out.reset_index(), ("split", "codec", "param"))
