"""Rate and quality metrics, defined once and used for every scheme.

Images are uint8 arrays (H, W, C) with values 0..255; ``nbytes`` is the length of
the byte string a decoder reads back.

- BPP  = 8 * bytes / (H * W)             bits per pixel
- CR   = H * W * C / bytes               raw 8-bit size over stored size
- MSE  = mean((a - b)^2) on the 0..255 scale
- PSNR = 10 log10(255^2 / MSE) dB        (inf when the images are equal)
- SSIM = skimage.metrics.structural_similarity(data_range=255), 7x7 window,
         averaged over channels for colour images
- MS-SSIM = multi-scale SSIM (Wang, Simoncelli and Bovik 2003) as pytorch_msssim.ms_ssim
         computes it (data_range=255, 11x11 Gaussian window of sigma 1.5, K = (0.01, 0.03),
         negative contrast terms clipped to 0, 2x2 average pooling between scales), but over
         as many dyadic scales (at most the standard 5) as keep the shorter side >= the window,
         with the standard weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) cut to those scales
         and renormalised to sum to 1; averaged over channels for colour images. Images of
         28 or 32 px get 2 scales, 64 px 3, more than 160 px all 5 (then it equals
         pytorch-msssim's value). Below 11 px the window shrinks to the largest odd size that
         fits (same sigma) and MS-SSIM is a single-scale Gaussian SSIM.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import interpolate, ndimage, stats
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


# Wang et al. 2003, as pytorch_msssim. Also ganlib.models.losses.MSSSIM_WEIGHTS (the search's loss), which this
# torch-free layer cannot import and no lower layer owns; tests/evaluation/test_metrics.py checks the two are equal.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_WINDOW, MS_SSIM_SIGMA = 11, 1.5


def ms_ssim_levels(side: int, win: int = MS_SSIM_WINDOW) -> int:
    """Number of MS-SSIM scales for an image whose shorter side is ``side``: as many as keep
    the side >= ``win`` (each scale halves it, rounding up), at most 5."""
    levels = 1
    while levels < len(MS_SSIM_WEIGHTS) and -(-side // 2 ** levels) >= win:
        levels += 1
    return levels


def _pool(x: np.ndarray) -> np.ndarray:
    """2 x 2 average pooling of (N, H, W, C), as torch's ``avg_pool2d(x, 2, padding=side % 2)``:
    an odd side gets a zero on each end, and every window is divided by 4."""
    ph, pw = x.shape[1] % 2, x.shape[2] % 2
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h, w = (x.shape[1] - 2) // 2 + 1, (x.shape[2] - 2) // 2 + 1
    x = x[:, :2 * h, :2 * w]
    return (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]) / 4


def _ms_ssim(a: np.ndarray, b: np.ndarray, levels: int, win: int = MS_SSIM_WINDOW) -> np.ndarray:
    """MS-SSIM of each pair of images (N, H, W, C) over ``levels`` scales with a ``win``-pixel
    Gaussian window (float64 throughout): (N,); the computation of pytorch_msssim.ms_ssim with the
    weights cut to ``levels`` and renormalised."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    coords = np.arange(win, dtype=np.float64) - win // 2
    g = np.exp(-coords**2 / (2 * MS_SSIM_SIGMA**2))
    g = g / g.sum()
    crop = win // 2

    def blur(t):  # separable Gaussian, "valid" borders
        t = ndimage.correlate1d(ndimage.correlate1d(t, g, axis=1), g, axis=2)
        return t[:, crop:t.shape[1] - crop, crop:t.shape[2] - crop]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    weights = np.asarray(MS_SSIM_WEIGHTS[:levels]) / sum(MS_SSIM_WEIGHTS[:levels])
    out = np.ones((x.shape[0], x.shape[3]))
    for level in range(levels):
        mx, my = blur(x), blur(y)
        vx, vy, vxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        cs_map = (2 * vxy + c2) / (vx + vy + c2)
        if level < levels - 1:
            term = cs_map.mean(axis=(1, 2))
            x, y = _pool(x), _pool(y)
        else:
            term = ((2 * mx * my + c1) / (mx * mx + my * my + c1) * cs_map).mean(axis=(1, 2))
        out = out * np.clip(term, 0, None) ** weights[level]
    return out.mean(axis=1)


