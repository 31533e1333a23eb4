"""The latent prior: the coding distribution of the latent files, fitted to what the inversion
produces, stored with the model, and its differentiable rate for the search.

A prior is a per-dimension Gaussian N(mean_i, std_i) over z in [-z_range, z_range]. It is fitted
(maximum likelihood: per-dimension mean and standard deviation) at the end of the encoder stage
(02b) to the latents the hybrid search (:func:`ganlib.inversion.modes.hybrid_config`) finds for up to
:data:`FIT_IMAGES` training images, never the evaluation images (the seen evaluation images are
drawn from the training split, so they are left out), and written to ``runs/<p>/prior.json``
beside the generator. Together with the generator it is one *model*
(:class:`ganlib.formats.latent_format.LatentModel`), whose fingerprint every latent file carries.

Measured on the default run (hybrid latents of 1024 training images, code lengths of unseen
images): per-dimension Gaussian, logistic, Student-t and 2- or 3-component Gaussian mixtures
all code within 0.1 byte per file of each other, so the Gaussian (constriction's built-in
``QuantizedGaussian``) is kept. Latents of the full random-start search are about twice as
wide as the hybrid ones; the per-file scale of the range-coded payload (``latent_format.SCALES``)
absorbs that.

The *unit prior* N(0, 1) in every dimension is the fallback when a run has no ``prior.json``
(runs from before format version 2): files made under it decode with the generator alone.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ganlib.core import files, params, paths
from ganlib.formats import latent_format
from ganlib.models.checkpoints import fingerprint

FORMAT = "ganlib latent prior"
FIT_IMAGES = 1024  # training images whose hybrid latents the prior is fitted to
MIN_STD = 0.01  # floor on a fitted standard deviation


class PriorError(ValueError):
    """A prior.json that cannot be used; the message names the file and what is wrong."""


def model_shape(G) -> tuple[int, int, int]:
    c = G.config
    return (c.image_size, c.image_size, c.channels)


def unit(G, z_range: float = latent_format.Z_RANGE) -> latent_format.LatentModel:
    """The unit prior N(0, 1) in every dimension, with generator ``G``."""
    d = G.config.latent_dim
    return latent_format.LatentModel.create(fingerprint(G), model_shape(G), z_range, np.zeros(d), np.ones(d))


def fit(latents, G, z_range: float = latent_format.Z_RANGE) -> latent_format.LatentModel:
    """Fit the per-dimension Gaussian to latents (N, latent_dim) of generator ``G``: the mean and the
    standard deviation (at least :data:`MIN_STD`) of each dimension, after clipping to the range."""
    z = np.clip(np.asarray(latents, dtype=np.float64), -z_range, z_range)
    if z.ndim != 2 or z.shape[1] != G.config.latent_dim or len(z) < 2:
        raise ValueError(f"latents must be (N >= 2, {G.config.latent_dim}); got {z.shape}")
    return latent_format.LatentModel.create(fingerprint(G), model_shape(G), z_range, z.mean(0),
                                    np.maximum(z.std(0), MIN_STD))


def fit_ids(arrays, n: int = FIT_IMAGES, seed: int = 0) -> np.ndarray:
    """Up to ``n`` indices into ``arrays["train"]`` drawn (seeded) from the training images that are
    not evaluation images (``seen_ids`` excluded), sorted."""
    pool = np.setdiff1d(np.arange(len(arrays["train"])), arrays["seen_ids"])
    return np.sort(np.random.default_rng(seed).choice(pool, min(n, len(pool)), replace=False))


def to_json(model: latent_format.LatentModel, fitted_on: dict | None = None) -> dict:
    return {"format": FORMAT, "latent_format_version": latent_format.VERSION, "family": "gaussian",
            "generator_fingerprint": model.generator_fingerprint.hex(), "model_fingerprint": model.fingerprint.hex(),
            "latent_dim": model.latent_dim, "shape": list(model.shape), "z_range": model.z_range,
            "mean": [float(v) for v in model.mean], "std": [float(v) for v in model.std],
            "fitted_on": fitted_on or {}}


def save(run: str | Path, model: latent_format.LatentModel, fitted_on: dict | None = None) -> Path:
    """Write ``run/prior.json`` atomically (floats in JSON round-trip exactly)."""
    path = paths.RunDir(run).prior
    files.write_text(path, json.dumps(to_json(model, fitted_on), indent=1))
    return path


def _missing_hint(run: Path) -> str:
    profile = run.name if run.parent.name == "runs" else "<profile>"
    return f"it is written by notebooks/02b_train_encoder.ipynb (re-run make encoder PROFILE={profile})"


def load(run: str | Path, G, missing: str = "error") -> latent_format.LatentModel | None:
    """The prior of a run directory, checked against generator ``G``. When the run has no
    ``prior.json``: ``missing="error"`` raises ``FileNotFoundError`` saying to re-run
    ``make encoder``, ``"none"`` returns None (the caller falls back to :func:`unit`, explicitly).
    :class:`PriorError` naming the file if it is unreadable (or not a regular file, or longer than
    :data:`ganlib.core.files.MAX_JSON_BYTES`), for another generator, or edited."""
    path = paths.RunDir(run).prior
    if not path.exists():
        if missing == "none":
            return None
        raise FileNotFoundError(f"{path} is missing: {_missing_hint(Path(run))}")
    try:
        meta = files.read_json(path)
    except (OSError, ValueError) as exc:
        raise PriorError(f"{path}: not a readable JSON file ({params.one_line(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("family") != "gaussian":
        raise PriorError(f"{path}: not a Gaussian latent prior written by ganlib.models.prior.save")
    mine = fingerprint(G).hex()
    if meta.get("generator_fingerprint") != mine:
        raise PriorError(f"{path} belongs to generator {meta.get('generator_fingerprint')}, not to this one ({mine}); "
                         f"{_missing_hint(Path(run))}")
    try:
        model = latent_format.LatentModel.create(fingerprint(G), model_shape(G), meta["z_range"], meta["mean"],
                                                 meta["std"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: a number JSON allows, float not
        raise PriorError(f"{path}: invalid prior ({params.one_line(exc)})") from None
    if model.latent_dim != G.config.latent_dim:
        raise PriorError(f"{path}: {model.latent_dim} dimensions; the generator has {G.config.latent_dim}")
    if meta.get("model_fingerprint") != model.fingerprint.hex():
        raise PriorError(f"{path}: its numbers do not give its model fingerprint {meta.get('model_fingerprint')} "
                         f"(they give {model.fingerprint.hex()}); the file was edited or damaged")
    return model


# ---------------------------------------------------------------- differentiable rate
def _interval_mass(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Phi(b) - Phi(a) for a < b, accurate in both tails (float64)."""
    flip = (a + b) > 0
    lo, hi = torch.where(flip, -b, a), torch.where(flip, -a, b)
    return torch.special.ndtr(hi) - torch.special.ndtr(lo)


