"""Evaluation as library code: the readers of a run's results and every table, study and verdict
of 05_results (the encode -> file -> read back -> decode -> score loop of the stages that measure
codecs is :mod:`ganlib.evaluation.scoring`).

Images are uint8 arrays (N, H, W, C); every rate is the length of the bytes a decoder reads.
Tables are pandas DataFrames with plain columns; every table lists unseen images before seen
ones and codecs in the order of :data:`ganlib.codecs.families.FAMILIES`. A value that cannot exist
(curves that do not overlap, a rate outside a codec's range) is NaN with a ``note`` column
holding the reason's key in :data:`NOTES`, which the report prints as "—" and a footnote.
"""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ganlib.codecs import classical, families
from ganlib.core import files, params, paths
from ganlib.evaluation import channel, metrics
from ganlib.formats import latent_format

# ------------------------------------------------------------------ constants
SPLIT_ORDER = ("unseen", "seen")  # every table and figure: unseen images first
RD_COLUMNS = ["codec", "param", "split", "image_id", "search_subset", "bytes", "payload_bytes", "bpp", "psnr", "ssim",
              "ms_ssim"]
SUMMARY_COLUMNS = ["split", "scheme", "n_images", "bpp", "bpp_ci95", "cr", "psnr", "psnr_ci95", "mse", "ssim",
                   "ssim_ci95"]
QUALITY = {"ssim": "SSIM", "psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM"}  # quality columns of rd.csv
SEARCH_RUNS = ("seen", "unseen")  # 03 runs of the seed's search, each split with its own loss (the controls aside)
# rd.csv's GAN reversal families and the 03 runs whose refined files are their rows: the command line's default mode
# (hybrid) and encoder-only mode on every evaluation image, the seed's search on the first 64
GAN_RUNS = {"gan": ("seen_hybrid", "unseen_hybrid"), "gan_encoder": ("seen_encoder", "unseen_encoder"),
            "gan_search": SEARCH_RUNS}
BOOTSTRAP = 300  # bootstrap resamples of the images behind each BD-rate interval
REFERENCE = "jpeg1"  # the seed's reference operating point: JPEG at its lowest quality

# Why a table cell is empty, by code (the report prints "—" with a footnote saying this).
NOTES = {
    "lossless": "PNG is lossless: one operating point, no curve",
    "single": "the codec has a single operating point in this run (one parameter value), so it has no curve",
    "saturates": "the codec's rate–quality curve saturates: fewer than two of its points improve on a cheaper one",
    "gan-saturates": ("the tested curve (GAN reversal's, or the layered codec's) saturates: fewer than two of its "
                      "points improve on a cheaper one"),
    "no-overlap": "the two curves do not overlap in quality",
    "below": "GAN reversal's rate lies below the codec's lowest rate (its smallest file is larger)",
    "above": "GAN reversal's rate lies above the codec's highest rate",
    "no-decode": "no file decoded at this bit-error rate",
    "no-duration": "papermill recorded no wall time for this notebook",
}


def split_order(frame: pd.DataFrame, by: Sequence[str] = ("split",)) -> pd.DataFrame:
    """Rows sorted stably by split (unseen first) and, if a ``codec`` column is in ``by``, by the
    registry's codec order."""
    keys = []
    for column in by:
        if column == "split":
            keys.append(frame.split.map({s: i for i, s in enumerate(SPLIT_ORDER)}).fillna(len(SPLIT_ORDER)))
        elif column == "codec":
            keys.append(frame.codec.map(families.rank))
        else:
            keys.append(frame[column])
    order = np.lexsort([np.asarray(k, dtype=float) for k in reversed(keys)])
    return frame.iloc[order].reset_index(drop=True)


def check_params(gan_bits: int, n_grid: int, bit_error_trials: int) -> None:
    """Validate 05_results' parameters (ValueError naming the first bad one)."""
    params.int_range("gan_bits", gan_bits, 1, 16)
    params.int_range("n_grid", n_grid, 1, 64)
    params.int_range("bit_error_trials", bit_error_trials, 1, 1000)


# ------------------------------------------------------------------ stage outputs -> rd.csv
def _made_by(notebook: str, target: str, profile: str) -> str:
    return f"notebooks/{notebook}.ipynb (make {target} PROFILE={profile})"


