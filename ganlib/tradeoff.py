"""The quality-speed trade-off of GAN reversal's encoding modes, measured on the same images
and scored on the files they write:

- ``encoder``: the encoder's guess E(x), quantized (no search, no refinement);
- ``hybrid``: E(x), then k steps of L-BFGS (the default) or of Adam and refinement
  (:func:`ganlib.encoder.hybrid_config`);
- ``search``: the seed's search from random starts (k Adam steps x R restarts), then refinement;
  or the hybrid's L-BFGS search from random starts (the control: the optimizer without the encoder).

Images are uint8 (N, H, W, C).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import analysis, encoder, params
from .codec import LatentModel
from .invert import GanCodec, InversionConfig
from .models import Encoder, Generator


@dataclass(frozen=True)
class Mode:
    """One way to encode: its name (``encoder``, ``hybrid`` or ``search``) and the inversion it runs."""

    name: str
    config: InversionConfig

    @property
    def label(self) -> str:
        c = self.config
        if self.name == "search":
            return f"search {c.steps} x {c.restarts}" + (" (L-BFGS)" if c.optimizer == "lbfgs" else "")
        return "encoder only" if self.name == "encoder" else f"encoder + {c.steps} {OPTIMIZER_NAMES[c.optimizer]} steps"

    @property
    def slug(self) -> str:
        c = self.config
        return f"{self.name}_{c.optimizer}_{c.steps}x{c.restarts}"


OPTIMIZER_NAMES = {"adam": "Adam", "lbfgs": "L-BFGS"}


def modes(loss: str, encoder_steps, search_steps, restarts: int, seed: int = 0, adam_steps=(),
          lbfgs_search_steps=()) -> list[Mode]:
    """Encoder-started modes for every step count in ``encoder_steps`` (L-BFGS; 0: encoder only) and
    in ``adam_steps`` (Adam and refinement, the previous hybrid), then random-start searches with
    ``restarts`` starts: the seed's (Adam, 200 refinement steps) for every count in ``search_steps``,
    and, for every count in ``lbfgs_search_steps``, the hybrid's search without its start (L-BFGS
    with the encoder's metric, the hybrid's refinement), the control that separates the two."""
    out = []
    for k in params.int_list("encoder_steps", encoder_steps, 0, 10**6):
        out.append(Mode("encoder" if k == 0 else "hybrid", encoder.hybrid_config(loss, k, seed)))
    optional = lambda name, v: [] if v in ([], ()) else params.int_list(name, v, 1, 10**6)  # noqa: E731 - [] allowed
    for k in optional("adam_steps", adam_steps):
        out.append(Mode("hybrid", encoder.hybrid_config(loss, k, seed, optimizer="adam")))
    for k in params.int_list("search_steps", search_steps, 1, 10**6):
        out.append(Mode("search", InversionConfig(loss=loss, steps=k, restarts=restarts, seed=seed)))
    for k in optional("lbfgs_search_steps", lbfgs_search_steps):
        out.append(Mode("search", InversionConfig(loss=loss, optimizer="lbfgs", steps=k, restarts=restarts, seed=seed,
                                                  lr=encoder.HYBRID_LR, refine_steps=encoder.HYBRID_REFINE_STEPS)))
    return out


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


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Per split and mode: encode ms per image, images per second, mean bpp, PSNR and SSIM,
    ordered by split (unseen first) and encode time."""
    g = rows.groupby(["split", "mode", "optimizer", "label", "steps", "restarts"], sort=False)
    out = g.agg(n_images=("image_id", "size"), encode_ms=("encode_ms", "first"), bpp=("bpp", "mean"),
                psnr=("psnr", "mean"), ssim=("ssim", "mean")).reset_index()
    out["images_per_s"] = 1000 / out.encode_ms
    out["split"] = pd.Categorical(out.split, ["unseen", "seen"])
    return out.sort_values(["split", "encode_ms"]).reset_index(drop=True)


def seen_gap(rows: pd.DataFrame) -> pd.DataFrame:
    """Seen versus unseen images per mode (the rows of one loss and bit depth, both splits):
    :func:`ganlib.analysis.equal_loss` of each mode, with its ``mode``, ``optimizer`` and ``label``;
    SSIM and PSNR rows."""
    out = [analysis.equal_loss(g.assign(stage="refined"), int(g.bits.iloc[0])).assign(mode=m, optimizer=o, label=la)
           for (m, o, la), g in rows.groupby(["mode", "optimizer", "label"], sort=False)]
    return pd.concat(out, ignore_index=True)


def gap_statement(gap: pd.DataFrame, metric: str = "ssim") -> str:
    """One sentence: does starting from the encoder (trained on seen images only) close or widen the
    seen - unseen gap of the seed's search? Compares the encoder-started modes' differences with the
    longest search's, and says which differences are significant (Welch p < 0.05)."""
    g = gap[gap.metric == metric]
    search = g[(g["mode"] == "search") & (g.optimizer == "adam")]  # the seed's
    if search.empty or len(g) == len(search):
        return "No encoder-started and search modes to compare."
    ref = search.iloc[-1]
    started = g[g["mode"] != "search"]  # the L-BFGS searches from random starts are left out
    parts = [f"{r.label} {r['diff']:+.3f} (p = {r.p:.2g})" for _, r in started.iterrows()]
    wider = (started["diff"] > ref["diff"]).sum()
    significant = int((started.p < 0.05).sum())
    trend = ("widens" if wider == len(started) else "narrows" if wider == 0
             else "neither consistently widens nor narrows")
    return (f"Seen − unseen mean {metric.upper()}: {ref.label} {ref['diff']:+.3f} (p = {ref.p:.2g}); "
            + "; ".join(parts) + f". Starting from the encoder, which saw only training images, {trend} the gap; "
            + (f"{significant} of {len(started)} encoder-started differences are significant at p < 0.05."
               if significant else "none of the encoder-started differences is significant at p < 0.05."))
