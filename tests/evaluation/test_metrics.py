import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from ganlib.evaluation import metrics


def test_rate_formulas():
    assert metrics.bpp(98, (28, 28, 1)) == pytest.approx(1.0)
    assert metrics.cr(98, (28, 28, 1)) == pytest.approx(8.0)
    assert metrics.cr(100, (10, 10, 3)) == pytest.approx(3.0)


def test_mse_and_psnr_known_values():
    a = np.zeros((4, 4, 1), np.uint8)
    b = np.full((4, 4, 1), 10, np.uint8)
    assert metrics.mse(a, b) == 100.0
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert metrics.psnr(a, a) == math.inf


def test_mse_does_not_wrap_uint8():
    a = np.zeros((2, 2, 1), np.uint8)
    b = np.full((2, 2, 1), 255, np.uint8)
    assert metrics.mse(a, b) == 255.0**2


def test_ssim_matches_scikit_image(images):
    a, b = images[0], images[1]
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, b) == pytest.approx(structural_similarity(a[..., 0], b[..., 0], data_range=255))


def test_ssim_colour_averages_channels(rng):
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    per_channel = [structural_similarity(a[..., i], b[..., i], data_range=255) for i in range(3)]
    assert metrics.ssim(a, b) == pytest.approx(np.mean(per_channel))


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="H, W, C"):
        metrics.mse(np.zeros((2, 2, 1), np.uint8), np.zeros((2, 3, 1), np.uint8))


def test_mean_ci():
    mean, half = metrics.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302652729 * 1.0 / math.sqrt(3))  # t(0.975, 2) * s / sqrt(n)
    assert metrics.mean_ci([5.0]) == (5.0, 0.0)


def test_score_counts_the_given_bytes(images):
    s = metrics.score(images[0], images[0], 49)
    assert s["bytes"] == 49 and s["bpp"] == pytest.approx(0.5) and s["ssim"] == pytest.approx(1.0)


def test_bd_rate_analytic():
    rate = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    quality = 10 * np.log2(rate) + 40  # any monotone curve
    assert metrics.bd_rate(rate, quality, rate / 2, quality) == pytest.approx(-50.0)
    assert metrics.bd_rate(rate, quality, rate * 1.25, quality) == pytest.approx(25.0)
    # the same curve sampled at other points: no difference
    other = np.array([0.15, 0.3, 0.6, 1.2])
    assert metrics.bd_rate(rate, quality, other, 10 * np.log2(other) + 40) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(metrics.bd_rate(rate, quality, rate, quality + 100))  # no overlap


def test_bd_rate_on_a_curve_that_saturates():
    rate = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    quality = np.log2(rate)
    # the test codec needs half the bits, then stops improving: extra rate buys no quality
    test_rate, test_quality = np.append(rate / 2, [1.0, 1.5]), np.append(quality, [quality[-1], quality[-1] - 0.01])
    assert metrics.bd_rate(rate, quality, test_rate, test_quality) == pytest.approx(-50.0)
    assert metrics.bd_rate(test_rate, test_quality, rate, quality) == pytest.approx(100.0)


def _textured(rng, shape):
    """A smooth pattern plus mild noise, uint8 of the given (H, W, C) shape."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    base = 127 + 100 * np.sin(yy / 9) * np.cos(xx / 13)
    return np.clip(base[..., None] + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)


def _reference_ms_ssim(a, b, weights=None):
    import torch
    from pytorch_msssim import ms_ssim

    to = lambda x: torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    return float(ms_ssim(to(a), to(b), data_range=255, weights=weights))


@pytest.mark.parametrize("shape", [(170, 170, 1), (161, 203, 3), (200, 177, 1)])
def test_ms_ssim_is_pytorch_msssim_where_both_apply(rng, shape):
    """Above 160 px all 5 scales apply and the value is pytorch-msssim's (float32 there)."""
    a = _textured(rng, shape)
    b = np.clip(a + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)
    assert metrics.ms_ssim_levels(min(shape[:2])) == 5
    assert metrics.ms_ssim(a, b) == pytest.approx(_reference_ms_ssim(a, b), abs=1e-4)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
def test_fewer_scales_are_pytorch_msssim_with_renormalised_weights(rng, levels):
    """The reduced-scale computation small images get, checked on an image large enough for
    pytorch-msssim to run with the same cut, renormalised weights."""
    a = _textured(rng, (170, 170, 1))
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    w = np.array(metrics.MS_SSIM_WEIGHTS[:levels])
    expected = _reference_ms_ssim(a, b, weights=list(w / w.sum()))
    assert metrics._ms_ssim(a[None], b[None], levels)[0] == pytest.approx(expected, abs=1e-4)


def test_the_search_loss_and_the_metric_weigh_the_scales_alike():
    """The weights are written twice: the metric (torch-free) cannot import the loss's module (torch)."""
    from ganlib.models import losses

    assert metrics.MS_SSIM_WEIGHTS == losses.MSSSIM_WEIGHTS


def test_ms_ssim_scales_for_the_project_sizes():
    assert [metrics.ms_ssim_levels(s) for s in (28, 32, 64, 160, 161, 10)] == [2, 2, 3, 4, 5, 1]


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (64, 64, 1), (9, 12, 1)])
def test_ms_ssim_on_small_images(rng, shape, images):
    a = images[0] if shape == (28, 28, 1) else _textured(rng, shape)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    noise = rng.normal(0, 1, shape)
    values = [metrics.ms_ssim(a, np.clip(a + sigma * noise, 0, 255).astype(np.uint8)) for sigma in (2, 5, 10, 20, 40)]
    assert all(0 < v <= 1 and math.isfinite(v) for v in values), values
    assert values == sorted(values, reverse=True) and values[0] > values[-1] + 0.1, values


def test_ms_ssim_is_filled_in_the_score(images):
    s = metrics.score(images[0], images[1], 49)
    assert 0 < s["ms_ssim"] < 1 and s["ms_ssim"] == metrics.ms_ssim(images[0], images[1])


def test_overlap_shares():
    assert metrics.overlap([1, 2], [10, 20], [1, 2], [15, 35]) == pytest.approx((0.5, 0.25))
    assert metrics.overlap([1, 2], [10, 20], [1, 2], [30, 40]) == (0.0, 0.0)
    assert all(np.isnan(metrics.overlap([1], [10], [1, 2], [10, 20])))
    assert all(np.isnan(metrics.overlap([1, 2], [10, math.inf], [1, 2], [10, 20])))


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (64, 64, 3), (9, 9, 1)])
def test_score_batch_is_score_of_each_image(rng, shape):
    """The batched metrics give each image's score as the one-image functions (scikit-image's SSIM) do."""
    a = rng.integers(0, 256, (6, *shape), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    b[0] = a[0]  # an exact copy: infinite PSNR
    batch = metrics.score_batch(a, b, list(range(10, 16)))
    for x, y, n, row in zip(a, b, range(10, 16), batch):
        single = metrics.score(x, y, n)
        assert row.keys() == single.keys()
        for key, value in single.items():
            assert row[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        assert row["ssim"] == pytest.approx(metrics.ssim(x, y), abs=1e-12)
    with pytest.raises(ValueError, match="N lengths"):
        metrics.score_batch(a, b, [1])
