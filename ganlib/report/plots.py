"""Figures shared by the notebooks. Images are uint8 (N, H, W, C).

Every codec family is drawn with its colour and marker from :mod:`ganlib.codecs.families`, the same
in every figure; :func:`style` sets the common look (and 2x rendering in notebooks). Figure
functions return the figure and draw a title on it; the notebooks add a caption.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns
from IPython import get_ipython
from matplotlib_inline.backend_inline import set_matplotlib_formats

from ganlib.codecs import families
from ganlib.evaluation import analysis


def _show(ax, image: np.ndarray) -> None:
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_rows(rows: dict[str, np.ndarray], max_cols: int = 12, scale: float = 1.0):
    """One row of images per entry of ``rows`` (label -> (N, H, W, C)); returns the figure."""
    n = min(max_cols, min(len(v) for v in rows.values()))
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * len(rows) + 0.2), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            _show(axes[r, c], images[c])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.04, hspace=0.08)
    return fig


def image_columns(columns: dict[str, np.ndarray], scale: float = 1.3):
    """One column per entry (label -> (N, H, W, C)), one row per image; returns the figure."""
    n = min(len(v) for v in columns.values())
    fig, axes = plt.subplots(n, len(columns), figsize=(scale * len(columns), scale * n), squeeze=False)
    for c, (label, images) in enumerate(columns.items()):
        axes[0, c].set_title(label, fontsize=9)
        for r in range(n):
            _show(axes[r, c], images[r])
    fig.subplots_adjust(wspace=0.04, hspace=0.04)
    return fig


def grid(images: np.ndarray, cols: int = 8, title: str = "", scale: float = 0.9):
    """A cols-wide grid of images; returns the figure."""
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(scale * cols, scale * rows + (0.3 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            _show(ax, images[i])
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(wspace=0.04, hspace=0.04)
    return fig


def curves(series: dict[str, Sequence[float]], xlabel: str = "step", ylabel: str = "loss",
           smooth: int = 1, logy: bool = False, ax=None):
    """Line plot of named series (optionally a moving average of width ``smooth``)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    for label, values in series.items():
        v = pd.Series(np.asarray(values, dtype=float))
        ax.plot(np.arange(1, len(v) + 1), v.rolling(smooth, min_periods=1).mean() if smooth > 1 else v, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    sns.despine(ax=ax)
    return ax


# ------------------------------------------------------------------ style
def style() -> None:
    """The look of every figure: seaborn's white grid, fonts legible at 100% zoom, and, in a
    notebook, figures rendered at twice their pixel size (retina PNG) so they stay sharp on
    high-density screens. Call once at the top of a notebook."""
    sns.set_theme(style="whitegrid", context="notebook", rc=RC)
    plt.rcParams.update(RC)
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


RC = {"figure.dpi": 100, "savefig.dpi": 200, "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11,
      "legend.fontsize": 10, "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13,
      "figure.titleweight": "bold"}


def family_style(family_id: str) -> dict:
    """Colour, marker and label of a codec family (from :mod:`ganlib.codecs.families`); GAN reversal
    is drawn heavier. Unknown ids get grey and a plain dot."""
    if family_id not in families.FAMILIES:
        return {"color": "0.4", "marker": ".", "label": family_id, "lw": 1.2, "ms": 5}
    f = families.family(family_id)
    heavy = f.kind == families.GAN
    return {**f.style(), "lw": 2.6 if heavy else 1.4, "ms": 7 if heavy else 5.5, "zorder": 3 if heavy else 2}


def _log_rate_axis(ax, label: str) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(mticker.LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xlabel(label)


def _legend_below(fig, handles, labels, ncol: int = 5) -> None:
    """One legend for the whole figure, under its panels."""
    rows = int(np.ceil(len(labels) / ncol))
    fig.legend(handles, labels, loc="lower center", ncol=min(ncol, len(labels)), frameon=False,
               bbox_to_anchor=(0.5, 0.0), handlelength=2.4, columnspacing=1.6)
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, (0.3 + 0.28 * rows) / height, 1, 1))


SPLITS = analysis.SPLIT_ORDER  # unseen images first, in every figure


