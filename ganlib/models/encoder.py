"""The encoder E: image -> z that amortizes the latent search, its training and its checkpoint.

Images are float tensors (B, C, H, W) in [-1, 1] (uint8 (N, H, W, C) at the API); latents are
(B, latent_dim). E is trained against a frozen generator G in two phases:

(a) on G's own samples x = G(z), z ~ N(0, s^2 I) clipped:  ||E(x) - z||^2 + d(G(E(x)), x)
(b) on real training images x:                 d(G(E(x)), x)

with the image loss d = MSE + (1 - SSIM) on [-1, 1] images. Then :func:`fit_metric` sets the
preconditioner of the L-BFGS search that starts from E's guess. A checkpoint holds the fingerprint
of the generator it was trained against; loading it with another generator is refused.
"""
from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ganlib.core import files, params, paths, runtime
from ganlib.formats.latent_format import Z_RANGE
from ganlib.models import checkpoints
from ganlib.models.checkpoints import fingerprint
from ganlib.models.losses import image_loss
from ganlib.models.nets import Encoder, Generator, init_weights

METRIC_IMAGES = 256  # training images whose encoder guesses the metric is averaged over (64: 0.002 lower SSIM)
METRIC_RIDGE = 0.01  # added to the metric's eigenvalues, as a fraction of the largest (0.001: 0.003 lower SSIM)


def check_params(synthetic_steps: int, real_steps: int, batch_size: int, lr: float) -> None:
    params.steps("synthetic_steps", synthetic_steps, 0)
    params.steps("real_steps", real_steps, 0)
    if synthetic_steps + real_steps == 0:
        raise ValueError("synthetic_steps=0 and real_steps=0 is not allowed; train for at least one step")
    params.int_range("batch_size", batch_size, 1, 65536)
    params.positive("lr", lr)


def _image_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE + (1 - SSIM), per image (B,)."""
    return image_loss("mse", x, y) + image_loss("ssim", x, y)


def train_encoder(G: Generator, images: np.ndarray, synthetic_steps: int, real_steps: int, batch_size: int = 64,
                  lr: float = 1e-3, seed: int = 0, synthetic_std: float = 1.0, z_range: float = Z_RANGE,
                  progress: bool = True) -> tuple[Encoder, dict]:
    """Train E against a frozen copy of ``G`` (left as it was) on uint8 (N, H, W, C) training images:
    ``synthetic_steps`` of phase (a) with z ~ N(0, ``synthetic_std``^2 I) clipped to [-z_range, z_range]
    (the search's latents lie wider than the prior: s = 1.4 gave +0.003 SSIM after 30 search steps
    on the default run, measured once), then ``real_steps`` of phase (b) (module docstring), Adam
    with a cosine-decayed lr. Returns E (eval mode, on the CPU) and a history with per-step ``loss``,
    ``z_loss`` (NaN in phase b), ``image_loss`` and ``seconds``."""
    check_params(synthetic_steps, real_steps, batch_size, lr)
    params.positive("synthetic_std", synthetic_std)
    dev = runtime.setup(seed)
    gen = torch.Generator().manual_seed(seed)
    G = copy.deepcopy(G).to(dev).eval().requires_grad_(False)
    data = torch.from_numpy(np.ascontiguousarray(images)).to(dev)  # uint8: converted per batch
    E = Encoder(G.config).to(dev).train()
    E.apply(init_weights)
    steps = synthetic_steps + real_steps
    opt = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
    hist: dict = {"loss": [], "z_loss": [], "image_loss": []}
    start = time.perf_counter()
    for step in runtime.progress(range(steps), desc="train encoder", disable=not progress):
        if step < synthetic_steps:
            z = synthetic_std * torch.randn(batch_size, G.config.latent_dim, generator=gen)
            z = z.clamp(-z_range, z_range).to(dev)
            with torch.no_grad():
                x = G(z)
            z_hat = E(x)
            z_loss = ((z_hat - z) ** 2).mean()
        else:
            x = runtime.to_float(data[torch.randint(len(data), (batch_size,), generator=gen).to(dev)])
            z_hat = E(x)
            z_loss = torch.zeros((), device=dev)
        img = _image_distance(G(z_hat), x).mean()
        loss = z_loss + img
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist["loss"].append(loss.item())
        hist["z_loss"].append(z_loss.item() if step < synthetic_steps else float("nan"))
        hist["image_loss"].append(img.item())
    hist["seconds"] = time.perf_counter() - start
    return E.cpu().eval(), hist


def fit_metric(G: Generator, E: Encoder, images: np.ndarray, ridge: float = METRIC_RIDGE, batch_size: int = 64
               ) -> torch.Tensor:
    """Set ``E.metric`` to the inverse of G's mean pullback metric at E's guesses for uint8 (N, H, W, C)
    images, the mean of J^T J over the images, J = dG/dz (pixels, latent_dim) at z = E(x), with
    ``ridge`` times its largest eigenvalue added to every eigenvalue; scaled so that its largest
    entry on the diagonal is 1. The search's L-BFGS starts from it as its inverse Hessian, which
    makes its first steps follow G's metric rather than the latent axes. Returns it (d, d)."""
    params.positive("ridge", ridge)
    if len(images) == 0:
        raise ValueError("images: none given; the metric is averaged over at least one image")
    G = copy.deepcopy(G).cpu().eval().requires_grad_(False)
    pixels = lambda z: G(z[None]).flatten()  # noqa: E731 - (d,) -> (C*H*W,)
    d = G.config.latent_dim
    gram = torch.zeros(d, d, dtype=torch.float64)
    with warnings.catch_warnings():  # forward-mode AD's first use scripts decompositions with torch.jit
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
        for z in encode(E, images, batch_size=batch_size).split(batch_size):
            J = torch.func.vmap(torch.func.jacfwd(pixels))(z)  # (b, C*H*W, d)
            gram += torch.einsum("bpi,bpj->ij", J, J).double()
    eigenvalues, vectors = torch.linalg.eigh(gram / len(images))
    metric = (vectors / (eigenvalues.clamp_min(0) + ridge * eigenvalues[-1])) @ vectors.T
    E.metric.copy_((metric / metric.diagonal().max()).float())
    return E.metric.clone()


