"""Per-image targets: the smallest file that meets a quality target, or the best quality within a
size, chosen among candidate files of one image, each scored on the image decoded from it (as the
decoder will produce it). The command line's quality ladder (:mod:`ganlib.pipeline.ladder`) and the
per-image rate control of every codec in the report use it.

A target is ``metric=value`` with metric one of :data:`METRICS` (``ssim=0.9``, ``psnr=30``,
``ms_ssim=0.95``), or a size bound in bytes (``max_bytes``); a candidate is (file bytes, the
:func:`ganlib.evaluation.metrics.score` of its decoded image).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ganlib.codecs import families
from ganlib.evaluation import analysis, metrics

METRICS = ("ssim", "psnr", "ms_ssim")
BOUNDS = {"ssim": (0.0, 1.0), "ms_ssim": (0.0, 1.0), "psnr": (0.0, 100.0)}


@dataclass(frozen=True)
class Target:
    """``metric`` >= ``value`` (the smallest such file), or with ``max_bytes`` the best ``metric``
    in files of at most that many bytes."""

    metric: str = "ssim"
    value: float | None = None
    max_bytes: int | None = None

    def __str__(self) -> str:
        return f"{self.metric}>={self.value:g}" if self.max_bytes is None else f"<= {self.max_bytes} bytes"


def parse(text: str) -> Target:
    """``"ssim=0.9"`` -> Target("ssim", 0.9); ValueError naming ``--target`` and what is allowed."""
    name, _, value = str(text).partition("=")
    name = name.strip().lower().replace("-", "_")
    if name not in METRICS or not value:
        raise ValueError(f"--target={text!r} is not allowed; give metric=value with metric one of: "
                         f"{', '.join(METRICS)} (e.g. ssim=0.9, psnr=30)")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    low, high = BOUNDS[name]
    if not low < number <= high:
        raise ValueError(f"--target={text!r} is not allowed; {name} must be a number above {low:g} and at most "
                         f"{high:g}")
    return Target(name, number)


def size_bound(max_bytes: int, metric: str = "ssim") -> Target:
    """The target of ``--max-bytes``: the best ``metric`` within ``max_bytes``."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"--max-bytes={max_bytes!r} is not allowed; it must be a whole number of bytes, at least 1")
    return Target(metric, None, max_bytes)


def choose(sizes: Sequence[int], quality: Sequence[float], target: Target) -> int | None:
    """Index of the candidate (its file's size and its decoded image's quality in ``target.metric``)
    that ``target`` picks: the smallest meeting the quality (the first of equal size), or the best
    quality within the size (the smallest of equal quality); None when none qualifies."""
    sizes, quality = np.asarray(sizes), np.asarray(quality, dtype=np.float64)
    if target.max_bytes is None:
        ok = np.flatnonzero(quality >= target.value)
        return None if not len(ok) else int(ok[np.lexsort((ok, sizes[ok]))[0]])
    ok = np.flatnonzero(sizes <= target.max_bytes)
    return None if not len(ok) else int(ok[np.lexsort((sizes[ok], -quality[ok]))[0]])


def scored(original: np.ndarray, blobs: Sequence[bytes], decoded: Sequence[np.ndarray]) -> list[dict]:
    """:func:`ganlib.evaluation.metrics.score` of each candidate's decoded image against ``original``."""
    return [metrics.score(original, image, len(blob)) for blob, image in zip(blobs, decoded)]


# ------------------------------------------------------------------ per-image targets over a results table
REPORT_TARGETS = (("ssim", 0.9), ("ssim", 0.95), ("psnr", 30.0))  # the report's per-image targets
GAN_LADDER = ("gan", "gan_residual", "gan_residual_webp", "png")  # GAN reversal's ladder in rd.csv: its files, then PNG


def per_image(rd: pd.DataFrame, metric: str, value: float, ladders: dict[str, Sequence[str]] | None = None
              ) -> pd.DataFrame:
    """Each codec met a user's way: for every image, its smallest file (over the codec's parameters,
    as ``cwebp -size``/``-psnr`` searches its quality per image) whose decoded image has ``metric``
    >= ``value``. ``rd``: per-image rows (codec, param, split, image_id, bytes, bpp and the metric);
    ``ladders``: extra rows made of several codecs' files (by default :data:`GAN_LADDER` as
    ``gan_ladder``). One row per split and codec: images, the share that met the target
    (``met``), and the mean bytes and bpp of the files chosen for them (NaN when none met it)."""
    ladders = {"gan_ladder": GAN_LADDER} if ladders is None else ladders
    groups = [(c, [c]) for c in rd.codec.unique()] + [(name, list(members)) for name, members in ladders.items()]
    rows = []
    for split, here in rd.groupby("split", sort=False):
        for name, members in groups:
            rows_c = here[here.codec.isin(members)]
            if rows_c.empty:
                continue
            n = rows_c.image_id.nunique()
            ok = rows_c[rows_c[metric] >= value]
            best = ok.loc[ok.groupby("image_id").bytes.idxmin()] if len(ok) else ok
            rows.append({"split": split, "codec": name, "metric": metric, "value": value, "n_images": n,
                         "met": len(best) / n, "bytes": best.bytes.mean() if len(best) else math.nan,
                         "bpp": best.bpp.mean() if len(best) else math.nan})
    return pd.DataFrame(rows)


def per_image_table(rd: pd.DataFrame, goals: Sequence[tuple[str, float]] = REPORT_TARGETS) -> pd.DataFrame:
    """:func:`per_image` for each of ``goals`` (metric, value), one table: per split (unseen first) and
    goal, the GAN ladder first, then the codecs in registry order."""
    table = pd.concat([per_image(rd, m, v).assign(goal=i) for i, (m, v) in enumerate(goals)], ignore_index=True)
    table["rank"] = [-1 if c == "gan_ladder" else families.rank(c) for c in table.codec]
    table["split_rank"] = [analysis.SPLIT_ORDER.index(s) for s in table.split]
    return table.sort_values(["split_rank", "goal", "rank"]).drop(columns=["goal", "rank", "split_rank"]
                                                                  ).reset_index(drop=True)


def read_heldout(directory: str | Path) -> tuple[pd.DataFrame | None, dict[str, np.ndarray]]:
    """The held-out-class experiment's table and grid images by row label (``<group>: originals``,
    ``<group>: base layer``), from ``heldout.csv`` and ``grid.npz`` in ``directory`` (``reports/heldout/``,
    written by ``make heldout``); (None, {}) when it has not run."""
    directory = Path(directory)
    if not (directory / "heldout.csv").is_file():
        return None, {}
    with np.load(directory / "grid.npz") as npz:
        grid = {k.replace("_originals", ": originals").replace("_base", ": base layer"): npz[k] for k in npz.files}
    return pd.read_csv(directory / "heldout.csv"), grid
