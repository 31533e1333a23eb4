"""The image losses the latent search and the encoder minimise, on float images (B, C, H, W) in
[-1, 1], per image (B,): differentiable, on any device."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOSSES = ("mse", "l1", "ssim", "msssim")
# Wang et al. 2003: the reported MS-SSIM's too (ganlib.evaluation.metrics.MS_SSIM_WEIGHTS, torch-free, a layer
# above; tests/evaluation/test_metrics.py checks the two are equal)
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


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


def ms_ssim_uniform(x: torch.Tensor, y: torch.Tensor, win: int = 7) -> torch.Tensor:
    """Per-image MS-SSIM (B,) with a uniform ``win`` x ``win`` window (the search's loss; the reported
    metric is :func:`ganlib.evaluation.metrics.ms_ssim`, Gaussian 11 x 11 on 0..255), over as many
    dyadic scales as keep the side >= ``win`` (3 for 28 px), with the standard weights renormalised
    to those scales."""
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
        return 1 - ms_ssim_uniform(x, y)
    raise ValueError(f"loss={name!r} is not allowed; choose one of: {', '.join(LOSSES)}")
