"""The quality-speed trade-off of GAN reversal's encoding modes (:mod:`ganlib.inversion.modes`), from
the rows 03b_tradeoff writes (one per mode, split and image): the summary table, and the seen-unseen
gap per mode."""
from __future__ import annotations

import pandas as pd

from ganlib.evaluation import analysis


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Per split and mode: encode ms per image, images per second, mean bpp, PSNR and SSIM,
    ordered by split (unseen first) and encode time."""
    g = rows.groupby(["split", "mode", "optimizer", "label", "steps", "restarts"], sort=False)
    out = g.agg(n_images=("image_id", "size"), encode_ms=("encode_ms", "first"), bpp=("bpp", "mean"),
                psnr=("psnr", "mean"), ssim=("ssim", "mean")).reset_index()
    out["images_per_s"] = 1000 / out.encode_ms
    out["split"] = pd.Categorical(out.split, ["unseen", "seen"])
    return out.sort_values(["split", "encode_ms"]).reset_index(drop=True)


def seen_gap(rows: pd.DataFrame) -> pd.DataFrame:
    """Seen versus unseen images per mode (the rows of one loss and bit depth, both splits):
    :func:`ganlib.evaluation.analysis.equal_loss` of each mode, with its ``mode``, ``optimizer`` and ``label``;
    SSIM and PSNR rows."""
    out = [analysis.equal_loss(g.assign(stage="refined"), int(g.bits.iloc[0])).assign(mode=m, optimizer=o, label=la)
           for (m, o, la), g in rows.groupby(["mode", "optimizer", "label"], sort=False)]
    return pd.concat(out, ignore_index=True)


def gap_statement(gap: pd.DataFrame, metric: str = "ssim") -> str:
    """One sentence: does starting from the encoder (trained on seen images only) close or widen the
    seen - unseen gap of the seed's search? Compares the encoder-started modes' differences with the
    longest search's, and says which differences are significant (Welch p < 0.05)."""
    g = gap[gap.metric == metric]
    search = g[(g["mode"] == "search") & (g.optimizer == "adam")]  # the seed's
    if search.empty or len(g) == len(search):
        return "No encoder-started and search modes to compare."
    ref = search.iloc[-1]
    started = g[g["mode"] != "search"]  # the L-BFGS searches from random starts are left out
    parts = [f"{r.label} {r['diff']:+.3f} (p = {r.p:.2g})" for _, r in started.iterrows()]
    wider = (started["diff"] > ref["diff"]).sum()
    significant = int((started.p < 0.05).sum())
    trend = ("widens" if wider == len(started) else "narrows" if wider == 0
             else "neither consistently widens nor narrows")
    return (f"Seen − unseen mean {metric.upper()}: {ref.label} {ref['diff']:+.3f} (p = {ref.p:.2g}); "
            + "; ".join(parts) + f". Starting from the encoder, which saw only training images, {trend} the gap; "
            + (f"{significant} of {len(started)} encoder-started differences are significant at p < 0.05."
               if significant else "none of the encoder-started differences is significant at p < 0.05."))
