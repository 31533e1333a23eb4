"""Figures shared by the notebooks. Images are uint8 (N, H, W, C)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


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


def scheme_palette(codecs: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per codec name, so every figure colours a codec the same way."""
    order = ["gan", "png", "jpeg", "webp", "j2k", "avif", "kmeans", "factorized", "hyperprior"]
    names = order + sorted(set(codecs) - set(order))
    colours = sns.color_palette("tab10", len(names))
    return {name: colours[i % 10] for i, name in enumerate(names)}