# ------------------------------------------------------------------ rate-distortion
def rd_figure(curves: pd.DataFrame, title: str, rate: str = "bpp", quality: Sequence[str] = ("ssim",),
              marks: Sequence[dict] = (), rate_label: str = "bits per pixel, whole file",
              splits: Sequence[str] = SPLITS, losses: dict | None = None):
    """Rate-quality curves of every codec (a mean point per parameter, ``curves`` as
    :func:`ganlib.evaluation.analysis.curves` returns it): one column of panels per split, one row per
    quality metric, log rate axis. ``marks`` are operating points to ring (dicts with split,
    codec, param and, to write it beside the ring, label). Non-finite points (PNG's infinite
    PSNR) are not drawn. Returns the figure."""
    fig, axes = plt.subplots(len(quality), len(splits), figsize=(5.6 * len(splits), 3.7 * len(quality) + 0.9),
                             squeeze=False, sharex=True)
    handles = {}
    for col, split in enumerate(splits):
        for row, metric in enumerate(quality):
            ax = axes[row, col]
            here = curves[curves.split == split]
            for codec in families.order(here.codec):
                k = here[(here.codec == codec) & np.isfinite(here[metric]) & np.isfinite(here[rate])].sort_values(rate)
                if k.empty:
                    continue
                st = family_style(codec)
                (line,) = ax.plot(k[rate], k[metric], "-" if len(k) > 1 else "", color=st["color"], marker=st["marker"],
                                  lw=st["lw"], ms=st["ms"] + (2 if len(k) == 1 else 0), zorder=st.get("zorder", 2))
                handles.setdefault(st["label"], line)
            for m in marks:
                p = here[(here.codec == m["codec"]) & (here.param.isna() if m.get("param") is None
                                                        else here.param == m["param"])]
                if m.get("split", split) != split or p.empty or not np.isfinite(p[metric].iloc[0]):
                    continue
                x, y = p[rate].iloc[0], p[metric].iloc[0]
                (ring,) = ax.plot([x], [y], "o", ms=15, mfc="none", mec="black", mew=1.4, zorder=4)
                handles.setdefault("the seed's operating points", ring)
                if m.get("label"):
                    ax.annotate(m["label"], (x, y), xytext=(9, -4), textcoords="offset points", fontsize=10,
                                ha="left", va="top", fontweight="bold")
            ax.set_ylabel(analysis.QUALITY.get(metric, metric))
            loss = f" (GAN loss {losses[split]})" if losses and split in losses else ""
            ax.set_title(f"{split} images{loss}")
            if row == len(quality) - 1:
                _log_rate_axis(ax, f"{rate_label} (log scale)")
            sns.despine(ax=ax)
    fig.suptitle(title)
    _legend_below(fig, list(handles.values()), list(handles))
    return fig


def refinement_figure(effect: pd.DataFrame, title: str, losses: dict | None = None, splits: Sequence[str] = SPLITS):
    """Mean SSIM per bit depth of the unquantized latent, plain rounding and refinement, one
    panel per split (``effect`` as :func:`ganlib.evaluation.analysis.refinement_effect` returns it)."""
    fig, axes = plt.subplots(1, len(splits), figsize=(5.6 * len(splits), 4.3), sharey=True, squeeze=False)
    gan = families.family("gan").colour
    styles = {"float": dict(ls="--", color="0.45", marker=""), "rounded": dict(ls="-", color="#f4a6a6", marker="v"),
              "refined": dict(ls="-", color=gan, marker=families.family("gan").marker)}
    names = {"float": "unquantized z", "rounded": "z rounded to the grid", "refined": "z refined on the grid (files)"}
    for ax, split in zip(axes[0], splits):
        e = effect[effect.split == split]
        for stage, st in styles.items():
            ax.plot(e.bits, e[stage], lw=2, ms=6, label=names[stage], **st)
        ax.set_xlabel("bits per latent dimension")
        ax.set_xticks(sorted(set(e.bits)))
        loss = f" (loss {losses[split]})" if losses and split in losses else ""
        ax.set_title(f"{split} images{loss}")
        sns.despine(ax=ax)
    axes[0, 0].set_ylabel("mean SSIM")
    fig.suptitle(title)
    _legend_below(fig, *axes[0, 0].get_legend_handles_labels(), ncol=3)
    return fig


def bit_error_figure(summary: pd.DataFrame, cases, title: str):
    """Mean SSIM of the files that still decode and the decode-failure rate against the
    bit-error rate, one line per case of :func:`ganlib.evaluation.analysis.bit_error_cases` (its family's
    colour and marker; fixed-length storage dashed with open markers)."""
    fig, axes = plt.subplots(1, 2, figsize=(11.2, 4.4), squeeze=False)
    for case in cases:
        a = summary[summary.scheme == case.label]
        st = family_style(case.family)
        kw = dict(color=st["color"], marker=st["marker"], ms=6, lw=1.8, ls="--" if case.fixed_length else "-",
                  mfc="white" if case.fixed_length else st["color"], label=case.label)
        axes[0, 0].plot(a.ber, a.ssim, **kw)
        axes[0, 1].plot(a.ber, a.failure_rate, **kw)
    for ax, ylabel in zip(axes[0], ["mean SSIM of the files that decode", "share of files that fail to decode"]):
        ax.set_xscale("log")
        ax.set_xlabel("bit-error rate in the payload (log scale)")
        ax.set_ylabel(ylabel)
        sns.despine(ax=ax)
    fig.suptitle(title)
    _legend_below(fig, *axes[0, 0].get_legend_handles_labels(), ncol=4)
    return fig


