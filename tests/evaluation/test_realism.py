import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from ganlib.evaluation import analysis, realism


def brute_force_mmd2(x, y):
    """The unbiased MMD² written out as sums over pairs (Gretton et al. 2012, eq. 3)."""
    def k(a, b):
        return (a @ b / len(a) + 1.0) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_sum_over_pairs(rng):
    x, y = rng.normal(size=(7, 3)), rng.normal(1, 2, size=(5, 3))
    assert realism.mmd2_unbiased(x, y) == pytest.approx(brute_force_mmd2(x, y))


def test_kid_in_single_precision_keeps_the_double_precision_value(rng):
    """kid computes its kernels in float32: on 1,000 features of 128 dimensions at KID's scale (RMS 1)
    its value stays within 1e-8 of the same subsets computed in float64 (float32 sums would miss by 2e-7)."""
    x, y = rng.normal(size=(1200, 128)), rng.normal(0.05, 1.0, size=(1100, 128))
    draw = np.random.default_rng(3)
    exact = realism.mmd2_unbiased(x[draw.choice(1200, 1000, replace=False)], y[draw.choice(1100, 1000, replace=False)])
    assert realism.kid(x, y, subsets=1, seed=3)[0] == pytest.approx(exact, abs=1e-8)
    assert exact > 1e-3  # the shift is visible, so the check compares a value, not noise around 0


def test_kid_of_one_distribution_is_zero_on_average(rng):
    """Unbiased: over many small draws from one Gaussian the mean estimate is 0 within its error,
    though each estimate is noisy (and often negative)."""
    values = [realism.mmd2_unbiased(rng.normal(size=(15, 4)), rng.normal(size=(15, 4))) for _ in range(400)]
    assert abs(np.mean(values)) < 3 * np.std(values) / math.sqrt(len(values))
    assert min(values) < 0


def test_kid_grows_with_a_shifted_mean(rng):
    x = rng.normal(size=(300, 8))
    same, small, large = (realism.kid(x, rng.normal(shift, 1, size=(300, 8)), subsets=5, subset=200)
                          for shift in (0.0, 0.3, 1.0))
    assert abs(same[0]) < 3 * same[1] + 1e-3
    assert same[0] < small[0] < large[0] and small[0] > 3 * small[1]


def test_kid_subsets_are_seeded_and_small_sets_are_nan(rng):
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    assert realism.kid(x, y, 4, 30, seed=1) == realism.kid(x, y, 4, 30, seed=1)
    assert all(math.isnan(v) for v in realism.kid(x[:1], y))


def test_fid_matches_a_reference_computation(rng):
    x, y = rng.normal(size=(60, 4)), rng.normal(0.5, 1.5, size=(80, 4)) @ rng.normal(size=(4, 4))
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(cx @ cy).real  # the usual computation (Heusel et al.'s reference code)
    expected = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(cx + cy - 2 * root)
    assert realism.fid(x, y) == pytest.approx(expected, rel=1e-6)
    assert realism.fid(x, x) == pytest.approx(0, abs=1e-6)


def test_fid_of_fewer_images_than_features_warns_of_nothing(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert realism.fid(rng.normal(size=(5, 20)), rng.normal(size=(6, 20))) > 0


def test_proportion_and_score_set(rng):
    assert realism.proportion(np.array([True, False, True, True])) == pytest.approx(
        (0.75, 1.96 * math.sqrt(0.75 * 0.25 / 4)))
    feats = rng.normal(size=(20, 5))
    row = realism.score_set(np.array([1, 2] * 10), feats, rng.normal(size=(30, 5)), labels=np.array([1] * 20),
                            original_preds=np.array([1, 2] * 10), subsets=2)
    assert row["n_images"] == 20 and row["accuracy"] == 0.5 and row["agreement"] == 1.0
    assert math.isnan(realism.score_set(np.zeros(20), feats, feats, subsets=2)["accuracy"])


def table(gan_acc, gan_kid):
    """A realism table and per-image classes: GAN reversal at 0.7 bpp against WebP at 1.0 bpp and
    JPEG at 2.1 bpp (out of reach: more than twice the rate)."""
    rows = []
    per = []
    for split in ("seen", "unseen"):
        for codec, param, bpp, acc, kid in (("gan", 8, 0.7, gan_acc, gan_kid), ("webp", 0, 1.0, 0.8, 0.05),
                                            ("jpeg", 1, 2.1, 0.9, 0.01)):
            rows.append({"codec": codec, "param": param, "split": split, "bpp": bpp, "mse": 100 * bpp,
                         "accuracy": acc, "accuracy_ci95": 0.01, "kid": kid, "kid_std": 0.002})
            hits = np.arange(200) < acc * 200
            per.append(pd.DataFrame({"codec": codec, "param": float(param), "split": split,
                                     "image_id": np.arange(200), "correct": hits}))
    rows.append({"codec": "samples", "param": np.nan, "split": "unseen", "kid": 0.004})
    return pd.DataFrame(rows), pd.concat(per, ignore_index=True)


def test_verdict_compares_with_the_codecs_near_gan_reversals_rate():
    won = realism.verdict(*table(0.95, 0.01), gan_bits=8)
    assert won.status == analysis.HOLDS and len(won.evidence) == 2
    assert "JPEG" in won.evidence[0] and "No file within a factor 2" in won.evidence[0]
    assert realism.verdict(*table(0.95, 0.2), gan_bits=8).status == analysis.PARTLY
    assert realism.verdict(*table(0.5, 0.2), gan_bits=8).status == analysis.FAILS


def test_theory_check_states_the_bound_and_whether_the_run_agrees():
    text = realism.theory_check(table(0.95, 0.01)[0], 8)
    assert "0.7 times" in text and "agrees" in text
    assert "does not show" in realism.theory_check(table(0.95, 0.2)[0], 8)
    costly = table(0.95, 0.01)[0]
    costly.loc[costly.codec == "gan", "mse"] = 300  # 3 times WebP's
    assert "not on the price" in realism.theory_check(costly, 8)


def test_nearest_refuses_points_more_than_a_factor_two_away():
    t = table(0.9, 0.01)[0]
    assert realism.nearest(t, "jpeg", "unseen", 0.7) is None
    assert realism.nearest(t, "webp", "unseen", 0.7).bpp == 1.0


def test_without_a_classifier_the_claim_is_untested_and_says_why():
    v = realism.verdict(pd.DataFrame(columns=realism.COLUMNS), pd.DataFrame(), 8, reason="no labels")
    assert v.status == analysis.UNTESTED and v.evidence == ["Not tested: no labels."]


def test_common_rates_are_gan_rates_with_an_opponent_in_reach():
    t, _ = table(0.9, 0.01)
    extra = pd.DataFrame([{"codec": "gan", "param": 3, "split": "unseen", "bpp": 0.2}])
    assert realism.common_rates(pd.concat([t, extra]), split="unseen") == {8.0: 0.7}  # 0.2 bpp: none within 2x
    points = realism.figure_points(t, [0.7])
    assert set(points.codec) == {"gan", "webp"} and (points.target_bpp == 0.7).all()


def test_feature_scale_is_the_reference_rms(rng):
    x = rng.normal(0, 5, size=(100, 4))
    assert realism.feature_scale(x) == pytest.approx(np.sqrt((x ** 2).mean()))
    assert realism.feature_scale(np.zeros((3, 2))) == 1.0
