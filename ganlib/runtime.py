"""Device choice, seeds and thread counts: one place so every stage is reproducible."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup(seed: int, threads: int = 2) -> torch.device:
    """Seed Python, NumPy and torch, fix torch's CPU thread count, return the device."""
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return device()


def to_tensor(images: np.ndarray, dev: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) in 0..255 -> float (N, C, H, W) in [-1, 1]."""
    x = torch.tensor(images).to(dev).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounded to nearest."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def progress(iterable, desc: str = "", disable: bool = False, **kwargs):
    """A progress bar over ``iterable`` for long loops (tqdm, at most one update every 2 s)."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, disable=disable, mininterval=2, **kwargs)