def comparison_grid(originals: np.ndarray, columns: Sequence[dict], title: str, scale: float = 1.25):
    """The same images (rows) as decoded by each scheme (columns, as
    :func:`ganlib.evaluation.analysis.grid_images` returns them), the originals first; each column is
    headed by its label and its mean rate and SSIM over these images."""
    heads = [f"original\n{8 * originals.shape[-1]} bpp (raw)"]
    heads += [f"{c['label']}\n{c['bpp']:.2f} bpp · SSIM {c['ssim']:.2f}" for c in columns]
    images = [originals] + [c["images"] for c in columns]
    n = len(originals)
    fig, axes = plt.subplots(n, len(images), figsize=(scale * 1.5 * len(images), scale * n + 1.2), squeeze=False)
    for col, (head, ims) in enumerate(zip(heads, images)):
        axes[0, col].set_title(_wrap(head), fontsize=9.5)
        for r in range(n):
            _show(axes[r, col], ims[r])
    fig.suptitle(title)
    fig.subplots_adjust(wspace=0.08, hspace=0.06, top=1 - 1.1 / fig.get_size_inches()[1], bottom=0.02)
    return fig


def _wrap(text: str, width: int = 22) -> str:
    """Wrap a column heading's first line (the label) at about ``width`` characters."""

    first, _, rest = text.partition("\n")
    return "\n".join(textwrap.wrap(first, width) + ([rest] if rest else []))


# ------------------------------------------------------------------ encoding speed
def quality_speed(modes: pd.DataFrame, title: str, quality: Sequence[str] = ("ssim", "psnr"),
                  splits: Sequence[str] = SPLITS):
    """Mean quality against encode time per image (log scale), one panel per quality metric: one
    line per kind of mode that ``modes`` holds, the encoder-started ones with L-BFGS and with Adam
    (both from the encoder alone), the searches from random starts with Adam and with L-BFGS, per
    split (unseen solid, seen dashed). ``modes`` as :func:`ganlib.evaluation.tradeoff.summarize` returns it."""
    fig, axes = plt.subplots(1, len(quality), figsize=(5.6 * len(quality), 4.6), squeeze=False)
    gan = families.family("gan")
    started, search = modes["mode"] != "search", modes["mode"] == "search"
    kinds = {"encoder + L-BFGS": (started & (modes.optimizer == "lbfgs") | (modes["mode"] == "encoder"),
                                  dict(color="#2a9d8f", marker="D")),
             "encoder + Adam": (started & (modes.optimizer == "adam") | (modes["mode"] == "encoder"),
                                dict(color="#8d99ae", marker="v")),
             "search (Adam)": (search & (modes.optimizer == "adam"), dict(color=gan.colour, marker=gan.marker)),
             "search (L-BFGS)": (search & (modes.optimizer == "lbfgs"), dict(color="#e76f51", marker="s"))}
    kinds = {k: v for k, v in kinds.items() if (v[0] & (modes["mode"] != "encoder")).any()}
    for ax, metric in zip(axes[0], quality):
        for split, ls in zip(splits, ("-", "--")):
            for kind, (rows, st) in kinds.items():
                k = modes[rows & (modes.split == split)].sort_values("encode_ms")
                ax.plot(k.encode_ms, k[metric], ls=ls, lw=2, ms=6, mfc=st["color"] if ls == "-" else "white",
                        label=f"{kind}, {split} images", **st)
                if split == splits[0]:
                    for r in k[k["mode"] != "encoder"].itertuples():
                        short = f"{r.steps} x {r.restarts}" if r.mode == "search" else f"+{r.steps}"
                        ax.annotate(short, (r.encode_ms, getattr(r, metric)), xytext=(5, -11),
                                    textcoords="offset points", fontsize=8.5, color=st["color"])
        _log_rate_axis(ax, "encode time per image, ms (log scale)")
        ax.set_ylabel(f"mean {analysis.QUALITY.get(metric, metric)}")
        sns.despine(ax=ax)
    fig.suptitle(title)
    _legend_below(fig, *axes[0, 0].get_legend_handles_labels(), ncol=2)
    return fig


REALISM_METRICS = {"accuracy": "classifier accuracy", "agreement": "agreement with the original's class",
                   "kid": "KID (log scale)"}
REFERENCE_LINES = {"original": ("black", "--"), "samples": ("#d62728", ":"), "noise": ("0.5", "-.")}


