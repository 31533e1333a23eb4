"""The work of each stage of the chain, one function per notebook (the notebooks call them, show and
explain), so that a stage's computation lives in the package, with tests, and runs the same from a
notebook, a study or a benchmark."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ganlib.codecs.gan import GanCodec
from ganlib.evaluation import analysis
from ganlib.formats.latent_format import LatentModel
from ganlib.inversion.modes import Mode
from ganlib.models.nets import Encoder, Generator


# ---------------------------------------------------------------- 03b_tradeoff
def warm_up(gan: GanCodec, images: np.ndarray) -> None:
    """Encode 2 images with ``gan``'s settings cut to at most 2 steps each, untimed: the first
    encode of a process pays a one-time setup (about 200 ms here) that timing must not count."""
    c = gan.config
    fast = replace(c, steps=min(c.steps, 2), refine_steps=min(c.refine_steps, 2))
    GanCodec(gan.G, gan.param, fast, encoder=gan.encoder, prior=gan.prior).encode_batch(images[:2])


def measure(G: Generator, E: Encoder | None, prior: LatentModel | None, images: np.ndarray, ids, mode: Mode,
            bits: int, folder: Path) -> list[dict]:
    """Encode ``images`` as one batch with ``mode`` (files coded under ``prior``, the run's latent
    prior; None: the unit prior), timed (wall clock, after :func:`warm_up`), write one file per
    image to ``folder/<id>.gan``, read them back, decode and score. One row per image, with the mode,
    its settings and ``encode_ms`` (the batch's encode time per image)."""
    c = mode.config
    gan = GanCodec(G, bits, c, encoder=E, prior=prior)
    warm_up(gan, images)
    start = time.perf_counter()
    blobs = gan.encode_batch(images)
    ms = 1000 * (time.perf_counter() - start) / len(images)
    rows, _ = analysis.write_and_score(gan, blobs, images, [Path(folder) / f"{i}.gan" for i in ids])
    return [{"mode": mode.name, "optimizer": c.optimizer, "label": mode.label, "steps": c.steps, "restarts": c.restarts,
             "refine_steps": c.refine_steps, "bits": bits, "image_id": int(i), "encode_ms": ms, **r}
            for i, r in zip(ids, rows)]
