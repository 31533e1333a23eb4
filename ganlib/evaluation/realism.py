"""Realism and meaning of decoded images (the rate–distortion–perception study): does a decoded
image still show the same thing, and does it look like a real member of the collection?

Features and predicted classes come from the project's classifier
(:mod:`ganlib.models.classifier`); this module is torch-free and works on its outputs:

- accuracy  = share of decoded images the classifier assigns their true label
- agreement = share whose predicted class is the classifier's prediction on the original
- KID = the unbiased estimate of MMD² (Bińkowski et al. 2018) with the cubic polynomial kernel
  k(x, y) = (x·y / d + 1)³ between the features of decoded images and of real held-out images,
  mean and standard deviation over random subsets of :data:`KID_SUBSET` images of each
- FID = Fréchet distance of Gaussians fitted to the two feature sets (Heusel et al. 2017),
  biased upward at small sample sizes: compare it only between sets of equal size

Features are divided by the reference set's root-mean-square value (:func:`feature_scale`), so the
kernel sees values of order 1 whatever the classifier's scale, as with Inception features; both
distances are 0 for two sets of one distribution (KID in expectation, FID in the limit);
proportions carry the half-width of a 95% normal-approximation interval.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ganlib.codecs import families
from ganlib.core import files, paths
from ganlib.evaluation import analysis, metrics
from ganlib.evaluation.analysis import GAN_RUNS

KID_SUBSET = 1000  # images per KID subset (the reference code's default)
REFERENCES = ("original", "samples", "noise")  # the reference rows' codec names: no codec, G's samples, uniform noise
REFERENCE_NAMES = {"original": "originals (no coding)", "samples": "generator's random samples",
                   "noise": "uniform noise"}
COLUMNS = ["codec", "param", "split", "n_images", "bpp", "psnr", "mse", "ssim", "accuracy", "accuracy_ci95",
           "agreement", "agreement_ci95", "kid", "kid_std", "fid"]  # realism.csv
RATE_FACTOR = 2.0  # a codec's point counts at a rate r when its mean rate lies within r / 2 .. 2 r
CLAIM_REALISM = ("At low rates GAN reversal keeps an image's class and realism better than every other codec.")


def feature_scale(reference: np.ndarray) -> float:
    """The root-mean-square value of the reference features (N, d): what every feature set is divided
    by before KID and FID (1 for all-zero features)."""
    rms = float(np.sqrt(np.mean(np.square(reference)))) if reference.size else 0.0
    return rms if rms > 0 else 1.0


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)³ for features x (m, d) and y (n, d): (m, n)."""
    k = x @ y.T
    k /= x.shape[1]
    k += 1.0
    return k * k * k  # not ** 3: numpy's general power is four times slower


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD² between feature sets x (m, d) and y (n, d), m, n >= 2:
    the mean kernel within x and within y without the diagonal, minus twice the mean across."""
    m, n = len(x), len(y)
    kxx, kyy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    f64 = np.float64  # sums in double precision whatever the features' precision
    within = ((kxx.sum(dtype=f64) - np.trace(kxx, dtype=f64)) / (m * (m - 1))
              + (kyy.sum(dtype=f64) - np.trace(kyy, dtype=f64)) / (n * (n - 1)))
    return float(within - 2.0 * polynomial_kernel(x, y).mean(dtype=f64))


def kid(x: np.ndarray, y: np.ndarray, subsets: int = 10, subset: int = KID_SUBSET, seed: int = 0
        ) -> tuple[float, float]:
    """KID between features x and y: :func:`mmd2_unbiased` on ``subsets`` pairs of random subsets of
    min(``subset``, len(x), len(y)) rows of each, drawn without replacement from ``seed``, the
    kernels in single precision (three times faster; the sums stay double). Returns the mean and
    the standard deviation over the subsets (0 for one); NaN for sets of fewer than 2."""
    size = min(subset, len(x), len(y))
    if size < 2:
        return math.nan, math.nan
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if subsets > 1 else 0.0


def fid(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to features x (m, d) and y (n, d):
    |μx − μy|² + tr(Σx) + tr(Σy) − 2 tr((Σx Σy)^½), the last trace computed as the sum of the square
    roots of the eigenvalues of the symmetric Σx^½ Σy Σx^½ (so a singular covariance, as with fewer
    images than features, needs no matrix square root of a non-symmetric product); NaN for sets of
    fewer than 2."""
    if len(x) < 2 or len(y) < 2:
        return math.nan
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    values, vectors = np.linalg.eigh(cx)
    root_x = (vectors * np.sqrt(values.clip(0))) @ vectors.T
    middle = np.linalg.eigvalsh(root_x @ cy @ root_x).clip(0)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(cx) + np.trace(cy) - 2.0 * np.sqrt(middle).sum())


