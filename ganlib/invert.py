"""Latent search ("GAN reversal") and the GAN-reversal codec built on it.

Images are float tensors (B, C, H, W) in [-1, 1]; latents are (B, latent_dim).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import codec, params, runtime
from .models import Generator
from .train import fingerprint

LOSSES = ("mse", "l1", "ssim", "msssim")
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def check_params(loss: str, steps: int, lr: float, bits, z_range: float, restarts: int = 1,
                 refine_steps: int = 0) -> list[int]:
    """Validate inversion parameters; return ``bits`` as a sorted list."""
    params.choice("loss", loss, LOSSES)
    params.int_range("steps", steps, 1, 10**6)
    params.positive("lr", lr)
    params.int_range("restarts", restarts, 1, 1024)
    params.int_range("refine_steps", refine_steps, 0, 10**6)
    codec.check_range(z_range)
    return params.int_list("bits", bits, 1, 16)


# ---------------------------------------------------------------- losses
def ssim_parts(x: torch.Tensor, y: torch.Tensor, win: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image SSIM and contrast-structure term, (B,) each, of images in [-1, 1], computed as
    scikit-image's ``structural_similarity`` does on 0..255 (7x7 uniform window, sample
    covariance, border cropped). SSIM is not shift-invariant, so images are mapped to [0, 1]."""
    x, y = (x + 1) / 2, (y + 1) / 2
    c1, c2 = 0.01**2, 0.03**2
    norm = win * win / (win * win - 1)
    pool = lambda t: F.avg_pool2d(t, win, 1)  # noqa: E731 - "valid" window = skimage's cropped map
    ux, uy = pool(x), pool(y)
    vx, vy, vxy = norm * (pool(x * x) - ux * ux), norm * (pool(y * y) - uy * uy), norm * (pool(x * y) - ux * uy)
    cs = (2 * vxy + c2) / (vx + vy + c2)
    ssim_map = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1) * cs
    return ssim_map.mean((1, 2, 3)), cs.mean((1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, win: int = 7) -> torch.Tensor:
    """Per-image MS-SSIM (B,) over as many dyadic scales as keep the side >= ``win``
    (3 for 28 px), with the standard weights renormalised to those scales."""
    levels = max(1, min(len(MSSSIM_WEIGHTS), int(math.log2(min(x.shape[-2:]) / win)) + 1))
    weights = torch.tensor(MSSSIM_WEIGHTS[:levels], dtype=x.dtype, device=x.device)
    weights = weights / weights.sum()
    out = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    for level in range(levels):
        s, cs = ssim_parts(x, y, win)
        term = s if level == levels - 1 else cs
        out = out * term.clamp_min(1e-6) ** weights[level]
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


def image_loss(name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image loss (B,) between images in [-1, 1]: mse, l1, 1 - ssim or 1 - msssim."""
    if name == "mse":
        return ((x - y) ** 2).mean((1, 2, 3))
    if name == "l1":
        return (x - y).abs().mean((1, 2, 3))
    if name == "ssim":
        return 1 - ssim_parts(x, y)[0]
    if name == "msssim":
        return 1 - ms_ssim(x, y)
    raise ValueError(f"loss={name!r} is not allowed; choose one of: {', '.join(LOSSES)}")


# ---------------------------------------------------------------- search
@dataclass
class Inversion:
    z: torch.Tensor  # (B, latent_dim), on the CPU, inside [-z_range, z_range]
    loss: np.ndarray  # (B,) final per-image loss
    history: list[float] = field(default_factory=list)  # per step: mean over images of the best start's loss
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step -> uint8 (B, H, W, C)


def _frozen(G: Generator, device) -> Generator:
    G = G.to(device).eval()
    for p in G.parameters():
        p.requires_grad_(False)
    return G


def invert(G: Generator, targets: torch.Tensor, loss: str = "ssim", steps: int = 1000, lr: float = 0.05,
           z_range: float = 3.0, restarts: int = 1, seed: int = 0, snapshot_at: tuple[int, ...] = (),
           progress: bool = True, device=None) -> Inversion:
    """Find z minimising ``loss(G(z), target)`` for every target at once (Adam, cosine-decayed lr,
    z projected onto [-z_range, z_range]). With ``restarts`` R > 1, R random starts per image
    run for the first tenth of the steps and the best one per image goes on."""
    device = device or runtime.device()
    G = _frozen(G, device)
    targets = targets.to(device)
    b, d = targets.shape[0], G.config.latent_dim
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(b * restarts, d, generator=gen).clamp_(-z_range, z_range).to(device).requires_grad_()
    tgt = targets.repeat(restarts, 1, 1, 1)
    opt = torch.optim.Adam([z], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.02)
    select_at = max(1, steps // 10) if restarts > 1 else -1
    out = Inversion(z=torch.empty(0), loss=np.empty(0))
    for step in tqdm(range(1, steps + 1), desc=f"invert ({loss})", disable=not progress, mininterval=2):
        per_image = image_loss(loss, G(z), tgt)
        opt.zero_grad(set_to_none=True)
        per_image.sum().backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            z.clamp_(-z_range, z_range)
        out.history.append(per_image.detach().view(-1, b).min(0).values.mean().item())  # best start per image
        if step == select_at:
            with torch.no_grad():
                best = image_loss(loss, G(z), tgt).view(restarts, b).argmin(0)
                z = z.detach().view(restarts, b, d)[best, torch.arange(b)].clone().requires_grad_()
            tgt = targets
            opt = torch.optim.Adam([z], lr=sched.get_last_lr()[0])
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps - step, eta_min=lr * 0.02)
        if step in snapshot_at:
            with torch.no_grad():
                out.snapshots[step] = runtime.to_uint8(G(z[:b]))
    with torch.no_grad():
        out.loss = image_loss(loss, G(z), tgt).cpu().numpy()
    out.z = z.detach()[:b].cpu()
    return out


def fake_quantize(z: torch.Tensor, bits: int, z_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch twin of :func:`codec.quantize` / :func:`codec.dequantize`: (symbols, cell centres)."""
    d = codec.step(bits, z_range)
    s = torch.floor((z.double() + z_range) / d).clamp(0, (1 << bits) - 1)
    return s.long(), (-z_range + (s + 0.5) * d).float()


def refine(G: Generator, targets: torch.Tensor, z: torch.Tensor, loss: str, bits: int, z_range: float,
           steps: int = 200, lr: float = 0.01, device=None) -> tuple[np.ndarray, np.ndarray]:
    """Quantization-aware refinement: optimise the loss *of the quantized latent* with a
    straight-through estimator, keeping per image the best symbols seen (plain rounding
    included, so refinement never makes an image worse under ``loss``).
    Returns (symbols int64 (B, latent_dim), their per-image loss (B,))."""
    device = device or runtime.device()
    G = _frozen(G, device)
    targets = targets.to(device)
    w = z.clone().to(device).requires_grad_()
    best_sym, zq = fake_quantize(w.detach(), bits, z_range)
    with torch.no_grad():
        best_loss = image_loss(loss, G(zq), targets)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        sym, zq = fake_quantize(w.detach(), bits, z_range)
        per_image = image_loss(loss, G(w + (zq - w).detach()), targets)  # value at zq, gradient at w
        with torch.no_grad():
            better = per_image < best_loss
            best_loss = torch.where(better, per_image, best_loss)
            best_sym[better] = sym[better]
        opt.zero_grad(set_to_none=True)
        per_image.sum().backward()
        opt.step()
        with torch.no_grad():
            w.clamp_(-z_range, z_range)
    return best_sym.cpu().numpy(), best_loss.detach().cpu().numpy()


# ---------------------------------------------------------------- codec
class GanCodec(codec.Codec):
    """GAN reversal as a codec: encode = latent search + quantization (+ refinement) into a
    latent file (see :mod:`ganlib.codec`); decode = one forward pass of the generator on the CPU."""

    name = "gan"

    def __init__(self, G: Generator, bits: int = 8, loss: str = "ssim", steps: int = 1000, lr: float = 0.05,
                 z_range: float = 3.0, restarts: int = 1, refine_steps: int = 200, seed: int = 0,
                 progress: bool = False):
        check_params(loss, steps, lr, bits, z_range, restarts, refine_steps)
        self.G = G.cpu().eval()
        self.param, self.loss, self.steps, self.lr = bits, loss, steps, lr
        self.z_range, self.restarts, self.refine_steps, self.seed = z_range, restarts, refine_steps, seed
        self.progress = progress
        self.fingerprint = fingerprint(self.G)
        self.version = f"torch {torch.__version__}"
        cfg = G.config
        self.shape = (cfg.image_size, cfg.image_size, cfg.channels)

    def pack(self, symbols: np.ndarray) -> bytes:
        """Latent symbols (latent_dim,) -> file bytes."""
        return codec.pack(codec.LatentFile(self.fingerprint, self.param, self.shape, self.z_range, symbols))

    def encode_batch(self, images: np.ndarray) -> list[bytes]:
        """uint8 (B, H, W, C) -> one latent file per image."""
        if images.shape[1:] != self.shape:
            raise ValueError(f"images must be {self.shape} (H, W, C) for this generator; got {images.shape[1:]}")
        targets = runtime.to_tensor(images)
        inv = invert(self.G, targets, self.loss, self.steps, self.lr, self.z_range, self.restarts, self.seed,
                     progress=self.progress)
        symbols, _ = refine(self.G, targets, inv.z, self.loss, self.param, self.z_range, self.refine_steps,
                            lr=codec.step(self.param, self.z_range))
        self.G.cpu()
        return [self.pack(s) for s in symbols]

    def encode(self, image: np.ndarray) -> bytes:
        return self.encode_batch(image[None])[0]

    def payload_span(self, data: bytes) -> tuple[int, int]:
        return codec.payload_span(data)

    def decode(self, data: bytes, verify: bool = True) -> np.ndarray:
        """File bytes -> uint8 (H, W, C); :class:`codec.CodecError` for any invalid file."""
        f = codec.unpack(data, verify=verify)
        if f.fingerprint != self.fingerprint:
            raise codec.CodecError(f"file was made with another generator (fingerprint {f.fingerprint.hex()}, "
                                   f"this generator {self.fingerprint.hex()})")
        if f.latent_dim != self.G.config.latent_dim or f.shape != self.shape:
            raise codec.CodecError(f"file header (latent_dim {f.latent_dim}, shape {f.shape}) does not match "
                                   f"this generator (latent_dim {self.G.config.latent_dim}, shape {self.shape})")
        z = torch.from_numpy(codec.dequantize(f.symbols, f.bits, f.z_range))[None]
        with torch.no_grad():
            return runtime.to_uint8(self.G.cpu().eval()(z))[0]