def rate_bits(z: torch.Tensor, model: latent_format.LatentModel, bits: int | None = None) -> torch.Tensor:
    """Per-image code length in bits (B,) of latents ``z`` (B, latent_dim) under the prior, as the
    range-coded payload spends it: the best of the per-file scales (``latent_format.SCALES``) plus the
    3 bits of the scale index. With ``bits``, ``z`` are cell centres (pass them straight-through
    for gradients) and each dimension costs -log2 of its cell's probability under the Gaussian,
    the two end cells taking the tails beyond [-r, r] (as constriction's ``QuantizedGaussian``
    does); without, -log2 of the density (the cost on a grid of cell width 1; for the search,
    which serves every bit depth)."""
    z64 = z.double()[None]
    mean = torch.tensor(model.mean, dtype=torch.float64, device=z.device)
    std = torch.tensor(model.std, dtype=torch.float64, device=z.device)
    sd = torch.tensor(latent_format.SCALES, dtype=torch.float64, device=z.device)[:, None, None] * std  # (K, 1, d)
    if bits is None:
        per_dim = (0.5 * ((z64 - mean) / sd) ** 2 + torch.log(sd) + 0.5 * math.log(2 * math.pi)) / math.log(2)
    else:
        r, half = model.z_range, latent_format.step(bits, model.z_range) / 2
        inf = torch.tensor(math.inf, dtype=torch.float64, device=z.device)
        lo = torch.where(z64 - half < -r + half, -inf, (z64 - half - mean) / sd)  # the first cell: from -inf
        hi = torch.where(z64 + half > r - half, inf, (z64 + half - mean) / sd)  # the last cell: to +inf
        per_dim = -torch.log2(_interval_mass(lo, hi).clamp_min(2.0 ** -24))
    return (per_dim.sum(-1).min(0).values + math.log2(len(latent_format.SCALES))).to(z.dtype)
