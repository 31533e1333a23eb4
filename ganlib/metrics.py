"""Rate and quality metrics, defined once and used for every scheme.

Images are uint8 arrays (H, W, C) with values 0..255; ``nbytes`` is the length of
the byte string a decoder reads back.

- BPP  = 8 * bytes / (H * W)             bits per pixel
- CR   = H * W * C / bytes               raw 8-bit size over stored size
- MSE  = mean((a - b)^2) on the 0..255 scale
- PSNR = 10 log10(255^2 / MSE) dB        (inf when the images are equal)
- SSIM = skimage.metrics.structural_similarity(data_range=255), 7x7 window,
         averaged over channels for colour images
- MS-SSIM = pytorch_msssim.ms_ssim(data_range=255): 5 scales with an 11x11 Gaussian window,
         defined only for images whose shorter side exceeds 160 pixels (NaN otherwise)
"""
from __future__ import annotations

import math

import numpy as np
from scipy import interpolate, stats
from skimage.metrics import structural_similarity


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"images must both be (H, W, C); got {a.shape} and {b.shape}")


def bpp(nbytes: int, shape: tuple[int, ...]) -> float:
    return 8.0 * nbytes / (shape[0] * shape[1])


def cr(nbytes: int, shape: tuple[int, ...]) -> float:
    return shape[0] * shape[1] * (shape[2] if len(shape) > 2 else 1) / nbytes


def mse(a: np.ndarray, b: np.ndarray) -> float:
    _check(a, b)
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    m = mse(a, b)
    return math.inf if m == 0 else 10.0 * math.log10(255.0**2 / m)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    _check(a, b)
    if a.shape[2] == 1:
        return float(structural_similarity(a[..., 0], b[..., 0], data_range=255))
    return float(structural_similarity(a, b, data_range=255, channel_axis=-1))


MS_SSIM_MIN_SIDE = 161  # pytorch_msssim: 5 scales of an 11-pixel window


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM on the 0..255 scale, or NaN for images too small for its 5 scales."""
    _check(a, b)
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    to = lambda x: torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    return float(_ms_ssim(to(a), to(b), data_range=255))


def score(original: np.ndarray, decoded: np.ndarray, nbytes: int) -> dict[str, float]:
    """All metrics of one decoded image against its original."""
    return {"bytes": nbytes, "bpp": bpp(nbytes, original.shape), "cr": cr(nbytes, original.shape),
            "psnr": psnr(original, decoded), "mse": mse(original, decoded), "ssim": ssim(original, decoded),
            "ms_ssim": ms_ssim(original, decoded)}


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its Student-t confidence interval (0 for a single value)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()), 0.0
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def _rd_front(rate, quality) -> tuple[np.ndarray, np.ndarray]:
    """The points of a rate-quality curve that no cheaper point matches in quality, as
    (log rate, quality), both strictly increasing: a curve that saturates (more bits, the same
    quality) keeps only its cheapest point at each quality level."""
    rate, quality = np.asarray(rate, float), np.asarray(quality, float)
    keep, best = [], -math.inf
    for i in np.lexsort((-quality, rate)):  # by rate; at equal rate the best quality first
        if quality[i] > best:
            keep.append(i)
            best = quality[i]
    return np.log(rate[keep]), quality[keep]


def bd_rate(rate_ref, quality_ref, rate_test, quality_test) -> float:
    """Bjøntegaard delta rate (percent) of a test codec against a reference: the mean rate
    difference at equal quality over the quality range both curves cover. Each curve is first
    reduced to its rate-quality front (see :func:`_rd_front`); its log rate is then interpolated
    in quality with a monotone piecewise-cubic (PCHIP) curve, as in later revisions of the
    Bjøntegaard method, and integrated over the overlap. (A global cubic fit, the 2001 original,
    swings wildly on curves that saturate, as GAN reversal's does.) Negative means the test codec
    needs fewer bits. NaN when the curves do not overlap in quality or a front has fewer than
    2 points."""
    (lr, qr), (lt, qt) = _rd_front(rate_ref, quality_ref), _rd_front(rate_test, quality_test)
    if min(len(qr), len(qt)) < 2:
        return math.nan
    lo, hi = max(qr[0], qt[0]), min(qr[-1], qt[-1])
    if not lo < hi:
        return math.nan
    ref, test = (interpolate.PchipInterpolator(q, lrate).integrate(lo, hi) for q, lrate in ((qr, lr), (qt, lt)))
    return float((math.exp((test - ref) / (hi - lo)) - 1) * 100)