def realism_figure(table: pd.DataFrame, metric: str, title: str, splits: Sequence[str] = SPLITS):
    """A realism metric of ``table`` (:data:`ganlib.evaluation.realism.COLUMNS`: ``accuracy``,
    ``agreement`` or ``kid``) against mean rate for every codec, one panel per split, log rate
    axis; the references (originals, the generator's samples, noise) as horizontal lines where
    they have a value. KID is drawn on a log axis (values <= 0 are not drawn)."""
    fig, axes = plt.subplots(1, len(splits), figsize=(5.6 * len(splits), 4.6), squeeze=False, sharey=True)
    handles = {}
    for ax, split in zip(axes[0], splits):
        here = table[(table.split == split) & np.isfinite(table[metric])]
        here = here[here[metric] > 0] if metric == "kid" else here
        for codec in families.order(here.codec):
            k = here[(here.codec == codec) & np.isfinite(here.bpp)].sort_values("bpp")
            if k.empty:
                continue
            st = family_style(codec)
            (line,) = ax.plot(k.bpp, k[metric], "-" if len(k) > 1 else "", color=st["color"], marker=st["marker"],
                              lw=st["lw"], ms=st["ms"], zorder=st.get("zorder", 2))
            handles.setdefault(st["label"], line)
        for name, (colour, dash) in REFERENCE_LINES.items():
            ref = here[(here.codec == name)]
            if len(ref):
                line = ax.axhline(ref[metric].iloc[0], color=colour, ls=dash, lw=1.2)
                handles.setdefault(f"reference: {name}", line)
        if metric == "kid":
            ax.set_yscale("log")
        ax.set_ylabel(REALISM_METRICS.get(metric, metric))
        ax.set_title(f"{split} images")
        _log_rate_axis(ax, "bits per pixel, whole file (log scale)")
        sns.despine(ax=ax)
    fig.suptitle(title)
    _legend_below(fig, list(handles.values()), list(handles), ncol=4)
    return fig


def perception_distortion(points: pd.DataFrame, title: str, samples_kid: float | None = None):
    """The perception–distortion plane (Blau and Michaeli 2019) at matched rates: one panel per
    ``target_bpp`` of ``points`` (:func:`ganlib.evaluation.realism.figure_points`), MSE on the x axis,
    KID on the y axis (both log), one point per codec labelled with its rate; the generator's own
    samples' KID as a dotted line."""
    targets = sorted(points.target_bpp.unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 4.4), squeeze=False, sharey=True)
    handles = {}
    for ax, target in zip(axes[0], targets):
        here = points[(points.target_bpp == target) & (points.kid > 0)]
        for r in here.itertuples():
            st = family_style(r.codec)
            (dot,) = ax.plot([r.mse], [r.kid], st["marker"], color=st["color"], ms=st["ms"] + 3, ls="")
            handles.setdefault(st["label"], dot)
            ax.annotate(f"{r.bpp:.2f}", (r.mse, r.kid), xytext=(5, 3), textcoords="offset points", fontsize=8)
        if samples_kid is not None and samples_kid > 0:
            handles.setdefault("generator's samples", ax.axhline(samples_kid, color="#d62728", ls=":", lw=1.2))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("distortion: MSE (log scale)")
        ax.set_ylabel("perception: KID (log scale)")
        ax.set_title(f"near {target:.2f} bpp")
        sns.despine(ax=ax)
    fig.suptitle(title)
    _legend_below(fig, list(handles.values()), list(handles), ncol=4)
    return fig


def class_grid(originals: np.ndarray, true_classes: Sequence[str], columns: Sequence[dict], title: str,
               scale: float = 1.35):
    """The same images (rows) as decoded by each codec (columns, as
    :func:`ganlib.evaluation.realism.grid_columns` returns them), originals first with their true
    class; under each decoded image the class the classifier gives it, in red where that is not the
    true class."""
    heads = ["original\n(true class)"] + [f"{c['label']}\n{c['bpp']:.2f} bpp" for c in columns]
    images = [originals] + [c["images"] for c in columns]
    names = [list(true_classes)] + [c["classes"] for c in columns]
    right = [[True] * len(originals)] + [c["right"] for c in columns]
    n = len(originals)
    fig, axes = plt.subplots(n, len(images), figsize=(scale * 1.5 * len(images), scale * 1.2 * n + 1.2),
                             squeeze=False)
    for col in range(len(images)):
        axes[0, col].set_title(_wrap(heads[col]), fontsize=9)
        for r in range(n):
            _show(axes[r, col], images[col][r])
            axes[r, col].set_xlabel(names[col][r], fontsize=8, color="black" if right[col][r] else "#d62728")
    fig.suptitle(title)
    fig.subplots_adjust(wspace=0.1, hspace=0.35, top=1 - 1.1 / fig.get_size_inches()[1], bottom=0.04)
    return fig