def ms_ssim_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`ms_ssim` of each pair of images (N, H, W, C): (N,)."""
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"image batches must both be (N, H, W, C); got {a.shape} and {b.shape}")
    side = min(a.shape[1:3])
    win = min(MS_SSIM_WINDOW, side if side % 2 else side - 1)
    return _ms_ssim(a, b, ms_ssim_levels(side, win), win)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM on the 0..255 scale, over as many scales as the image size allows (see the
    module docstring): 2 for 28 px, 5 (pytorch-msssim's value) above 160 px."""
    _check(a, b)
    return float(ms_ssim_batch(a[None], b[None])[0])


def ssim_batch(a: np.ndarray, b: np.ndarray, win: int = 7) -> np.ndarray:
    """:func:`ssim` of each pair of images (N, H, W, C): (N,), computed as
    ``skimage.metrics.structural_similarity`` computes it (uniform ``win`` x ``win`` window,
    sample covariance, border of (win - 1) / 2 cropped, the mean over channels), on all images at once."""
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"image batches must both be (N, H, W, C); got {a.shape} and {b.shape}")
    x, y = a.astype(np.float64), b.astype(np.float64)
    size = (1, win, win, 1)
    ux, uy = ndimage.uniform_filter(x, size), ndimage.uniform_filter(y, size)
    uxx, uyy, uxy = (ndimage.uniform_filter(v, size) for v in (x * x, y * y, x * y))
    norm = win * win / (win * win - 1)
    vx, vy, vxy = norm * (uxx - ux * ux), norm * (uyy - uy * uy), norm * (uxy - ux * uy)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return s[:, pad:s.shape[1] - pad, pad:s.shape[2] - pad].mean(axis=(1, 2)).mean(axis=1)


def score_batch(originals: np.ndarray, decoded: np.ndarray, nbytes) -> list[dict[str, float]]:
    """:func:`score` of each image of a batch (N, H, W, C), ``nbytes`` its file's length, at once."""
    if originals.shape != decoded.shape or originals.ndim != 4 or len(nbytes) != len(originals):
        raise ValueError(f"need two image batches (N, H, W, C) of one shape and N lengths; got {originals.shape}, "
                         f"{decoded.shape} and {len(nbytes)} lengths")
    shape = originals.shape[1:]
    mses = ((originals.astype(np.float64) - decoded.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    ssims, ms_ssims = ssim_batch(originals, decoded), ms_ssim_batch(originals, decoded)
    return [{"bytes": n, "bpp": bpp(n, shape), "cr": cr(n, shape),
             "psnr": math.inf if m == 0 else 10.0 * math.log10(255.0**2 / m), "mse": float(m), "ssim": float(s),
             "ms_ssim": float(ms)} for n, m, s, ms in zip(nbytes, mses, ssims, ms_ssims)]


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


def overlap(rate_a, quality_a, rate_b, quality_b) -> tuple[float, float]:
    """The share of curve a's and of curve b's quality range (of their rate-quality fronts, as
    :func:`bd_rate` uses them) that both cover: (share of a, share of b), each in [0, 1]; NaN for
    a curve whose front has fewer than 2 points or reaches infinite quality."""
    (_, qa), (_, qb) = _rd_front(rate_a, quality_a), _rd_front(rate_b, quality_b)
    if min(len(qa), len(qb)) < 2 or not np.isfinite([qa[0], qa[-1], qb[0], qb[-1]]).all():
        return math.nan, math.nan
    common = max(0.0, min(qa[-1], qb[-1]) - max(qa[0], qb[0]))
    return float(common / (qa[-1] - qa[0])), float(common / (qb[-1] - qb[0]))


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