def proportion(hits: np.ndarray) -> tuple[float, float]:
    """Share of True in ``hits`` and the half-width of its 95% normal-approximation interval
    (NaN, NaN when empty)."""
    hits = np.asarray(hits, dtype=np.float64)
    if not len(hits):
        return math.nan, math.nan
    p = float(hits.mean())
    return p, float(1.96 * math.sqrt(p * (1 - p) / len(hits)))


def score_set(preds: np.ndarray, feats: np.ndarray, reference: np.ndarray, labels: np.ndarray | None = None,
              original_preds: np.ndarray | None = None, subsets: int = 10, seed: int = 0) -> dict:
    """The realism columns of one set of decoded images: ``preds`` (N,) and ``feats`` (N, d) from the
    classifier, ``reference`` (M, d) the real held-out images' features, ``labels`` the true
    classes and ``original_preds`` the classifier's predictions on the originals (each None: its
    column NaN)."""
    acc = proportion(preds == labels) if labels is not None else (math.nan, math.nan)
    agree = proportion(preds == original_preds) if original_preds is not None else (math.nan, math.nan)
    k, k_std = kid(feats, reference, subsets, seed=seed)
    return {"n_images": len(preds), "accuracy": acc[0], "accuracy_ci95": acc[1], "agreement": agree[0],
            "agreement_ci95": agree[1], "kid": k, "kid_std": k_std, "fid": fid(feats, reference)}


# ------------------------------------------------------------------ the run's decoded images and realism tables
def decoded_sets(run: str | Path) -> Iterator[tuple[str, float, str, pd.DataFrame, np.ndarray]]:
    """Every set of decoded images the run holds, as (codec, param, split, rows, images): GAN
    reversal's refined files per mode and bit depth (:data:`ganlib.evaluation.analysis.GAN_RUNS`,
    from 03's ``invert_<name>.csv`` and ``.npz``), then every codec and parameter of 04 and 04b
    (their csv rows and ``*_decoded.npy``, row for row). ``rows`` hold the files' ``image_id``,
    ``bpp``, ``psnr`` and ``ssim``; ``images`` are uint8 (N, H, W, C) in the rows' order."""
    run = paths.RunDir(run)
    for family, names in GAN_RUNS.items():
        for name in names:
            rows = pd.read_csv(run.inversion_csv(name))
            with np.load(run.inversion_npz(name)) as npz:
                for bits, group in rows[rows.stage == "refined"].groupby("bits"):
                    images = npz[f"decoded_b{int(bits)}"]
                    yield family, float(bits), group.split.iloc[0], group.reset_index(drop=True), images
    for csv, npy in ((run.baselines_csv, run.baselines_decoded), (run.residual_csv, run.residual_decoded)):
        rows, images = pd.read_csv(csv), np.load(npy, mmap_mode="r")
        for (codec, param, split), group in rows.groupby(["codec", "param", "split"], sort=False, dropna=False):
            yield codec, float(param), split, group.reset_index(drop=True), np.asarray(images[group.index.to_numpy()])


