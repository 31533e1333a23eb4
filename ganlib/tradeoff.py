"""The quality-speed trade-off of GAN reversal's encoding modes, measured on the same images
and scored on the files they write:

- ``encoder``: the encoder's guess E(x), quantized (no search, no refinement);
- ``hybrid``: E(x), then k Adam steps, then refinement (:func:`ganlib.encoder.hybrid_config`);
- ``search``: the seed's search from random starts (k steps x R restarts), then refinement.

Images are uint8 (N, H, W, C).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis, encoder, params
from .invert import GanCodec, InversionConfig
from .models import Encoder, Generator

MODES = ("encoder", "hybrid", "search")


@dataclass(frozen=True)
class Mode:
    """One way to encode: its name (a value of MODES) and the inversion it runs."""

    name: str
    config: InversionConfig

    @property
    def label(self) -> str:
        c = self.config
        if self.name == "search":
            return f"search {c.steps} x {c.restarts}"
        return "encoder only" if self.name == "encoder" else f"encoder + {c.steps} steps"


def modes(loss: str, encoder_steps, search_steps, restarts: int, seed: int = 0) -> list[Mode]:
    """Encoder-started modes for every step count in ``encoder_steps`` (0: encoder only), then
    random-start searches for every count in ``search_steps`` with ``restarts`` starts (and the
    seed's 200 refinement steps)."""
    out = []
    for k in params.int_list("encoder_steps", encoder_steps, 0, 10**6):
        out.append(Mode("encoder" if k == 0 else "hybrid", encoder.hybrid_config(loss, k, seed)))
    for k in params.int_list("search_steps", search_steps, 1, 10**6):
        out.append(Mode("search", InversionConfig(loss=loss, steps=k, restarts=restarts, seed=seed)))
    return out


def measure(G: Generator, E: Encoder | None, images: np.ndarray, ids, mode: Mode, bits: int, folder: Path
            ) -> list[dict]:
    """Encode ``images`` as one batch with ``mode``, timed (wall clock), write one file per image
    to ``folder/<id>.gan``, read them back, decode and score. One row per image, with the mode,
    its settings and ``encode_ms`` (the batch's encode time per image)."""
    gan = GanCodec(G, bits, mode.config, encoder=E)
    start = time.perf_counter()
    blobs = gan.encode_batch(images)
    ms = 1000 * (time.perf_counter() - start) / len(images)
    rows, _ = analysis.write_and_score(gan, blobs, images, [Path(folder) / f"{i}.gan" for i in ids])
    c = mode.config
    return [{"mode": mode.name, "label": mode.label, "steps": c.steps, "restarts": c.restarts,
             "refine_steps": c.refine_steps, "bits": bits, "image_id": int(i), "encode_ms": ms, **r}
            for i, r in zip(ids, rows)]


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Per split and mode: encode ms per image, images per second, mean bpp, PSNR and SSIM,
    ordered by split (unseen first) and encode time."""
    g = rows.groupby(["split", "mode", "label", "steps", "restarts"], sort=False)
    out = g.agg(n_images=("image_id", "size"), encode_ms=("encode_ms", "first"), bpp=("bpp", "mean"),
                psnr=("psnr", "mean"), ssim=("ssim", "mean")).reset_index()
    out["images_per_s"] = 1000 / out.encode_ms
    out["split"] = pd.Categorical(out.split, ["unseen", "seen"])
    return out.sort_values(["split", "encode_ms"]).reset_index(drop=True)