def read_inversions(run: str | Path, profile: str, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """The per-image CSVs of 03_invert, ``invert_<name>.csv``, by name (FileNotFoundError naming
    the stage that writes a missing one)."""
    names = paths.INVERSIONS if names is None else names
    run = paths.RunDir(run)
    return {n: pd.read_csv(paths.require(run.inversion_csv(n), f"notebooks/03_invert.ipynb, stage "
                                         f"invert_{n} (make invert PROFILE={profile})")) for n in names}


def read_inversion_images(run: str | Path, profile: str, name: str = "unseen") -> dict[str, np.ndarray]:
    """The arrays of 03_invert's ``invert_<name>.npz``: ``ids``, ``originals``, ``float_images`` and
    ``decoded_b<bits>`` per bit depth."""
    path = paths.require(paths.RunDir(run).inversion_npz(name), f"notebooks/03_invert.ipynb, stage invert_{name} "
                         f"(make invert PROFILE={profile})")
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def read_tradeoff(run: str | Path, profile: str) -> pd.DataFrame:
    """03b_tradeoff's per-image CSV (one row per split, mode and image)."""
    return pd.read_csv(paths.require(paths.RunDir(run).tradeoff_csv, _made_by("03b_tradeoff", "tradeoff", profile)))


def read_baselines(run: str | Path, profile: str) -> pd.DataFrame:
    """04_baselines' per-image CSV."""
    return pd.read_csv(paths.require(paths.RunDir(run).baselines_csv, _made_by("04_baselines", "baselines", profile)))


def read_residual(run: str | Path, profile: str) -> pd.DataFrame:
    """04b_residual's per-image CSV (the layered codecs' rows)."""
    return pd.read_csv(paths.require(paths.RunDir(run).residual_csv, _made_by("04b_residual", "residual", profile)))


def gan_rows(inversions: Mapping[str, pd.DataFrame], family: str = "gan_search") -> pd.DataFrame:
    """The rows of the 03 runs of one of GAN reversal's families (:data:`GAN_RUNS`): by default the
    seed's search of each split with its own loss (the control runs excluded)."""
    return pd.concat([inversions[s] for s in GAN_RUNS[family]])


def check_gan_bits(rows: pd.DataFrame, gan_bits: int) -> None:
    """ValueError naming the bit depths 03 produced if ``gan_bits`` is not one of them."""
    produced = sorted(set(rows.bits.dropna().astype(int)))
    if gan_bits not in produced:
        raise ValueError(f"gan_bits={gan_bits} is not allowed; 03_invert produced bits {produced}")


def build_rd(inversions: Mapping[str, pd.DataFrame], baselines: pd.DataFrame) -> pd.DataFrame:
    """rd.csv: one row per codec, parameter, split and image (:data:`RD_COLUMNS`). GAN reversal's
    rows are the refined files of the 03 runs of :data:`GAN_RUNS` (``param`` = bits), the other
    codecs' those of ``baselines``. ``search_subset`` marks the images the seed's search inverted
    (the first of each split's evaluation images); only the images that the command line's mode
    inverted are kept for every codec (03 may invert fewer than 04 encodes)."""
    parts = []
    for family in GAN_RUNS:
        rows = gan_rows(inversions, family)
        parts.append(rows[rows.stage == "refined"].assign(codec=family, param=lambda t: t.bits.astype(int)))
    subset = {(s, i) for s, i in zip(parts[-1].split, parts[-1].image_id)}
    rd = pd.concat([*parts, baselines], ignore_index=True)
    rd["search_subset"] = [(s, i) in subset for s, i in zip(rd.split, rd.image_id)]
    common = {(s, i) for s, i in zip(parts[0].split, parts[0].image_id)}
    return rd[[(s, i) in common for s, i in zip(rd.split, rd.image_id)]][RD_COLUMNS].reset_index(drop=True)


def write_rd(path: str | Path, rd: pd.DataFrame) -> pd.DataFrame:
    """Write rd.csv and return it as read back, so every number downstream is what the file holds."""
    files.write_csv(path, rd)
    return pd.read_csv(path)


def with_derived(rd: pd.DataFrame, shape: Sequence[int]) -> pd.DataFrame:
    """rd plus ``scheme`` (``jpeg1``, ``gan``: :func:`ganlib.codecs.families.scheme_id`), ``cr``, ``mse``
    (from PSNR) and ``payload_bpp``, for images of ``shape`` (H, W, C)."""
    h, w, c = shape
    rd = rd.copy()
    rd["scheme"] = [families.scheme_id(codec, p) for codec, p in zip(rd.codec, rd.param)]
    rd["cr"] = h * w * c / rd.bytes
    rd["mse"] = 255.0**2 / 10 ** (rd.psnr / 10)
    rd["payload_bpp"] = 8 * rd.payload_bytes / (h * w)
    return rd


# ------------------------------------------------------------------ summary (the seed's table)
def summary(rd: pd.DataFrame, gan_bits: int) -> pd.DataFrame:
    """The seed report's table: means over the images of each split of the schemes of
    :data:`ganlib.codecs.families.SUMMARY`, GAN reversal (the command line's mode on every image, the
    seed's search on its subset, each with its ``n_images``) at ``gan_bits``; unseen first, the seed's
    scheme order. Columns :data:`SUMMARY_COLUMNS` (what summary.csv holds): the means, and for bpp,
    psnr and ssim the half-width of the 95% confidence interval (``<metric>_ci95``). ``rd`` needs
    :func:`with_derived`'s columns."""
    ids = list(families.SUMMARY)
    gan = rd.codec.map(families.is_gan)
    chosen = rd[rd.scheme.isin(ids) & (~gan | (rd.param == gan_bits))]
    groups = chosen.groupby(["split", "scheme"])
    out = groups[["bpp", "cr", "psnr", "mse", "ssim"]].mean()
    out.insert(0, "n_images", groups.size())
    for metric in ("bpp", "psnr", "ssim"):
        out[f"{metric}_ci95"] = groups[metric].apply(_ci_half)
    out = out.reset_index()
    out["scheme"] = pd.Categorical(out.scheme, [s for s in ids if s in set(out.scheme)])
    out["split"] = pd.Categorical(out.split, list(SPLIT_ORDER))
    return out.sort_values(["split", "scheme"]).reset_index(drop=True)[SUMMARY_COLUMNS]


def _ci_half(values) -> float:
    """Half-width of the mean's 95% confidence interval; NaN when a value is infinite (PNG's PSNR)."""
    return metrics.mean_ci(values)[1] if np.isfinite(values).all() else np.nan


def summary_row(table: pd.DataFrame, split: str, scheme: str) -> pd.Series:
    """One row of :func:`summary` (KeyError naming it if absent)."""
    rows = table[(table.split == split) & (table.scheme == scheme)]
    if rows.empty:
        raise KeyError(f"summary has no row for split {split!r}, scheme {scheme!r}")
    return rows.iloc[0]


def seed_marks(gan_bits: int, labelled: Sequence[str] = ("gan", REFERENCE)) -> list[dict]:
    """The seed report's operating points as figure marks (codec, param, and a label for the
    ``labelled`` schemes): GAN reversal at ``gan_bits`` and the classical schemes of the summary."""
    out = []
    for s in families.SUMMARY.values():
        param = gan_bits if families.is_gan(s.family) else s.param
        label = (f"GAN {gan_bits} bits" if s.family == "gan" else s.label) if s.id in labelled else ""
        out.append({"codec": s.family, "param": param, "label": label})
    return out


def rd_contents(rd: pd.DataFrame) -> pd.DataFrame:
    """What rd.csv holds, per codec in registry order: its parameter values, the number of
    images per split and of rows."""
    rows = []
    for codec in families.order(rd.codec):
        k = rd[rd.codec == codec]
        values = sorted(set(k.param.dropna()))
        f = families.FAMILIES.get(codec)
        rows.append({"codec": codec, "parameter": (f.param if f and f.param else "") or "—",
                     "values": ", ".join(f"{v:g}" for v in values) or "—",
                     **{f"{s} images": int(k[k.split == s].image_id.nunique()) for s in SPLIT_ORDER},
                     "rows": len(k)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ rate-distortion curves
def curves(rd: pd.DataFrame) -> pd.DataFrame:
    """Mean rate and quality per split, codec and parameter (one point of each codec's curve);
    unseen first, codecs in registry order, parameters ascending."""
    cols = [c for c in ("bpp", "payload_bpp", "psnr", "ssim", "ms_ssim") if c in rd]
    out = rd.groupby(["split", "codec", "param"], dropna=False)[cols].mean().reset_index()
    return split_order(out, ("split", "codec", "param"))


def quality_metrics(table: pd.DataFrame) -> list[str]:
    """The quality columns of :data:`QUALITY` that hold at least one value."""
    return [m for m in QUALITY if m in table and table[m].notna().any()]


def _front_size(rate, quality) -> int:
    rate, quality = np.asarray(rate, float), np.asarray(quality, float)
    ok = np.isfinite(rate) & np.isfinite(quality) & (rate > 0)
    return len(metrics._rd_front(rate[ok], quality[ok])[0]) if ok.any() else 0


def bd_rate_note(rate_ref, quality_ref, rate_test, quality_test) -> str | None:
    """Why :func:`ganlib.evaluation.metrics.bd_rate` of these curves is empty (a key of :data:`NOTES`), or
    None when it has a value. The test curve is GAN reversal's."""
    if len(np.unique(np.asarray(rate_ref, float))) < 2:
        return "single"
    if _front_size(rate_ref, quality_ref) < 2:
        return "saturates"
    if _front_size(rate_test, quality_test) < 2:
        return "gan-saturates"
    value = metrics.bd_rate(rate_ref, quality_ref, rate_test, quality_test)
    return "no-overlap" if not np.isfinite(value) else None


def bd_rate_table(table: pd.DataFrame, quality: Sequence[str] = ("ssim", "psnr"), rate: str = "bpp",
                  test: str = "gan") -> pd.DataFrame:
    """Bjøntegaard delta rate of the codec ``test`` (GAN reversal by default) against every other
    codec of :func:`curves` ``table``, per split: percent more
    (positive) or fewer (negative) bits than the codec at equal quality, over the quality range
    both cover (:func:`ganlib.evaluation.metrics.bd_rate`). Columns split, codec, then per quality metric
    ``m`` its value ``m`` (NaN when undefined), ``m_note`` (:func:`bd_rate_note`, None when
    defined), and ``m_overlap_test`` / ``m_overlap_ref``: the share of the test curve's and of the
    codec's quality range (of their fronts) that the two have in common
    (:func:`ganlib.evaluation.metrics.overlap`)."""
    rows = []
    for split in SPLIT_ORDER:
        mine = table[(table.split == split) & (table.codec == test)]
        if mine.empty:
            continue
        for codec in families.order(table.codec):
            other = table[(table.split == split) & (table.codec == codec)]
            if codec == test or other.empty or _other_mode(codec):
                continue
            row = {"split": split, "codec": codec}
            for m in quality:
                row[m] = metrics.bd_rate(other[rate], other[m], mine[rate], mine[m])
                row[f"{m}_note"] = bd_rate_note(other[rate], other[m], mine[rate], mine[m])
                row[f"{m}_overlap_test"], row[f"{m}_overlap_ref"] = metrics.overlap(mine[rate], mine[m], other[rate],
                                                                                  other[m])
                if row[f"{m}_note"] == "single" and codec == "png":
                    row[f"{m}_note"] = "lossless"
            rows.append(row)
    return pd.DataFrame(rows)


def _other_mode(codec: str) -> bool:
    """GAN reversal's modes other than the command line's (``gan``): not a codec to compare with."""
    return families.is_gan(codec) and codec != "gan"


def _per_image(rd: pd.DataFrame, split: str, codec: str, column: str, ids: np.ndarray) -> np.ndarray | None:
    """``column`` of ``codec``'s rows of ``split`` as (images ``ids``, parameters ascending); None
    unless the codec has a value for every image at every parameter."""
    rows = rd[(rd.split == split) & (rd.codec == codec)]
    table = rows.pivot_table(index="image_id", columns="param", values=column, aggfunc="first").reindex(ids)
    return None if table.isna().to_numpy().any() else table.to_numpy(dtype=float)


def bd_rate_intervals(rd: pd.DataFrame, quality: Sequence[str] = ("ssim", "psnr"), test: str = "gan",
                      resamples: int = BOOTSTRAP, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Bootstrap intervals of :func:`bd_rate_table`'s BD-rates over images: the split's images are
    resampled with replacement ``resamples`` times, the same images for the test codec and the
    other (a paired bootstrap: they coded the same images), every mean rate and quality of both
    curves recomputed and the BD-rate with them. Columns split, codec and for each metric ``m``:
    ``m_lo``, ``m_hi`` (the percentile interval at ``confidence``; NaN where fewer than half the
    resamples give a BD-rate) and ``n_images``. ``rd``: per-image rows (rd.csv)."""
    rng = np.random.default_rng(seed)
    tail = 100 * (1 - confidence) / 2
    rows = []
    for split in SPLIT_ORDER:
        ids = np.sort(rd[(rd.split == split) & (rd.codec == test)].image_id.unique())
        if not len(ids):
            continue
        weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=resamples) / len(ids)
        means = {}  # (codec, column) -> (resamples, parameters)
        for codec in families.order(rd.codec):
            for column in ("bpp", *quality):
                values = _per_image(rd, split, codec, column, ids)
                if values is not None:
                    means[codec, column] = weights @ values
        for codec in families.order(rd.codec):
            if codec == test or _other_mode(codec) or (codec, "bpp") not in means:
                continue
            row = {"split": split, "codec": codec, "n_images": len(ids)}
            for m in quality:
                if (codec, m) not in means or (test, m) not in means:
                    row[f"{m}_lo"] = row[f"{m}_hi"] = np.nan
                    continue
                values = np.array([metrics.bd_rate(means[codec, "bpp"][b], means[codec, m][b], means[test, "bpp"][b],
                                                   means[test, m][b]) for b in range(resamples)])
                ok = values[np.isfinite(values)]
                row[f"{m}_lo"], row[f"{m}_hi"] = ((np.percentile(ok, tail), np.percentile(ok, 100 - tail))
                                                  if len(ok) >= resamples / 2 else (np.nan, np.nan))
            rows.append(row)
    return pd.DataFrame(rows)


def bd_rates(rd: pd.DataFrame, table: pd.DataFrame, quality: Sequence[str], test: str = "gan") -> pd.DataFrame:
    """:func:`bd_rate_table` of ``table`` (:func:`curves` of ``rd``) with :func:`bd_rate_intervals`' columns from
    ``rd``'s per-image rows: the BD-rates of bd_rate.csv."""
    return bd_rate_table(table, quality, test=test).merge(bd_rate_intervals(rd, quality, test), on=["split", "codec"],
                                                          how="left")


def strongest_learned(bd: pd.DataFrame, quality: Sequence[str]) -> pd.DataFrame:
    """Per split and metric, the learned codec (:data:`ganlib.codecs.families.LEARNED`) against
    which the test codec's BD-rate is highest (the learned codec that needs the fewest bits at equal
    quality): columns split, metric, codec, bd_rate, lo, hi. ``bd``: :func:`bd_rate_table` with
    :func:`bd_rate_intervals`' columns."""
    learned = bd[bd.codec.isin([f.id for f in families.of_kind(families.LEARNED)])]
    rows = []
    for split in SPLIT_ORDER:
        mine = learned[learned.split == split]
        for m in quality:
            known = mine[mine[m].notna()]
            if known.empty:
                continue
            best = known.loc[known[m].idxmax()]
            rows.append({"split": split, "metric": m, "codec": best.codec, "bd_rate": float(best[m]),
                         "lo": float(best.get(f"{m}_lo", np.nan)), "hi": float(best.get(f"{m}_hi", np.nan))})
    return pd.DataFrame(rows, columns=["split", "metric", "codec", "bd_rate", "lo", "hi"])


def matched_rate_table(table: pd.DataFrame, gan_bits: int, quality: Sequence[str] = ("ssim", "psnr")
                       ) -> pd.DataFrame:
    """Each codec's mean quality at the mean rate of GAN reversal's files at ``gan_bits``,
    interpolated linearly in log rate between the codec's two nearest points. Columns split,
    codec, at_bpp, one per quality metric (NaN where that rate lies outside the codec's range),
    lowest_bpp (the codec's smallest mean rate) and note (``below``/``above`` or None)."""
    rows = []
    for split in SPLIT_ORDER:
        target = table[(table.split == split) & (table.codec == "gan") & (table.param == gan_bits)].bpp
        if target.empty:
            continue
        target = float(target.iloc[0])
        for codec in families.order(table.codec):
            k = table[(table.split == split) & (table.codec == codec)].sort_values("bpp")
            note = "below" if target < k.bpp.min() else "above" if target > k.bpp.max() else None
            rows.append({"split": split, "codec": codec, "at_bpp": target,
                         **{m: np.nan if note else float(np.interp(np.log(target), np.log(k.bpp), k[m]))
                            for m in quality},
                         "lowest_bpp": float(k.bpp.min()), "note": note})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ seen versus unseen
def equal_loss(inverted: pd.DataFrame, gan_bits: int) -> pd.DataFrame:
    """Seen versus unseen images inverted with the same loss: for each loss that both splits were
    inverted with and each of SSIM and PSNR, the mean and 95% CI half-width per split of the
    refined files at ``gan_bits``, the difference seen - unseen with its 95% CI and Welch's
    p-value (the splits are different images). ``inverted``: the rows of every 03 run.
    ValueError if a run has no files at ``gan_bits``."""
    refined = inverted[inverted.stage == "refined"]
    refined = refined.assign(mode=refined["mode"].fillna("search") if "mode" in refined else "search")
    at_bits = refined[refined.bits == gan_bits]
    missing = sorted(set(zip(refined.split, refined.loss)) - set(zip(at_bits.split, at_bits.loss)))
    if missing:
        raise ValueError(f"gan_bits={gan_bits} is not allowed: the 03 runs {missing} have no files at that bit depth")
    rows = []
    for (mode, loss), g in at_bits.groupby(["mode", "loss"], sort=False):
        if set(g.split) < {"seen", "unseen"}:
            continue
        for metric in ("ssim", "psnr"):
            seen, unseen = (g[g.split == s][metric] for s in ("seen", "unseen"))
            welch = stats.ttest_ind(seen, unseen, equal_var=False)
            (sm, sh), (um, uh) = metrics.mean_ci(seen), metrics.mean_ci(unseen)
            lo, hi = welch.confidence_interval(0.95)
            rows.append({"mode": mode, "loss": loss, "metric": metric, "n_seen": len(seen), "n_unseen": len(unseen),
                         "seen": sm, "seen_ci95": sh, "unseen": um, "unseen_ci95": uh,
                         "diff": seen.mean() - unseen.mean(), "diff_lo": float(lo), "diff_hi": float(hi),
                         "p": float(welch.pvalue)})
    return pd.DataFrame(rows, columns=["mode", "loss", "metric", "n_seen", "n_unseen", "seen", "seen_ci95", "unseen",
                                       "unseen_ci95", "diff", "diff_lo", "diff_hi", "p"])


# ------------------------------------------------------------------ quantization-aware refinement
def refinement_effect(rows: pd.DataFrame, file_bytes: bool = False) -> pd.DataFrame:
    """Mean SSIM per split and bit depth of the unquantized reconstruction (``float``), of plain
    rounding (``rounded``) and of refinement (``refined``); ``rows``: :func:`gan_rows`, or the rows
    of one 03 run. ``file_bytes``: also ``bytes (refined)``, the mean length of the refined files."""
    effect = rows[rows.stage != "float"].groupby(["split", "bits", "stage"]).ssim.mean().unstack()
    effect["float"] = rows[rows.stage == "float"].groupby("split").ssim.mean().reindex(
        effect.index.get_level_values(0)).to_numpy()
    columns = ["float", "rounded", "refined"]
    if file_bytes:
        effect["bytes (refined)"] = rows[rows.stage == "refined"].groupby(["split", "bits"]).bytes.mean()
        columns.append("bytes (refined)")
    out = effect[columns].reset_index()
    out["bits"] = out.bits.astype(int)
    out.columns.name = None
    return split_order(out, ("split", "bits"))


# ------------------------------------------------------------------ side-by-side grid
def grid_columns(rd: pd.DataFrame, ids: Sequence[int], gan_bits: int, split: str = "unseen") -> list[dict]:
    """The columns of the side-by-side comparison of images ``ids``: GAN reversal (the command
    line's mode, then the seed's search) at ``gan_bits``, the seed's classical schemes, and each
    learned codec at the λ whose mean rate on those images is closest to GAN reversal's (in log
    rate). Each column is a dict with codec, param, scheme, label and the mean bpp and SSIM of
    those images in rd; schemes without rows are left out."""
    mine = rd[(rd.split == split) & rd.image_id.isin([int(i) for i in ids])]
    gan_bpp = mine[(mine.codec == "gan") & (mine.param == gan_bits)].bpp.mean()
    picks = [(s.family, gan_bits if families.is_gan(s.family) else s.param,
              families.label(s.family, gan_bits) if families.is_gan(s.family) else s.label)
             for s in families.SUMMARY.values()]
    for f in families.of_kind(families.LEARNED):
        lams = sorted(set(mine[mine.codec == f.id].param))
        if lams:
            rates = np.array([mine[(mine.codec == f.id) & (mine.param == lam)].bpp.mean() for lam in lams])
            lam = lams[int(np.argmin(np.abs(np.log(rates) - np.log(gan_bpp))))]
            picks.append((f.id, lam, f.name(lam)))
    out = []
    for codec, param, label in picks:
        sel = mine[(mine.codec == codec) & (mine.param.isna() if param is None else mine.param == param)]
        if len(sel):
            out.append({"codec": codec, "param": param, "scheme": families.scheme_id(codec, param), "label": label,
                        "bpp": float(sel.bpp.mean()), "ssim": float(sel.ssim.mean()), "n": len(sel)})
    return out


def grid_images(run: str | Path, columns: list[dict], ids: Sequence[int], gan_bits: int, all_ids: Sequence[int],
                split: str = "unseen") -> tuple[np.ndarray, list[dict]]:
    """The originals of ``ids`` and ``columns`` (:func:`grid_columns`) each with its decoded
    ``images``: GAN reversal's from its 03 run's ``invert_<name>.npz`` (:data:`GAN_RUNS`), the others
    from ``baselines.npz`` (whose rows follow ``all_ids``, the split's evaluation images). Columns
    whose images the run did not keep are left out."""
    run = paths.RunDir(run)
    base = np.load(run.baselines_npz)
    at_base = [int(np.flatnonzero(np.asarray(all_ids) == i)[0]) for i in ids]
    out, originals = [], None
    for c in columns:
        if families.is_gan(c["codec"]):
            inv = np.load(run.inversion_npz(GAN_RUNS[c["codec"]][SEARCH_RUNS.index(split)]))
            rows = [int(np.flatnonzero(inv["ids"] == i)[0]) for i in ids]
            source, key = inv, f"decoded_b{gan_bits}"
            originals = inv["originals"][rows] if originals is None else originals
        else:
            source, key, rows = base, f"{split}_{c['scheme']}", at_base
        if key in source.files:
            out.append({**c, "images": source[key][rows]})
    return originals, out


# ------------------------------------------------------------------ bit errors
@dataclass
class BitErrorCase:
    """One scheme's files under test: how to decode them and where their payload is."""

    label: str
    family: str  # registry id: the case's colour and marker
    decode: Callable[[bytes], np.ndarray]
    span: Callable[[bytes], tuple[int, int]]
    blobs: list[bytes]
    fixed_length: bool = False


def bit_error_cases(run: str | Path, gan_codec, ids: Sequence[int], gan_bits: int, channels: int = 1,
                    name: str = "unseen", reference: Sequence[str] = ("jpeg1", "webp0")) -> list[BitErrorCase]:
    """The files of the bit-error study, read from ``run``: GAN reversal's files of inversion
    ``name`` at ``gan_bits`` as written and re-stored at fixed length (raw mode; both decoded
    without checksum verification, so flipped payload bits reach the decoder), and the files of
    the ``reference`` schemes for the same images."""
    run = paths.RunDir(run)
    blobs = [run.latent_file(name, gan_bits, i).read_bytes() for i in ids]
    unchecked = functools.partial(gan_codec.decode, verify=False)
    raw = [latent_format.pack(gan_codec.unpack(b), gan_codec.models, "raw") for b in blobs]
    cases = [BitErrorCase("GAN reversal (as written)", "gan", unchecked, gan_codec.payload_span, blobs),
             BitErrorCase("GAN reversal (fixed-length)", "gan", unchecked, gan_codec.payload_span, raw,
                          fixed_length=True)]
    for scheme_id in reference:
        s = families.scheme(scheme_id)
        c = classical.codec(s.family, s.param, channels)
        cases.append(BitErrorCase(s.label, s.family, c.decode, c.payload_span,
                                  [run.baseline_file(scheme_id, name, i, c.name).read_bytes() for i in ids]))
    return cases


def bit_error_study(cases: Sequence[BitErrorCase], originals: np.ndarray, bers: Sequence[float], trials: int,
                    seed: int = 0) -> pd.DataFrame:
    """:func:`ganlib.evaluation.channel.bit_error_trials` for every case (each from the same seed): one row
    per case, bit-error rate, trial and image with ``ok`` and ``ssim`` (NaN when not decoded)."""
    return pd.concat([pd.DataFrame(channel.bit_error_trials(c.decode, c.span, c.blobs, originals, bers, trials, seed))
                      .assign(scheme=c.label) for c in cases], ignore_index=True)


def bit_error_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """Per scheme (in the study's order) and bit-error rate: mean SSIM of the files that decoded
    (NaN if none did) and the share of files that failed to decode."""
    out = raw.groupby(["scheme", "ber"], sort=False).agg(ssim=("ssim", "mean"), decoded=("ok", "mean")).reset_index()
    out["failure_rate"] = 1 - out.pop("decoded")
    out["note"] = np.where(out.ssim.isna(), "no-decode", None)
    return out


# ------------------------------------------------------------------ verdicts on the seed's claims
HOLDS, PARTLY, FAILS, UNTESTED = "holds", "partly holds", "does not hold", "not tested"


@dataclass
class Verdict:
    """A claim of the seed report, whether this run supports it (``status``: :data:`HOLDS`,
    :data:`PARTLY`, :data:`FAILS` or :data:`UNTESTED`), the sentences with the numbers that
    decide it, the report sections that show them and the numbers themselves."""

    claim: str
    status: str
    evidence: list[str]
    sections: list[str]
    numbers: dict = field(default_factory=dict)


CLAIM_RATE = ("At the bit rate of the lowest-quality JPEG (q=1), GAN reversal gives a clearly better SSIM.")
CLAIM_SEEN = "Images seen in training are easier to compress than unseen ones."
MODE_NAMES = {"hybrid": "Command line's mode", "encoder": "Encoder only", "search": "Seed's search"}
CLAIM_LEARNED = ("GAN reversal needs fewer bits than the strongest learned codec at equal quality, for every metric "
                 "(the fair fight).")


def _status(passed: Sequence[bool]) -> str:
    if not passed:
        return UNTESTED
    return HOLDS if all(passed) else PARTLY if any(passed) else FAILS


def verdict_rate(rd: pd.DataFrame, gan_bits: int, reference: str = REFERENCE) -> Verdict:
    """The first claim, per split: it holds on a split when GAN reversal's files at ``gan_bits``
    are on average no larger than those of ``reference`` (JPEG q=1) and its mean SSIM is higher
    with the 95% confidence interval of the per-image difference (paired: the same images) above
    zero. Holds if on both splits, partly if on one. ``rd`` needs the ``scheme`` column."""
    evidence, numbers, passed = [], {}, []
    ref_label = families.scheme(reference).label
    for split in SPLIT_ORDER:
        g = rd[(rd.split == split) & (rd.codec == "gan") & (rd.param == gan_bits)]
        j = rd[(rd.split == split) & (rd.scheme == reference)]
        pair = g.merge(j, on="image_id", suffixes=("_gan", "_ref"))
        if pair.empty:
            continue
        diff, half = metrics.mean_ci(pair.ssim_gan - pair.ssim_ref)
        n = {"ssim_gan": pair.ssim_gan.mean(), "ssim_ref": pair.ssim_ref.mean(), "bpp_gan": pair.bpp_gan.mean(),
             "bpp_ref": pair.bpp_ref.mean(), "diff": diff, "diff_lo": diff - half, "diff_hi": diff + half,
             "n_images": len(pair)}
        n["rate_ratio"] = n["bpp_gan"] / n["bpp_ref"]
        ok = n["bpp_gan"] <= n["bpp_ref"] and n["diff_lo"] > 0
        passed.append(bool(ok))
        numbers[split] = n
        rate = (f"at {n['rate_ratio']:.0%} of its rate" if n["bpp_gan"] <= n["bpp_ref"]
                else f"but needs {n['rate_ratio']:.2f} times its rate")
        better = "higher" if diff > 0 else "lower"
        evidence.append(
            f"{split.capitalize()} images: GAN reversal ({gan_bits}-bit z) reaches SSIM {n['ssim_gan']:.3f} at "
            f"{n['bpp_gan']:.3f} bpp, {ref_label} SSIM {n['ssim_ref']:.3f} at {n['bpp_ref']:.3f} bpp: "
            f"{abs(diff):.3f} {better} (95% CI of the paired difference {n['diff_lo']:+.3f} to {n['diff_hi']:+.3f}, "
            f"{n['n_images']} images) {rate}.")
    return Verdict(CLAIM_RATE, _status(passed), evidence, ["The answer in one figure", "Summary tables"], numbers)


def verdict_seen(controlled: pd.DataFrame, table: pd.DataFrame | None = None, losses: Mapping[str, str] | None = None,
                 alpha: float = 0.05) -> Verdict:
    """The second claim, decided at equal loss (:func:`equal_loss`): for each mode, loss and
    metric, seen images are easier when their mean is higher with Welch's p < ``alpha``. Holds if
    so for every mode, loss and metric, partly if for some, does not hold if for none; not tested
    without a loss that both splits were inverted with. With the summary ``table`` and the loss
    each split's search used (``losses``), the evidence also says what the seed's confounded
    comparison shows."""
    passed, evidence, numbers = [], [], {}
    for r in controlled.itertuples():
        name = QUALITY[r.metric]
        digits = 3 if r.metric == "ssim" else 2
        better = r.diff > 0 and r.p < alpha
        passed.append(bool(better))
        numbers[(r.mode, r.loss, r.metric)] = {"seen": r.seen, "unseen": r.unseen, "diff": r.diff, "p": r.p}
        if r.metric == "ssim" or better or (r.p < alpha):
            verdict = ("seen images are better" if better else "unseen images are better" if r.p < alpha
                       else "no significant difference")
            evidence.append(
                f"{MODE_NAMES.get(r.mode, r.mode)} ({r.n_seen} seen, {r.n_unseen} unseen images), loss `{r.loss}`, "
                f"{name.split(' ')[0]}: seen {r.seen:.{digits}f}, unseen {r.unseen:.{digits}f}; "
                f"difference {r.diff:+.{digits}f} (95% CI {r.diff_lo:+.{digits}f} to {r.diff_hi:+.{digits}f}, "
                f"Welch p = {r.p:.2g}): {verdict}.")
    psnr = controlled[controlled.metric == "psnr"]
    if len(psnr) and not (psnr.p < alpha).any():
        evidence.append(f"PSNR differs by no more than noise in any mode or loss (Welch p ≥ {psnr.p.min():.2g}).")
    if table is not None and losses:
        s, u = summary_row(table, "seen", "gan_search"), summary_row(table, "unseen", "gan_search")
        evidence.append(
            f"The seed's search mixes the split with the loss (seen images inverted with `{losses['seen']}`, unseen "
            f"with `{losses['unseen']}`): there seen images have SSIM {s.ssim:.3f} and PSNR {s.psnr:.1f} dB, unseen "
            f"{u.ssim:.3f} and {u.psnr:.1f} dB.")
    return Verdict(CLAIM_SEEN, _status(passed), evidence, ["Seen versus unseen images at equal loss"], numbers)


def verdict_learned(strongest: pd.DataFrame) -> Verdict:
    """The fair fight (:func:`strongest_learned`): on each split and metric GAN reversal wins when
    the bootstrap interval of its BD-rate against the strongest learned codec lies below zero,
    loses when it lies above, and neither when it contains zero. Holds if it wins everywhere,
    partly if somewhere, does not hold if nowhere."""
    evidence, numbers, passed = [], {}, []
    for r in strongest.itertuples():
        name = QUALITY[r.metric].split(" ")[0]
        won, lost = bool(r.hi < 0), bool(r.lo > 0)
        passed.append(won)
        numbers[(r.split, r.metric)] = {"codec": r.codec, "bd_rate": r.bd_rate, "lo": r.lo, "hi": r.hi}
        outcome = ("GAN reversal needs fewer bits" if won else "GAN reversal needs more bits" if lost
                   else "no difference the interval can tell")
        evidence.append(f"{r.split.capitalize()} images, equal {name}: against {families.label(r.codec)}, GAN "
                        f"reversal's BD-rate is {r.bd_rate:+.1f}% (95% bootstrap interval {r.lo:+.1f}% to "
                        f"{r.hi:+.1f}%): {outcome}.")
    return Verdict(CLAIM_LEARNED, _status(passed), evidence, ["Bjøntegaard delta rate of GAN reversal"], numbers)


# ------------------------------------------------------------------ environment and stage times
def stage_times(directory: str | Path, exclude: Sequence[str] = ("05_results",)) -> pd.DataFrame:
    """Wall time of every executed notebook in ``directory`` (papermill's ``duration``), by
    name, with its start and end (ISO 8601); ``seconds`` is NaN
    for a notebook without it."""
    rows = []
    for path in sorted(Path(directory).glob("*.ipynb")):
        if path.stem in exclude:
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        seconds = float(meta.get("duration") or np.nan)
        rows.append({"notebook": path.stem, "seconds": seconds, "start": meta.get("start_time"),
                     "end": meta.get("end_time"), "note": "no-duration" if np.isnan(seconds) else None})
    return pd.DataFrame(rows, columns=["notebook", "seconds", "start", "end", "note"])


def stages_span(times: pd.DataFrame) -> float:
    """Seconds from the first stage's start to the last one's end of :func:`stage_times`' table
    (NaN without start and end times)."""
    if not {"start", "end"} <= set(times.columns) or times[["start", "end"]].isna().any().any():
        return math.nan
    return (pd.to_datetime(times.end).max() - pd.to_datetime(times.start).min()).total_seconds()


def training_budget(run: str | Path) -> pd.DataFrame:
    """Every model this run trained, with its training time, from ``run``'s files: GAN reversal's
    generator and encoder (with the prior fit), the residual layer's base layers and coders, then
    each learned codec's models. Columns codec (the family id the models serve), model, steps,
    batch_size, seconds; a ``total`` row closes each codec's models (the layered codec's total
    includes GAN reversal's, whose models it needs too)."""

    def read(path: Path) -> dict:
        return json.loads(path.read_text()) if path.is_file() else {}

    def trained(codec: str, meta: dict) -> list[dict]:
        return [{"codec": codec or r["model"], "model": f"{r['model']} λ={r['lambda']:g}", "steps": r["steps"],
                 "batch_size": r["batch_size"], "seconds": r["seconds"]} for r in meta.get("runs", [])]

    run = paths.RunDir(run)
    rows = []
    for path, model in ((run.generator_config, "generator"), (run.encoder_config, "encoder (+ prior fit)")):
        meta = read(path)
        if meta:
            steps = meta.get("steps") or meta.get("synthetic_steps", 0) + meta.get("real_steps", 0)
            rows.append({"codec": "gan", "model": model, "steps": steps, "batch_size": meta.get("batch_size"),
                         "seconds": meta.get("seconds")})
    layered = read(run.residual_meta)
    if layered.get("base_seconds") is not None:
        rows.append({"codec": "gan_residual", "model": f"base layers of {layered['train_images']} training images",
                     "seconds": layered["base_seconds"]})
    rows += trained("gan_residual", layered) + trained("", read(run.learned_meta))
    table = pd.DataFrame(rows, columns=["codec", "model", "steps", "batch_size", "seconds"])
    out = []
    for codec, group in table.groupby("codec", sort=False):
        total = group.seconds.sum() + (table[table.codec == "gan"].seconds.sum() if codec == "gan_residual" else 0)
        label = "total (with the GAN's)" if codec == "gan_residual" else "total"
        out += [group, pd.DataFrame([{"codec": codec, "model": label, "seconds": total}])]
    return pd.concat(out, ignore_index=True) if out else table


def learned_convergence(convergence: pd.DataFrame) -> pd.DataFrame:
    """The learned codecs' convergence study (``reports/learned/convergence.csv``, written by
    :mod:`ganlib.pipeline.learned_study`): one row per series (``codec``: its family; n, m, steps) with the metric
    its distortion is judged by (``metric``: psnr for MSE, ssim for SSIM), ``doubling``, the
    BD-rate (percent, at equal ``metric``) of its last snapshot against the snapshot at half the
    steps (what the last doubling of the budget saved; near 0: converged), and ``wider``, for a
    series with a narrower series of the same family, its BD-rate against that one at the same
    step (what the width buys)."""
    metric_of = {"mse": "psnr", "ssim": "ssim"}
    rows = []
    series = convergence.groupby(["family", "n", "m", "steps"], sort=False)
    curve = lambda g, step: g[g.step == step].sort_values("lambda")  # noqa: E731 - one λ curve of a snapshot
    for (family, n, m, steps), g in series:
        metric = metric_of[family.partition("_")[2] or "mse"]
        last, half = curve(g, steps), curve(g, steps // 2)
        row = {"codec": family, "n": n, "m": m, "steps": steps, "metric": metric,
               "bpp_range": f"{last.bpp.min():.2f}–{last.bpp.max():.2f}",
               "doubling": metrics.bd_rate(half.bpp, half[metric], last.bpp, last[metric]) if len(half) else np.nan,
               "wider": np.nan}
        for (f2, n2, m2, _), g2 in series:
            narrow = curve(g2, steps)
            if f2 == family and (n2, m2) < (n, m) and len(narrow):
                row["wider"] = metrics.bd_rate(narrow.bpp, narrow[metric], last.bpp, last[metric])
        rows.append(row)
    return pd.DataFrame(rows)


def write_findings(path: str | Path, verdicts: Sequence[Verdict], **texts: str) -> None:
    """The verdicts (claim, status, evidence) and other computed sentences as JSON, for the README
    (:func:`ganlib.report.document.readme_blocks`)."""
    found = {"verdicts": [{"claim": v.claim, "status": v.status, "evidence": list(v.evidence)} for v in verdicts],
             **texts}
    files.write_text(path, json.dumps(found, indent=1, ensure_ascii=False))