def read(run: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """04c's tables (``realism.csv``, ``realism_images.csv``) and 02c's ``classifier.json`` (its
    ``classes`` is 0 and ``reason`` says why when the data set has no labels)."""
    run = paths.RunDir(run)
    made_by = "notebooks/04c_realism.ipynb (make realism)"
    table = pd.read_csv(paths.require(run.realism_csv, made_by))
    per_image = pd.read_csv(paths.require(run.realism_images_csv, made_by))
    return table, per_image, files.read_json(run.classifier_config)


def grid_columns(run: str | Path, rows: pd.DataFrame, per_image: pd.DataFrame, ids: Sequence[int],
                 class_names: Sequence[str]) -> list[dict]:
    """The side-by-side grid's columns: for each row of ``rows`` (codec, param, split, as
    :func:`matched` returns them), the decoded images of evaluation images ``ids`` (uint8 (n, H, W, C)),
    the class the classifier gives each (``classes``, names) and whether it is the true one
    (``right``), with the codec's ``label`` and mean ``bpp``."""
    wanted = {(r.codec, float(r.param), r.split): r for r in rows.itertuples()}
    columns = {}
    for codec, param, split, group, images in decoded_sets(run):
        if (codec, param, split) in wanted:
            at = pd.Series(range(len(group)), index=group.image_id.to_numpy())[list(ids)].to_numpy()
            mine = per_image[(per_image.codec == codec) & np.isclose(per_image.param, param)
                             & (per_image.split == split)].set_index("image_id").loc[list(ids)]
            columns[(codec, param, split)] = {
                "label": families.label(codec, param), "bpp": wanted[(codec, param, split)].bpp,
                "images": images[at], "classes": [class_names[int(c)] for c in mine.pred],
                "right": mine.correct.astype(bool).tolist()}
    return [columns[k] for k in wanted if k in columns]


# ------------------------------------------------------------------ at matched rates, and the verdict
def opponents(table: pd.DataFrame) -> list[str]:
    """The codecs GAN reversal is compared with: every classical and learned family of ``table``
    but lossless PNG, in registry order."""
    kinds = (families.CLASSICAL, families.LEARNED)
    return [c for c in families.order(table.codec) if c in families.FAMILIES and c != "png"
            and families.FAMILIES[c].kind in kinds]


def nearest(table: pd.DataFrame, codec: str, split: str, rate: float) -> pd.Series | None:
    """The row of ``codec`` on ``split`` whose mean rate is nearest ``rate`` in log scale, if it lies
    within a factor :data:`RATE_FACTOR` of it; else None (the codec cannot make files near that rate)."""
    rows = table[(table.codec == codec) & (table.split == split)]
    if rows.empty:
        return None
    gap = np.abs(np.log(rows.bpp / rate))
    best = rows.loc[gap.idxmin()]
    return best if gap.min() <= math.log(RATE_FACTOR) else None


def matched(table: pd.DataFrame, rates: dict[str, float], test: str = "gan") -> pd.DataFrame:
    """Each opponent's (:func:`opponents`) row nearest GAN reversal's rate on each split (``rates``:
    split -> bpp of ``test``'s operating point), with ``target_bpp``; codecs without a point within
    a factor :data:`RATE_FACTOR` are left out."""
    rows = []
    for split, rate in rates.items():
        for codec in [test, *opponents(table)]:
            row = nearest(table, codec, split, rate)
            if row is not None:
                rows.append({**row.to_dict(), "target_bpp": rate})
    return pd.DataFrame(rows)


def gan_rates(table: pd.DataFrame, gan_bits: int, test: str = "gan") -> dict[str, float]:
    """Mean rate of ``test``'s files at ``gan_bits`` per split (splits without them left out)."""
    rates = {s: table[(table.codec == test) & (table.param == gan_bits) & (table.split == s)].bpp.mean()
             for s in analysis.SPLIT_ORDER}
    return {s: r for s, r in rates.items() if np.isfinite(r)}


def matched_table(table: pd.DataFrame, gan_bits: int, test: str = "gan") -> pd.DataFrame:
    """Per split (unseen first): GAN reversal at ``gan_bits``, each opponent's point nearest its rate
    (:func:`matched`), then the references (:data:`REFERENCES`)."""
    near = matched(table, gan_rates(table, gan_bits, test), test)
    frames = []
    for split in analysis.SPLIT_ORDER:
        frames += [near[near.split == split] if len(near) else near,
                   table[(table.split == split) & table.codec.isin(REFERENCES)]]
    return pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else near


def for_display(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with accuracy and agreement in percent, as the report prints them (``accuracy_pct``,
    ``accuracy_ci95_pct``, ``agreement_pct``, ``agreement_ci95_pct``)."""
    out = table.copy()
    for c in ("accuracy", "accuracy_ci95", "agreement", "agreement_ci95"):
        out[f"{c}_pct"] = 100 * out[c]
    return out


def paired_difference(per_image: pd.DataFrame, split: str, a: tuple, b: tuple, column: str = "correct"
                      ) -> tuple[float, float]:
    """Mean of ``column`` of set ``a`` (codec, param) minus set ``b`` on the images both hold, and the
    half-width of its 95% confidence interval (paired: the same images)."""
    pick = [per_image[(per_image.split == split) & (per_image.codec == c) & np.isclose(per_image.param, p)]
            .set_index("image_id")[column] for c, p in (a, b)]
    joined = pd.concat(pick, axis=1, join="inner").astype(float)
    if joined.empty:
        return math.nan, math.nan
    return metrics.mean_ci(joined.iloc[:, 0] - joined.iloc[:, 1])


def verdict(table: pd.DataFrame, per_image: pd.DataFrame, gan_bits: int, test: str = "gan", reason: str = ""
            ) -> analysis.Verdict:
    """The realism claim (:data:`CLAIM_REALISM`), decided on each split at the rate of ``test``'s
    files at ``gan_bits`` against every opponent with a point within a factor :data:`RATE_FACTOR`
    of that rate (:func:`matched`). Two comparisons per opponent: class (GAN reversal's accuracy
    higher, with the 95% interval of the paired per-image difference above 0) and realism (its
    KID lower, the two KIDs' ± one standard deviation ranges apart). Holds if GAN reversal wins
    every comparison, partly if some, does not hold if none; not tested without a classifier
    (``reason`` says why)."""
    if table.empty:
        return analysis.Verdict(CLAIM_REALISM, analysis.UNTESTED, [f"Not tested: {reason}."], ["Realism and meaning"])
    passed, evidence, numbers = [], [], {}
    near = matched(table, gan_rates(table, gan_bits, test), test)
    for split in analysis.SPLIT_ORDER:
        rows = near[near.split == split] if len(near) else near
        gan = rows[rows.codec == test]
        if gan.empty:
            continue
        g = gan.iloc[0]
        others = rows[rows.codec != test]
        wins, losses, unreachable = [], [], sorted(set(opponents(table)) - set(others.codec))
        for o in others.itertuples():
            diff, half = paired_difference(per_image, split, (test, g.param), (o.codec, o.param))
            class_win = bool(diff - half > 0)
            real_win = bool(g.kid + g.kid_std < o.kid - o.kid_std)
            passed += [class_win, real_win]
            numbers[(split, o.codec)] = {"param": o.param, "bpp": o.bpp, "accuracy": o.accuracy, "kid": o.kid,
                                         "accuracy_diff": diff, "accuracy_diff_ci95": half}
            (wins if class_win and real_win else losses).append(
                f"{families.label(o.codec, o.param)} ({o.bpp:.2f} bpp: accuracy {o.accuracy:.1%}, difference "
                f"{diff:+.1%} ± {half:.1%}; KID {o.kid:.4f} ± {o.kid_std:.4f})")
        numbers[(split, test)] = {"bpp": g.bpp, "accuracy": g.accuracy, "kid": g.kid, "kid_std": g.kid_std}
        compared = (f"Better on both class and realism than: {'; '.join(wins) or 'none'}. Not better on both than: "
                    f"{'; '.join(losses) or 'none'}." if len(others) else "No other codec to compare with here.")
        evidence.append(
            f"{split.capitalize()} images at GAN reversal's {g.bpp:.2f} bpp ({gan_bits}-bit z): accuracy "
            f"{g.accuracy:.1%} ± {g.accuracy_ci95:.1%}, KID {g.kid:.4f} ± {g.kid_std:.4f}. {compared}"
            + (f" No file within a factor {RATE_FACTOR:g} of this rate: {', '.join(map(families.label, unreachable))}."
               if unreachable else ""))
    return analysis.Verdict(CLAIM_REALISM, analysis._status(passed), evidence, ["Realism and meaning"], numbers)


def theory_check(table: pd.DataFrame, gan_bits: int, test: str = "gan", split: str = "unseen") -> str:
    """What the rate–distortion–perception theory predicts at GAN reversal's rate, and whether this
    run agrees: a decoder whose outputs follow the data distribution (perfect realism) needs at
    most twice the MSE of the MSE-optimal decoder at the same rate (Blau and Michaeli 2019,
    Theorem 2 for MSE), and no decoder of lower distortion can be more realistic without costing
    rate. Compares GAN reversal's MSE with the lowest MSE of an opponent near its rate, and its
    KID with theirs and with the generator's own samples."""
    rate = gan_rates(table, gan_bits, test).get(split)
    near = matched(table, {split: rate}, test) if rate is not None else pd.DataFrame()
    if near.empty or near[near.codec != test].empty:
        return "No other codec makes files near GAN reversal's rate, so the theory cannot be checked here."
    g, others = near[near.codec == test].iloc[0], near[near.codec != test]
    best = others.loc[others.mse.idxmin()]
    samples = table[(table.codec == "samples") & (table.split == split)].kid
    ratio = g.mse / best.mse
    more_real = bool((g.kid < others.kid).all())
    return (f"At GAN reversal's {g.bpp:.2f} bpp on {split} images, the lowest MSE of another codec is "
            f"{families.label(best.codec, best.param)}'s {best.mse:.0f} at {best.bpp:.2f} bpp; GAN reversal's MSE is "
            f"{g.mse:.0f}, {ratio:.1f} times that (the theory's bound for a perfectly realistic decoder: 2). "
            f"Its KID is {g.kid:.4f}, {'below every' if more_real else 'not below every'} other codec's near this "
            f"rate (the generator's own samples: {samples.mean():.4f}). "
            + ("The run agrees with the theory: more realism, paid for in distortion within the bound."
               if more_real and ratio <= 2 else
               "The run agrees on the direction (the most realistic decoder here is also the most distorted) but "
               "not on the price: GAN reversal pays more than the bound, so part of its distortion is not the "
               "price of realism but what its generator and search cannot reproduce." if more_real else
               "The run does not show GAN reversal as the more realistic decoder at this rate."))


def common_rates(table: pd.DataFrame, test: str = "gan", split: str = "unseen", most: int = 3) -> dict[float, float]:
    """GAN reversal's bit depths at whose rate at least one opponent has a point within a factor
    :data:`RATE_FACTOR` (:func:`nearest`), with those rates: the lowest, the highest and one between
    (at most ``most``), ascending. Empty when no opponent comes near."""
    gan = table[(table.codec == test) & (table.split == split)].sort_values("bpp")
    common = {float(g.param): float(g.bpp) for g in gan.itertuples()
              if any(nearest(table, c, split, g.bpp) is not None for c in opponents(table))}
    keys = list(common)
    picks = sorted({keys[round(i * (len(keys) - 1) / max(most - 1, 1))] for i in range(most)}) if keys else []
    return {k: common[k] for k in picks}


def classifier_statement(meta: dict) -> str:
    """One sentence on the run's classifier (02c's JSON), or why there is none."""
    if not meta.get("classes"):
        return f"No realism study: {meta.get('reason', 'no classifier')}."
    return (f"The classifier ({meta['parameters']:,} parameters, {meta['steps']} steps of {meta['batch_size']} "
            f"training images, {meta['seconds']:.0f} s) labels {meta['test_accuracy']:.1%} of the "
            f"{meta['test_images']:,} held-out images correctly; its {len(meta['class_names'])} classes: "
            f"{', '.join(meta['class_names'])}.")


def figure_points(table: pd.DataFrame, rates: Sequence[float], split: str = "unseen") -> pd.DataFrame:
    """The perception–distortion plane at matched rates: for each of ``rates``, GAN reversal's and
    every opponent's point nearest it (:func:`matched`), with ``target_bpp``."""
    frames = [matched(table, {split: r}) for r in rates]
    return pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else (
        pd.DataFrame(columns=[*COLUMNS, "target_bpp"]))
