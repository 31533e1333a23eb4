"""The encode -> file -> read back -> decode -> score loop, written once: every stage that measures
a codec (03_invert, 03b_tradeoff, 04_baselines, 04b_residual, the capacity study) scores the
bytes of the files it wrote, read back from disk, never the bytes in memory.

Images are uint8 arrays (N, H, W, C). Like the rest of the evaluation layer this module imports
no torch; a codec that needs it brings it.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ganlib.core import files
from ganlib.evaluation import analysis, metrics
from ganlib.formats.interface import Codec

MEANS = ["bytes", "payload_bytes", "bpp", "psnr", "ssim"]  # the columns of :func:`means`


def score_files(codec: Codec, blobs: Sequence[bytes], originals: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Decode every file (by ``codec.decode_batch`` if it has one) and score it against its original.
    Returns one row per file (``payload_bytes`` and :func:`ganlib.evaluation.metrics.score`'s keys)
    and the decoded images (N, H, W, C)."""
    batch = getattr(codec, "decode_batch", None)
    decoded = batch(list(blobs)) if batch is not None else np.stack([codec.decode(blob) for blob in blobs])
    scores = metrics.score_batch(originals, decoded, [len(blob) for blob in blobs])
    rows = [{"payload_bytes": codec.payload_bytes(blob), **r} for blob, r in zip(blobs, scores)]
    return rows, decoded


def write_and_score(codec: Codec, blobs: Sequence[bytes], originals: np.ndarray, paths: Sequence[Path]
                    ) -> tuple[list[dict], np.ndarray]:
    """Write each file atomically to its path, read it back from disk and :func:`score_files`
    the bytes read back (what a decoder would get)."""
    for blob, path in zip(blobs, paths, strict=True):
        files.write_bytes(path, blob)
    return score_files(codec, [Path(p).read_bytes() for p in paths], originals)


def encode_each(codec: Codec, originals: np.ndarray, shared=None) -> list[bytes]:
    """How :func:`score_codecs` encodes unless told otherwise: ``codec.encode_batch`` for a codec that
    has one (e.g. the learned codecs: a network pass per batch), else ``codec.encode`` image by image."""
    batch = getattr(codec, "encode_batch", None)
    return batch(originals) if batch is not None else [codec.encode(image) for image in originals]


def _no_bar(iterable: Iterable, desc: str = "") -> Iterable:
    return iterable


def _score_one(c: Codec, split: str, ids, originals: np.ndarray, shared, path: Callable, encode: Callable
               ) -> tuple[list[dict], np.ndarray]:
    stored = [path(c.id, split, i, c.name) for i in ids]
    scored, images_back = write_and_score(c, encode(c, originals, shared), originals, stored)
    return [{"codec": c.name, "param": c.param, "split": split, "image_id": int(i), **r}
            for i, r in zip(ids, scored)], images_back


def _one_thread() -> None:
    """A worker's set-up: one thread for the numerical libraries (set before torch is imported
    here, by the first codec that needs it), as many workers as cores doing the work."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"


def score_codecs(codecs: Sequence[Codec], images: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 path: Callable[[str, str, int, str], Path], encode: Callable = encode_each,
                 prepare: Callable[[np.ndarray], object] | None = None, bar: Callable = _no_bar, workers: int = 1
                 ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every codec on every evaluation image. ``images``: split -> (image ids, uint8 originals), in
    the order to run. For each split: ``shared = prepare(originals)`` once (None without
    ``prepare``; e.g. 04b's base layers, which every layered codec shares), then for each codec
    (through ``bar(codecs, desc=...)``, e.g. a progress bar): ``encode(codec, originals, shared)``
    (default :func:`encode_each`), each file written to ``path(codec.id, split, image_id,
    codec.name)``, read back, decoded and scored (:func:`write_and_score`). With ``workers`` > 1
    the codecs of a split run in that many processes (one thread each; ``path``, ``encode``
    and the codecs must pickle); the rows do not depend on it.

    Returns the rows (``codec``, ``param``, ``split``, ``image_id``, then :func:`score_files`'s
    keys), one per split, codec and image in that order, and the decoded images by
    ``"<split>_<codec id>"``, in the rows' order (so concatenated, image i is row i's)."""
    rows, decoded = [], {}
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                       initializer=_one_thread)) if workers > 1 else None
        for split, (ids, originals) in images.items():
            shared = prepare(originals) if prepare is not None else None
            if pool is not None:
                futures = [pool.submit(_score_one, c, split, ids, originals, shared, path, encode) for c in codecs]
                results = [f.result() for f in bar(futures, desc=f"{split} images")]
            else:
                results = [_score_one(c, split, ids, originals, shared, path, encode)
                           for c in bar(codecs, desc=f"{split} images")]
            for c, (scored, images_back) in zip(codecs, results):
                rows += scored
                decoded[f"{split}_{c.id}"] = images_back
    return pd.DataFrame(rows), decoded


def means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean bytes, payload bytes, rate and quality (:data:`MEANS`) per split, codec and parameter of
    :func:`score_codecs`' rows; unseen first, codecs in registry order, parameters ascending."""
    out = table.groupby(["split", "codec", "param"], dropna=False)[MEANS].mean()
    return analysis.split_order(out.reset_index(), ("split", "codec", "param"))