def encode(E: Encoder, images: np.ndarray, z_range: float = Z_RANGE, batch_size: int = 1024) -> torch.Tensor:
    """E's latents for uint8 (N, H, W, C) images, clipped to [-z_range, z_range]: (N, latent_dim) on the CPU."""
    with torch.no_grad():
        return torch.cat([E(runtime.to_tensor(images[i:i + batch_size])).clamp(-z_range, z_range)
                          for i in range(0, len(images), batch_size)]) if len(images) else torch.empty(0)


def save_encoder(run: str | Path, E: Encoder, G: Generator, extra: dict | None = None) -> Path:
    """Write ``encoder.json`` then ``encoder.safetensors`` into ``run`` atomically, with the
    fingerprint of the generator ``E`` belongs to (in both) and E's own (in the JSON). The weights,
    written last, mark a complete checkpoint."""
    run = paths.RunDir(run)
    meta = {"config": E.config.to_dict(), "generator_fingerprint": fingerprint(G).hex(),
            "fingerprint": fingerprint(E).hex(), **(extra or {})}
    files.write_text(run.encoder_config, json.dumps(meta, indent=2))
    state = {k: v.detach().cpu().contiguous() for k, v in E.state_dict().items()}
    with files.atomic_path(run.encoder) as tmp:
        save_file(state, str(tmp), metadata={"generator_fingerprint": meta["generator_fingerprint"]})
    return run.encoder


def load_encoder(run: str | Path, G: Generator) -> Encoder | None:
    """The encoder of a run directory, in eval mode on the CPU (safetensors: no code is unpickled),
    or None when the run has none. :class:`ganlib.models.checkpoints.CheckpointError` (a ``ValueError``)
    naming the file when it cannot be read or does not match ``encoder.json``
    (:func:`ganlib.models.checkpoints.read_weights`), when either file belongs to another generator,
    or when the weights are not those whose fingerprint ``encoder.json`` records (runs from before
    that record are checked by the generator fingerprint in the weights' own metadata)."""
    run = paths.RunDir(run)
    if not run.encoder.exists():
        return None
    meta, config = checkpoints.read_meta(run.encoder_config, "encoder")
    mine = fingerprint(G).hex()
    if meta.get("generator_fingerprint") != mine or config != G.config:
        raise checkpoints.CheckpointError(
            f"{run.encoder} belongs to generator {meta.get('generator_fingerprint')}, not to this one ({mine}); "
            "retrain it (make encoder) or use init='random'")
    try:
        weights, metadata = checkpoints.read_weights(run.encoder, lambda: Encoder(config), run.encoder_config,
                                                     "encoder")
    except checkpoints.CheckpointError as exc:
        raise checkpoints.CheckpointError(f"{exc}; retrain it (make encoder)") from None
    if metadata.get("generator_fingerprint") != mine:
        raise checkpoints.CheckpointError(
            f"{run.encoder} was trained against generator {metadata.get('generator_fingerprint')} (its own "
            f"record), not this one ({mine}): it is not the encoder {run.encoder_config.name} describes; "
            "retrain it (make encoder)")
    E = Encoder(config)
    E.load_state_dict(weights)
    own = fingerprint(E).hex()
    if meta.get("fingerprint", own) != own:
        raise checkpoints.CheckpointError(
            f"{run.encoder}: its weights' fingerprint is {own}, not {meta['fingerprint']} as "
            f"{run.encoder_config.name} records: the two files are not from one training; retrain it (make encoder)")
    return E.eval()
