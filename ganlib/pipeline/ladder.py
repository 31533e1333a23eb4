"""The command line's quality ladder: for each image, every file the model can make from one latent
search, each decoded as the decoder will and scored, so that ``compress --target``/``--max-bytes``
writes the smallest file that meets the target (or the best within the size), and never one that
silently misses it.

The rungs, in this order (every file a layered file, :mod:`ganlib.formats.layered_format`):

1. the base layer alone at each of :data:`BASE_BITS` bits per latent dimension;
2. the base layer at the residual coders' bit depth plus each shipped learned residual coder
   (``residual.json`` and ``learned/conditional_lambda_<λ>.safetensors`` of the run);
3. that base layer plus WebP on the residual at each of :data:`WEBP_QUALITIES`;
4. the image itself as PNG (lossless): it meets every quality target.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlib.codecs import residual
from ganlib.codecs.gan import GanCodec
from ganlib.core import files, paths
from ganlib.evaluation import targets
from ganlib.formats import layered_format
from ganlib.formats.layered_format import LayeredFile
from ganlib.models import learned

BASE_BITS = (3, 4, 5, 6, 7, 8)
WEBP_QUALITIES = (50, 75, 90)
RESIDUAL_BITS = 6  # the base layer of the residual rungs when the run's residual.json does not say


@dataclass(frozen=True)
class Rung:
    """One candidate file of one image: its ``name`` (``base 6 bits``, ``learned λ=0.02``, ``webp
    residual q=75``, ``lossless``), its bytes and the score of the image decoded from them."""

    name: str
    blob: bytes
    score: dict


def load_coders(run: str | Path, channels: int) -> tuple[list[residual.LearnedResidual], int]:
    """The run's learned residual coders (from its ``residual.json``, written by 04b and shipped by
    ``make models``) and the bit depth of the base layer they were trained on; none (and
    :data:`RESIDUAL_BITS`) when the run has no ``residual.json``."""
    run = paths.RunDir(run)
    if not run.residual_meta.is_file():
        return [], RESIDUAL_BITS
    meta = files.read_json(run.residual_meta)
    coders = [residual.LearnedResidual(learned.load(run.learned_model("conditional", r["lambda"]), channels, meta["n"],
                                                    meta["m"], "conditional"), r["lambda"])
              for r in meta["runs"]]
    return coders, int(meta["base_bits"])


def ladder(gan: GanCodec, coders: list[residual.LearnedResidual], residual_bits: int, images: np.ndarray,
           seeds: list[int] | None = None) -> list[list[Rung]]:
    """Every rung of every image of uint8 ``images`` (B, H, W, C), from one search per image
    (``seeds``: its random starts, when the search has them), each file decoded by the command
    line's decoder (:class:`ganlib.codecs.residual.Decoder`) and scored against its image."""
    inv = gan.search(images, seeds=seeds)
    depths = sorted({*BASE_BITS, residual_bits})
    bases = {b: [gan.pack(s, b) for s in gan.refined_symbols(images, inv, b)] for b in depths}
    names = [f"base {b} bits" for b in BASE_BITS]
    blobs = [[layered_format.pack(LayeredFile("base", f)) for f in bases[b]] for b in BASE_BITS]
    layers = [*coders, *(residual.WebpResidual(q, gan.shape[2]) for q in WEBP_QUALITIES)]
    for layer in layers:
        names.append(f"learned λ={layer.param:g}" if layer.kind == "learned" else f"webp residual q={layer.param}")
        blobs.append(residual.Layered(gan, layer).encode_batch(images, bases[residual_bits]))
    names.append("lossless")
    blobs.append([layered_format.pack(LayeredFile("lossless", enhancement=residual.encode_png(x))) for x in images])
    decoder = residual.Decoder(gan, coders)
    out = []
    for i, image in enumerate(images):
        files_i = [rung[i] for rung in blobs]
        decoded = [decoder.decode(blob) for blob in files_i]
        out.append([Rung(n, b, s) for n, b, s in zip(names, files_i, targets.scored(image, files_i, decoded))])
    return out


def pick(rungs: list[Rung], target: targets.Target) -> Rung | None:
    """The rung ``target`` picks (:func:`ganlib.evaluation.targets.choose`), or None (nothing within
    ``--max-bytes``)."""
    index = targets.choose([len(r.blob) for r in rungs], [r.score[target.metric] for r in rungs], target)
    return None if index is None else rungs[index]
